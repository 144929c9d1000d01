#!/usr/bin/env bash
# End-to-end checks of `quire update …` and `quire doc …` on real Yjs data
# (exit codes, stdout bytes, one-line errors), of `quire serve`'s
# configuration (errors, precedence, start and SIGTERM) and of the
# administrative verbs `quire user …` and `quire key …`.
# usage: cli_test.sh QUIRE_BINARY SHARED_DIR
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
"$quire" serve --listen 0.0.0.0:0 --data-dir "$tmp/d0" > /dev/null 2> "$tmp/err"
expect_eq "plain HTTP off loopback refused" "$?:$(grep -c 'behind-tls-proxy' "$tmp/err")" "1:1"
"$quire" serve --listen 0.0.0.0:0 --behind-tls-proxy --dev-auth t=rw --data-dir "$tmp/d0" > /dev/null 2> "$tmp/err"
expect_eq "dev-auth off loopback refused" "$?:$(grep -c 'dev-auth is for development' "$tmp/err")" "1:1"
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

# Administration: accounts and signing keys in an existing data dir (never created by these verbs).
dd="$tmp/admin"
mkdir "$dd"
id=$(echo 'correct horse battery' | "$quire" user create --data-dir "$dd" --username alice --email Alice@Example.org \
       --display-name "Alice A" --password-stdin 2> "$tmp/err")
expect_eq "user create" "$?:$(grep -cE '^[A-Za-z0-9_-]{22}$' <<<"$id")" "0:1"
echo 'another password' | "$quire" user create --data-dir "$dd" --username ALICE --email x@example.org --password-stdin \
  > "$tmp/out" 2> "$tmp/err"
expect_eq "duplicate username (any case)" "$?:$(grep -c "^quire: username 'ALICE' is taken$" "$tmp/err"):$(wc -c < "$tmp/out")" "1:1:0"
echo 'another password' | "$quire" user create --data-dir "$dd" --username alice2 --email alice@example.ORG --password-stdin \
  > /dev/null 2> "$tmp/err"
expect_eq "duplicate email" "$?:$(wc -l < "$tmp/err")" "1:1"
for args in "--username al --email a@example.org" "--username a@b --email a@example.org" \
            "--username abcdefghijklmnopqrstuvwxyz0123456 --email a@example.org" "--username carol --email carol" \
            "--username carol --email 'carol@example org'" "--username carol" "--username carol --email c@example.org x" \
            "--username carol --email c@example.org --bogus"; do
  echo 'long enough password' | eval "\"\$quire\" user create --data-dir \"\$dd\" $args --password-stdin" > /dev/null 2>&1
  expect_eq "user create $args" "$?" 2
done
echo 'short' | "$quire" user create --data-dir "$dd" --username carol --email c@example.org --password-stdin > /dev/null 2>&1
expect_eq "short password refused" "$?" 2
"$quire" user create --data-dir "$dd" --username carol --email c@example.org --password-stdin < /dev/null > /dev/null 2>&1
expect_eq "no password on stdin" "$?" 2
"$quire" user create --data-dir "$dd" --username bob --email bob@example.org > "$tmp/bob" 2> /dev/null
expect_eq "generated password: id and password" "$?:$(wc -l < "$tmp/bob"):$(sed -n 2p "$tmp/bob" | grep -cE '^[A-Za-z0-9_-]{24}$')" "0:2:1"
"$quire" user list --data-dir "$dd" > "$tmp/users"
grep -qE "^$id +alice +alice@example.org +no +20[0-9-]+T[0-9:]+Z +Alice A$" "$tmp/users" && ok || bad "user list: $(cat "$tmp/users")"
check_users() {  # name node-expression over `u` (the parsed array)
  "$quire" user list --data-dir "$dd" --json > "$tmp/users.json"
  node -e "const u = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')); process.exit(($2) ? 0 : 1)" \
    "$tmp/users.json" && ok || bad "$1: $(cat "$tmp/users.json")"
}
check_users "user list --json" "u.length === 2 && u[0].id === '$id' && u[0].username === 'alice' &&
  u[0].email === 'alice@example.org' && u[0].display_name === 'Alice A' && u[0].disabled === false &&
  /^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(u[0].created_at) && u[1].username === 'bob'"
