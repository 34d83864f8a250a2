#!/usr/bin/env python3
"""Tiny models made by Hugging Face transformers, with transformers' own
logits, for the architectures the shipped sample model does not cover:

    engine/tests/fixtures/tiny-qwen2/        Qwen2ForCausalLM (q/k/v biases, untied head)
    engine/tests/fixtures/tiny-qwen2-window/ the same with its sliding window on (use_sliding_window):
                                             full attention below max_window_layers, the window above
    engine/tests/fixtures/tiny-llama3-rope/  LlamaForCausalLM with Llama 3 rope scaling, explicit head_dim
    engine/tests/fixtures/tiny-qwen3/        Qwen3ForCausalLM (per-head q/k norms, head_dim * heads != hidden)
    engine/tests/fixtures/tiny-phi3/         Phi3ForCausalLM as Phi-4-mini is made (fused qkv_proj and
                                             gate_up_proj, partial rotary, longrope), with a sliding window
    engine/tests/fixtures/tiny-gemma2/       Gemma2ForCausalLM (1 + w norms, sandwich norms, GELU-tanh,
                                             embedding scale, attention and final logit soft-capping,
                                             alternating sliding/full layers, query_pre_attn_scalar)
    engine/tests/fixtures/tiny-gemma3/       Gemma3ForCausalLM (Gemma 2's layer without soft-capping,
                                             per-head q/k norms, a local RoPE base on sliding layers,
                                             linear RoPE scaling on full ones)

Families in BF16 are also saved in bfloat16 (NAME-bf16/), with the logits
that float32 computation of those rounded weights gives.

Norm weights are drawn around one and biases around zero, so that a model
that skips or misplaces a norm or a bias fails. Families in ADAPTERS also get
adapter/ (a PEFT LoRA adapter on every linear layer, its B factors non-zero)
and reference_logits_adapter.safetensors: transformers + PEFT's logits with
the adapter applied.

Each folder gets config.json and model.safetensors (float32, random weights
from a fixed seed) and reference_logits.safetensors in the layout of
scripts/reference_logits.py (input_ids_{i}: int64 [seq], logits_{i}: float32
[seq, vocab]) for fixed random token ids, with greedy_{i}: the tokens
transformers decodes greedily after input i with its cache. `engine/tests/model.rs` loads each
folder with the engine and compares the logits.

Usage (in the venv from scripts/make_reference_venv.sh):
    .venv-ref/bin/python scripts/make_tiny_references.py [OUT_ROOT]
"""

import copy
import os
import sys

import torch
from safetensors.torch import save_file
import transformers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    Gemma2Config,
    Gemma2ForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    Phi3Config,
    Phi3ForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

COMMON = dict(
    vocab_size=96,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rms_norm_eps=1e-6,
    initializer_range=0.2,
    bos_token_id=1,
    eos_token_id=2,
)

MODELS = {
    "tiny-qwen2": lambda: Qwen2ForCausalLM(Qwen2Config(**COMMON, rope_theta=1_000_000.0, tie_word_embeddings=False)),
    # A window shorter than the longer input, on the layers from max_window_layers on.
    "tiny-qwen2-window": lambda: Qwen2ForCausalLM(
        Qwen2Config(
            **COMMON,
            rope_theta=1_000_000.0,
            tie_word_embeddings=False,
            use_sliding_window=True,
            sliding_window=16,
            max_window_layers=1,
        )
    ),
    "tiny-llama3-rope": lambda: LlamaForCausalLM(
        LlamaConfig(
            **COMMON,
            head_dim=16,
            rope_theta=10_000.0,
            rope_scaling={
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64,
            },
            tie_word_embeddings=True,
        )
    ),
    "tiny-qwen3": lambda: Qwen3ForCausalLM(
        Qwen3Config(**COMMON, head_dim=12, rope_theta=1_000_000.0, tie_word_embeddings=False, attention_bias=False)
    ),
    # Phi-4-mini's shape in small: 3/4 of each head rotated, longrope (an
    # input and a greedy continuation beyond original_max_position_embeddings,
    # where the long factors apply), and a sliding window shorter than the longer inputs.
    "tiny-phi3": lambda: Phi3ForCausalLM(
        Phi3Config(
            **COMMON,
            rope_theta=10_000.0,
            partial_rotary_factor=0.75,
            rope_scaling={"type": "longrope", "short_factor": [1.0, 1.5, 2.5], "long_factor": [2.0, 3.0, 5.0]},
            original_max_position_embeddings=64,
            sliding_window=32,
            pad_token_id=0,
            tie_word_embeddings=False,
        )
    ),
    # Windows shorter than the longer input, so that sliding layers differ from full ones.
    "tiny-gemma2": lambda: Gemma2ForCausalLM(
        Gemma2Config(
            **COMMON,
            head_dim=12,
            query_pre_attn_scalar=20,
            attn_logit_softcapping=3.0,
            final_logit_softcapping=5.0,
            sliding_window=16,
            pad_token_id=0,
        )
    ),
    "tiny-gemma3": lambda: Gemma3ForCausalLM(
        Gemma3TextConfig(
            **{**COMMON, "num_hidden_layers": 3},
            head_dim=12,
            query_pre_attn_scalar=20,
            sliding_window=16,
            layer_types=["sliding_attention", "full_attention", "sliding_attention"],
            rope_parameters={
                "full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1_000_000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
            },
            pad_token_id=0,
        )
    ),
}

