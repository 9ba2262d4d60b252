#!/usr/bin/env bash
# The one prepared script for the GPU machine (docs/GPU.md): no build there,
# only the libraries built here by bench/gpu/build.sh, carried along:
#
#   run(command="bash bench/gpu/run.sh", carry=["bench/gpu/lib"], timeout_s=540)
#
# Prints the device, runs bench.py (numerics first, then timings; each model
# in its own process, a failing case reported and skipped) within 8 minutes,
# and leaves results.md, results.json and log.txt under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-bench/gpu/results}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv || true
  python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda, torch.cuda.get_device_name())" || true
  ls -l bench/gpu/lib
  python3 bench/gpu/bench.py --dry-run --lib-dir bench/gpu/lib --chips sm_90a
  timeout 450 python3 bench/gpu/bench.py --lib-dir bench/gpu/lib --out "$OUT/results.md"
  echo "bench.py exit: $?"
  date -u
} 2>&1 | tee "$OUT/log.txt"