# Disabling revokes the live sessions (two seeded here), by username, email or id.
now=$(($(date +%s) * 1000))
for f in f1 f2; do
  sqlite3 "$dd/quire.db" "INSERT INTO token_families VALUES ('$f', '$id', $now, $now, $((now + 86400000)), NULL, NULL)"
done
out=$("$quire" user disable --data-dir "$dd" alice)
expect_eq "user disable" "$?:$out" "0:user 'alice' ($id) disabled; 2 sessions revoked"
expect_eq "sessions revoked" "$(sqlite3 "$dd/quire.db" "SELECT count(*) FROM token_families WHERE revoke_reason = 'disabled'")" 2
check_users "disabled in the list" "u[0].disabled === true && u[1].disabled === false"
"$quire" user enable --data-dir "$dd" ALICE@example.org > /dev/null
expect_eq "user enable by email" "$?" 0
"$quire" user disable --data-dir "$dd" "$id" > "$tmp/out"
expect_eq "user disable by id" "$?:$(grep -c '0 sessions revoked' "$tmp/out")" "0:1"
"$quire" user enable --data-dir "$dd" "$id" > /dev/null
check_users "enabled again" "u[0].disabled === false"
"$quire" user disable --data-dir "$dd" nobody > /dev/null 2> "$tmp/err"
expect_eq "unknown user" "$?:$(cat "$tmp/err")" "1:quire: no user 'nobody'"
for args in "user" "user frob" "user disable --data-dir $dd" "user list --data-dir $dd extra" "key" "key frob"; do
  # shellcheck disable=SC2086
  "$quire" $args > /dev/null 2>&1
  expect_eq "usage '$args'" "$?" 2
done
# Signing keys: the first rotation creates DIR/keys and its first key; the next keeps it verifying.
"$quire" key list --data-dir "$dd" > /dev/null 2>&1
expect_eq "key list without keys" "$?:$(test -e "$dd/keys" && echo created)" "1:"
k1=$("$quire" key rotate --data-dir "$dd" | sed -n 's/^new signing key: //p')
k2=$("$quire" key rotate --data-dir "$dd" | sed -n 's/^new signing key: //p')
[[ -n "$k1" && -n "$k2" && "$k1" != "$k2" ]] && ok || bad "key rotate: '$k1' '$k2'"
"$quire" key list --data-dir "$dd" > "$tmp/keys"
expect_eq "two kids verify" "$(grep -cE "^($k1 .* verifies until |$k2 .* signs$)" "$tmp/keys"):$(wc -l < "$tmp/keys")" "2:3"
expect_eq "key directory is private" "$(stat -c %a "$dd/keys")" 700
# A missing data dir is an error, and stays missing.
for args in "user list" "user create --username dave --email d@example.org" "user disable alice" "key rotate" "key list"; do
  # shellcheck disable=SC2086
  "$quire" $args --data-dir "$tmp/no-such-dir" > /dev/null 2> "$tmp/err" < /dev/null
  expect_eq "missing data dir: $args" "$?:$(grep -c 'no-such-dir does not exist' "$tmp/err")" "1:1"
done
[[ ! -e "$tmp/no-such-dir" ]] && ok || bad "an admin verb created the data dir"
# While quire serve runs on the same data dir.
"$quire" serve --listen 127.0.0.1:0 --dev-auth t=rw --data-dir "$dd" > "$tmp/serve.out" 2> /dev/null &
pid=$!
for _ in $(seq 50); do grep -q listening "$tmp/serve.out" && break; sleep 0.1; done
echo 'a third password' | "$quire" user create --data-dir "$dd" --username erin --email erin@example.org --password-stdin \
  > /dev/null 2>&1
expect_eq "user create while serving" "$?" 0
check_users "user list while serving" "u.length === 3 && u[2].username === 'erin'"
kill -TERM $pid
wait $pid

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
