#!/usr/bin/env bash
# Type-checks the engine's `cuda` feature on a machine without a GPU: candle's
# build compiles its CUDA kernels with nvcc (to PTX, and its quantized-matmul
# kernels to a static library), and rustc checks every CUDA code path.
#
# nvcc and the CUDA headers come from NVIDIA's wheels on the Python registry,
# unpacked into target/cuda-toolkit-VERSION (no system CUDA, no driver: cudarc
# loads the driver at run time). The version is one the pinned cudarc
# (0.19, `cuda-version-from-build-system`) supports: it refuses toolkits newer
# than 13.4. CUDA_COMPUTE_CAP (default 80, Ampere) stands in for the GPU that
# candle's build would otherwise ask nvidia-smi about.
#
# Usage: scripts/cuda_check.sh [cargo check arguments]
# Environment: CUDA_TOOLKIT_DIR (where to unpack), CUDA_COMPUTE_CAP.
# Needs: python3 with pip (Debian: python3-pip) to fetch the wheels, and g++ (nvcc's host compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip --version >/dev/null 2>&1 || { echo "cuda_check: python3 -m pip is missing (Debian: apt-get install python3-pip)" >&2; exit 1; }
command -v g++ >/dev/null || { echo "cuda_check: g++ is missing, nvcc's host compiler (Debian: apt-get install g++)" >&2; exit 1; }

VERSION=13.2.86
TOOLKIT="${CUDA_TOOLKIT_DIR:-$PWD/target/cuda-toolkit-$VERSION}"
ROOT="$TOOLKIT/nvidia/cu13"
if [[ ! -x "$ROOT/bin/nvcc" ]]; then
  mkdir -p "$TOOLKIT/wheels"
  # nvcc, ptxas and fatbinary; cicc and libdevice (nvcc fails without them);
  # crt/host_config.h; cuda_runtime.h, cuda_fp16.h, cuda_bf16.h; CUB / Thrust.
  python3 -m pip download --disable-pip-version-check --no-deps --dest "$TOOLKIT/wheels" \
    "nvidia-cuda-nvcc==$VERSION" "nvidia-nvvm==$VERSION" "nvidia-cuda-crt==$VERSION" \
    "nvidia-cuda-runtime==$VERSION" "nvidia-cuda-cccl==$VERSION"
  for wheel in "$TOOLKIT"/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" "$TOOLKIT"
  done
  chmod +x "$ROOT"/bin/* "$ROOT"/nvvm/bin/*
fi
export CUDA_ROOT="$ROOT" CUDA_PATH="$ROOT" PATH="$ROOT/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
nvcc --version | tail -2
# Every engine crate (the CUDA paths are in the model crate), their tests too.
cargo check --workspace --exclude workbench --features workbench-engine/cuda --all-targets "$@"
