#!/usr/bin/env python3
"""Reference logits from Hugging Face transformers, to check the Rust engine's
forward pass against.

Usage (in the venv from scripts/make_reference_venv.sh):
    .venv-ref/bin/python scripts/reference_logits.py MODEL_DIR [--text T ...]

MODEL_DIR holds config.json, model.safetensors (or shards) and tokenizer.json
of a MistralForCausalLM or LlamaForCausalLM. Each text is tokenised with the
`tokenizers` library from MODEL_DIR/tokenizer.json with no special tokens
added (the texts carry their own `<s>`), run on its own (batch 1, no padding)
in float32 on CPU in eval mode, and written to
MODEL_DIR/reference_logits.safetensors as
    input_ids_{i}: int64   [seq]
    logits_{i}:    float32 [seq, vocab]
with string metadata: torch/transformers/tokenizers versions, the texts (as a
JSON list under "texts", and one by one as "text_{i}"), the attention
implementation and the architecture.
"""

import argparse
import json
import os
import sys

DEFAULT_TEXTS = [
    "<s>[INST] How many vacation days do I get? [/INST]",
    "<s>[INST] What is the capital of France? [/INST] Paris is the capital of France.</s>",
    "<s>The quick brown fox jumps over the lazy dog.",
]
SUPPORTED = ("MistralForCausalLM", "LlamaForCausalLM")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--text", action="append", help="input text (repeat for several); default: %d built-in samples" % len(DEFAULT_TEXTS))
    ap.add_argument("--out", help="output file (default: MODEL_DIR/reference_logits.safetensors)")
    ap.add_argument("--attn", default="eager", choices=["eager", "sdpa"], help="transformers attention implementation (default: eager, the plain math)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    args = ap.parse_args()

    import tokenizers
    import torch
    import transformers
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    texts = args.text or DEFAULT_TEXTS
    out = args.out or os.path.join(args.model_dir, "reference_logits.safetensors")

    config = AutoConfig.from_pretrained(args.model_dir)
    arch = (getattr(config, "architectures", None) or ["?"])[0]
    if arch not in SUPPORTED:
        print(f"error: architecture {arch} is not one of {', '.join(SUPPORTED)}", file=sys.stderr)
        return 2
    model, info = AutoModelForCausalLM.from_pretrained(
        args.model_dir, dtype=torch.float32, attn_implementation=args.attn, output_loading_info=True
    )
    # A missing weight would be silently random-initialised: refuse that.
    bad = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    if bad:
        print(f"error: weights in {args.model_dir} do not match the model: {bad}", file=sys.stderr)
        return 2
    model.eval()
    vocab = model.config.vocab_size

    tok = Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
    tensors = {}
    with torch.inference_mode():
        for i, text in enumerate(texts):
            ids = tok.encode(text, add_special_tokens=False).ids
            if not ids:
                print(f"error: text {i} tokenises to nothing", file=sys.stderr)
                return 2
            if max(ids) >= vocab:
                print(f"error: text {i} has token id {max(ids)} >= vocab_size {vocab}", file=sys.stderr)
                return 2
            input_ids = torch.tensor([ids], dtype=torch.int64)
            logits = model(input_ids=input_ids, use_cache=False).logits[0].to(torch.float32)
            tensors[f"input_ids_{i}"] = input_ids[0].contiguous()
            tensors[f"logits_{i}"] = logits.contiguous()
            print(f"text {i}: {len(ids)} tokens, logits {list(logits.shape)}, argmax of last {int(logits[-1].argmax())}")

    metadata = {
        "format": "pt",
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "tokenizers_version": tokenizers.__version__,
        "architecture": arch,
        "attn_implementation": args.attn,
        "dtype": "float32",
        "add_special_tokens": "false",
        "num_texts": str(len(texts)),
        "texts": json.dumps(texts, ensure_ascii=False),
    }
    metadata.update({f"text_{i}": t for i, t in enumerate(texts)})
    save_file(tensors, out, metadata=metadata)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