# The reference inputs: short, longer than the sliding windows (16, 32), and
# longer than tiny-phi3's original_max_position_embeddings (64).
INPUT_LENGTHS = (9, 48, 80)
# New tokens decoded greedily after each input.
GREEDY_TOKENS = 24

# Families whose fixture also carries a PEFT adapter and the logits with it.
ADAPTERS = {"tiny-qwen3", "tiny-phi3", "tiny-gemma2", "tiny-gemma3"}
# Families also saved in bfloat16 (NAME-bf16/), with the logits of those rounded weights computed in float32.
BF16 = {"tiny-qwen3", "tiny-phi3", "tiny-gemma3"}


def reference_logits(model, path, meta):
    """transformers' logits for three fixed random inputs, and its greedy continuation of each, saved at `path`."""
    g = torch.Generator().manual_seed(11)
    tensors = {}
    for i, seq in enumerate(INPUT_LENGTHS):
        ids = torch.randint(0, COMMON["vocab_size"], (seq,), generator=g)
        with torch.no_grad():
            logits = model(ids.unsqueeze(0)).logits[0].float()
        tensors[f"input_ids_{i}"] = ids.to(torch.int64).contiguous()
        tensors[f"logits_{i}"] = logits.contiguous()
    # Greedy decoding with transformers' own cache: GREEDY_TOKENS new tokens
    # after each input, end-of-sequence tokens included (none stops or is
    # suppressed). After the second input the positions cross tiny-phi3's
    # pretraining context, where longrope switches to its long factors.
    for i in range(len(INPUT_LENGTHS)):
        new = []
        with torch.no_grad():
            out = model(input_ids=tensors[f"input_ids_{i}"].unsqueeze(0), use_cache=True)
            for _ in range(GREEDY_TOKENS):
                new.append(int(out.logits[0, -1].argmax()))
                out = model(input_ids=torch.tensor([[new[-1]]]), past_key_values=out.past_key_values, use_cache=True)
        tensors[f"greedy_{i}"] = torch.tensor(new, dtype=torch.int64)
    save_file(tensors, path, metadata=meta)


def save_adapter(model, out, meta):
    """A PEFT LoRA adapter on every linear layer with non-zero B, and the logits with it."""
    import peft
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config).eval()
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0.0, 0.2)
    peft_model.save_pretrained(os.path.join(out, "adapter"))
    os.remove(os.path.join(out, "adapter", "README.md"))  # PEFT's model card template
    reference_logits(peft_model, os.path.join(out, "reference_logits_adapter.safetensors"), {**meta, "peft": peft.__version__})


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "engine", "tests", "fixtures")
    for name, make in MODELS.items():
        torch.manual_seed(7)
        model = make().eval()
        # Biases are zero-initialised and norms one-initialised by transformers;
        # give them values so a model that ignores or misplaces them fails.
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith(".bias"):
                    p.normal_(0.0, 0.5)
                elif "norm" in n:
                    p.normal_(1.0, 0.3)
        out = os.path.join(root, name)
        model.save_pretrained(out, safe_serialization=True)
        meta = {"transformers": transformers.__version__, "torch": torch.__version__, "architecture": type(model).__name__}
        reference_logits(model, os.path.join(out, "reference_logits.safetensors"), meta)
        if name in BF16:
            copy.deepcopy(model).to(torch.bfloat16).save_pretrained(out + "-bf16", safe_serialization=True)
            # As transformers loads that checkpoint to compute in float32 (buffers such as RoPE's made anew).
            upcast = type(model).from_pretrained(out + "-bf16", dtype=torch.float32).eval()
            reference_logits(upcast, os.path.join(out + "-bf16", "reference_logits.safetensors"), meta)
            os.remove(os.path.join(out + "-bf16", "generation_config.json"))
        if name in ADAPTERS:
            save_adapter(model, out, meta)
        for extra in ("generation_config.json",):
            path = os.path.join(out, extra)
            if os.path.exists(path):
                os.remove(path)
        print(f"{out}: {sum(p.numel() for p in model.parameters())} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
