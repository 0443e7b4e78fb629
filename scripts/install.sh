#!/usr/bin/env bash
# Create ./.venv and install the project with its test tools. PyTorch 2.13.0 (CPU) goes in first,
# so that no other torch build is downloaded for `torch>=2.1`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -d .venv ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet "setuptools<82" wheel
python -m pip install --quiet -e ".[dev]"
python -c "import torch, gymnasium, sacred, lbforaging, rware, mpe2, gymnasium_robotics; print('installed: torch', torch.__version__, '| gymnasium', gymnasium.__version__)"
