#!/usr/bin/env bash
# `make bench`, part 3: a task's `copy`, a directory of 20,000 small files (a node_modules
# stand-in, ignored by git) copied into 16 worktrees, against what a user would write by hand.
#
#   cp -a loop    for each worktree: cp -a node_modules WORKTREE/                (one at a time)
#   cp -a -P16    the same 16 commands at once (xargs -P 16)
#   porch         porch run, 16 tasks with "copy": ["node_modules"] and an agent that exits at
#                 once, minus the same run without `copy`: what the copies add to a run
#
# GNU cp 9 clones where it can (--reflink=auto is its default), as porch does. Time is the
# median of BENCH_REPEATS runs; disk is what the 16 copies add to the file system's used
# blocks (df), which is how copy-on-write shows: a clone uses almost none. The file system is
# BENCH_DIR's (a tmpfs by default: no clones); point BENCH_DIR at btrfs or XFS to see them.
set -euo pipefail
# shellcheck source=benches/common.sh
source "$(dirname "$0")/common.sh"

porch=$(realpath "${PORCH:-target/release/porch}")
agent=$(realpath "$(dirname "$0")/instant-agent")
files=${BENCH_COPY_FILES:-20000}
worktrees=${BENCH_COPY_WORKTREES:-16}
repeats=${BENCH_REPEATS:-3}
root=$(bench_root porch-copy)
trap 'rm -rf "$root"' EXIT
repo="$root/repo" wt="$root/wt"

used_kib() { sync; df --output=used -k "$root" | tail -1 | tr -d ' '; }

make_deps() { # dir count: 200 packages of count/200 files, 100 bytes to 4 KiB each
  python3 - "$1" "$2" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    pkg = os.path.join(root, f"pkg{i % 200}", "lib")
    os.makedirs(pkg, exist_ok=True)
    with open(os.path.join(pkg, f"m{i}.js"), "w") as f:
        f.write("x" * (100 + (i * 37) % 4000))
PY
  ln -s pkg0/lib "$1/.bin"
}

tasks_file() { # copy? > file
  python3 - "$worktrees" "$1" <<'PY'
import json, sys
n, copy = int(sys.argv[1]), sys.argv[2] == "copy"
task = lambda i: dict({"name": f"t{i}", "prompt": "nothing"}, **({"copy": ["node_modules"]} if copy else {}))
print(json.dumps({"tasks": [task(i) for i in range(n)]}))
PY
}

# One measurement: "ms kib" for a method, from a clean state.
measure() { # method
  reset_repo "$repo" "$wt"
  local start end before after
  case "$1" in
    cp-loop | cp-parallel)
      for ((i = 0; i < worktrees; i++)); do git -C "$repo" worktree add -q -b "task/t$i" "$wt/t$i" HEAD; done
      before=$(used_kib); start=$(now_ms)
      if [ "$1" = cp-loop ]; then
        for ((i = 0; i < worktrees; i++)); do cp -a "$repo/node_modules" "$wt/t$i/"; done
      else
        seq 0 $((worktrees - 1)) | xargs -P "$worktrees" -I{} cp -a "$repo/node_modules" "$wt/t{}/"
      fi
      end=$(now_ms); after=$(used_kib) ;;
    porch | porch-nocopy)
      local tasks="$root/tasks-copy.json"
      [ "$1" = porch-nocopy ] && tasks="$root/tasks-plain.json"
      before=$(used_kib); start=$(now_ms)
      "$porch" run "$tasks" "$repo" --worktree-dir "$wt" --claude "$agent" -o "$root/results.json" --color never >/dev/null 2>&1 ||
        { echo "porch run failed ($1)" >&2; exit 1; }
      end=$(now_ms); after=$(used_kib) ;;
  esac
  echo "$((end - start)) $((after - before))"
}

median_of() { # method: "ms kib", medians of the repeats
  local ms=() kib=()
  for ((r = 0; r < repeats; r++)); do
    read -r m k < <(measure "$1")
    ms+=("$m"); kib+=("$k")
  done
  echo "$(printf '%s\n' "${ms[@]}" | median) $(printf '%s\n' "${kib[@]}" | median)"
}

[ -x "$porch" ] || { echo "build porch first: make release" >&2; exit 1; }
git init -q -b main "$repo"
printf 'node_modules/\n' > "$repo/.gitignore"
printf 'hello\n' > "$repo/README"
git -C "$repo" add . && git -C "$repo" commit -q -m init
make_deps "$repo/node_modules" "$files"
tasks_file copy > "$root/tasks-copy.json"
tasks_file plain > "$root/tasks-plain.json"
source_kib=$(du -sk "$repo/node_modules" | cut -f1)

echo "porch $("$porch" --version | cut -d' ' -f2), $(cp --version | head -1), $(nproc) cores, on $(df --output=fstype "$root" | tail -1)"
echo "node_modules: $files files in $(find "$repo/node_modules" -type d | wc -l) directories, $((source_kib / 1024)) MiB; into $worktrees worktrees; median of $repeats runs"
echo
read -r loop_ms loop_kib < <(median_of cp-loop)
read -r par_ms par_kib < <(median_of cp-parallel)
read -r with_ms with_kib < <(median_of porch)
read -r without_ms without_kib < <(median_of porch-nocopy)
porch_ms=$((with_ms - without_ms)) porch_kib=$((with_kib - without_kib))
printf '%-28s %9s %12s %9s\n' method "copy ms" "disk MiB" "vs loop"
printf '%-28s %9s %12s %9s\n' "cp -a loop" "$loop_ms" "$((loop_kib / 1024))" 1.00x
printf '%-28s %9s %12s %9s\n' "cp -a, $worktrees at once" "$par_ms" "$((par_kib / 1024))" "$(ratio "$par_ms" "$loop_ms")"
printf '%-28s %9s %12s %9s\n' "porch copy" "$porch_ms" "$((porch_kib / 1024))" "$(ratio "$porch_ms" "$loop_ms")"
echo "(porch copy = a run with copy, $with_ms ms, minus one without, $without_ms ms)"
