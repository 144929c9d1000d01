#!/usr/bin/env bash
# End-to-end checks of `quire update …` and `quire doc …` on real Yjs data
# (exit codes, stdout bytes, one-line errors) and of `quire serve`'s
# configuration (errors, precedence, start and SIGTERM). usage: cli_test.sh QUIRE_BINARY SHARED_DIR
set -uo pipefail
quire=$1
shared=$2
traces=$shared/traces/yjs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }
unhex() { echo -n "$1" | sed 's/../\\x&/g' | xargs -0 printf '%b' > "$2"; }
expect_eq() {  # name actual expected
  if [[ "$2" == "$3" ]]; then ok; else bad "$1: got '$2', expected '$3'"; fi
}

# merge of two updates with a gap → a Skip struct (vector merge_with_gap_skip)
unhex 010109000401017402616200 "$tmp/a.bin"
unhex 0101090484090302656600 "$tmp/c.bin"
"$quire" update merge "$tmp/a.bin" "$tmp/c.bin" > "$tmp/m.bin"
expect_eq "merge with gap" "$(hex "$tmp/m.bin")" 01030900040101740261620a0284090302656600
"$quire" update state-vector "$tmp/m.bin" > "$tmp/sv.bin"
expect_eq "state vector stops at the gap" "$(hex "$tmp/sv.bin")" 010902

# diff against a state vector slices at its clock
unhex 01010100040101740361626300 "$tmp/abc.bin"
unhex 010102 "$tmp/sv12.bin"
"$quire" update diff "$tmp/abc.bin" "$tmp/sv12.bin" > "$tmp/d.bin"
expect_eq "diff" "$(hex "$tmp/d.bin")" 01010102840101016300

# a framed trace: merging every per-edit update gives the document's state vector
for t in node_nodecc friendsforever; do
  "$quire" update merge --framed "$traces/$t.updates.bin" > "$tmp/$t.merged"
  a=$("$quire" update state-vector "$tmp/$t.merged" | od -An -v -tx1)
  b=$("$quire" update state-vector "$traces/$t.yjs.bin" | od -An -v -tx1)
  expect_eq "$t merged state vector" "$a" "$b"
done

# v1 → v2 → v1 round trip of a whole document; stdin as '-'
"$quire" update convert --to v2 "$traces/node_nodecc.yjs.bin" > "$tmp/v2.bin"
"$quire" update convert --to v1 - < "$tmp/v2.bin" > "$tmp/v1.bin"
if cmp -s "$tmp/v1.bin" "$traces/node_nodecc.yjs.bin"; then ok; else bad "v1→v2→v1 round trip"; fi
v2size=$(stat -c %s "$tmp/v2.bin"); v1size=$(stat -c %s "$tmp/v1.bin")
if ((v2size < v1size)); then ok; else bad "v2 ($v2size) should be smaller than v1 ($v1size)"; fi
"$quire" update state-vector --format v2 "$tmp/v2.bin" > "$tmp/sv2.bin"
"$quire" update state-vector "$tmp/v1.bin" > "$tmp/sv1.bin"
if cmp -s "$tmp/sv1.bin" "$tmp/sv2.bin"; then ok; else bad "state vector of v2 input"; fi

# inspect lists structs and the delete set
out=$("$quire" update inspect "$tmp/m.bin")
if grep -q "Skip 9:2 len=2" <<<"$out" && grep -q 'Item 9:0 len=2 parent="t" String "ab"' <<<"$out"; then ok; else bad "inspect: $out"; fi
out=$("$quire" update inspect --framed "$traces/git-makefile.updates.bin" | grep -c '^update ')
expect_eq "inspect --framed lists every update" "$out" 3210

# doc: applying a trace's updates gives Yjs's state and the trace's text
for t in friendsforever git-makefile; do
  "$quire" doc apply --framed "$traces/$t.updates.bin" > "$tmp/$t.state"
  if cmp -s "$tmp/$t.state" "$traces/$t.yjs.bin"; then ok; else bad "doc apply $t"; fi
  "$quire" doc text --name text --framed "$traces/$t.updates.bin" > "$tmp/$t.txt"
  if cmp -s "$tmp/$t.txt" "$traces/$t.txt"; then ok; else bad "doc text $t"; fi
