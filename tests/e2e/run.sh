#!/usr/bin/env bash
# `make e2e`: porch with the real Claude Code CLI (pinned in package.json / package-lock.json)
# against the scripted Messages API in fake_api.rs, on loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if ! command -v npm >/dev/null 2>&1; then
  echo "e2e: SKIPPED: npm is not installed, so the real claude CLI cannot be installed (apt-get install npm)"
  exit 0
fi
# The CLI's native binary ships inside the registry package for this platform; nothing is
# downloaded at install time. npm may refuse to run its postinstall (allowScripts): the tests
# use the platform package's binary directly, so that does not matter.
npm ci --no-audit --no-fund --loglevel=error
"$here/node_modules/@anthropic-ai/claude-code-linux-x64/claude" --version

cd "$here/../.."
cargo test --locked --test e2e --no-run
# `run.sh bench` (make e2e-bench): the rate-limit bench alone, its table on stdout.
if [ "${1:-}" = bench ]; then
  PORCH_E2E_BENCH=1 exec cargo test --locked --test e2e bench_ -- --ignored --nocapture --test-threads 1
fi
if unshare -n true 2>/dev/null && command -v ip >/dev/null 2>&1; then
  echo "e2e: in a network namespace with only loopback"
  unshare -n sh -c 'ip link set lo up && exec cargo test --offline --locked --test e2e -- --ignored'
else
  echo "e2e: no network namespace here (needs root or user namespaces): on the host's loopback"
  cargo test --locked --test e2e -- --ignored
fi
