#!/usr/bin/env bash
# The one-command GPU check (issue 17): versions and GPU, the CUDA tests, 3 steps of the bundled model on
# the GPU, and the step-time benchmark against TRL, all written to one JSON file (gpu-check.json).
#   bash bench/gpu_check.sh                              # on the GPU machine (about 8 minutes at most)
#   bash bench/gpu_check.sh --device cpu --layers 1      # a dry run of the same path on a CPU
# Every argument goes to bench/gpu_check.py (python bench/gpu_check.py --help).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" bench/gpu_check.py "$@"
