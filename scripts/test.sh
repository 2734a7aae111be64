#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, then runs the format
# check, clippy, and every test (unit, integration, end-to-end against the real binary).
# Usage: bash scripts/test.sh            (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

say "toolchain"
cargo --version
rustup component list --installed 2>/dev/null | grep -E '^(rustfmt|clippy)' || true
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest (once)"
  cargo install cargo-nextest --locked
fi

say "test clients (official Amplitude SDKs, Chromium)"
bash scripts/install-test-deps.sh

say "web UI bundle (rebuilt from dashboards/web/src; the committed dist/ must match)"
bash scripts/build-web.sh --check
say "web UI unit tests (node --test)"
(cd dashboards/web && npm test --silent)

say "format"
cargo fmt --all -- --check

say "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "tests"
# nextest prints its own summary line; it fails the script on any failure.
cargo nextest run --workspace --locked --no-fail-fast "$@"
