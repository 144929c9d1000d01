#!/usr/bin/env bash
# CTest quire_loadgen_smoke: a real `quire serve` (ephemeral port, temporary data
# directory, a --dev-auth token) and `quire-loadgen smoke` against it — 4 clients
# per protocol on one document for ~3 s. The load generator's exit status is the
# verdict (its assertions: every update received by every other client, every
# Hocuspocus update acknowledged, a fresh client gets every character).
#   tools/loadgen/smoke_test.sh QUIRE_BINARY LOADGEN_BINARY
set -euo pipefail
quire=$1
loadgen=$2
token=smoke-token-0123
dir=$(mktemp -d -t quire-loadgen-smoke.XXXXXX)
pid=
cleanup() {
  if [[ -n $pid ]]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

: >"$dir/stdout"  # exists before the server's shell opens it: the loop below reads it at once
"$quire" serve --listen 127.0.0.1:0 --data-dir "$dir/data" --dev-auth "$token=rw" --log-level warn \
  >"$dir/stdout" 2>"$dir/stderr" &
pid=$!
url=
for _ in $(seq 1 150); do
  url=$(sed -n 's|^quire: listening on http://\(127\.0\.0\.1:[0-9]*\).*|ws://\1|p' "$dir/stdout")
  [[ -n $url ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $url ]]; then
  echo "loadgen smoke: quire serve did not start" >&2
  cat "$dir/stderr" >&2
  exit 1
fi

status=0
timeout 90 "$loadgen" smoke --url "$url" --token "$token" --protocol mixed --clients 8 --seconds 3 \
  --server-pid "$pid" --connect-timeout 20 --deadline 75 --out "$dir/report.json" || status=$?
cat "$dir/report.json" 2>/dev/null || true
if [[ $status -ne 0 ]]; then
  echo "loadgen smoke: FAILED (exit $status); quire's stderr:" >&2
  tail -n 50 "$dir/stderr" >&2
fi
exit $status
