#!/usr/bin/env python3
"""Check that a LoRA adapter loads in Hugging Face PEFT, and what it changes.

Usage (in the venv from scripts/make_reference_venv.sh):
    .venv-ref/bin/python scripts/peft_load_check.py MODEL_DIR ADAPTER_DIR \\
        [--jsonl data.jsonl [--max-records N] [--train-on assistant|all]] [--text T] [--json]

1. Loads the base model (transformers, float32, CPU, eval) and the adapter
   with peft.PeftModel.from_pretrained.
2. Fails (exit 1) if any adapter tensor is missing, unexpected or the wrong
   shape, i.e. if the keys of ADAPTER_DIR/adapter_model.safetensors differ from
   the LoRA state dict PEFT builds from ADAPTER_DIR/adapter_config.json, if
   PEFT warned about missing/unexpected adapter keys, or if a loaded weight
   differs from the file's.
3. Prints the max-abs logits difference between base and base+adapter on a
   fixed input and, with --jsonl, the mean cross-entropy of both on the
   records: {"messages": [...]} (or {"prompt", "completion"}, or {"text"})
   rendered as the engine's Mistral chat template
   `<s>[INST] user [/INST] assistant</s>[INST] ...`, each segment tokenised on
   its own with no special tokens added, exactly as engine/data/src/chat/template.rs
   does. Loss is the token-weighted mean over the reply tokens and their `</s>`
   (--train-on assistant, default) or over every token after `<s>` (all).
"""

import argparse
import json
import os
import sys
import warnings

FIXED_TEXT = "<s>[INST] How many vacation days do I get? [/INST]"


def fail(msg: str) -> None:
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def segments(record: dict, train_on_all: bool):
    """(text, trained, reply) pieces of one JSONL record; mirrors template.rs."""
    if "messages" in record:
        messages = record["messages"]
    elif "prompt" in record and "completion" in record:
        messages = [{"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": record["completion"]}]
    elif "text" in record:
        return [(record["text"], True, True)]
    else:
        raise ValueError('expected "messages", "prompt" and "completion", or "text"')
    system = None
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    out = []
    for i in range(0, len(messages), 2):
        user, reply = messages[i], messages[i + 1] if i + 1 < len(messages) else None
        if user["role"] != "user" or (reply is not None and reply["role"] != "assistant"):
            raise ValueError("roles must alternate user, assistant after an optional system message")
        content = f"{system}\n\n{user['content']}" if (i == 0 and system is not None) else user["content"]
        out.append((f"[INST] {content} [/INST]", train_on_all, False))
        if reply is not None:
            out.append((f" {reply['content']}", True, True))
    return out


