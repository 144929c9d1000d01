#!/usr/bin/env bash
# Quire's document engine beside Yjs, ywasm (yrs), Automerge and diamond-types,
# in one run on this machine, on the shared editing traces
# (../shared/traces, see its README). For each trace:
#   (a) apply   the per-edit Yjs update stream to a fresh document
#   (b) replay  the editing trace through each library's local text API
#   (c) load    the final encoded document
#   (d) encode  the loaded document
#   (e) memory  held by one loaded document, and its ratio to the encoded size
# and prints one Markdown table per task. Quire's side is crdt_doc_bench, the
# peers' side tools/engine-bench/bench.mjs (its header says what is timed and
# how); one fresh process per library, task and trace.
#
# usage: scripts/bench-engine.sh [TRACE...]
# Env: BENCH_RUNS         timed runs per measurement, median reported (default 5)
#      BENCH_SLOW_MS      a peer whose first run exceeds this (default 10000 ms)...
#      BENCH_SLOW_RUNS    ...runs this many times in all (default 3)
#      BENCH_COPIES       documents kept alive for the peers' memory figure (default 10)
#      BENCH_TIMEOUT      seconds allowed per process (default 600)
#      BENCH_TASKS        subset of "apply replay load encode memory"
#      BENCH_LIBS         subset of "quire yjs ywasm automerge dt"
#      QUIRE_DOC_BENCH    crdt_doc_bench binary (default build/release/src/crdt/crdt_doc_bench)
#      TRACES_DIR         default ../shared/traces relative to the repository
#      BENCH_RESULTS      if set, the raw results (lib, task, trace, JSON line) are kept there
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

