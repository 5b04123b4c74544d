#!/usr/bin/env bash
# The learning benchmark of `mbrl local` (issue 6): runs the whole loop for
# every environment × algorithm × seed and prints a markdown report (to FILE
# too with --out FILE): per run the return of every episode, the episodes
# until the return first reaches the target, the wall time; per environment
# and algorithm the median and the spread (min–max) over the seeds.
#
#   --envs LIST        default: cartpole_swingup
#   --algorithms LIST  mpc, v1, v0, and `random` (every episode random: the
#                      reference); default: mpc
#   --seeds LIST       default: 0,1,2
#   --episodes N       default: 10 (the warm-up included)
#   --config FILE      passed to every run (e.g. a smaller planner preset)
#   --dir DIR          keep every run's data, summary and learning curve there
#                      (default: a temp dir, removed)
#   --out FILE         also write the report there
# Targets: cartpole_swingup 170 (issue 6), pendulum_swingup -400 (CEM through
# the true simulator scores about -365), others none. Environment: BUILD_DIR
# (default: build), JOBS (default: 2), MBRL (an mbrl binary; default: build it).
#
# Runs are sequential: each one owns the machine's cores (--threads default).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
jobs="${JOBS:-2}"
envs="cartpole_swingup"
algorithms="mpc"
seeds="0,1,2"
episodes=10
config=""
dir=""
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --envs) envs="$2"; shift 2 ;;
    --algorithms) algorithms="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --episodes) episodes="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
command -v jq > /dev/null || { echo "needs jq (apt-get install jq)" >&2; exit 2; }

mbrl="${MBRL:-}"
if [[ -z "$mbrl" ]]; then
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
  fi
  cmake --build "$build" --target mbrl -j"$jobs" >&2
  mbrl="$build/apps/mbrl"
fi
keep=1
if [[ -z "$dir" ]]; then
  dir="$(mktemp -d)"
  keep=0
fi
cleanup() { if [[ $keep == 0 ]]; then rm -rf "$dir"; fi; }
trap cleanup EXIT

target_of() {
  case "$1" in
    cartpole_swingup) echo 170 ;;
    pendulum_swingup) echo -400 ;;
    *) echo "" ;;
  esac
}

# Median and min–max of the numbers on stdin ("-" when there are none).
stats() {
  jq -s -r 'map(select(. != null)) | sort |
    if length == 0 then "-" else
      (if length % 2 == 1 then .[length / 2 | floor]
       else (.[length / 2 - 1] + .[length / 2]) / 2 end) as $m |
      "\($m * 10 | round / 10) (\(.[0] * 10 | round / 10)–\(.[-1] * 10 | round / 10))"
    end'
}

report="$(mktemp)"
{
  echo "## mbrl local: $episodes episodes per run, seeds $seeds"
  echo
  echo "$(date -u +%F), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start;"
  echo "\`$mbrl\` $($mbrl --version 2>/dev/null | head -1)."
  echo
  echo "| env | algorithm | seed | returns per episode | episodes to target | best | wall s | s / episode |"
  echo "|---|---|---|---|---|---|---|---|"
} > "$report"

rows="$(mktemp)"
IFS=',' read -ra env_list <<< "$envs"
IFS=',' read -ra algorithm_list <<< "$algorithms"
IFS=',' read -ra seed_list <<< "$seeds"
for env in "${env_list[@]}"; do
  target="$(target_of "$env")"
  for algorithm in "${algorithm_list[@]}"; do
    for seed in "${seed_list[@]}"; do
      run="$dir/$env-$algorithm-$seed"
      rm -rf "$run"
      mkdir -p "$run"
      args=(local --env "$env" --episodes "$episodes" --seed "$seed" --data-dir "$run/data"
            --summary "$run/summary.json")
      if [[ "$algorithm" == random ]]; then
        # Every episode a warm-up episode: the random base policy throughout.
        printf 'local:\n  warmup_episodes: 1000000000\n' > "$run/random.yaml"
        args+=(--config "$run/random.yaml")
      else
        args+=(--algorithm "$algorithm")
        if [[ -n "$config" ]]; then args+=(--config "$config"); fi
      fi
      echo "running: $mbrl ${args[*]}" >&2
      "$mbrl" "${args[@]}" > "$run/stdout.txt" 2> "$run/stderr.txt" || {
        echo "failed: see $run/stderr.txt" >&2
        continue
      }
      jq -c --arg env "$env" --arg algorithm "$algorithm" --arg seed "$seed" \
        --arg target "$target" '
        (.episodes | map(.return)) as $r |
        {env: $env, algorithm: $algorithm, seed: $seed, returns: $r,
         to_target: (if $target == "" then null else
           ([range(0; $r | length) | select($r[.] >= ($target | tonumber))] | first
            | if . == null then null else . + 1 end) end),
         best: ($r | max), last: $r[-1], wall: .wall_seconds,
         per_episode: (.wall_seconds / ($r | length))}' "$run/summary.json" >> "$rows"
      jq -r '"| \(.env) | \(.algorithm) | \(.seed) | " +
             (.returns | map(. * 10 | round / 10 | tostring) | join(", ")) +
             " | \(.to_target // "not reached") | \(.best * 10 | round / 10)" +
             " | \(.wall | round) | \(.per_episode | round) |"' <<< "$(tail -1 "$rows")" \
        >> "$report"
    done
  done
done

{
  echo
  echo "| env | algorithm | runs | episodes to target: median (min–max) | not reached | last return | best return | wall s |"
  echo "|---|---|---|---|---|---|---|---|"
  for env in "${env_list[@]}"; do
    for algorithm in "${algorithm_list[@]}"; do
      group="$(jq -c --arg e "$env" --arg a "$algorithm" \
        'select(.env == $e and .algorithm == $a)' "$rows")"
      [[ -z "$group" ]] && continue
      n="$(jq -s length <<< "$group")"
      missed="$(jq -s 'map(select(.to_target == null)) | length' <<< "$group")"
      echo "| $env | $algorithm | $n | $(jq '.to_target' <<< "$group" | stats) | $missed" \
        "| $(jq '.last' <<< "$group" | stats) | $(jq '.best' <<< "$group" | stats)" \
        "| $(jq '.wall' <<< "$group" | stats) |"
    done
  done
  if [[ $keep == 1 ]]; then
    echo
    echo "Runs, learning curves (learning_curve.svg) and summaries: $dir"
  fi
} >> "$report"

if [[ -n "$out" ]]; then cp "$report" "$out"; fi
cat "$report"
rm -f "$report" "$rows"
