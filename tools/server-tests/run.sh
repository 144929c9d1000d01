#!/usr/bin/env bash
# Runs the server integration tests against a `quire` binary, one test file at a time.
#   tools/server-tests/run.sh QUIRE_BINARY [TEST_FILE…]
# Exits non-zero when a test fails. QUIRE_TEST_VERBOSE=1 streams the server's logs to stderr.
# The whole run is bounded (QUIRE_TEST_TOTAL_SECONDS, default 600), and so is each file
# (QUIRE_TEST_FILE_TIMEOUT_MS, default 120000: node --test counts a file as a test); servers
# are children of the test processes and die with them.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 QUIRE_BINARY [TEST_FILE…]" >&2
  exit 2
fi
binary=$(realpath "$1")
shift
if [[ ! -x "$binary" ]]; then
  echo "server-tests: $binary is not an executable" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
if [[ ! -d node_modules/yjs || ! -d node_modules/@hocuspocus/provider ]]; then
  echo "server-tests: node_modules missing; run 'npm ci' in $here (scripts/install-deps.sh does)" >&2
  exit 2
fi
command -v sqlite3 >/dev/null || { echo "server-tests: the sqlite3 CLI is required" >&2; exit 2; }

files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
  files=(*.test.mjs)
fi

export QUIRE_BINARY="$binary"
# timeout runs node in its own process group and signals the whole group on expiry, so no
# server outlives the run.
exec timeout --kill-after=10 "${QUIRE_TEST_TOTAL_SECONDS:-600}" \
  node --test --test-concurrency=1 --test-timeout="${QUIRE_TEST_FILE_TIMEOUT_MS:-120000}" "${files[@]}"