traces=("$@")
((${#traces[@]})) || traces=(automerge-paper seph-blog1 friendsforever clownschool node_nodecc git-makefile)
runs=${BENCH_RUNS:-5}
slow_ms=${BENCH_SLOW_MS:-10000}
slow_runs=${BENCH_SLOW_RUNS:-3}
copies=${BENCH_COPIES:-10}
proc_timeout=${BENCH_TIMEOUT:-600}
read -r -a tasks <<< "${BENCH_TASKS:-apply replay load encode memory}"
read -r -a libs <<< "${BENCH_LIBS:-quire yjs ywasm automerge dt}"
quire=${QUIRE_DOC_BENCH:-build/release/src/crdt/crdt_doc_bench}
traces_dir=$(realpath -m "${TRACES_DIR:-$root/../shared/traces}")
bench_dir=$root/tools/engine-bench

err() { echo "bench-engine: $*" >&2; }
die() { err "$*"; exit 1; }

command -v node >/dev/null || die "node is not installed (scripts/install-deps.sh)"
command -v npm >/dev/null || die "npm is not installed"
[[ -d $traces_dir/yjs && -d $traces_dir/editing-traces ]] || die "no traces in $traces_dir (set TRACES_DIR)"
for t in "${traces[@]}"; do
  [[ -f $traces_dir/yjs/$t.yjs.bin ]] || die "unknown trace $t: $traces_dir/yjs/$t.yjs.bin is missing"
done

# ---- peers: node_modules --------------------------------------------------------
if [[ ! -d $bench_dir/node_modules/yjs || ! -d $bench_dir/node_modules/ywasm ||
      ! -d $bench_dir/node_modules/@automerge/automerge || ! -d $bench_dir/node_modules/diamond-types-node ]]; then
  err "installing tools/engine-bench dependencies (npm ci)"
  (cd "$bench_dir" && npm ci --no-audit --no-fund >&2) || die "npm ci failed in tools/engine-bench"
fi

# ---- Quire: crdt_doc_bench ---------------------------------------------------------
# The binary may be briefly missing while a build is running elsewhere: wait for
# it, then build it ourselves.
wait_for_quire() {
  local i
  for ((i = 0; i < 30; i++)); do
    [[ -x $quire ]] && return 0
    sleep 2
  done
  return 1
}
if [[ " ${libs[*]} " == *" quire "* ]] && ! wait_for_quire; then
  [[ -z ${QUIRE_DOC_BENCH:-} ]] || die "QUIRE_DOC_BENCH=$quire is not executable"
  err "building $quire (cmake --preset release)"
  cmake --preset release >&2 && cmake --build --preset release -j "$(nproc)" >&2 || die "Quire build failed"
  [[ -x $quire ]] || die "$quire was not built (is QUIRE_BENCH on in the release preset?)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
results=$tmp/results.tsv
: > "$results"

# record LIB TASK TRACE JSON
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$results"; }
# json_error MESSAGE: a JSON object {"error": MESSAGE}
json_error() { node -e 'process.stdout.write(JSON.stringify({error: process.argv[1]}))' "$1"; }
summary() { node -e 'const r=JSON.parse(process.argv[1]); process.stdout.write(r.skipped ? "skipped" : r.error ? "FAILED" : r.unsupported ? "—" : r.median_ms !== undefined && r.runs ? r.median_ms.toFixed(3) + " ms" : r.heap_bytes + " B")' "$1"; }

# Quire's replay runs on the same sequential variant as the peers'.
replay_name() {
  case $1 in
    friendsforever | clownschool) echo "$1_flat" ;;
    *) echo "$1" ;;
  esac
}

run_quire() { # TASK TRACE
  local task=$1 trace=$2 name=$2 rc=0 attempt
  [[ $task == replay ]] && name=$(replay_name "$trace")
  for attempt in 1 2 3; do
    rc=0
    if [[ ! -x $quire ]]; then
      wait_for_quire || { rc=127; break; }
    fi
    timeout "$proc_timeout" "$quire" "$traces_dir/yjs" "$name" "$task" "$runs" > "$tmp/out" 2> "$tmp/err" || rc=$?
    # 126/127: the binary vanished under us (a concurrent rebuild); try again.
    ((rc == 126 || rc == 127)) || break
    sleep 5
  done
  local line
  line=$(grep -m1 '^{' "$tmp/out" || true)
  if ((rc == 0)) && [[ -n $line ]]; then
    record quire "$task" "$trace" "$line"
  elif grep -q 'unknown task' "$tmp/err"; then
    record quire "$task" "$trace" '{"unsupported":"crdt_doc_bench has no such task yet"}'
  elif [[ $task == replay && ! -f $traces_dir/editing-traces/$name.json.gz ]]; then
    record quire "$task" "$trace" '{"skipped":"no editing trace"}'
  else
    record quire "$task" "$trace" "$(json_error "exit $rc: $(tail -n 3 "$tmp/err" | tr '\n' ' ')")"
  fi
}

run_peer() { # LIB TASK TRACE
  local lib=$1 task=$2 trace=$3 rc=0 line attempt crashed=
  for attempt in 1 2; do
    rc=0
    timeout "$proc_timeout" node --expose-gc "$bench_dir/bench.mjs" --lib "$lib" --trace "$trace" --task "$task" \
      --runs "$runs" --traces "$traces_dir" --cache "$tmp/cache" --copies "$copies" \
      --slow-ms "$slow_ms" --slow-runs "$slow_runs" > "$tmp/out" 2> "$tmp/err" || rc=$?
    # Killed by a signal (not by timeout): node itself crashed — V8 on this node
    # aborts now and then with SIGTRAP in its deoptimizer while running Automerge.
    # Keep the log and try once more.
    ((rc > 128 && rc != 124)) || break
    crashed="node crashed (exit $rc, $(grep -m1 -E 'Fatal|Check failed|error' "$tmp/err" | cut -c1-160 || true)); rerun"
    cp "$tmp/err" "$tmp/crash-$lib-$task-$trace.log"
    err "$lib $task $trace: $crashed"
  done
  line=$(grep -m1 '^{' "$tmp/out" || true)
  if ((rc == 0)) && [[ -n $line ]]; then
    [[ -z $crashed ]] || line=$(node -e 'const r=JSON.parse(process.argv[1]); r.retried=process.argv[2]; process.stdout.write(JSON.stringify(r))' "$line" "$crashed")
    record "$lib" "$task" "$trace" "$line"
  else
    ((rc == 124)) && echo "timed out after ${proc_timeout} s" >> "$tmp/err"
    record "$lib" "$task" "$trace" "$(json_error "exit $rc: $(tail -n 3 "$tmp/err" | tr '\n' ' ')")"
  fi
}

# ---- header ------------------------------------------------------------------------
pkg() { node -p "require('$bench_dir/node_modules/$1/package.json').version"; }
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "## Engine benchmark: Quire vs Yjs, ywasm, Automerge, diamond-types"
echo
echo "- machine: $(nproc) cores${cpu:+ ($cpu)}, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) memory, $(uname -srm)"
echo "- node $(node --version); yjs $(pkg yjs); ywasm $(pkg ywasm); @automerge/automerge $(pkg @automerge/automerge); diamond-types-node $(pkg diamond-types-node) (wasm)"
echo "- Quire: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted changes in src/'), $quire"
echo "- command: scripts/bench-engine.sh${*:+ $*} (BENCH_RUNS=$runs BENCH_SLOW_MS=$slow_ms BENCH_SLOW_RUNS=$slow_runs BENCH_COPIES=$copies)"
echo "- traces: $traces_dir"
echo "- started: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ---- measurements -------------------------------------------------------------------
start=$(date +%s)
for task in "${tasks[@]}"; do
  for trace in "${traces[@]}"; do
    for lib in "${libs[@]}"; do
      t0=$(date +%s)
      case $lib in
        quire) run_quire "$task" "$trace" ;;
        yjs | ywasm | automerge | dt) run_peer "$lib" "$task" "$trace" ;;
        *) die "unknown library $lib in BENCH_LIBS" ;;
      esac
      err "$(printf '%-7s %-16s %-10s %s  (%d s)' "$task" "$trace" "$lib" \
        "$(summary "$(tail -n 1 "$results" | cut -f4-)")" $(($(date +%s) - t0)))"
    done
  done
