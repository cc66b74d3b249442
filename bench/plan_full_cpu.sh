#!/usr/bin/env bash
# The cost plan of E5 and E6 (full profile) measured on this machine's CPU, stored in
# bench/data/plan_E5_E6_full_cpu.{txt,json}: runs, epochs, steps, the measured seconds per
# training step of every model (a short timed probe: 1 warm-up + 3 timed steps at the
# runs' batch size, on synthetic input of the dataset's shape; their median, and their
# range as "min-max") and the projected
# device-hours.  A CPU plan is what a CPU would cost, not a GPU's: rerun `plan` with
# --device cuda on the machine you will train on.
#
#   bash bench/plan_full_cpu.sh            (about 10 minutes on a shared 2-core machine, niced)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
THREADS=${THREADS:-1}  # one thread: least disturbed by the other users of a shared machine
OUT=bench/data/plan_E5_E6_full_cpu
{
  echo "# python -m paper_repro plan E5 E6 --profile full --device cpu --threads $THREADS --probe-steps 3 --probe-warmup 1"
  echo "# machine: $(uname -srm), $(nproc) CPUs online, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "# torch threads: $THREADS; load average before: $(cut -d' ' -f1-3 /proc/loadavg); date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "# commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- paper_repro eoc || echo ' (+ uncommitted changes)')"
  echo
  nice -n 10 "$PY" -m paper_repro plan E5 E6 --profile full --device cpu --threads "$THREADS" \
    --probe-steps 3 --probe-warmup 1 --json "$OUT.json"
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg); date: $(date -u +%Y-%m-%dT%H:%MZ)"
} > "$OUT.txt.tmp"
mv "$OUT.txt.tmp" "$OUT.txt"
cat "$OUT.txt"
