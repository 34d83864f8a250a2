#!/usr/bin/env bash
# The checks to run on a machine with an NVIDIA GPU, in one go: build with the
# `cuda` feature, run the model crate's and the engine's tests in that build
# (on the CPU: they check that build; the GPU's own work is what follows), train the shipped
# sample config on the GPU for a few steps, and measure a LoRA training step on
# the GPU beside PyTorch + PEFT on the same card (bench/pytorch_peft_step.py
# --device cuda). Results go to target/gpu-check/; record the bench lines in
# docs/BENCHMARKS.md with the card, the date and this command.
#
# Usage: scripts/gpu_check.sh [MODEL_DIR]   (default: the shipped sample model)
# Needs: nvcc (a CUDA toolkit, or scripts/cuda_check.sh's wheels on PATH),
# the driver, and for the PyTorch side .venv-ref (scripts/make_reference_venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/gpu-check
mkdir -p "$out"
model="${1:-sample_data/model}"
nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv | tee "$out/gpu.csv"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)}"

cargo build --release -p workbench --no-default-features --features cuda
# Every test of the model crate (decoder, kernels, fused layer, KV cache) and the engine's.
cargo test --release --workspace --exclude workbench --features workbench-engine/cuda 2>&1 | tee "$out/tests.log"

# A real run on the GPU: the smoke config with the device set, written beside
# it (its paths are relative to its folder) and removed afterwards.
config=sample_data/configs/.gpu-check.toml
trap 'rm -f "$config"' EXIT
sed 's/^\[model\]$/[model]\ndevice = "cuda:0"/' sample_data/configs/quick-smoke.toml > "$config"
grep -q 'device = "cuda:0"' "$config" || { echo "could not set the device in $config" >&2; exit 1; }
target/release/workbench train --config "$config" --runs-dir "$out/runs" 2>&1 | tail -5 | tee "$out/train.log"

for ckpt in "" "--gradient-checkpointing"; do
  target/release/workbench bench train-step --device cuda:0 --model "$model" --batch 8 --seq 256 $ckpt | tee -a "$out/bench.jsonl"
  if [[ -x .venv-ref/bin/python ]]; then
    .venv-ref/bin/python bench/pytorch_peft_step.py --device cuda --json --model "$model" --batch 8 --seq 256 $ckpt | tee -a "$out/bench.jsonl"
  fi
done
echo "results in $out/"
