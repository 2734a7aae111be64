#!/usr/bin/env bash
# Builds the web UI (dashboards/web/src → dashboards/web/dist) from the npm packages pinned in
# dashboards/web/package-lock.json. dist/ is committed and embedded in the binary, so `cargo build`
# needs no Node.js; run this after changing anything under dashboards/web/src, and commit dist/.
#   bash scripts/build-web.sh           rebuild dist/
#   bash scripts/build-web.sh --check   rebuild, and fail if the committed dist/ was stale
set -euo pipefail
cd "$(dirname "$0")/../dashboards/web"

lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp="node_modules/.sluice-lock-sha256"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock_hash" ]]; then
  echo "==> build-web: npm ci in dashboards/web"
  npm ci --no-audit --no-fund
  printf '%s\n' "$lock_hash" >"$stamp"
fi
node build.mjs
echo "==> build-web: $(wc -c <dist/app.js) bytes of JavaScript, $(gzip -c dist/app.js | wc -c) gzipped"

if [[ "${1:-}" == "--check" ]]; then
  if ! git diff --quiet -- dist; then
    git --no-pager diff --stat -- dist >&2
    echo "build-web: dashboards/web/dist is stale: run bash scripts/build-web.sh and commit dist/" >&2
    exit 1
  fi
  echo "==> build-web: the committed dist/ matches the sources"
fi
