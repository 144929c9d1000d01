#!/usr/bin/env bash
# A throwaway PostgreSQL for tests: initdb into a fresh temporary directory,
# start on 127.0.0.1 and a free port (fsync on, trust authentication, user
# "postgres"), stop and remove it. Used by src/storage/pg_test_server.cc and
# by shell or Node tests that need a database.
#
#   pg-test-server.sh start [--owner PID]
#       prints one line: dir=DIR port=PORT url=postgresql://postgres@127.0.0.1:PORT/postgres
#       --owner PID: a watcher destroys the server once process PID has exited,
#       so a crashed test leaves nothing running.
#   pg-test-server.sh stop DIR      immediate stop, like a crash (the data stays)
#   pg-test-server.sh resume DIR    start again on the same port
#   pg-test-server.sh destroy DIR   stop if running, then delete DIR
#
# PostgreSQL refuses to run as root: as root, the server runs as `nobody`
# (setpriv), and DIR belongs to nobody. Binaries: $PG_BINDIR, else
# `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin.
set -euo pipefail

bindir() {
  if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
  local d=""
  command -v pg_config >/dev/null && d=$(pg_config --bindir 2>/dev/null || true)
  if [[ -z "$d" || ! -x "$d/initdb" ]]; then
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  fi
  [[ -x "$d/initdb" ]] || { echo "pg-test-server: no initdb found (install postgresql)" >&2; exit 1; }
  echo "$d"
}
BIN=$(bindir)

# Runs a PostgreSQL program as the server's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/tmp "$@"
  else
    "$@"
  fi
}

# Starts the server in DIR on PORT; fails (leaving DIR) if it does not come up.
start_server() {
  local dir=$1 port=$2
  as_owner "$BIN/pg_ctl" start -D "$dir/data" -l "$dir/log" -w -t 30 -s \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on \
        -c max_connections=300 -c shared_buffers=32MB -c log_min_messages=warning \
        -c recovery_init_sync_method=syncfs" >/dev/null
}

running() {
  [[ -f "$1/data/postmaster.pid" ]] && as_owner "$BIN/pg_ctl" status -D "$1/data" >/dev/null 2>&1
}

cmd_start() {
  local owner=""
  if [[ "${1:-}" == --owner ]]; then owner=$2; fi
  local dir
  dir=$(mktemp -d /tmp/quire-pg-XXXXXX)
  [[ $(id -u) -eq 0 ]] && chown nobody:nogroup "$dir"
  if ! as_owner "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    exit 1
  fi
  # A random port; another process may hold it, so try a few.
  local port="" try
  for try in $(seq 1 20); do
    local candidate=$((20000 + RANDOM % 40000))
    if start_server "$dir" "$candidate" 2>>"$dir/start.log"; then port=$candidate; break; fi
  done
  if [[ -z "$port" ]]; then
    cat "$dir/log" "$dir/start.log" >&2 2>/dev/null || true
    rm -rf "$dir"
    exit 1
  fi
  echo "$port" >"$dir/port"
  if [[ -n "$owner" ]]; then
    setsid "$0" watch "$owner" "$dir" </dev/null >/dev/null 2>&1 &
  fi
  echo "dir=$dir port=$port url=postgresql://postgres@127.0.0.1:$port/postgres"
}

cmd_stop() {
  running "$1" && as_owner "$BIN/pg_ctl" stop -D "$1/data" -m immediate -w -s >/dev/null
  return 0
}

cmd_resume() {
  start_server "$1" "$(cat "$1/port")"
}

cmd_destroy() {
  [[ -d "$1" ]] || return 0
  cmd_stop "$1"
  rm -rf "$1"
}

# True while process $1 runs (a zombie nobody has reaped yet counts as gone).
alive() {
  kill -0 "$1" 2>/dev/null && [[ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]]
}

cmd_watch() {
  local owner=$1 dir=$2
  while alive "$owner" && [[ -d "$dir" ]]; do sleep 1; done
  cmd_destroy "$dir"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop | resume | destroy)
    [[ $# -eq 2 && "$2" == /tmp/quire-pg-* ]] || { echo "usage: $0 $1 /tmp/quire-pg-DIR" >&2; exit 2; }
    "cmd_$1" "$2" ;;
  watch) cmd_watch "$2" "$3" ;;
  *) sed -n '2,19p' "$0" >&2; exit 2 ;;
esac
