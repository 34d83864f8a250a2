#!/usr/bin/env bash
# Decoding benchmark, side by side: `workbench bench decode` (f32, Q8_0, Q4_0)
# against transformers' `generate` (f32, 2 threads) on the same model, prompt
# (the first 32 tokens of a fixed text) and 128 greedy new tokens, batch 1.
# Rounds alternate the systems so that both see the same machine state; each
# run is a fresh process (peak RSS per configuration). Prints JSON lines and a
# table of medians.
#
# Usage: bench/decode.sh [ROUNDS [MODEL_DIR]]   (default 3, models/smollm2-135m-instruct;
#        needs scripts/make_reference_venv.sh once, and the model: workbench model fetch smollm2-135m-instruct)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}" model="${2:-models/smollm2-135m-instruct}"
cargo build --release -q -p workbench --no-default-features   # the CLI only
[ -x .venv-ref/bin/python ] || scripts/make_reference_venv.sh
out=$(mktemp)
for r in $(seq "$rounds"); do
  OMP_NUM_THREADS=2 .venv-ref/bin/python bench/transformers_generate.py --model "$model" --rounds 3 | tee -a "$out"
  for q in "" "--quantize q8_0" "--quantize q4_0"; do
    target/release/workbench bench decode --model "$model" --rounds 3 $q | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
groups = {}
for r in rows:
    groups.setdefault((r["system"], r["weights"]), []).append(r)
ref = statistics.median(r["decode_tokens_per_s"] for r in groups.get(("transformers generate", "f32"), [{"decode_tokens_per_s": float("nan")}]))
print("\n| system | weights | prefill 32 tokens (s) | decode tokens/s | vs transformers f32 | peak RSS (GiB) | runs |")
print("|---|---|---|---|---|---|---|")
for k, g in sorted(groups.items()):
    tps = statistics.median(x["decode_tokens_per_s"] for x in g)
    pre = statistics.median(x["prefill_s"] for x in g)
    rss = statistics.median(x["peak_rss_bytes"] for x in g) / 2**30
    print(f"| {k[0]} | {k[1]} | {pre:.3f} | {tps:.1f} | {tps / ref:.2f}x | {rss:.2f} | {len(g)} |")
PY