def encode(tok, record: dict, train_on_all: bool):
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    if bos is None or eos is None:
        fail("tokenizer.json has no <s> or </s> token")
    ids, trained = [bos], [False]
    for text, is_trained, reply in segments(record, train_on_all):
        piece = tok.encode(text, add_special_tokens=False).ids
        ids += piece
        trained += [is_trained] * len(piece)
        if reply:
            ids.append(eos)
            trained.append(True)
    return ids, trained


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("adapter_dir")
    ap.add_argument("--jsonl", help="records to compute the mean cross-entropy on")
    ap.add_argument("--max-records", type=int, default=200, help="use at most this many records (default: 200)")
    ap.add_argument("--max-tokens", type=int, default=0, help="truncate each record to this many tokens (default: no limit)")
    ap.add_argument("--train-on", choices=["assistant", "all"], default="assistant")
    ap.add_argument("--text", default=FIXED_TEXT, help="fixed input for the logits difference")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="also print one JSON line with the results")
    args = ap.parse_args()

    import peft
    import torch
    import transformers
    from peft import PeftModel
    from peft.utils import get_peft_model_state_dict
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    weights = os.path.join(args.adapter_dir, "adapter_model.safetensors")
    for f in ("adapter_config.json", "adapter_model.safetensors"):
        if not os.path.isfile(os.path.join(args.adapter_dir, f)):
            fail(f"{args.adapter_dir} has no {f}")
    with open(os.path.join(args.adapter_dir, "adapter_config.json")) as f:
        acfg = json.load(f)
    print(f"adapter: peft_type={acfg.get('peft_type')} r={acfg.get('r')} lora_alpha={acfg.get('lora_alpha')} "
          f"target_modules={acfg.get('target_modules')}")
    with safe_open(weights, "pt") as f:
        file_tensors = {k: f.get_tensor(k) for k in f.keys()}

    tok = Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()

    # Inputs, and the base model's results before PEFT wraps (and changes) the model.
    fixed = torch.tensor([tok.encode(args.text, add_special_tokens=False).ids])
    batches = []
    if args.jsonl:
        with open(args.jsonl) as f:
            lines = [l for l in f if l.strip()][: args.max_records]
        for n, line in enumerate(lines, 1):
            ids, trained = encode(tok, json.loads(line), args.train_on == "all")
            if args.max_tokens:
                ids, trained = ids[: args.max_tokens], trained[: args.max_tokens]
            labels = [t if tr else -100 for t, tr in zip(ids, trained)]
            batches.append((torch.tensor([ids]), torch.tensor([labels])))

    def evaluate(m):
        with torch.inference_mode():
            logits = m(input_ids=fixed, use_cache=False).logits[0].float()
            total, count = 0.0, 0
            for ids, labels in batches:
                lg = m(input_ids=ids, use_cache=False).logits[0, :-1].float()
                tgt = labels[0, 1:]
                total += torch.nn.functional.cross_entropy(lg, tgt, ignore_index=-100, reduction="sum").item()
                count += int((tgt != -100).sum())
        return logits, (total / count if count else None), count

    base_logits, base_loss, count = evaluate(model)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pm = PeftModel.from_pretrained(model, args.adapter_dir, is_trainable=False)
        except Exception as e:  # e.g. size mismatch, unknown target module
            fail(f"PEFT cannot load the adapter: {type(e).__name__}: {e}")
    pm.eval()
    for w in caught:
        text = str(w.message)
        if "missing adapter keys" in text.lower() or "unexpected" in text.lower():
            fail(f"PEFT warned while loading: {text}")

    expected = get_peft_model_state_dict(pm)
    missing = sorted(set(expected) - set(file_tensors))
    unexpected = sorted(set(file_tensors) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(file_tensors) if tuple(expected[k].shape) != tuple(file_tensors[k].shape))
    if missing or unexpected or wrong_shape:
        fail(f"adapter keys do not match PEFT's: missing {missing[:10]} ({len(missing)}), "
             f"unexpected {unexpected[:10]} ({len(unexpected)}), wrong shape {wrong_shape[:10]} ({len(wrong_shape)})")
    not_loaded = sorted(k for k in expected if not torch.equal(expected[k].float(), file_tensors[k].float()))
    if not_loaded:
        fail(f"{len(not_loaded)} adapter weights differ from the file after loading, e.g. {not_loaded[:5]}")
    print(f"ok: all {len(file_tensors)} adapter tensors load in PEFT {peft.__version__} "
          f"(transformers {transformers.__version__}, torch {torch.__version__})")

    lora_logits, lora_loss, _ = evaluate(pm)
    diff = (lora_logits - base_logits).abs().max().item()
    print(f"fixed input ({fixed.shape[1]} tokens): max |logits(base+adapter) - logits(base)| = {diff:.6g}")
    if diff == 0.0:
        print("note: the adapter does not change the logits (lora_B all zero?)")
    if args.jsonl:
        print(f"{len(batches)} records, {count} {args.train_on} tokens: mean cross-entropy "
              f"base {base_loss:.6f}, base+adapter {lora_loss:.6f}")
    if args.json:
        print(json.dumps({
            "adapter_tensors": len(file_tensors), "logits_max_abs_diff": diff,
            "records": len(batches), "tokens": count, "base_loss": base_loss, "adapter_loss": lora_loss,
            "peft": peft.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
