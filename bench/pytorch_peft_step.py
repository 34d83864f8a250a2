#!/usr/bin/env python3
"""PyTorch + PEFT baseline: time one full LoRA training step on CPU.

Usage (in the venv from scripts/make_reference_venv.sh):
    .venv-ref/bin/python bench/pytorch_peft_step.py [--steps 5] [--gradient-checkpointing] [--json]

Model: `--model DIR` (a Hugging Face directory, e.g. SmolLM2), or by default
transformers MistralForCausalLM, random init, float32, vocab 4096,
hidden 512, 8 layers, 8 heads, 4 KV heads, intermediate 1536, untied
embeddings. LoRA (PEFT): r=16, alpha=32, dropout 0 on q,k,v,o,gate,up,down
(1,245,184 trainable parameters). Batch 8 x 256 random tokens (--batch, --seq), labels = inputs.
One step = zero_grad + forward (with loss) + backward + AdamW step on the LoRA
parameters only. torch.set_num_threads(2) by default. Attention is "sdpa"
(torch.nn.functional.scaled_dot_product_attention, transformers' default)
unless --attn eager. One warm-up step, then --steps measured; the median wall time is
reported (and the median process CPU time, to spot a busy machine). Peak RSS is resource.getrusage(RUSAGE_SELF).ru_maxrss of the whole
process (model init included).
"""

import argparse
import json
import platform
import resource
import statistics
import sys
import time

SHAPE = dict(vocab=4096, hidden=512, layers=8, heads=8, kv_heads=4, intermediate=1536, batch=8, seq=256)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
EXPECTED_TRAINABLE = 1_245_184


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5, help="measured steps after 1 warm-up (default: 5)")
    ap.add_argument("--gradient-checkpointing", action="store_true", help="recompute each layer in backward")
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa", help="attention implementation (default: sdpa)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default: 2)")
    ap.add_argument("--json", action="store_true", help="print one JSON line with the results")
    ap.add_argument("--model", help="a model directory to train instead of the random reference shape")
    ap.add_argument("--batch", type=int, default=SHAPE["batch"], help="examples per batch (default: 8)")
    ap.add_argument("--seq", type=int, default=SHAPE["seq"], help="tokens per example (default: 256)")
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                    help="bf16: mixed precision as the Trainer's bf16=True runs it on a CPU (torch.autocast to bfloat16 "
                         "around the forward pass; weights, LoRA factors and AdamW stay float32)")
    ap.add_argument("--device", default="cpu",
                    help="cpu, or cuda / cuda:N (the same spelling as the workbench's --device)")
    args = ap.parse_args()

    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # PEFT calls a deprecated transformers helper
    import peft
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    s = dict(SHAPE, batch=args.batch, seq=args.seq)
    if args.model:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(args.model, attn_implementation=args.attn, dtype=torch.float32)
        c = model.config
        s.update(vocab=c.vocab_size, hidden=c.hidden_size, layers=c.num_hidden_layers, heads=c.num_attention_heads,
                 kv_heads=c.num_key_value_heads, intermediate=c.intermediate_size)
    else:
        config = MistralConfig(
            vocab_size=s["vocab"], hidden_size=s["hidden"], intermediate_size=s["intermediate"],
            num_hidden_layers=s["layers"], num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"],
            max_position_embeddings=max(4096, s["seq"]), sliding_window=None, tie_word_embeddings=False,
            use_cache=False,
        )
        model = MistralForCausalLM._from_config(config, attn_implementation=args.attn, dtype=torch.float32)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, bias="none", target_modules=TARGETS, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    device = torch.device(args.device)
    model.to(device)
    model.train()
    if args.gradient_checkpointing:
        assert model.base_model.model.model.gradient_checkpointing, "gradient checkpointing did not turn on"
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    total = sum(p.numel() for p in model.parameters())
    expected = "" if args.model or trainable == EXPECTED_TRAINABLE else f" (expected {EXPECTED_TRAINABLE:,}!)"
    print(f"trainable parameters: {trainable:,} of {total:,}{expected}", file=sys.stderr)
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)

    input_ids = torch.randint(0, s["vocab"], (s["batch"], s["seq"])).to(device)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = model(input_ids=input_ids, labels=input_ids, use_cache=False).loss
        loss.backward()
        opt.step()
        return loss.item()  # waits for the device

    # Wall time is what counts; process CPU time (all threads) is printed too,
    # since on a shared machine wall >> cpu / threads shows contention.
    times, cpu_times = [], []
    for i in range(1 + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if i > 0:
            times.append(dt)
            cpu_times.append(dc)
        print(f"step {i}{' (warm-up)' if i == 0 else ''}: {dt:.3f} s wall, {dc:.3f} s cpu, loss {loss:.4f}", file=sys.stderr)

    median = statistics.median(times)
    tokens = s["batch"] * s["seq"]
    result = {
        "bench": "pytorch_peft_lora_step",
        "median_step_s": round(median, 4),
        "min_step_s": round(min(times), 4),
        "median_step_cpu_s": round(statistics.median(cpu_times), 4),
        "tokens_per_s": round(tokens / median, 1),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "steps": args.steps,
        "gradient_checkpointing": args.gradient_checkpointing,
        "precision": args.precision,
        "device": args.device,
        "attn_implementation": args.attn,
        "threads": torch.get_num_threads(),
        "trainable_params": trainable,
        "shape": s,
        "model": args.model or "reference shape",
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "targets": TARGETS},
        "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
        "python": platform.python_version(), "cpu": cpu_model(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"median step {median:.3f} s, {result['tokens_per_s']:.0f} tokens/s, peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
