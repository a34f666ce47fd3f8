# porch: the commands README.md gives. `make test` is what CI runs (through .ci/run).
CARGO ?= cargo

.PHONY: build release test lint demo static clean bench e2e

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

# A real `porch run` over a throwaway repository with the fixture agent.
demo: release
	PORCH=target/release/porch fixtures/demo.sh

# One self-contained executable for servers: statically linked, no runtime to install.
static:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --locked --release --target x86_64-unknown-linux-gnu
	@echo "target/x86_64-unknown-linux-gnu/release/porch"

clean:
	$(CARGO) clean

# Worktree creation for 32 tasks: porch against a sequential `git worktree add` loop and an
# `xargs -P` one, side by side. BENCH_TASKS="16 32 64" and BENCH_REPEATS=N change the sizes.
bench: release
	PORCH=target/release/porch benches/worktrees.sh
