#!/usr/bin/env bash
# Training-step benchmark, side by side: LoRA Workbench (candle) against
# PyTorch + PEFT on the same reference shape (vocab 4096, hidden 512, 8 layers,
# 8 heads, 4 KV heads, intermediate 1536, LoRA r=16 on all 7 linear modules,
# batch 8 x 256 tokens, f32, 2 threads). Runs alternate (A, B, A, B, ...) so
# that both see the same machine state; each run is a fresh process, so peak
# RSS is per configuration. Prints JSON lines and a summary of medians.
#
# Usage: bench/train_step.sh [ROUNDS [ARGS...]]   (default 3; needs scripts/make_reference_venv.sh once)
# ARGS go to both sides, e.g. a real model:
#   bench/train_step.sh 3 --model models/smollm2-135m-instruct --batch 4 --seq 256
# PRECISIONS="f32 bf16" (default f32) measures each precision in every round:
# bf16 is the workbench's AMX products and PyTorch's autocast (the Trainer's bf16=True).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
shift || true
cargo build --release -q -p workbench --no-default-features   # the CLI only
[ -x .venv-ref/bin/python ] || scripts/make_reference_venv.sh
out=$(mktemp)
for r in $(seq "$rounds"); do
  for precision in ${PRECISIONS:-f32}; do
    for ckpt in "" "--gradient-checkpointing"; do
      target/release/workbench bench train-step --steps 3 --precision "$precision" $ckpt "$@" | tee -a "$out"
      OMP_NUM_THREADS=2 .venv-ref/bin/python bench/pytorch_peft_step.py --steps 3 --json --precision "$precision" $ckpt "$@" | tee -a "$out"
    done
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def key(r):
    system = "workbench" if "workbench" in r.get("system", "") else "pytorch+peft"
    return (system, r.get("precision", "f32"), bool(r.get("gradient_checkpointing")))
groups = {}
for r in rows:
    groups.setdefault(key(r), []).append(r)
print("\n| system | precision | gradient checkpointing | median step (s) | tokens/s | peak RSS (GiB) | runs |")
print("|---|---|---|---|---|---|---|")
med = {}
for k in sorted(groups):
    g = groups[k]
    s = statistics.median(x["median_step_s"] for x in g)
    med[k] = s
    rss = statistics.median(x["peak_rss_bytes"] for x in g) / 2**30
    tps = statistics.median(x["tokens_per_s"] for x in g)
    print(f"| {k[0]} | {k[1]} | {'on' if k[2] else 'off'} | {s:.3f} | {tps:.0f} | {rss:.2f} | {len(g)} |")
print()
for (system, wp, ck), a in sorted(med.items()):
    if system != "workbench":
        continue
    for pp in ("f32", "bf16"):
        b = med.get(("pytorch+peft", pp, ck))
        if b:
            print(f"ratio (PyTorch {pp} time / workbench {wp} time), checkpointing {'on' if ck else 'off'}: {b / a:.2f}x")
PY
