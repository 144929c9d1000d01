// Checks Quire's replay of a local-edit file against what the Yjs editor did.
//
//   node check-edits.mjs [--max-report N] FILE OUT
//
// FILE is written by gen-edits.mjs; OUT by `crdt_yjs_compare edits FILE OUT`
// (same layout, Quire's emitted update in place of each expected update and
// Quire's final state; see edit-file.mjs). For every record two fresh Yjs
// MIRROR docs (clientID 4242424242, or 4242424243 if that is the editor's;
// the three roots declared; gc on; formatting cleanup switched off so they
// never change anything themselves) load the base state; per op each applies
// the remote update itself (remote ops only) followed by the op's update
// (when non-empty): the Q mirror Quire's updates, the Y mirror Yjs's. After
// every op the Q mirror's content (edit-file.mjs contentOf) must equal the
// Yjs editor's content (the record's content blob) — or, where that differs
// from the Y mirror's, the Y mirror's: a Yjs editor whose format() splits a
// surrogate pair without inserting anything at that point replaces both
// halves with U+FFFD in its own document only, which no update conveys
// (it reaches peers with the final state). Those ops are counted as
// "editor-only U+FFFD"; any other editor/Y-mirror difference is an error of
// the file. A record passes when every op's content matches and no update
// failed to apply or left pending data.
//
// Also reported, per op kind: how many of Quire's updates are byte-identical
// to Yjs's (inserts without attributes and deletes may legitimately anchor
// to a different deleted neighbour, as Yjs positions them with search
// markers), empty-vs-non-empty disagreements, and whether Quire's final
// state, loaded into a fresh doc, has the same content as Yjs's final state
// (this one does include the editor's local U+FFFD replacements).
//
// Prints per-kind counts and `N passed, N failed`; exits 1 on any failure
// (a failed record, a final-state content mismatch, or malformed input).
// `node check-edits.mjs FILE FILE` checks the file against itself (Yjs's own
// updates: everything passes and is byte-identical).

import * as fs from 'node:fs'
import * as Y from 'yjs'
import { readEdits, parseOp, opBucket, BUCKETS, CHECKER_CLIENTS, newDoc, contentOf, canonical } from './edit-file.mjs'

const args = process.argv.slice(2)
let maxReport = 10
const files = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--max-report') maxReport = Number(args[++i])
  else files.push(args[i])
}
if (files.length !== 2 || !Number.isSafeInteger(maxReport)) {
  console.error('usage: node check-edits.mjs [--max-report N] FILE OUT')
  process.exit(2)
}

const utf8 = b => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')
const sameBytes = (a, b) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
const clip = (s, n = 300) => s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s

/** Where two strings first differ, with some context. */
const firstDiff = (a, b) => {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  const from = Math.max(0, i - 60)
  return `at char ${i}:\n      yjs:   …${a.slice(from, i + 100)}\n      quire: …${b.slice(from, i + 100)}`
}

const perKind = Object.fromEntries(BUCKETS.map(b => [b, { ops: 0, contentOk: 0, identical: 0, yjsEmpty: 0, quireEmpty: 0, emptyMismatch: 0 }]))
let passed = 0
let failed = 0
let reported = 0
let finalContentOk = 0
let finalContentKeyOrder = 0
let finalContentBad = 0
let finalIdentical = 0
let malformed = 0
let editorOnlyFffd = 0 // ops whose editor content differs from the Y mirror's by local U+FFFD only
let badFile = 0 // editor content vs Y mirror differs otherwise

/** true if a and b differ only where a has U+FFFD */
const onlyFffd = (a, b) => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && a[i] !== '\uFFFD') return false
  return true
}

const report = (msg) => {
  if (reported < maxReport) console.error(msg)
  reported++
}

/** Content of a state loaded into a fresh mirror doc (null + message if it does not apply). */
const stateContent = (state, clientID) => {
  const doc = newDoc(clientID, { noCleanup: true })
  try {
    Y.applyUpdate(doc, state)
    const pending = doc.store.pendingStructs !== null || doc.store.pendingDs !== null
    return { content: contentOf(doc), pending }
  } catch (e) {
    return { content: null, error: String(e && e.message) }
  } finally {
    doc.destroy()
  }
}

