#!/usr/bin/env bash
# `make bench`, part 2: porch against the hand-written shell baseline (benches/baseline.sh),
# side by side in one run. Prints ratios; docs/performance.md records them.
#
#   overhead    wall time above the agent's own 1 s sleep, N tasks at once, porch / baseline,
#               and porch / the baseline with its worktree adds under flock (it loses no task)
#   memory      porch's own peak RSS (VmHWM of the porch process, not of the agents)
#   throughput  16 agents x 100,000 stream-json lines, lines per second, porch / sed prefixing
#   start-up    porch --version, against /bin/true
set -euo pipefail
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"

porch=$(realpath "${PORCH:-target/release/porch}")
here=$(cd "$(dirname "$0")" && pwd)
fixture=$(realpath "$here/../fixtures/claude")
sizes=${BENCH_SIZES:-"2 16 64"}
file_counts=${BENCH_FILES:-"3 3000"}
big=${BENCH_BIG:-256}
repeats=${BENCH_REPEATS:-3}
stream_lines=${BENCH_LINES:-100000}
root=$(bench_root porch-compare)
trap 'rm -rf "$root"' EXIT

tasks_file() { # n prompt > file
  python3 -c 'import json, sys; n = int(sys.argv[1]); print(json.dumps({"tasks": [{"name": f"t{i}", "prompt": sys.argv[2]} for i in range(n)]}))' "$1" "$2"
}

# Runs porch and samples its VmHWM; prints "wall_ms peak_kib exit".
run_porch() { # tasks repo wt [extra args...]
  local tasks=$1 repo=$2 wt=$3; shift 3
  local start end pid peak=0 hwm
  start=$(now_ms)
  "$porch" run "$tasks" "$repo" --worktree-dir "$wt" -o "$root/results.json" --color never "$@" >/dev/null 2>"$root/porch.err" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
    sleep 0.02
  done
  wait "$pid" && code=0 || code=$?
  end=$(now_ms)
  echo "$((end - start)) $peak $code"
}

run_baseline() { # repo wt n prompt agent
  local repo=$1 wt=$2 n=$3 prompt=$4 agent=$5 start end names
  rm -rf "$root/base-results"; mkdir -p "$root/base-results"
  names=$(seq -f 't%g' 0 $((n - 1)))
  start=$(now_ms)
  # shellcheck disable=SC2086
  "$here/baseline.sh" "$repo" "$wt" "$root/base-results" "$agent" "$prompt" "$n" $names >/dev/null 2>&1
  end=$(now_ms)
  local failed
  failed=$({ grep -l worktree-failed "$root/base-results/"*.json 2>/dev/null || true; } | wc -l)
  echo "$((end - start)) $failed"
}

[ -x "$porch" ] || { echo "build porch first: make release" >&2; exit 1; }
echo "porch $("$porch" --version | cut -d' ' -f2), git $(git --version | cut -d' ' -f3), $(nproc) cores, repositories on $(df --output=fstype "$root" | tail -1); median of $repeats runs"

echo
echo "== overhead: N tasks at once, the agent sleeps 1 s (fixtures/claude @sleep 1)"
printf '%-11s %5s %12s %12s %9s %14s %12s %12s %9s\n' repo tasks porch-ms baseline-ms ratio porch-peak-KiB base-failed locked-ms ratio
prompt=$'@sleep 1\n@write out.txt done'
for files in $file_counts; do
  repo="$root/repo-$files"; make_repo "$repo" "$files"
  for n in $sizes; do
    tasks_file "$n" "$prompt" > "$root/tasks.json"
    porch_times=() base_times=() locked_times=() peaks=() base_failed=0
    for ((r = 0; r < repeats; r++)); do
      run=$(fresh_run "$repo")
      read -r ms peak code < <(run_porch "$root/tasks.json" "$run/repo" "$run/wt" --claude "$fixture" -j "$n")
      [ "$code" = 0 ] || { echo "porch failed (exit $code):"; cat "$root/porch.err"; exit 1; }
      porch_times+=("$((ms - 1000))"); peaks+=("$peak")
      run=$(fresh_run "$repo")
      read -r ms failed < <(run_baseline "$run/repo" "$run/wt" "$n" "$prompt" "$fixture")
      base_times+=("$((ms - 1000))"); base_failed=$((base_failed + failed))
      run=$(fresh_run "$repo")
      read -r ms _ < <(BASELINE_LOCK=1 run_baseline "$run/repo" "$run/wt" "$n" "$prompt" "$fixture")
      locked_times+=("$((ms - 1000))")
    done
    p=$(printf '%s\n' "${porch_times[@]}" | median); b=$(printf '%s\n' "${base_times[@]}" | median)
    l=$(printf '%s\n' "${locked_times[@]}" | median)
    peak=$(printf '%s\n' "${peaks[@]}" | sort -n | tail -1)
    printf '%-11s %5s %12s %12s %9s %14s %12s %12s %9s\n' "$files files" "$n" "$p" "$b" "$(ratio "$p" "$b")" "$peak" "$base_failed" "$l" "$(ratio "$p" "$l")"
  done
