#!/usr/bin/env bash
# The GPU path, checked and measured on a machine with CUDA, in one command:
#   1. tests/learners/test_device_path.py, whose cases run with use_cuda=True where torch sees a GPU:
#      every tensor of a Lookahead iteration on the GPU, no host read growing with the hot loops;
#   2. benchmarks/lookahead_cost.py with HAPPO and Lookahead-HAPPO (the paper's and the authors'
#      settings) on the GPU and on the same machine's CPU, side by side, each going first in turn.
#
#   [PYTHON=python3] bash benchmarks/gpu_check.sh [OUT_DIR] [ITERATIONS]   (defaults: benchmarks/results/gpu, 3)
#
# Paths are taken from the repository's root (the script runs there).
# Writes OUT_DIR/{gpu.txt, device_path_tests.txt, lookahead_cost.txt, lookahead_cost.{json,csv,png}};
# exits 2 where torch sees no CUDA device, 1 where a test failed, else the benchmark's status.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${1:-benchmarks/results/gpu}
iterations=${2:-3}
python=${PYTHON:-python3}  # the Python with torch (a CUDA build) and this project's requirements
mkdir -p "$out"

"$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: nothing to check')" || exit 2
{ nvidia-smi -L; "$python" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"; } \
    > "$out/gpu.txt" 2>&1

"$python" -m pytest -q -p no:cacheprovider tests/learners/test_device_path.py > "$out/device_path_tests.txt" 2>&1
tests=$?
tail -n 3 "$out/device_path_tests.txt"

variants=happo,happo+cuda,lookahead_happo,lookahead_happo+cuda,lookahead_happo_authors,lookahead_happo_authors+cuda
"$python" benchmarks/lookahead_cost.py --iterations "$iterations" --variants "$variants" --out "$out" 2>&1 \
    | grep -v -e "^WARNING: compiler attribute" -e "^$" > "$out/lookahead_cost.txt"
benchmark=$?
tail -n 14 "$out/lookahead_cost.txt"
[ "$tests" -eq 0 ] || exit 1
exit "$benchmark"
