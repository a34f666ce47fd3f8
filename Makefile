# porch: the commands README.md gives. `make test` is what CI runs (through .ci/run).
CARGO ?= cargo

.PHONY: build release test lint demo static static-check clean bench e2e e2e-bench

build:
	$(CARGO) build --locked

release:
	$(CARGO) build --locked --release

# Unit tests and the integration tests (the built binary on real temporary git repositories,
# with fixtures/claude standing in for the claude CLI).
test:
	$(CARGO) test --locked

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# The real claude CLI (pinned, installed by npm into tests/e2e/node_modules) against a
# scripted Messages API on 127.0.0.1, in a loopback-only network namespace where possible.
e2e:
	tests/e2e/run.sh

# Adaptive concurrency with the real claude CLI against an API serving 2 requests at once:
# porch with no -j against porch -j 2, side by side, 3 times (docs/performance.md). About five
# minutes; not part of `make e2e`.
e2e-bench:
	tests/e2e/run.sh bench

# A real `porch run` over a throwaway repository with the fixture agent.
demo: release
	PORCH=target/release/porch fixtures/demo.sh

# One self-contained executable for servers: statically linked, no runtime to install.
static:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --locked --release --target x86_64-unknown-linux-gnu
	@echo "target/x86_64-unknown-linux-gnu/release/porch"

# The static binary is static (file, ldd), runs --version and a whole run with no HOME and
# PATH=/usr/bin:/bin, and a build from the bare source files names its commit.
static-check: static
	tests/static-check.sh

clean:
	$(CARGO) clean

# porch against hand-written shell baselines, side by side (docs/performance.md): worktree
# creation for 32 tasks; wall-time overhead at N = 2, 16, 64 (256 for porch alone); porch's peak
# memory; output throughput against sed; start-up; a task's `copy` of 20,000 files into 16
# worktrees against `cp -a`; 24 tasks against an API serving 3 sessions at once (porch
# adapting, against -j 3 and a fixed-concurrency retry loop). About twenty minutes.
bench: release
	PORCH=target/release/porch benches/worktrees.sh
	PORCH=target/release/porch benches/compare.sh
	PORCH=target/release/porch benches/copy.sh
	PORCH=target/release/porch benches/ratelimit.sh
