# Quire — the two commands of the README, and the long-running targets.
#
#   make run     install what is missing, build release and the web app, start Quire on 127.0.0.1:8080
#   make web     build the web app (web/dist) when its sources changed
#   make test    install what is missing, build, run every test suite
#   make fuzz    libFuzzer on the update and frame decoders and the JWT verifier (FUZZ_SECONDS per target)
#   make soak    millions of differential cases against the reference Yjs
#   make screenshots  the browser tests, writing docs/screenshots/
#   make bench   benchmarks (figures go to docs/benchmarks.md by hand)
#   make bench-cluster cross-node latency and throughput of a three-node cluster
#   make cluster three nodes behind nginx on PostgreSQL and Redis, on loopback, until Ctrl-C
#   make bench-server   Quire vs Hocuspocus vs the y-websocket server under load (tools/loadgen; ~15 min)

SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 30
SOAK_CASES ?= 1000000
SOAK_BATCH ?= 10000
SOAK_SEED ?= 1000

RELEASE := build/release
ASAN := build/asan-ubsan
FUZZ := build/fuzz
QUIRE := $(RELEASE)/src/app/quire
LOADGEN := $(RELEASE)/tools/loadgen/quire-loadgen

.PHONY: all deps build build-asan build-fuzz web run cluster test test-release test-asan format-check lint fuzz fuzz-smoke soak screenshots bench bench-server bench-cluster clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

build-asan: deps
	@cmake --preset asan-ubsan >/dev/null
	@cmake --build --preset asan-ubsan -j $(JOBS)

# The fuzz preset builds only the fuzz targets (CMakePresets.json).
build-fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

# The web app (web/, Vite): rebuilt only when a source, the config or the lockfile changed.
WEB_SOURCES := $(shell find web/src web/public web/index.html web/vite.config.ts web/tsconfig.json web/tsconfig.node.json web/package-lock.json -type f 2>/dev/null)
web: deps web/dist/.stamp
web/dist/.stamp: $(WEB_SOURCES)
	@cd web && npm run build --silent
	@touch $@

run: build web
	@scripts/run.sh $(QUIRE)

# A cluster to try by hand (docs/deploy.md): PostgreSQL, Redis, three nodes and nginx on loopback.
cluster: build web
	@QUIRE_BINARY=$(CURDIR)/$(QUIRE) node tools/server-tests/cluster.mjs --static-dir $(CURDIR)/web/dist

test: format-check test-release test-asan fuzz-smoke
	@echo "make test: all suites passed"

# The code is formatted by .clang-format; this fails on any difference.
format-check: deps
	@find src tools/loadgen -name '*.cc' -o -name '*.h' | xargs clang-format --dry-run --Werror
	@echo "format-check: ok"

# clang-tidy with .clang-tidy over the release build's compile commands (advisory).
lint: build
	@find src -name '*.cc' | xargs clang-tidy -p build/release --quiet

test-release: build web
	@ctest --preset release

screenshots: build web
	@QUIRE_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots web/e2e/run.sh $(QUIRE)

test-asan: build-asan
	@ctest --preset asan-ubsan

fuzz-smoke: build-fuzz
	@scripts/fuzz.sh $(FUZZ)/src/crdt/crdt_update_fuzz $(FUZZ_SMOKE_SECONDS)
	@scripts/fuzz.sh $(FUZZ)/src/protocol/protocol_frame_fuzz $(FUZZ_SMOKE_SECONDS) frames
	@scripts/fuzz.sh $(FUZZ)/src/auth/auth_jwt_fuzz $(FUZZ_SMOKE_SECONDS) jwt

fuzz: build-fuzz
	@scripts/fuzz.sh $(FUZZ)/src/crdt/crdt_update_fuzz $(FUZZ_SECONDS)
	@scripts/fuzz.sh $(FUZZ)/src/protocol/protocol_frame_fuzz $(FUZZ_SECONDS) frames
	@scripts/fuzz.sh $(FUZZ)/src/auth/auth_jwt_fuzz $(FUZZ_SECONDS) jwt

soak: build
	@SOAK_SEED=$(SOAK_SEED) scripts/soak.sh $(RELEASE)/src/crdt/crdt_yjs_compare $(SOAK_CASES) $(SOAK_BATCH)

bench: build
	@$(RELEASE)/src/crdt/crdt_bench
	@scripts/bench-merge.sh $(QUIRE)
	@scripts/bench-engine.sh
	@scripts/bench-server.sh $(QUIRE) $(LOADGEN)
	@QUIRE_BINARY=$(CURDIR)/$(QUIRE) node tools/server-tests/cluster-bench.mjs

# Quire, @hocuspocus/server (SQLite) and the y-websocket server one after another under the
# eight scenarios of tools/loadgen; each run its own server, temp data dir and port. Writes
# the tables into docs/benchmarks.md and the plot to docs/bench-server-latency.svg (~15 min).
# BENCH_SERVER_ARGS=--quick runs a scaled-down check instead (~2 min, the doc untouched).
bench-server: build
	@scripts/bench-server.sh $(QUIRE) $(LOADGEN) $(BENCH_SERVER_ARGS)

# Three nodes behind nginx on PostgreSQL and Redis, all on loopback (tools/server-tests/cluster-bench.mjs).
bench-cluster: build
	@QUIRE_BINARY=$(CURDIR)/$(QUIRE) node tools/server-tests/cluster-bench.mjs

clean:
	rm -rf build
