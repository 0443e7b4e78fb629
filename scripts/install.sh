#!/usr/bin/env bash
# Create ./.venv and install the project with its test tools and Ray (sweeps). PyTorch goes in first, so that no
# other torch build is downloaded for `torch>=2.1`.
#
# Variables (all optional):
#   PYTHON           interpreter the venv is made from (default python3; needs >= 3.10),
#                    e.g. PYTHON=python3.11 ./scripts/install.sh
#   TORCH_SPEC       the torch requirement installed first (default "torch==2.13.0")
#   TORCH_INDEX_URL  a package index for that one install only (pip --index-url; default: pip's
#                    configured index), e.g. PyTorch's own index of CPU-only or CUDA builds:
#                    TORCH_SPEC="torch==2.13.0" TORCH_INDEX_URL=<PyTorch's wheel index>/cpu ./scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-}
MIN_PYTHON=3.10

# "3.11" for the interpreter $1, or nothing if it does not run.
python_version() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

# Exit with a message unless the interpreter $1 runs and is at least MIN_PYTHON; $2 says how to fix it.
require_python() {
  local python=$1 fix=$2 found
  found=$(python_version "$python")
  if [ -z "$found" ]; then
    echo "install.sh: cannot run the Python interpreter '$python'; $fix" >&2
    exit 1
  fi
  if ! "$python" -c "import sys; sys.exit(sys.version_info[:2] < tuple(map(int, '$MIN_PYTHON'.split('.'))))"; then
    echo "install.sh: Python $MIN_PYTHON or newer is needed, but '$python' is Python $found; $fix" >&2
    exit 1
  fi
}

if [ -x .venv/bin/python ]; then
  # An existing venv is reused as it is: its Python is the one that counts.
  require_python .venv/bin/python \
    "remove .venv (rm -rf .venv) and run again, e.g. PYTHON=python3.11 ./scripts/install.sh"
else
  require_python "$PYTHON" "pick another with PYTHON=python3.11 ./scripts/install.sh"
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip

torch_install=("$TORCH_SPEC")
[ -z "$TORCH_INDEX_URL" ] || torch_install+=(--index-url "$TORCH_INDEX_URL")
python -m pip install --quiet "${torch_install[@]}"

python -m pip install --quiet "setuptools<82" wheel
python -m pip install --quiet -e ".[dev,ray,wandb,stats]"  # ray: src/search.py (sweeps); wandb: use_wandb=True; stats: rliable
python -c "import torch, gymnasium, sacred, lbforaging, rware, mpe2, gymnasium_robotics, ray; print('installed: torch', torch.__version__, '| gymnasium', gymnasium.__version__)"
