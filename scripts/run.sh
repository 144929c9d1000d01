#!/usr/bin/env bash
# `make run`: starts Quire on the embedded default (SQLite in ./data) at
# 127.0.0.1:8080 and prints the URL. Until accounts exist, clients
# authenticate with a development token, created once per data directory.
# usage: scripts/run.sh QUIRE_BINARY   (QUIRE_LISTEN, QUIRE_DATA_DIR override)
set -euo pipefail
cd "$(dirname "$0")/.."
quire=$1
listen=${QUIRE_LISTEN:-127.0.0.1:8080}
data=${QUIRE_DATA_DIR:-data}
mkdir -p "$data"
chmod 700 "$data"
if [[ ! -s "$data/dev-token" ]]; then
  (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$data/dev-token")
fi
token=$(cat "$data/dev-token")
static=()
[[ -f web/dist/index.html ]] && static=(--static-dir web/dist)
cat <<MSG
Quire: open http://$listen once it reports it is listening.
  Hocuspocus clients:  url ws://$listen/ws, token from $data/dev-token
  y-websocket clients: server ws://$listen/ws/y, protocols ['quire', 'quire.auth.<token>']
  data: $data/quire.db   stop: Ctrl-C
MSG
exec "$quire" serve --listen "$listen" --data-dir "$data" --dev-auth "dev:$token=rw" "${static[@]}"
