// Coverage statistics for a case file: decodes every update blob with the
// reference Yjs and counts struct kinds, content kinds, type refs and special
// Any values, separately for op inputs and for expected outputs.
//
//   node stats.mjs FILE
//
// Exits with status 1 if one of the struct/content kinds the C++ codec must
// handle never occurs in the inputs.

import * as fs from 'node:fs'
import * as Y from 'yjs'
import { OP_NAME, blobKinds, readRecords } from './case-file.mjs'

const file = process.argv[2]
if (!file) {
  console.error('usage: node stats.mjs FILE')
  process.exit(2)
}

/** typeRef written by each shared type (see Y*.js `_write`) */
const TYPE_REFS = new Map([
  [Y.Array, 0], [Y.Map, 1], [Y.Text, 2], [Y.XmlElement, 3], [Y.XmlFragment, 4], [Y.XmlHook, 5], [Y.XmlText, 6]
])

/** Recursively checks an Any value for a predicate. */
const anyHas = (v, pred) => {
  if (pred(v)) return true
  if (Array.isArray(v)) return v.some(x => anyHas(x, pred))
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) return Object.values(v).some(x => anyHas(x, pred))
  return false
}

const newCounters = () => new Map()
const bump = (m, k, n = 1) => m.set(k, (m.get(k) || 0) + n)

/** Counts the structs of one decoded update into `c`. */
const countUpdate = (c, decoded) => {
  for (const s of decoded.structs) {
    if (s instanceof Y.Skip) { bump(c, 'Skip'); continue }
    if (s instanceof Y.GC) { bump(c, 'GC'); continue }
    bump(c, 'Item')
    const content = s.content
    const name = content.constructor.name
    bump(c, name)
    if (content instanceof Y.ContentType) bump(c, `ContentType.typeRef=${TYPE_REFS.get(content.type.constructor)}`)
    if (content instanceof Y.ContentAny) {
      if (content.arr.some(v => anyHas(v, x => typeof x === 'bigint'))) bump(c, 'ContentAny+BigInt')
      if (content.arr.some(v => anyHas(v, x => x instanceof Uint8Array))) bump(c, 'ContentAny+Uint8Array')
      if (content.arr.some(v => anyHas(v, x => x === undefined))) bump(c, 'ContentAny+undefined')
      if (content.arr.some(v => anyHas(v, x => Number.isNaN(x)))) bump(c, 'ContentAny+NaN')
      if (content.arr.some(v => anyHas(v, x => Object.is(x, -0)))) bump(c, 'ContentAny+-0')
    }
    if (content instanceof Y.ContentString && /[\uD800-\uDFFF]/.test(content.str)) bump(c, 'ContentString+surrogates')
    if (content instanceof Y.ContentString && content.str.includes('\uFFFD')) bump(c, 'ContentString+U+FFFD')
    if (s.id.client > 0xffffffff) bump(c, 'Struct.client>2^32')
  }
  if (decoded.ds.clients.size > 0) bump(c, 'DeleteSet(non-empty)')
}

const main = () => {
  const t0 = performance.now()
  const buf = fs.readFileSync(file)
  const inputs = newCounters()
  const outputs = newCounters()
  const perOp = new Map() // opcode -> { n, bytes }
  const cases = new Set()
  // Inputs repeat a lot (pools are sampled with replacement): decode each
  // distinct blob once per role, keyed by its content.
  const seen = new Set()
  let ops = 0
  for (const rec of readRecords(buf)) {
    ops++
    cases.add(rec.caseIndex)
    const po = perOp.get(rec.opcode) || { n: 0, bytes: 0, args: 0 }
    po.n++
    po.args += rec.args.length
    po.bytes += 12 + 4 + rec.expected.length + rec.args.reduce((n, a) => n + 4 + a.length, 0)
    perOp.set(rec.opcode, po)
    const kinds = blobKinds(rec.opcode, rec.args.length)
    const take = (c, kind, blob, role) => {
      if (kind === 'sv') return
      const key = role + kind + Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).toString('latin1')
      if (seen.has(key)) return
      seen.add(key)
      countUpdate(c, kind === 'v1' ? Y.decodeUpdate(blob) : Y.decodeUpdateV2(blob))
    }
    rec.args.forEach((a, i) => take(inputs, kinds.args[i], a, 'in'))
    take(outputs, kinds.expected, rec.expected, 'out')
  }

  console.log(`cases=${cases.size} ops=${ops} bytes=${buf.length}`)
  console.log('\nper opcode:  ops  avgArgs  MB')
  for (const [op, { n, bytes, args }] of Array.from(perOp).sort((a, b) => a[0] - b[0])) {
    console.log(`  ${OP_NAME[op].padEnd(18)} ${String(n).padStart(7)} ${(args / n).toFixed(2).padStart(7)} ${(bytes / 1e6).toFixed(1).padStart(7)}`)
  }
  const keys = Array.from(new Set([...inputs.keys(), ...outputs.keys()])).sort()
  console.log('\nstructs / contents in distinct blobs:   inputs   expected')
  for (const k of keys) {
    console.log(`  ${k.padEnd(34)} ${String(inputs.get(k) || 0).padStart(9)} ${String(outputs.get(k) || 0).padStart(9)}`)
  }

  const required = ['Skip', 'GC', 'ContentDeleted', 'ContentFormat', 'ContentEmbed', 'ContentBinary', 'ContentDoc',
    'ContentString', 'ContentJSON', 'ContentAny', 'ContentAny+BigInt', 'ContentAny+Uint8Array',
    ...[0, 1, 2, 3, 4, 5, 6].map(r => `ContentType.typeRef=${r}`)]
  const missing = required.filter(k => !inputs.get(k))
  console.log(`\n${missing.length === 0 ? 'all required kinds present in inputs' : 'MISSING in inputs: ' + missing.join(', ')} (${Math.round(performance.now() - t0)} ms)`)
  if (missing.length) process.exit(1)
}

main()
