#!/usr/bin/env bash
# `make run`: starts Quire on the embedded default (SQLite in ./data) at
# 127.0.0.1:8080 with accounts, serving the web app from web/dist (built by
# `make web`), and prints the URL. People register in the web app.
# usage: scripts/run.sh QUIRE_BINARY   (QUIRE_LISTEN, QUIRE_DATA_DIR override)
set -euo pipefail
cd "$(dirname "$0")/.."
quire=$1
listen=${QUIRE_LISTEN:-127.0.0.1:8080}
data=${QUIRE_DATA_DIR:-data}
mkdir -p "$data"
chmod 700 "$data"
static=()
if [[ -f web/dist/index.html ]]; then
  static=(--static-dir web/dist)
else
  echo "run: web/dist is missing (make web builds it); serving the API and WebSockets only" >&2
fi
cat <<MSG
Quire: create an account at http://$listen once it reports it is listening.
  the web app:         http://$listen  (register, then create documents)
  Hocuspocus clients:  url ws://$listen/ws, token from POST /api/auth/login (docs/api.md)
  data: $data/quire.db   stop: Ctrl-C
MSG
exec "$quire" serve --listen "$listen" --data-dir "$data" "${static[@]+"${static[@]}"}"
