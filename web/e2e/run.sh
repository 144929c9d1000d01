#!/usr/bin/env bash
# Browser tests of the web app: headless Debian Chromium driven by playwright-core
# against a real `quire serve` (its own temp data dir, an ephemeral port, web/dist).
#   web/e2e/run.sh QUIRE_BINARY [TEST_FILE…]
# Builds web/dist first when it is missing. The whole run is bounded
# (QUIRE_E2E_TOTAL_SECONDS, default 540); servers and browsers are children of the
# test process and die with it. Screenshots go to $QUIRE_SCREENSHOTS_DIR (default
# $TMPDIR/quire-e2e-screenshots; `make screenshots` points it at docs/screenshots/).
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 QUIRE_BINARY [TEST_FILE…]" >&2
  exit 2
fi
binary=$(realpath "$1")
shift
[[ -x "$binary" ]] || { echo "e2e: $binary is not an executable" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
web=$(dirname "$here")
[[ -d "$web/node_modules/playwright-core" ]] || { echo "e2e: run 'npm ci' in $web (scripts/install-deps.sh does)" >&2; exit 2; }
export QUIRE_CHROMIUM=${QUIRE_CHROMIUM:-/usr/bin/chromium}
[[ -x "$QUIRE_CHROMIUM" ]] || { echo "e2e: $QUIRE_CHROMIUM missing (Debian package chromium; scripts/install-deps.sh installs it)" >&2; exit 2; }
if [[ ! -f "$web/dist/index.html" ]]; then
  (cd "$web" && npm run build --silent)
fi
export QUIRE_BINARY="$binary"
if [[ -n "${QUIRE_SCREENSHOTS_DIR:-}" ]]; then
  export QUIRE_SCREENSHOTS_DIR=$(realpath -m "$QUIRE_SCREENSHOTS_DIR")  # the tests run from e2e/
fi
cd "$here"
files=("$@")
[[ ${#files[@]} -gt 0 ]] || files=(*.test.mjs)
exec timeout --kill-after=10 "${QUIRE_E2E_TOTAL_SECONDS:-540}" \
  node --test --test-concurrency=1 --test-timeout=240000 "${files[@]}"
