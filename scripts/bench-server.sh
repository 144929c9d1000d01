#!/usr/bin/env bash
# `make bench-server`: Quire, @hocuspocus/server and the y-websocket server under the
# scenarios of tools/loadgen, one after another (scripts/bench-server.mjs does the work).
#   scripts/bench-server.sh QUIRE_BINARY LOADGEN_BINARY [bench-server.mjs options…]
# Raises the descriptor limit to the hard limit first: the servers inherit it, and
# 10,000 connections need 10,000 descriptors on each side.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 QUIRE_BINARY LOADGEN_BINARY [--quick] [--scenarios a,b] [--targets a,b] [--no-doc]" >&2
  exit 2
fi
quire=$1
loadgen=$2
shift 2
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
# On a machine shared with builds and test suites, a measured window is easily robbed of a
# core, and a one-thread Node server suffers more from it than a two-thread Quire. When
# allowed (root), the run — node, the servers and the load generator inherit it — is
# niced to -10 so that the processes being measured come first; bench-server.mjs records it.
if renice -n -10 -p $$ >/dev/null 2>&1; then export BENCH_SERVER_NICE=-10; fi
if (( $(ulimit -n) < 10100 )); then
  echo "bench-server: only $(ulimit -n) file descriptors allowed; the idle scenario will open fewer connections than asked" >&2
fi
exec node scripts/bench-server.mjs --quire "$quire" --loadgen "$loadgen" "$@"
