#!/usr/bin/env bash
# Installs what Quire needs to build, test and benchmark on a fresh Debian
# (bookworm) machine: apt packages that are missing, then the npm packages of
# every Node tool from its lockfile. Safe to run repeatedly; does nothing when
# everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  g++ cmake ninja-build ccache pkg-config make
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-dev            # libFuzzer + sanitizer runtimes for `make fuzz`
  clang-format clang-tidy          # `make test` checks formatting; `make lint`
  libboost1.81-dev                 # Asio and Beast (header-only parts)
  libsqlite3-dev sqlite3           # the embedded store; the CLI reads it in tests
  libpq-dev postgresql             # the cluster store (libpq); its tests start a throwaway server
  libsodium-dev                    # auth: argon2id, Ed25519, CSPRNG, SHA-256
  libboost-json1.81-dev            # auth: JWT header and claims parsing
  libssl-dev                       # constant-time comparisons, later TLS and JWT
  libhiredis-dev                   # cluster: the Redis client
  redis-server                     # cluster tests start their own (the Debian service is not used)
  nodejs npm                        # the reference Yjs for differential tests
  python3                           # node-gyp builds better-sqlite3 (tools/peer-servers, make bench-server)
  time                              # GNU time: peak memory in benchmarks
  chromium                          # headless browser for the web app's tests (web/e2e)
  nginx-light                       # the cluster's load balancer (make cluster, cluster tests)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Node.js from elsewhere (e.g. a newer one already on PATH) satisfies nodejs/npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages, pinned by lockfile. `npm ci` only when the lockfile changed.
for dir in tools/yjs-harness tools/server-tests tools/peer-servers web; do
  stamp="$dir/node_modules/.package-lock.json"
  if [[ ! -f "$stamp" || "$dir/package-lock.json" -nt "$stamp" ]]; then
    echo "install-deps: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
