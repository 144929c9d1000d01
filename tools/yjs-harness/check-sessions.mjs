// Replays every record of a session file with a fresh reference-Yjs receiver
// (gc per flags, no root types declared) and asserts that state, state
// vector, JSON view and flags are reproduced exactly (self-consistency of the
// file and of reader vs writer).
//
//   node check-sessions.mjs [--stats] FILE
//
// Prints `ok <sessions>`; on the first mismatch prints the session and what
// differs and exits with status 1. With --stats it also prints coverage:
// sessions with Skip structs in their updates, GC structs in the final state,
// pending leftovers, ContentFormat items, formatted nested texts, receiver-side
// formatting cleanups, sub-documents, duplicates, and updates per session.

import * as fs from 'node:fs'
import * as Y from 'yjs'
import {
  readSessions, newReceiver, receiverResults, FLAG_GC_DISABLED, FLAG_PENDING_STRUCTS, FLAG_PENDING_DS
} from './session-file.mjs'

const args = process.argv.slice(2)
const wantStats = args.includes('--stats')
const file = args.find(a => a !== '--stats')
if (!file || args.length > 2) {
  console.error('usage: node check-sessions.mjs [--stats] FILE')
  process.exit(2)
}

const hex = b => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
const fail = (rec, what, expected, actual) => {
  console.error(`session ${rec.sessionIndex}: ${what} mismatch\n  expected ${expected}\n  actual   ${actual}`)
  process.exit(1)
}

/** session counts per feature (a session counts once per feature) */
const sess = new Map()
const totals = new Map()
const bump = (m, k, n = 1) => m.set(k, (m.get(k) || 0) + n)

/** Features of one decoded update, added to the session's feature set `f`. */
const scanUpdate = (f, decoded) => {
  for (const s of decoded.structs) {
    if (s instanceof Y.Skip) { f.add('Skip structs in updates'); continue }
    if (s instanceof Y.GC) { f.add('GC structs in updates'); continue }
    const c = s.content
    if (c instanceof Y.ContentFormat) f.add('ContentFormat items in updates')
    else if (c instanceof Y.ContentDoc) f.add('sub-documents (ContentDoc)')
    else if (c instanceof Y.ContentEmbed) f.add('ContentEmbed')
    else if (c instanceof Y.ContentBinary) f.add('ContentBinary')
    else if (c instanceof Y.ContentType) {
      f.add('nested types (ContentType)')
      if (c.type instanceof Y.XmlHook) f.add('Y.XmlHook')
    } else if (c instanceof Y.ContentString && c.str.includes('\uFFFD')) f.add('U+FFFD from split surrogate pair')
    if (s.id.client > 0xffffffff) f.add('client > 2^32')
  }
  if (decoded.ds.clients.size > 0) f.add('delete sets in updates')
}

const main = () => {
  const t0 = performance.now()
  const buf = fs.readFileSync(file)
  let n = 0
  let nupdates = 0
  let maxUpdates = 0
  let updateBytes = 0
  for (const rec of readSessions(buf)) {
    n++
    nupdates += rec.updates.length
    maxUpdates = Math.max(maxUpdates, rec.updates.length)
    const expectedJson = Buffer.from(rec.json).toString('utf8')
    const kinds = JSON.parse(expectedJson).kinds
    const receiver = newReceiver((rec.flags & FLAG_GC_DISABLED) === 0)
    // local transactions on the receiver = Yjs's formatting cleanup
    let cleanups = 0
    let cleanupRuns = 0
    if (wantStats) {
      receiver.on('afterTransaction', tr => {
        if (tr.local && tr.deleteSet.clients.size > 0) cleanups++
        if (tr._needFormattingCleanup) cleanupRuns++ // internal flag: cleanup runs after this transaction
      })
    }
    try {
      for (const u of rec.updates) Y.applyUpdate(receiver, u)
    } catch (e) {
      console.error(`session ${rec.sessionIndex}: Yjs threw ${e && e.stack}`)
      process.exit(1)
    }
    const res = receiverResults(receiver, name => {
      if (!(name in kinds)) fail(rec, 'root set', Object.keys(kinds).join(','), Array.from(receiver.share.keys()).join(','))
      return kinds[name]
    })
    if (Buffer.compare(res.state, rec.state) !== 0) fail(rec, 'state', hex(rec.state), hex(res.state))
    if (Buffer.compare(res.sv, rec.sv) !== 0) fail(rec, 'sv', hex(rec.sv), hex(res.sv))
    if (Buffer.compare(res.json, rec.json) !== 0) fail(rec, 'json', expectedJson, Buffer.from(res.json).toString('utf8'))
    if (res.flags !== rec.flags) fail(rec, 'flags', rec.flags, res.flags)

    if (wantStats) {
      const f = new Set()
      const seen = new Set()
      for (const u of rec.updates) {
        updateBytes += u.length
        const key = Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('latin1')
        if (seen.has(key)) f.add('byte-identical duplicate updates')
        seen.add(key)
        scanUpdate(f, Y.decodeUpdate(u))
      }
      for (const s of Y.decodeUpdate(rec.state).structs) if (s instanceof Y.GC) { f.add('GC structs in final state'); break }
      if (rec.flags & FLAG_GC_DISABLED) f.add('receiver gc disabled')
      if (rec.flags & FLAG_PENDING_STRUCTS) f.add('pending structs left')
      if (rec.flags & FLAG_PENDING_DS) f.add('pending delete set left')
      if (cleanupRuns > 0) f.add('receiver ran formatting cleanup (any)')
      if (cleanups > 0) { f.add('receiver ran formatting cleanup (deletes)'); bump(totals, 'cleanupTransactions', cleanups) }
      // formatted nested texts, read from the replayed receiver's store
      for (const structs of receiver.store.clients.values()) {
        for (const s of structs) {
          if (s instanceof Y.Item && s.content instanceof Y.ContentFormat && s.parent && s.parent._item !== null) {
            f.add('nested texts with ContentFormat (receiver store)')
            break
          }
        }
      }
      if (receiver.subdocs.size > 0) f.add('receiver has sub-documents')
      for (const k of f) bump(sess, k)
    }
    receiver.destroy()
  }
  if (wantStats) {
    console.log(`sessions=${n} updates=${nupdates} avgUpdates/session=${(nupdates / Math.max(1, n)).toFixed(1)} maxUpdates=${maxUpdates} ` +
      `avgUpdateBytes=${(updateBytes / Math.max(1, nupdates)).toFixed(1)} fileBytes=${buf.length}`)
    console.log('sessions with:')
    for (const [k, v] of Array.from(sess).sort((a, b) => a[0] < b[0] ? -1 : 1)) {
      console.log(`  ${k.padEnd(48)} ${String(v).padStart(6)}  (${(100 * v / n).toFixed(1)}%)`)
    }
    for (const [k, v] of totals) console.log(`total ${k}=${v}`)
    console.error(`ms=${Math.round(performance.now() - t0)}`)
  }
  console.log(`ok ${n}`)
}

main()
