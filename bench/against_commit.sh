#!/usr/bin/env bash
# The workbench against itself at another commit, interleaved on one machine:
# a LoRA training step (`bench train-step`, with and without gradient
# checkpointing) and greedy decoding (`bench decode`, f32), each round running
# the other commit's binary, then this tree's. For checking that a change is
# not slower; prints JSON lines and a table of medians.
#
# Usage: bench/against_commit.sh REV [ROUNDS [MODEL_DIR]]
#   REV       the commit to compare with (e.g. HEAD~3)
#   ROUNDS    default 3
#   MODEL_DIR default models/smollm2-135m-instruct (workbench model fetch smollm2-135m-instruct)
# Both binaries are release builds of the CLI alone (no window); REV is built
# in a temporary git worktree sharing this tree's target folder.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { echo "usage: bench/against_commit.sh REV [ROUNDS [MODEL_DIR]]" >&2; exit 2; }
rev="$1" rounds="${2:-3}" model="${3:-models/smollm2-135m-instruct}"
bin=target/against
mkdir -p "$bin"
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT
git worktree add --detach "$tree" "$rev" >/dev/null
CARGO_TARGET_DIR="$PWD/target" cargo build --release -q -p workbench --no-default-features --manifest-path "$tree/Cargo.toml"
cp target/release/workbench "$bin/workbench-$(git rev-parse --short "$rev")"
cargo build --release -q -p workbench --no-default-features
cp target/release/workbench "$bin/workbench-tree"
old="$bin/workbench-$(git rev-parse --short "$rev")" new="$bin/workbench-tree"
out=$(mktemp)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true; rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  for side in old new; do
    exe=${!side}
    for ckpt in "" "--gradient-checkpointing"; do
      "$exe" bench train-step --steps 3 --model "$model" --batch 4 --seq 256 $ckpt | sed "s/^{/{\"side\":\"$side\",\"bench\":\"train-step\",/" | tee -a "$out"
    done
    "$exe" bench decode --model "$model" --rounds 3 | sed "s/^{/{\"side\":\"$side\",\"bench\":\"decode\",/" | tee -a "$out"
  done
done
python3 - "$out" "$rev" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def med(side, bench, field, ckpt=None):
    v = [r[field] for r in rows if r["side"] == side and r["bench"] == bench and (ckpt is None or r.get("gradient_checkpointing") == ckpt)]
    return statistics.median(v), len(v)
print(f"\n| measure | {sys.argv[2]} | this tree | speed-up of this tree | runs |")
print("|---|---|---|---|---|")
for name, bench, field, ckpt, higher in [
    ("train step (s)", "train-step", "median_step_s", False, False),
    ("train step, checkpointing (s)", "train-step", "median_step_s", True, False),
    ("decode tokens/s", "decode", "decode_tokens_per_s", None, True),
    ("prefill 32 tokens (s)", "decode", "prefill_s", None, False),
]:
    (o, n), (w, _) = med("old", bench, field, ckpt), med("new", bench, field, ckpt)
    ratio = (w / o) if higher else (o / w)
    print(f"| {name} | {o:.4g} | {w:.4g} | {ratio:.3f} | {n} |")
PY