const checkRecord = (exp, got) => {
  const where = `session ${exp.session} (editor ${exp.clientID})`
  if (got === undefined) { report(`${where}: missing from OUT`); return false }
  if (got.session !== exp.session || got.clientID !== exp.clientID || got.ops.length !== exp.ops.length) {
    report(`${where}: OUT record is session ${got.session}, editor ${got.clientID}, ${got.ops.length} ops (expected ${exp.ops.length})`)
    malformed++
    return false
  }
  const mirrorID = exp.clientID === CHECKER_CLIENTS[0] ? CHECKER_CLIENTS[1] : CHECKER_CLIENTS[0]
  const qdoc = newDoc(mirrorID, { noCleanup: true })
  const ydoc = newDoc(mirrorID, { noCleanup: true })
  let ok = true
  let broken = false // an update failed to apply: later contents are meaningless
  try {
    Y.applyUpdate(qdoc, exp.baseState)
    Y.applyUpdate(ydoc, exp.baseState)
    for (let i = 0; i < exp.ops.length; i++) {
      const e = exp.ops[i]
      const q = got.ops[i]
      const jsonText = utf8(e.json)
      if (utf8(q.json) !== jsonText) {
        report(`${where} op ${i}: OUT op JSON differs from FILE's\n      ${clip(utf8(q.json))}`)
        malformed++
        return false
      }
      const op = parseOp(jsonText)
      const k = perKind[opBucket(op)]
      k.ops++
      if (sameBytes(q.update, e.update)) k.identical++
      if (e.update.length === 0) k.yjsEmpty++
      if (q.update.length === 0) k.quireEmpty++
      if ((e.update.length === 0) !== (q.update.length === 0)) k.emptyMismatch++

      // the Y mirror: what Yjs's own updates convey
      if (op.op === 'remote') Y.applyUpdate(ydoc, op.update)
      if (e.update.length > 0) Y.applyUpdate(ydoc, e.update)
      const editorContent = utf8(e.content)
      let expected = contentOf(ydoc)
      if (expected !== editorContent) {
        if (onlyFffd(editorContent, expected)) {
          editorOnlyFffd++
        } else {
          badFile++
          report(`${where} op ${i}: FILE is inconsistent: Yjs's updates do not reproduce the editor's content ${firstDiff(editorContent, expected)}`)
          ok = false
        }
      } else {
        expected = editorContent
      }

      if (broken) continue
      try {
        if (op.op === 'remote') Y.applyUpdate(qdoc, op.update)
        if (q.update.length > 0) Y.applyUpdate(qdoc, q.update)
      } catch (err) {
        if (ok) report(`${where} op ${i} ${clip(jsonText, 200)}: Quire's update does not apply: ${err && err.message}`)
        ok = false
        broken = true
        continue
      }
      if (qdoc.store.pendingStructs !== null || qdoc.store.pendingDs !== null) {
        if (ok) report(`${where} op ${i} ${clip(jsonText, 200)}: Quire's update left pending ${qdoc.store.pendingStructs !== null ? 'structs' : 'deletes'} (references something the document lacks)`)
        ok = false
        broken = true
        continue
      }
      const actual = contentOf(qdoc)
      if (actual === expected) {
        k.contentOk++
      } else if (ok) {
        ok = false
        report(`${where} op ${i} ${clip(jsonText, 200)}: content differs ${firstDiff(expected, actual)}\n` +
          `    yjs update:   ${Buffer.from(e.update).toString('hex')}\n    quire update: ${Buffer.from(q.update).toString('hex')}`)
      }
    }
  } finally {
    qdoc.destroy()
    ydoc.destroy()
  }

  // final states: same content when loaded into fresh docs?
  if (sameBytes(got.finalState, exp.finalState)) finalIdentical++
  const fy = stateContent(exp.finalState, CHECKER_CLIENTS[0] === exp.clientID ? CHECKER_CLIENTS[1] : CHECKER_CLIENTS[0])
  const fq = stateContent(got.finalState, CHECKER_CLIENTS[0] === exp.clientID ? CHECKER_CLIENTS[1] : CHECKER_CLIENTS[0])
  if (fq.content !== null && !fq.pending && fq.content === fy.content) finalContentOk++
  else if (fq.content !== null && !fq.pending && canonical(fq.content) === canonical(fy.content)) {
    finalContentKeyOrder++ // same up to map key order (a different integration order)
    report(`${where}: final state content equal only up to map key order`)
  } else {
    finalContentBad++
    report(`${where}: Quire's final state ${fq.content === null ? `does not apply: ${fq.error}` : fq.pending ? 'leaves pending data' : `has different content ${firstDiff(fy.content, fq.content)}`}`)
  }
  return ok
}

const main = () => {
  const t0 = performance.now()
  const expRecs = readEdits(fs.readFileSync(files[0]))
  const gotRecs = readEdits(fs.readFileSync(files[1]))
  for (const exp of expRecs) {
    const g = gotRecs.next()
    if (checkRecord(exp, g.done ? undefined : g.value)) passed++
    else failed++
  }
  for (let g = gotRecs.next(); !g.done; g = gotRecs.next()) {
    report(`OUT has an extra record (session ${g.value.session})`)
    malformed++
  }
  if (reported > maxReport) console.error(`(${reported - maxReport} more problems not shown)`)

  const pct = (a, b) => b === 0 ? '-' : `${(100 * a / b).toFixed(1)}%`
  const rows = [['kind', 'ops', 'content ok', 'bytes identical', '', 'yjs empty', 'quire empty', 'empty mismatch']]
  const tot = { ops: 0, contentOk: 0, identical: 0, yjsEmpty: 0, quireEmpty: 0, emptyMismatch: 0 }
  for (const b of BUCKETS) {
    const k = perKind[b]
    for (const f of Object.keys(tot)) tot[f] += k[f]
    rows.push([b, k.ops, k.contentOk, k.identical, pct(k.identical, k.ops), k.yjsEmpty, k.quireEmpty, k.emptyMismatch])
  }
  rows.push(['total', tot.ops, tot.contentOk, tot.identical, pct(tot.identical, tot.ops), tot.yjsEmpty, tot.quireEmpty, tot.emptyMismatch])
  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => String(r[c]).length)))
  for (const r of rows) console.log(r.map((v, c) => c === 0 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c])).join('  '))
  const n = passed + failed
  console.log(`final state: content identical ${finalContentOk}/${n}` +
    (finalContentKeyOrder ? `, equal up to map key order ${finalContentKeyOrder}` : '') +
    `, bytes identical ${finalIdentical}/${n}`)
  console.log(`editor-only U+FFFD (format split a surrogate pair locally; compared with Yjs's updates instead): ${editorOnlyFffd} ops`)
  if (badFile) console.log(`FILE inconsistent (editor content not reproduced by Yjs's updates): ${badFile} ops`)
  if (malformed) console.log(`malformed OUT records / ops: ${malformed}`)
  console.error(`ms=${Math.round(performance.now() - t0)}`)
  console.log(`${passed} passed, ${failed} failed`)
  if (failed > 0 || finalContentBad > 0 || finalContentKeyOrder > 0 || malformed > 0 || badFile > 0) process.exit(1)
}

main()
