#!/usr/bin/env bash
# make static-check: the static binary is static, runs with an empty environment (no HOME, no
# PATH beyond /usr/bin:/bin), needs no NSS, and a build from a source tarball (no .git) still
# says which commit it is: here, the one the packager passes in PORCH_BUILD_COMMIT.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${PORCH_STATIC:-target/x86_64-unknown-linux-gnu/release/porch}
fail() { echo "static-check: FAILED: $*" >&2; exit 1; }

[ -x "$bin" ] || fail "$bin is missing: run make static first"
file "$bin" | grep -q 'static-pie linked\|statically linked' || fail "file(1) does not call it static: $(file "$bin")"
ldd_out=$(ldd "$bin" 2>&1 || true)
echo "$ldd_out" | grep -q 'not a dynamic executable\|statically linked' || fail "ldd lists libraries: $ldd_out"

version=$(env -i PATH=/usr/bin:/bin "$bin" --version)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo "unknown commit")
[ "$version" = "porch $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) ($commit)" ] ||
  fail "--version in an empty environment printed: $version"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git init -q "$work/repo"
git -C "$work/repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m init
echo '[{"name": "one", "prompt": "@write"}]' > "$work/tasks.json"
set +e
out=$(cd "$work" && env -i PATH=/usr/bin:/bin "$OLDPWD/$bin" run tasks.json repo --claude "$OLDPWD/fixtures/claude" 2>&1)
code=$?
set -e
[ "$code" = 2 ] || fail "without HOME, porch run exited $code, not 2: $out"
echo "$out" | grep -q 'HOME is not set' || fail "without HOME, porch did not say so: $out"
echo "$out" | grep -q 'hint:.*--worktree-dir' || fail "without HOME, porch did not name --worktree-dir: $out"
[ -z "$(ls -A "$work/repo" | grep -v '^\.git$')" ] || fail "without HOME, porch created files"
out=$(cd "$work" && env -i PATH=/usr/bin:/bin "$OLDPWD/$bin" run tasks.json repo --claude "$OLDPWD/fixtures/claude" --worktree-dir "$work/wt" --color never 2>&1) ||
  fail "with --worktree-dir and no HOME, the run failed: $out"
git -C "$work/repo" rev-parse -q --verify refs/heads/task/one >/dev/null || fail "no branch task/one after the run"

# A source tarball (the tracked files as they are): no .git, the commit from the packager.
mkdir "$work/src"
git ls-files -z | tar --null -T - -c | tar -x -C "$work/src"
tarball_version=$(cd "$work/src" && PORCH_BUILD_COMMIT=from-tarball CARGO_TARGET_DIR="$work/target" \
  cargo run --quiet --locked -- --version)
[ "$tarball_version" = "porch $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) (from-tarball)" ] ||
  fail "a tarball build printed: $tarball_version"
tarball_version=$(cd "$work/src" && CARGO_TARGET_DIR="$work/target" cargo run --quiet --locked -- --version)
[[ "$tarball_version" == *"(unknown commit)" ]] || fail "a tarball build without PORCH_BUILD_COMMIT printed: $tarball_version"

echo "static-check: ok: $(ls -l "$bin" | awk '{print $5}') bytes, $(file -b "$bin" | cut -d, -f1-2); $version"
