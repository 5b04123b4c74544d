#!/usr/bin/env bash
# Builds and runs the storage benchmark; the markdown report goes to stdout
# (and to FILE with --out FILE). Other flags go to storage_bench:
#   --seconds S   length of each measurement (default 2)
#   --only LIST   raw,ingest,prefilled,sample,latency (default: all)
#   --records small,image  --sync no,yes  --collectors 1,4,8   ingest rows (default: all)
#   --dir DIR     keep the RocksDB directories there (default: a temp dir, removed)
#   --mbrl PATH   measure another mbrl binary (with --legacy-values for one built
#                 before storage/layout.h, so that raw writes that build's records)
# Environment: BUILD_DIR (default: build), JOBS (default: 2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="${JOBS:-2}"
out=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMBRL_BUILD_BENCH=ON
fi
cmake --build "$build" --target mbrl storage_bench -j"$jobs" >&2

if [[ -n "$out" ]]; then
  "$build/bench/storage_bench" "${args[@]}" | tee "$out"
else
  "$build/bench/storage_bench" "${args[@]}"
fi
