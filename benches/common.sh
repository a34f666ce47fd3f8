# Shared by the benchmark scripts: the hermetic git setup and small helpers.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost

# Repositories go on a tmpfs where there is one: on this project's disks, creating files right
# after deleting many is slow for minutes, which would measure the kernel, not porch.
bench_root() { # name
  local parent=${BENCH_DIR:-$([ -d /dev/shm ] && [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")}
  mktemp -d "$parent/$1.XXXXXX"
}

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "-"; else printf "%.2fx", a / b }'; }

make_repo() { # dir files
  git init -q -b main "$1"
  mkdir -p "$1/src"
  for ((i = 0; i < $2; i++)); do printf 'line %s\n' "$i" > "$1/src/f$i.txt"; done
  git -C "$1" add . && git -C "$1" commit -q -m init
}

reset_repo() { # repo worktree-dir
  rm -rf "$2"
  git -C "$1" worktree prune
  git -C "$1" for-each-ref --format='%(refname:short)' refs/heads/task/ | xargs -r git -C "$1" branch -q -D
  mkdir -p "$2"
}

# A copy of repository TEMPLATE for one timed run, in a directory of its own under $root (the
# caller's bench_root); prints that directory, which holds `repo` and is where `wt` goes. On a
# tmpfs the previous run's directory is deleted first. On a disk nothing is deleted until the
# script ends: ext4 creates files slowly for minutes after many were deleted, so deleting
# between runs would time the kernel, not the run (docs/performance.md, section 5).
fresh_run() { # template
  local dir
  if [ "$(df --output=fstype "$root" | tail -1)" = tmpfs ]; then
    rm -rf "$root"/run.*
  fi
  dir=$(mktemp -d "$root/run.XXXXXX")
  cp -a "$1" "$dir/repo"
  echo "$dir"
}
