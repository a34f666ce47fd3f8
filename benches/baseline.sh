#!/usr/bin/env bash
# What a user writes by hand instead of porch: xargs -P N over the tasks; per task a worktree,
# the agent with its lines prefixed by sed, and a result file. Used by benches/compare.sh.
#
#   baseline.sh REPO WORKTREE_DIR RESULTS_DIR AGENT PROMPT N NAME...
#
# With BASELINE_LOCK=1 each `worktree add` runs under flock(1) on one lock file, as a user who
# met the race (docs/performance.md, section 5) would write it: slower, and it loses no task.
set -u
repo=$1 wt=$2 results=$3 agent=$4 prompt=$5 jobs=$6
shift 6
export repo wt results agent prompt
run_one() {
  name=$1
  local lock=()
  [ "${BASELINE_LOCK:-0}" = 1 ] && lock=(flock "$results/.add.lock")
  if ! "${lock[@]}" git -C "$repo" worktree add -q -b "task/$name" "$wt/$name" HEAD 2>"$results/$name.err"; then
    printf '{"name":"%s","status":"worktree-failed"}\n' "$name" > "$results/$name.json"
    return 0
  fi
  cd "$wt/$name" || return 0
  start=$(date +%s%3N)
  printf '%s' "$prompt" | "$agent" -p --output-format stream-json --verbose --permission-mode acceptEdits 2>&1 \
    | stdbuf -oL sed "s/^/[$name] /"
  code=${PIPESTATUS[1]}
  printf '{"name":"%s","exit_code":%s,"duration_ms":%s}\n' "$name" "$code" $(( $(date +%s%3N) - start )) > "$results/$name.json"
}
export -f run_one
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {}
