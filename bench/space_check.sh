#!/usr/bin/env bash
# The ZeroGPU preset's costs on a GPU (issue 26): load, step time, peak memory, a held-out evaluation, a
# checkpoint, and the steps a chunk takes, written to one JSON file. Offline (random weights), under 8 minutes.
#   bash bench/space_check.sh --json space-step.json                                  # on the GPU machine
#   bash bench/space_check.sh --device cpu --layers 1 --max-new 8 --steps 1 --eval-n 2  # a dry run on a CPU
# Every argument goes to bench/space_step.py (python bench/space_step.py --help).
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout "${BUDGET:-480}" "${PYTHON:-python}" bench/space_step.py "$@"
