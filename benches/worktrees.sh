#!/usr/bin/env bash
# `make bench`: creating worktrees for N tasks, porch against what a user would write by hand,
# run side by side on this machine. Prints medians and ratios, not verdicts.
#
#   sequential   for each task: git worktree add -b task/N DIR HEAD        (safe, slow)
#   xargs -P N   the same, all at once                                     (fast, races)
#   porch        porch run with an agent that exits at once: registration under a lock,
#                checkout in parallel, plus everything porch does per task (agent start,
#                commit check, diff stats, results file)
#
# Repositories live on a tmpfs where there is one (/dev/shm), since on this project's disks
# creating files right after deleting many is slow for minutes (see docs/performance.md).
set -euo pipefail
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"

porch=$(realpath "${PORCH:-target/release/porch}")
agent=$(realpath "$(dirname "$0")/instant-agent")
tasks_counts=${BENCH_TASKS:-"32"}
repeats=${BENCH_REPEATS:-5}
root=$(bench_root porch-bench)
trap 'rm -rf "$root"' EXIT

measure() { # label repo n
  local label=$1 repo=$2 n=$3 wt="$root/wt" times=() failures=0
  for ((r = 0; r < repeats; r++)); do
    reset_repo "$repo" "$wt"; mkdir -p "$wt"
    local start end
    start=$(now_ms)
    case "$label" in
      sequential)
        for ((i = 0; i < n; i++)); do git -C "$repo" worktree add -q -b "task/t$i" "$wt/t$i" HEAD 2>/dev/null || failures=$((failures + 1)); done ;;
      xargs)
        local failed
        failed=$(seq 0 $((n - 1)) | xargs -P "$n" -I{} sh -c 'git -C "$0" worktree add -q -b task/t{} "$1/t{}" HEAD 2>/dev/null || echo x' "$repo" "$wt" | wc -l)
        failures=$((failures + failed)) ;;
      porch)
        "$porch" run "$root/tasks-$n.json" "$repo" --worktree-dir "$wt" --claude "$agent" -o "$root/results.json" >/dev/null 2>&1 || failures=$((failures + 1)) ;;
    esac
    end=$(now_ms)
    times+=($((end - start)))
  done
  printf '%s\n' "${times[@]}" | median > "$root/median"
  echo "$(cat "$root/median") $failures"
}

[ -x "$porch" ] || { echo "build porch first: make release" >&2; exit 1; }
echo "porch $("$porch" --version | cut -d' ' -f2), git $(git --version | cut -d' ' -f3), $(nproc) cores, repositories on $(df --output=fstype "$root" | tail -1)"
echo "median of $repeats runs; failures = git calls (or porch runs) that failed, over all runs"
echo
printf '%-12s %5s  %-11s %9s %9s  %8s %9s\n' repo tasks method ms failures vs-seq vs-xargs
for files in 3 3000; do
  repo="$root/repo-$files"
  make_repo "$repo" "$files"
  for n in $tasks_counts; do
    python3 - "$n" > "$root/tasks-$n.json" <<'PY'
import json, sys
print(json.dumps({"tasks": [{"name": f"t{i}", "prompt": "nothing"} for i in range(int(sys.argv[1]))]}))
PY
    read -r seq_ms seq_fail < <(measure sequential "$repo" "$n")
    read -r xargs_ms xargs_fail < <(measure xargs "$repo" "$n")
    read -r porch_ms porch_fail < <(measure porch "$repo" "$n")
    for row in "sequential $seq_ms $seq_fail" "xargs-P$n $xargs_ms $xargs_fail" "porch $porch_ms $porch_fail"; do
      set -- $row
      printf '%-12s %5s  %-11s %9s %9s  %8s %9s\n' "$files files" "$n" "$1" "$2" "$3" \
        "$(awk -v a="$2" -v b="$seq_ms" 'BEGIN {printf "%.2fx", a / b}')" \
        "$(awk -v a="$2" -v b="$xargs_ms" 'BEGIN {printf "%.2fx", a / b}')"
    done
  done
done
