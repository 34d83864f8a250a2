#!/usr/bin/env bash
# Create (idempotently) the Python reference environment used by
# scripts/reference_logits.py, scripts/peft_load_check.py, scripts/proof.py,
# scripts/make_tiny_references.py, scripts/make_stats_fixtures.py and
# bench/pytorch_peft_step.py: Hugging Face transformers + PEFT on CPU PyTorch,
# the gguf package (llama.cpp's reader/writer), and statsmodels + krippendorff + choix
# (the reference statistics of human evaluation).
#
# Usage: scripts/make_reference_venv.sh [--force]
#   --force          delete and rebuild the venv
# Environment:
#   REF_VENV=path    venv location (default: <repo>/.venv-ref, git-ignored)
#   PYTHON=python3   interpreter to build the venv from (3.10+)
#
# torch comes from PyPI as a plain `pip install torch==X`: the pytorch.org CPU
# wheel index is not reachable here and PyPI has no CPU-only torch wheel for
# Linux x86_64, so this pulls the CUDA wheels too (about 3.5 GB of downloads,
# 5.6 GB installed; measured ~100 s here). A --no-deps torch without the
# nvidia-* wheels does NOT work: `import torch` fails on libcudart/libcublasLt.
# Everything runs on CPU regardless.
#
# Afterwards: .venv-ref/bin/python scripts/reference_logits.py MODEL_DIR ...
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${REF_VENV:-$REPO_ROOT/.venv-ref}"
PYTHON="${PYTHON:-python3}"

# Pinned versions (the newest on PyPI when this was written, checked to work
# together on CPU). Change them here only; the stamp below forces a reinstall.
TORCH_VERSION="2.15.0"
PINS=(
  "transformers==5.24.0"
  "peft==0.21.2"
  "safetensors==0.8.0"
  "tokenizers==0.23.3"
  "psutil==7.2.2"
  "gguf==0.19.0"
  "statsmodels==0.15.0"
  "krippendorff==0.9.0"
  "choix==0.4.1"
)

if [[ "${1:-}" == "--force" ]]; then
  rm -rf "$VENV"
fi

STAMP="$VENV/.reference-pins"
WANT="torch==$TORCH_VERSION ${PINS[*]}"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "reference venv up to date: $VENV"
  "$VENV/bin/python" -c 'import torch, transformers, peft, safetensors, tokenizers, psutil, gguf; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "safetensors", safetensors.__version__, "tokenizers", tokenizers.__version__, "psutil", psutil.__version__)'
  exit 0
fi

start=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install --upgrade pip

# torch first, on its own, so a failure there is obvious; then the rest
# (pip keeps the torch already installed).
"${PIP[@]}" install "torch==$TORCH_VERSION"
"${PIP[@]}" install "torch==$TORCH_VERSION" "${PINS[@]}"

# Smoke test: import everything and run a tiny CPU matmul + autograd.
"$VENV/bin/python" - <<'EOF'
import torch, transformers, peft, safetensors, tokenizers, psutil, gguf
x = torch.randn(4, 4, requires_grad=True)
(x @ x).sum().backward()
assert x.grad is not None
print("torch", torch.__version__, "transformers", transformers.__version__,
      "peft", peft.__version__, "safetensors", safetensors.__version__,
      "tokenizers", tokenizers.__version__, "psutil", psutil.__version__)
EOF
echo "$WANT" > "$STAMP"
end=$(date +%s)
echo "reference venv ready: $VENV ($((end - start)) s, $(du -sh "$VENV" | cut -f1))"
