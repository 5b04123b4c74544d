#!/usr/bin/env bash
# Builds and runs the planner benchmark (issue 5); the markdown report goes to
# stdout (and to FILE with --out FILE), progress to stderr. Other flags go to
# the main run of planner_bench:
#   --plans N        plans timed per preset and thread configuration (default 5)
#   --configs LIST   t1,t2,worker,local (default: all; see planner_bench.cc)
#   --presets LIST   pets,project (default: both)
#   --only LIST      ratio,fusion,e2e (default: all)
#   --e2e LIST       presets of the end-to-end part (default: project)
#   --seconds S      length of each plain-kernel sample (default 0.1)
# A second, shorter run follows (ratio and latency of t2 and worker, 3 plans)
# with OMP_WAIT_POLICY=passive, which libgomp reads only at process start:
# torch's OpenMP threads then sleep instead of spinning between parallel
# regions. Skip it with --no-passive. With --blas-env-unset, a third run
# (t1 and worker, project preset) has OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
# unset for that one command (see /work/shared/TOOLCHAIN.md).
# Environment: BUILD_DIR (default: build), JOBS (default: 2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="${JOBS:-2}"
out=""
unset_env=0
passive=1
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --blas-env-unset) unset_env=1; shift ;;
    --no-passive) passive=0; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMBRL_BUILD_BENCH=ON
fi
cmake --build "$build" --target planner_bench -j"$jobs" >&2

bench="$build/bench/planner_bench"

# A later run's report, its own title dropped and its headings one level down.
demote() { sed -e '/^# Planner benchmark$/d' -e 's/^## /### /'; }

run() {
  "$bench" "${args[@]}"
  if [[ $passive -eq 1 ]]; then
    printf '## Second run: OMP_WAIT_POLICY=passive\n\n'
    OMP_WAIT_POLICY=passive "$bench" --only ratio --configs t2,worker --plans 3 | demote
  fi
  if [[ $unset_env -eq 1 ]]; then
    printf '## Third run: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset\n\n'
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$bench" --only ratio --configs t1,worker \
      --presets project --plans 3 | demote
  fi
}

if [[ -n "$out" ]]; then
  run | tee "$out"
else
  run
fi
