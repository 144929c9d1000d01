#!/usr/bin/env bash
# Side-by-side: `quire update merge --framed` vs Yjs's mergeUpdates (flat, as an
# application would call it) on the same trace update streams, one after the
# other on this machine. Prints a Markdown table: wall time and peak resident
# memory of each whole process (start-up, reading the file, merging, writing).
# usage: scripts/bench-merge.sh QUIRE_BINARY [TRACE...]
# Env: BENCH_RUNS (Quire repetitions, median; default 5), BENCH_YJS_TIMEOUT
# (seconds per Yjs run, default 3600: its merge is quadratic).
set -euo pipefail
cd "$(dirname "$0")/.."
quire=$(realpath "$1")
shift
traces=("$@")
((${#traces[@]})) || traces=(automerge-paper seph-blog1 friendsforever clownschool node_nodecc git-makefile)
runs=${BENCH_RUNS:-5}
yjs_timeout=${BENCH_YJS_TIMEOUT:-3600}
dir=../shared/traces/yjs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure OUT_FILE CMD...: prints "seconds max_rss_kb" (wall clock in ns
# resolution; peak RSS from GNU time)
measure() {
  local out=$1
  shift
  local start end
  start=$(date +%s%N)
  /usr/bin/time -f "%M" -o "$tmp/time" "$@" > "$out"
  end=$(date +%s%N)
  echo "$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.4f", (b - a) / 1e9}') $(cat "$tmp/time")"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "quire: $("$quire" version); node $(node --version); yjs $(node -p "require('./tools/yjs-harness/node_modules/yjs/package.json').version")"
echo
echo "| trace | updates | Quire time | Yjs time | speed-up | Quire peak RSS | Yjs peak RSS | memory ratio | same bytes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|:-:|"
for t in "${traces[@]}"; do
  in=$dir/$t.updates.bin
  frames=$(node -e "const b=require('fs').readFileSync('$in');let n=0;for(let p=0;p<b.length;n++)p+=4+b.readUInt32LE(p);console.log(n)")
  : > "$tmp/q_times"
  : > "$tmp/q_rss"
  for ((i = 0; i < runs; i++)); do
    read -r s kb < <(measure "$tmp/quire.bin" "$quire" update merge --framed "$in")
    echo "$s" >> "$tmp/q_times"
    echo "$kb" >> "$tmp/q_rss"
  done
  q_s=$(median < "$tmp/q_times")
  q_kb=$(median < "$tmp/q_rss")
  if read -r y_s y_kb < <(measure "$tmp/yjs.log" timeout "$yjs_timeout" \
        node tools/yjs-harness/trace-merge.mjs --in "$in" --out "$tmp/yjs.bin"); then
    same=$(cmp -s "$tmp/quire.bin" "$tmp/yjs.bin" && echo yes || echo NO)
    speed=$(awk -v a="$y_s" -v b="$q_s" 'BEGIN {printf "%.0f×", a / b}')
    mem=$(awk -v a="$q_kb" -v b="$y_kb" 'BEGIN {printf "%.2f", a / b}')
    printf "| %s | %s | %.3f s | %.2f s | %s | %.1f MB | %.1f MB | %s | %s |\n" "$t" "$frames" "$q_s" "$y_s" "$speed" \
      "$(awk -v k="$q_kb" 'BEGIN {print k/1024}')" "$(awk -v k="$y_kb" 'BEGIN {print k/1024}')" "$mem" "$same"
  else
    printf "| %s | %s | %.3f s | > %s s (timed out) | — | %.1f MB | — | — | — |\n" "$t" "$frames" "$q_s" "$yjs_timeout" \
      "$(awk -v k="$q_kb" 'BEGIN {print k/1024}')"
  fi
done
