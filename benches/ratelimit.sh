#!/usr/bin/env bash
# `make bench`, part 3: a rate-limited API (docs/performance.md, "Rate limits").
#
# N tasks of 2 s each against an API that serves K sessions at once (fixtures/claude
# @rate-limit: while no slot is free, the session prints api_retry events and waits, and after
# RETRIES retries it fails with a 429 result, as the real CLI does with CLAUDE_CODE_MAX_RETRIES
# set that low). Three ways to run them:
#
#   oracle     porch -j K: knows the limit
#   adaptive   porch -j N: starts every task at once and adapts (the goal: at most 1.3x the
#              oracle's wall time and at most N/2 failed attempts, without being told K)
#   fixed      every task at once, each retried after a doubling backoff when it fails: what
#              porch did before it adapted, as a shell loop (no worktrees, so it is favoured)
#
# Every run uses --retries 8 --retry-backoff 1s.
set -euo pipefail
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"

porch=$(realpath "${PORCH:-target/release/porch}")
here=$(cd "$(dirname "$0")" && pwd)
fixture=$(realpath "$here/../fixtures/claude")
n=${BENCH_RL_TASKS:-24}
k=${BENCH_RL_SLOTS:-3}
task_seconds=${BENCH_RL_SECONDS:-2}
cli_retries=${BENCH_RL_CLI_RETRIES:-2}
repeats=${BENCH_RL_REPEATS:-3}
retries=8
root=$(bench_root porch-ratelimit)
trap 'rm -rf "$root"' EXIT

[ -x "$porch" ] || { echo "build porch first: make release" >&2; exit 1; }

prompt() { printf '@rate-limit %s %s %s\n@sleep %s\n@write out.txt done\n' "$root/slots" "$k" "$cli_retries" "$task_seconds"; }

tasks_file() {
  python3 -c 'import json, sys; n = int(sys.argv[1]); print(json.dumps({"tasks": [{"name": f"t{i}", "prompt": sys.argv[2]} for i in range(n)]}))' "$n" "$(prompt)"
}

# Prints "wall_ms failed_attempts succeeded rate_limit_events lowest final" of one porch run.
run_porch() { # jobs
  local start end code=0
  rm -rf "$root/slots"
  reset_repo "$root/repo" "$root/wt"
  start=$(now_ms)
  "$porch" run "$root/tasks.json" "$root/repo" --worktree-dir "$root/wt" -o "$root/results.json" \
    --color never --claude "$fixture" -j "$1" --retries "$retries" --retry-backoff 1s >"$root/porch.out" 2>&1 || code=$?
  end=$(now_ms)
  [ "$code" = 0 ] || { echo "porch -j $1 failed (exit $code):" >&2; tail -20 "$root/porch.out" >&2; }
  python3 - "$root/results.json" "$((end - start))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
failed = sum(1 for t in r["tasks"] for a in t["attempts"] if a["status"] != "succeeded")
ok = sum(1 for t in r["tasks"] if t["status"] == "succeeded")
print(sys.argv[2], failed, ok, r.get("rate_limit_events", "-"), r.get("lowest_concurrency", "-"), r.get("final_concurrency", "-"))
PY
}

# One task of the fixed-concurrency baseline: the session again after 1 s, 2 s, 4 s, … while
# it fails. Prints one line per failed attempt, then "ok" or "gave-up".
fixed_task() { # dir
  local attempt backoff=1000
  mkdir -p "$1"
  for ((attempt = 0; attempt <= retries; attempt++)); do
    if (cd "$1" && prompt | "$fixture" -p --output-format stream-json --verbose --permission-mode acceptEdits >/dev/null 2>&1); then
      echo ok; return
    fi
    echo failed
    [ "$attempt" -lt "$retries" ] && sleep "$((backoff / 1000))" && backoff=$((backoff * 2))
  done
  echo gave-up
}

run_fixed() {
  local start end i
  rm -rf "$root/slots" "$root/fixed"
  start=$(now_ms)
  for ((i = 0; i < n; i++)); do fixed_task "$root/fixed/t$i" > "$root/fixed-t$i.out" & done
  wait
  end=$(now_ms)
  echo "$((end - start)) $(cat "$root"/fixed-t*.out | grep -c failed) $(cat "$root"/fixed-t*.out | grep -c '^ok') - - -"
  rm -f "$root"/fixed-t*.out
}

make_repo "$root/repo" 3
tasks_file > "$root/tasks.json"
echo "porch $("$porch" --version | cut -d' ' -f2), $(nproc) cores; N = $n tasks of ${task_seconds} s, an API serving K = $k at once, the CLI retrying $cli_retries times; median of $repeats runs"
echo
printf '%-9s %9s %7s %15s %10s %17s %7s %6s\n' run wall-ms ratio failed-attempts succeeded rate-limit-events lowest final

declare -A walls=() rows=()
for name in oracle adaptive fixed; do
  lines=()
  for ((r = 0; r < repeats; r++)); do
    case $name in
      oracle) lines+=("$(run_porch "$k")") ;;
      adaptive) lines+=("$(run_porch "$n")") ;;
      fixed) lines+=("$(run_fixed)") ;;
    esac
  done
  # The run of median wall time stands for all.
  row=$(printf '%s\n' "${lines[@]}" | sort -n | awk -v m=$(((repeats + 1) / 2)) 'NR == m')
  walls[$name]=${row%% *}
  rows[$name]=$row
done
for name in oracle adaptive fixed; do
  read -r ms failed ok events lowest final <<< "${rows[$name]}"
  printf '%-9s %9s %7s %15s %10s %17s %7s %6s\n' "$name" "$ms" "$(ratio "$ms" "${walls[oracle]}")" "$failed" "$ok/$n" "$events" "$lowest" "$final"
done
read -r ms failed _ <<< "${rows[adaptive]}"
verdict=$(awk -v a="$ms" -v o="${walls[oracle]}" -v f="$failed" -v n="$n" 'BEGIN { print (a <= 1.3 * o && f <= n / 2) ? "met" : "NOT met" }')
echo "goal (adaptive <= 1.3x oracle, <= $((n / 2)) failed attempts): $verdict"