done
repo="$root/repo-big-n"; make_repo "$repo" 3
if [ "$big" -gt 0 ]; then
  tasks_file "$big" "$prompt" > "$root/tasks.json"
  run=$(fresh_run "$repo")
  read -r ms peak code < <(run_porch "$root/tasks.json" "$run/repo" "$run/wt" --claude "$fixture" -j "$big")
  [ "$code" = 0 ] || { echo "porch failed at N=$big (exit $code):"; tail -5 "$root/porch.err"; exit 1; }
  printf '%-11s %5s %12s %12s %9s %14s %12s\n' "3 files" "$big" "$((ms - 1000))" "-" "-" "$peak" "-"
fi
[ "${BENCH_OVERHEAD_ONLY:-0}" = 1 ] && exit 0

echo
echo "== throughput: 16 agents x $stream_lines stream-json lines each"
python3 - "$stream_lines" > "$root/stream.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": f"line {i} of the flood"}]}, "session_id": "bench"}))
PY
: > "$root/empty.jsonl"
total=$((16 * (stream_lines + 2)))
tasks_file 16 "flood" > "$root/tasks.json"
porch_rates=() sed_rates=()
for ((r = 0; r < repeats; r++)); do
  # The same run with agents that print nothing: what porch spends on worktrees and commits,
  # taken off so that only the output is measured.
  reset_repo "$repo" "$root/wt"
  read -r quiet_ms _ _ < <(BENCH_STREAM="$root/empty.jsonl" run_porch "$root/tasks.json" "$repo" "$root/wt" --claude "$here/stream-agent" -j 16)
  reset_repo "$repo" "$root/wt"
  read -r ms peak code < <(BENCH_STREAM="$root/stream.jsonl" run_porch "$root/tasks.json" "$repo" "$root/wt" --claude "$here/stream-agent" -j 16)
  porch_rates+=("$((total * 1000 / (ms > quiet_ms ? ms - quiet_ms : 1)))")
  start=$(now_ms)
  for i in $(seq 1 16); do (stdbuf -oL sed "s/^/[t$i] /" "$root/stream.jsonl") & done > /dev/null
  wait
  end=$(now_ms)
  sed_rates+=("$((total * 1000 / (end - start)))")
done
p=$(printf '%s\n' "${porch_rates[@]}" | median); s=$(printf '%s\n' "${sed_rates[@]}" | median)
printf '%-22s %14s\n' method lines/s
printf '%-22s %14s\n' "porch (renders JSON)" "$p" "stdbuf -oL sed" "$s"
echo "(porch: lines / (time of the run - time of the same run with silent agents))"
echo "porch / sed: $(ratio "$p" "$s"); porch peak RSS during the flood: ${peak} KiB"

echo
echo "== start-up: 200 runs"
time_loop() { local start end; start=$(now_ms); for _ in $(seq 1 200); do "$@" >/dev/null; done; end=$(now_ms); echo $(( (end - start) * 1000 / 200 )); }
v=$(time_loop "$porch" --version); t=$(time_loop /bin/true)
printf 'porch --version %s us per run, /bin/true %s us, ratio %s\n' "$v" "$t" "$(ratio "$v" "$t")"