done
elapsed=$(($(date +%s) - start))

# ---- tables -------------------------------------------------------------------------
[[ -z ${BENCH_RESULTS:-} ]] || cp "$results" "$BENCH_RESULTS"
rc=0
node "$bench_dir/report.mjs" "$results" || rc=$?
cat <<EOF
### How these were measured

- Times are medians of $runs runs (ms, lower is better). "vs" columns are the peer's median divided by
  Quire's (how many times faster Quire is). "n/a": the library cannot do the task or the trace has
  no input for it; "—": no figure (Quire's crdt_doc_bench lacks the task, or the peer is missing).
- Quire: crdt_doc_bench, one process per task and trace, timed as the peers are (below): the first
  run checked (the state equals the .yjs.bin, or the text the trace's), warm-up runs until 1 s and 5
  runs have passed, then $runs timed runs, each on a fresh document (freed outside the timed region).
- Peers (tools/engine-bench/bench.mjs, node --expose-gc): one process per library, task and trace,
  warm steady state. The first run's result is checked (text equals traces/yjs/<trace>.txt), then
  one gc(), then warm-up runs until 1 s and 5 runs have passed (one warm-up run when a run takes
  > 1 s), then $runs timed runs back to back, each on a fresh document; wasm documents (and every
  wasm handle) are freed after each run, outside the timed region. No gc() is forced between timed
  runs: collection is part of a JS library's cost, and a forced gc() shrinks V8's young generation
  so that the next runs of Yjs are up to 10× slower than in steady state. When the first run takes
  > $((slow_ms / 1000)) s the measurement has $slow_runs runs in all, the first included (marked n=$slow_runs).
- Automerge and diamond-types cannot apply Yjs updates (apply: n/a). For load/encode/memory they use
  a document built once per run with the library itself and saved in its own format
  (Automerge.save, diamond-types OpLog/Doc.toBytes): automerge-paper and seph-blog1 from the
  replay; friendsforever and clownschool from the concurrent trace as a concurrent history (one
  actor/agent per trace agent, each txn made at its parents' version: Automerge changeAt,
  diamond-types OpLog ins/del with parents), i.e. the same 2-/3-agent history as the .yjs.bin;
  node_nodecc and git-makefile have no editing trace, so their edits are recovered from the Yjs
  update stream (each transaction's text delta as splice patches — a single-agent linearisation
  with the same final text, so those documents carry less concurrency metadata than the
  192-/358-client .yjs.bin).
- Memory:
  - Quire: glibc mallinfo2() in-use bytes (uordblks) after loading one document minus before —
    exact heap bytes including malloc chunk headers.
  - Yjs: V8 heapUsed, gc() twice before each reading; $copies documents loaded and kept alive, figure =
    (heapUsed after $copies docs − after 1 doc) / $((copies - 1)).
  - ywasm, Automerge, diamond-types: the same differencing over the wasm linear memory size
    (WebAssembly.Memory buffer byteLength of the library's instance) plus V8 heapUsed for the JS
    wrappers. Wasm memory never shrinks and grows in 64 KiB pages, so this counts the Rust
    allocator's slack and fragmentation as held memory (free space the allocator had before the
    2nd..${copies}th document is subtracted by the differencing only approximately).
    process.memoryUsage().arrayBuffers does not include wasm memory in this node, so it is not used.
  - Ratio = held bytes / that library's own encoded document size (shown in each cell).
- Total wall time of the measurements: ${elapsed} s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)
  (a load above the core count means other work shared the CPUs during the run).
EOF
exit "$rc"
