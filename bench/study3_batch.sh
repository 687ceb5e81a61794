#!/usr/bin/env bash
# Study 3 runs on a machine with many cores: trains the named seeds' missing runs on the CPU (even where a
# GPU is present: the plan's runs are CPU runs), WORKERS at a time, for at most BUDGET seconds, then packs the
# finished runs' compact records into one tar file. Unpack it in a clone's root and commit docs/study3/runs/;
# a run cut off by the budget left no record and trains again in the next sitting (python -m training.study.study3).
#   bash bench/study3_batch.sh 100-111 16 540 /tmp/study3-records.tar     # seeds 100..111, 16 at once, 9 min
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 4 ]; then echo "usage: bash bench/study3_batch.sh FIRST-LAST WORKERS BUDGET_S TARFILE" >&2; exit 2; fi
first=${1%-*}; last=${1#*-}
seeds=$(seq -s, "$first" "$last") || { echo "seeds must read FIRST-LAST, e.g. 100-111" >&2; exit 2; }
echo "study3 batch: seeds $first-$last, $2 at once, $3 s, on $(nproc) cores; python $(python3 -c 'import sys; print(sys.version.split()[0])'), torch $(python3 -c 'import torch; print(torch.__version__)')"
CUDA_VISIBLE_DEVICES="" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 timeout "$3" \
    python3 -m training.study.study3 --seeds "$seeds" --workers "$2"
echo "sweep exit $? (124: the budget ran out; runs in flight left no record)"
tar -cf "$4" docs/study3/runs 2>/dev/null && echo "records: $(tar -tf "$4" | grep -c metrics.jsonl) runs in $4"
