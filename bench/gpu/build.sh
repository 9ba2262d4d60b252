#!/usr/bin/env bash
# Builds the libraries bench/gpu/run.sh loads on the GPU machine, here (that
# machine has no LLVM/MLIR): bench/gpu/lib/libmoe_gpu_sm_90a.so (H100/H200,
# wgmma kernels), libmoe_gpu_sm_90.so (H100/H200, the mma.sync kernels, timed
# beside them) and libmoe_gpu_sm_80.so (A100), each holding the kernels for
# every shape of bench.py (the decode kernel for rows <= 16 * E, the tile
# kernel above), and, for the grouped matmuls alone,
# libmoe_gpu_sm_90a_tile.so (the tile kernel forced, for the decode
# comparison), libmoe_gpu_sm_90a_w128.so (the 128x128 wgmma tile where
# the default takes the warp-specialized 128x256 one) and
# libmoe_gpu_sm_90_m64.so (the mma.sync kernel's 64x64 tile where the
# default takes the 128x128 one). Checks that they
# stay under the 64 MiB that travels, export the C API, need only libc, and
# pass bench.py --dry-run.
#
#   bench/gpu/build.sh [BUILD_DIR]        (default: build)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
lib="$root/bench/gpu/lib"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3
mkdir -p "$lib"

"$python" "$root/bench/gpu/bench.py" --emit-mlir > "$lib/shapes.mlir"
# The comparison libraries are called for the grouped matmuls alone.
"$python" "$root/bench/gpu/bench.py" --emit-mlir --gemms-only > "$lib/gemms.mlir"
# The libraries bench.py calls (kernel chosen by the row count), and for the
# H200 one with the tile kernel forced, to compare on the decode cases, one
# with the 128x128 wgmma tile, and one whose 4-warp decode kernel is
# compiled for two blocks an SM (all 24 loads ahead at 200 registers)
# instead of ptxas's three (12 ahead at 168).
for variant in sm_90a sm_90 sm_80 sm_90a:tile sm_90a:w128 sm_90a:decode2 sm_90:m64; do
  chip="${variant%%:*}"
  options=()
  so="$lib/libmoe_gpu_${chip}.so"
  shapes="$lib/shapes.mlir"
  case "$variant" in
    *:tile) options=(--kernel tile); shapes="$lib/gemms.mlir" ;;
    *:w128) options=(--wgmma-tile 128x128); shapes="$lib/gemms.mlir" ;;
    *:decode2) options=(--decode-blocks-per-sm 2); shapes="$lib/gemms.mlir" ;;
    *:m64) options=(--mma-tile 64x64); shapes="$lib/gemms.mlir" ;;
  esac
  if [ "$variant" != "$chip" ]; then
    so="$lib/libmoe_gpu_${chip}_${variant#*:}.so"
  fi
  "$build/bin/moe-gpu-aot" --chip "$chip" "${options[@]}" -o "$so" "$shapes"
  # Only glibc symbols may stay undefined (the driver is opened with dlopen).
  undefined="$(nm -D --undefined-only "$so" | grep -v '@GLIBC_' | grep -v ' w ' || true)"
  if [ -n "$undefined" ]; then
    echo "build.sh: $so has undefined symbols besides glibc's:" >&2
    echo "$undefined" >&2
    exit 1
  fi
  glibc="$(nm -D --undefined-only "$so" | sed -n 's/.*@GLIBC_//p' | sort -V | tail -1)"
  echo "$so: $(stat -c %s "$so") bytes; needs $(readelf -d "$so" | grep NEEDED | sed 's/.*\[\(.*\)\]/\1/' | tr '\n' ' ')(glibc >= $glibc)"
done
total=$(du -cb "$lib" | tail -1 | cut -f1)
if [ "$total" -gt $((64 << 20)) ]; then
  echo "build.sh: bench/gpu/lib is $total bytes, over the 64 MiB that travels" >&2
  exit 1
fi
echo "bench/gpu/lib: $total bytes"
"$python" "$root/bench/gpu/bench.py" --dry-run --lib-dir "$lib" --chips sm_90a sm_90 sm_80
