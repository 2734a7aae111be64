#!/usr/bin/env bash
# Installs what the real-SDK end-to-end tests need (tests/sdk/README.md), idempotently:
#   1. Debian's chromium (/usr/bin/chromium), with apt-get, if it is missing;
#   2. the Node SDKs and playwright-core: `npm ci` in tests/sdk and tests/browser, skipped while
#      node_modules matches package-lock.json (a stamp file holds the lock file's hash);
#   3. the Python SDK: a venv at tests/sdk/.venv with requirements.txt, skipped while satisfied.
# Every step says what it does; any failure stops the script with a non-zero exit.
# Usage: bash scripts/install-test-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SDK_DIR="$PWD/tests/sdk"

say() { printf '==> install-test-deps: %s\n' "$*"; }
die() { printf 'install-test-deps: ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. chromium ---------------------------------------------------------------------------------
if [[ -x /usr/bin/chromium ]]; then
  say "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo '/usr/bin/chromium')"
else
  SUDO=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null || die "/usr/bin/chromium is missing, not root, and no sudo to install it"
    SUDO=(sudo)
  fi
  say "installing Debian chromium with apt-get (once)"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
    || die "apt-get update failed"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
    || die "apt-get install chromium failed"
  [[ -x /usr/bin/chromium ]] || die "apt-get installed chromium but /usr/bin/chromium is missing"
  say "chromium installed: $(/usr/bin/chromium --version 2>/dev/null || true)"
fi

# --- 2. npm packages -----------------------------------------------------------------------------
command -v node >/dev/null || die "node is not installed"
command -v npm >/dev/null || die "npm is not installed"
# `npm ci` in $1 unless its node_modules matches its package-lock.json (a stamp holds the hash).
npm_ci_once() {
  local dir="$1" name="${1#"$PWD"/}"
  local lock_hash stamp
  lock_hash="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  stamp="$dir/node_modules/.sluice-lock-sha256"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_hash" ]]; then
    say "$name/node_modules up to date with package-lock.json (skipping npm ci)"
  else
    say "npm ci in $name"
    (cd "$dir" && npm ci --no-audit --no-fund) || die "npm ci failed in $name"
    printf '%s\n' "$lock_hash" >"$stamp"
  fi
}
npm_ci_once "$SDK_DIR"
# The browser tests of the web UI (tests/browser): playwright-core, driving the chromium above.
npm_ci_once "$PWD/tests/browser"

# --- 3. Python venv ------------------------------------------------------------------------------
VENV="$SDK_DIR/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating Python venv at tests/sdk/.venv"
  python3 -m venv "$VENV" || die "python3 -m venv failed"
fi
req_hash="$(sha256sum "$SDK_DIR/requirements.txt" | cut -d' ' -f1)"
pstamp="$VENV/.sluice-requirements-sha256"
if [[ -f "$pstamp" && "$(cat "$pstamp")" == "$req_hash" ]] \
  && "$VENV/bin/python" -c 'import amplitude' 2>/dev/null; then
  say "tests/sdk/.venv satisfies requirements.txt (skipping pip install)"
else
  say "pip install -r tests/sdk/requirements.txt into tests/sdk/.venv"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$SDK_DIR/requirements.txt" \
    || die "pip install failed"
  printf '%s\n' "$req_hash" >"$pstamp"
fi

say "done (node $(node --version), $("$VENV/bin/python" --version), amplitude-analytics $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("amplitude-analytics"))'))"

# --- 4. tansu (Apache Kafka-compatible broker for the Kafka-path tests) ------------------------
# Built from crates.io once (~15-30 min on 2 cores); `cargo install` skips it while it is current.
TANSU_VERSION=0.6.0
if command -v tansu >/dev/null && tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  say "tansu present: $(tansu --version)"
else
  say "installing tansu $TANSU_VERSION with cargo install (once; slow)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql \
    || die "cargo install tansu failed"
fi
