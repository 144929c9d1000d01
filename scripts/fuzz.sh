#!/usr/bin/env bash
# Runs one fuzzer for SECONDS with its own corpus, seeded from the spec vectors
# and trace frames (tools/fuzz-seeds.mjs, KIND updates, frames or jwt). Findings are
# written to build/fuzz/findings-NAME.
# usage: scripts/fuzz.sh FUZZER SECONDS [KIND]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzzer=$1
seconds=$2
kind=${3:-updates}
name=$(basename "$fuzzer")
corpus=build/fuzz/corpus-$name
findings=build/fuzz/findings-$name
mkdir -p "$corpus" "$findings"
if [[ -z "$(ls -A "$corpus")" ]]; then
  node tools/fuzz-seeds.mjs ../shared "$corpus" "$kind"
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
