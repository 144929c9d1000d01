#!/usr/bin/env bash
# Runs the update fuzzer for SECONDS, seeded from the spec vectors and trace
# frames (tools/fuzz-seeds.mjs). Findings are written to build/fuzz/findings.
# usage: scripts/fuzz.sh FUZZER SECONDS
set -euo pipefail
cd "$(dirname "$0")/.."
fuzzer=$1
seconds=$2
corpus=build/fuzz/corpus
findings=build/fuzz/findings
mkdir -p "$corpus" "$findings"
if [[ -z "$(ls -A "$corpus")" ]]; then
  node tools/fuzz-seeds.mjs ../shared "$corpus"
fi
echo "fuzz: $fuzzer for ${seconds}s, corpus $(ls "$corpus" | wc -l) files"
status=0
"$fuzzer" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$findings/" -print_final_stats=1 > "$findings/last-run.log" 2>&1 || status=$?
grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|artifact_prefix|Test unit written)" \
  "$findings/last-run.log" || true
if [[ $status -ne 0 ]]; then
  tail -40 "$findings/last-run.log"
  echo "fuzz: FAILED (exit $status); reproducer in $findings"
  exit 1
fi
echo "fuzz: no crash in ${seconds}s"
