#!/usr/bin/env bash
# Differential soak: CASES random update-algebra cases and as many multi-client
# document sessions against the reference Yjs, in batches of BATCH with a fresh
# seed each, so the files stay small.
# usage: scripts/soak.sh COMPARE_BINARY CASES BATCH
# Env: SOAK_SEED  the first batch's seed (default 1000); each next batch takes the next one
set -euo pipefail
cd "$(dirname "$0")/.."
compare=$1
cases=$2
batch=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
done_cases=0
seed=${SOAK_SEED:-1000}
while ((done_cases < cases)); do
  n=$((cases - done_cases < batch ? cases - done_cases : batch))
  node tools/yjs-harness/gen-cases.mjs --seed "$seed" --count "$n" --out "$tmp/cases.bin" 2>/dev/null >/dev/null
  if ! "$compare" cases "$tmp/cases.bin" > "$tmp/out.txt"; then
    cat "$tmp/out.txt"
    echo "soak: FAILED at seed $seed (regenerate: node tools/yjs-harness/gen-cases.mjs --seed $seed --count $n)"
    exit 1
  fi
  node tools/yjs-harness/gen-sessions.mjs --seed "$seed" --count "$n" --out "$tmp/sessions.bin" 2>/dev/null >/dev/null
  if ! "$compare" sessions "$tmp/sessions.bin" > "$tmp/out2.txt"; then
    cat "$tmp/out2.txt"
    echo "soak: FAILED at seed $seed (regenerate: node tools/yjs-harness/gen-sessions.mjs --seed $seed --count $n)"
    exit 1
  fi
  node tools/yjs-harness/gen-edits.mjs --seed "$seed" --count $((n / 10)) --out "$tmp/edits.bin" 2>/dev/null >/dev/null
  if ! "$compare" edits "$tmp/edits.bin" "$tmp/quire-edits.bin" > "$tmp/out3.txt" ||
     ! node tools/yjs-harness/check-edits.mjs "$tmp/edits.bin" "$tmp/quire-edits.bin" >> "$tmp/out3.txt"; then
    cat "$tmp/out3.txt"
    echo "soak: FAILED at seed $seed (regenerate: node tools/yjs-harness/gen-edits.mjs --seed $seed --count $((n / 10)))"
    exit 1
  fi
  done_cases=$((done_cases + n))
  echo "soak: seed $seed ok — cases $(tail -1 "$tmp/out.txt"); sessions $(tail -1 "$tmp/out2.txt"); $done_cases/$cases"
  seed=$((seed + 1))
done
echo "soak: $done_cases cases passed"
