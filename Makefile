# Quire — the two commands of the README, and the long-running targets.
#
#   make run     install what is missing, build release and the web app, start Quire on 127.0.0.1:8080
#   make web     build the web app (web/dist) when its sources changed
#   make test    install what is missing, build, run every test suite
#   make fuzz    libFuzzer on the update and frame decoders and the JWT verifier (FUZZ_SECONDS per target)
#   make soak    millions of differential cases against the reference Yjs
#   make bench   benchmarks (figures go to docs/benchmarks.md by hand)
#   make bench-server   the server under load: 100 typing clients on 10 documents

SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 30
SOAK_CASES ?= 1000000
SOAK_BATCH ?= 10000

RELEASE := build/release
ASAN := build/asan-ubsan
FUZZ := build/fuzz
QUIRE := $(RELEASE)/src/app/quire

.PHONY: all deps build build-asan build-fuzz web run test test-release test-asan format-check lint fuzz fuzz-smoke soak bench bench-server clean

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
WEB_SOURCES := $(shell find web/src web/public web/index.html web/vite.config.ts web/tsconfig.json web/package-lock.json -type f 2>/dev/null)
web: deps web/dist/.stamp
web/dist/.stamp: $(WEB_SOURCES)
	@cd web && npm run build --silent
	@touch $@

run: build web
	@scripts/run.sh $(QUIRE)

test: format-check test-release test-asan fuzz-smoke
	@echo "make test: all suites passed"

# The code is formatted by .clang-format; this fails on any difference.
format-check: deps
	@find src -name '*.cc' -o -name '*.h' | xargs clang-format --dry-run --Werror
	@echo "format-check: ok"

# clang-tidy with .clang-tidy over the release build's compile commands (advisory).
lint: build
	@find src -name '*.cc' | xargs clang-tidy -p build/release --quiet

test-release: build web
	@ctest --preset release

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
	@scripts/soak.sh $(RELEASE)/src/crdt/crdt_yjs_compare $(SOAK_CASES) $(SOAK_BATCH)

bench: build
	@$(RELEASE)/src/crdt/crdt_bench
	@scripts/bench-merge.sh $(QUIRE)
	@scripts/bench-engine.sh
	@node tools/server-bench/load.mjs $(QUIRE)

# quire serve under load (tools/server-bench): its own server, temp data dir and port; < 3 min.
bench-server: build
	@node tools/server-bench/load.mjs $(QUIRE)

clean:
	rm -rf build