done
"$quire" doc apply --to v2 "$traces/clownschool.yjs.bin" > "$tmp/cs.v2"
"$quire" doc apply --format v2 "$tmp/cs.v2" > "$tmp/cs.v1"
if cmp -s "$tmp/cs.v1" "$traces/clownschool.yjs.bin"; then ok; else bad "doc apply v2 round trip"; fi
json=$("$quire" doc json "$tmp/abc.bin")
expect_eq "doc json" "$json" '{"t":"abc"}'
head -c 7 "$tmp/abc.bin" > "$tmp/trunc0.bin"
# A y-prosemirror paragraph (Yjs 13.6.33 bytes) as ProseMirror JSON, and an XmlHook refused.
unhex 0107040007010b70726f73656d6972726f720309706172616772617068280004000974657874416c69676e0177046c6566740700040006040004020648656c6c6f2086040804626f6c64027b7d84040905776f726c6486040e04626f6c64046e756c6c00 "$tmp/pm.bin"
pm=$("$quire" doc prosemirror --name prosemirror "$tmp/pm.bin")
expect_eq "doc prosemirror" "$pm" '{"type":"doc","content":[{"type":"paragraph","attrs":{"textAlign":"left"},"content":[{"type":"text","text":"Hello "},{"type":"text","text":"world","marks":[{"type":"bold","attrs":{}}]}]}]}'
unhex 01010800070102706d0504686f6f6b00 "$tmp/hook.bin"
"$quire" doc prosemirror --name pm "$tmp/hook.bin" > /dev/null 2> "$tmp/err"
rc=$?
if [[ $rc -eq 1 ]] && grep -q '^quire: prosemirror: ' "$tmp/err"; then ok; else bad "doc prosemirror of a hook: rc=$rc $(cat "$tmp/err")"; fi
"$quire" doc json "$tmp/trunc0.bin" > /dev/null 2> "$tmp/err"
rc=$?
if [[ $rc -eq 1 ]] && grep -q '^quire: update 0: ' "$tmp/err"; then ok; else bad "doc json of bad input: rc=$rc $(cat "$tmp/err")"; fi

# bad input: one line on stderr, exit 1, nothing on stdout
head -c 7 "$tmp/abc.bin" > "$tmp/trunc.bin"
unhex 020105 "$tmp/badsv.bin"
for verb in "merge $tmp/trunc.bin $tmp/abc.bin" "state-vector $tmp/trunc.bin" "inspect $tmp/trunc.bin" \
            "convert --to v2 $tmp/trunc.bin" "diff $tmp/abc.bin $tmp/badsv.bin" "merge --framed $tmp/abc.bin" \
            "merge $tmp/missing.bin"; do
  # shellcheck disable=SC2086
  "$quire" update $verb > "$tmp/out" 2> "$tmp/err"
  rc=$?
  lines=$(wc -l < "$tmp/err")
  if [[ $rc -eq 1 && $lines -eq 1 && ! -s "$tmp/out" ]] && grep -q '^quire: ' "$tmp/err"; then ok; else
    bad "bad input '$verb': rc=$rc stderr=$(cat "$tmp/err")"; fi
done

# usage errors exit 2
for args in "" "update" "update frobnicate x" "update convert $tmp/abc.bin" "update diff $tmp/abc.bin" "nope" \
            "doc" "doc text $tmp/abc.bin" "doc prosemirror $tmp/abc.bin" "doc frob $tmp/abc.bin"; do
  # shellcheck disable=SC2086
  "$quire" $args > /dev/null 2>&1
  rc=$?
  expect_eq "usage '$args'" "$rc" 2
done
"$quire" help > "$tmp/help" && grep -q "quire update merge" "$tmp/help" && ok || bad "help"

# quire serve: configuration errors are usage errors (2) or failures (1), before anything listens
for args in "serve --bogus 1" "serve --listen nope" "serve --rate-messages x" "serve --config $tmp/missing-value --config"; do
  # shellcheck disable=SC2086
  "$quire" $args > /dev/null 2>&1
  expect_eq "serve usage '$args'" "$?" 2
done
"$quire" serve --listen 0.0.0.0:0 --dev-auth t=rw --data-dir "$tmp/d0" > /dev/null 2> "$tmp/err"
expect_eq "dev-auth off loopback refused" "$?:$(grep -c loopback "$tmp/err")" "1:1"
"$quire" serve --listen 127.0.0.1:0 --dev-auth t=admin > /dev/null 2>&1
expect_eq "dev-auth role checked" "$?" 2
printf 'data-dir = %s\nnot-a-setting = 1\n' "$tmp/f" > "$tmp/bad.conf"
"$quire" serve --config "$tmp/bad.conf" > /dev/null 2> "$tmp/err"
expect_eq "unknown setting in the file" "$?:$(grep -c 'bad.conf:2' "$tmp/err")" "2:1"
"$quire" serve --help | grep -q -- "--max-message-bytes" && ok || bad "serve --help"

# Precedence: the file < the environment < flags. The file names one data dir,
# the environment another; the flag sets the listen address.
printf '# comment\ndata-dir = %s  # from the file\nlisten = 127.0.0.1:1\ndev-auth = t=rw\n' "$tmp/from-file" > "$tmp/q.conf"
QUIRE_DATA_DIR="$tmp/from-env" "$quire" serve --config "$tmp/q.conf" --listen 127.0.0.1:0 > "$tmp/serve.out" 2> /dev/null &
pid=$!
for _ in $(seq 50); do grep -q listening "$tmp/serve.out" && break; sleep 0.1; done
grep -q "^quire: listening on http://127.0.0.1:[0-9]*$" "$tmp/serve.out" && ok || bad "serve prints its URL: $(cat "$tmp/serve.out")"
[[ -f "$tmp/from-env/quire.db" && ! -e "$tmp/from-file" ]] && ok || bad "QUIRE_DATA_DIR overrides the file"
kill -TERM $pid
wait $pid
expect_eq "SIGTERM exits 0" "$?" 0

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
