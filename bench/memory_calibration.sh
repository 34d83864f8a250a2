#!/usr/bin/env bash
# Memory estimate against measured peak RSS: runs a few steps of the Story A
# sample config with several batch sizes, with and without gradient
# checkpointing, each in a fresh process, and prints the estimate beside the
# measured peak (VmHWM of the training process, recorded in metrics.jsonl).
# max_seq_len is 64 so that nearly every conversation is cut to exactly that
# length and batches are as long as the estimate assumes.
#
# Usage: bench/memory_calibration.sh [CONFIG [BATCHES]]
#   default: sample_data/configs/story-a-sample.toml "4 8 16 32"
#   SmolLM2: bench/memory_calibration.sh sample_data/configs/smollm2-helpdesk.toml "2 4 8"
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p workbench --no-default-features   # the CLI only
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
base="${1:-sample_data/configs/story-a-sample.toml}"
batches="${2:-4 8 16 32}"
echo "| batch | seq | checkpointing | estimated | measured peak | error |"
echo "|---|---|---|---|---|---|"
for ckpt in false true; do
  for batch in $batches; do
    cfg="$tmp/b$batch-$ckpt.toml"
    sed -e "s/^batch_size = .*/batch_size = $batch/" \
        -e "s/^gradient_checkpointing = .*/gradient_checkpointing = $ckpt/" \
        -e "s#\"\.\./#\"$PWD/$(dirname "$base")/../#" \
        -e "s#^runs_dir = .*#runs_dir = \"$tmp/runs\"#" \
        -e "s/^max_seq_len = .*/max_seq_len = 64/" "$base" > "$cfg"
    est=$(target/release/workbench estimate --config "$cfg" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total_bytes"])')
    target/release/workbench train --config "$cfg" --max-steps 3 > /dev/null 2>&1
    run=$(ls -d "$tmp"/runs/* | tail -1)
    peak=$(python3 -c 'import json,sys; print(max(json.loads(l).get("peak_rss_bytes",0) for l in open(sys.argv[1])))' "$run/metrics.jsonl")
    python3 -c "
import sys
e, p = int(sys.argv[1]), int(sys.argv[2])
print(f'| $batch | 64 | $ckpt | {e/2**20:.0f} MiB | {p/2**20:.0f} MiB | {100*(e-p)/p:+.0f}% |')" "$est" "$peak"
    rm -rf "$tmp/runs"
  done
done
