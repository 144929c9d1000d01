// Shared definitions for the local-edit sessions (gen-edits.mjs,
// check-edits.mjs): file format (writer + reader), the JSON encoding of ops
// and values, the reference Yjs call of every op kind, and the "content" view
// both sides compare.
//
// File: flat list of records, no header, integers u32 little-endian:
//
//   record := u32 session, u32 clientLow, u32 clientHigh, blob baseState,
//             u32 nops, op{nops}, blob finalState
//   op     := blob opJson, blob update, blob content
//   blob   := u32 byteLength, bytes
//
// clientID = clientHigh * 2^32 + clientLow (< 2^53). In a file written by
// gen-edits.mjs `update` is what the Yjs editor emitted for the op; in the
// file written by Quire's `crdt_yjs_compare edits` it is what Quire emitted
// (and finalState is Quire's), with opJson / content copied through.

import * as Y from 'yjs'
import { RecordWriter, recordReader } from './record-io.mjs'

/** Root names and kinds every editor (and every mirror doc) declares. */
export const ROOTS = Object.freeze({ text: 'Text', map: 'Map', xml: 'XmlFragment' })

/** clientID of the docs check-edits.mjs replays into; no session uses it
 * (the second one is for an editor that happens to have the first). */
export const CHECKER_CLIENTS = Object.freeze([4242424242, 4242424243])

export const hex = b => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
export const unhex = s => {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) throw new Error(`bad hex string ${JSON.stringify(s)}`)
  return new Uint8Array(Buffer.from(s, 'hex'))
}

// ---------------------------------------------------------------------------
// Values in op JSON

/**
 * JSON form of a value passed to Yjs (map values, format attributes).
 * Values JSON cannot hold become tagged objects:
 *   BigInt      -> {"$bigint": "123"}
 *   Uint8Array  -> {"$bytes": "0a0b"}   (lower-case hex)
 *   undefined   -> {"$undefined": true} (also inside arrays and objects)
 *   NaN, ±Infinity, -0 -> {"$float": "NaN" | "Infinity" | "-Infinity" | "-0"}
 * Every other number is a plain JSON number (JSON.stringify's shortest
 * round-trip form). Object keys keep JS own-key order (integer-like keys
 * ascending first, then insertion order), which is also the order lib0's
 * writeAny (`for (const key in obj)`) writes them in. No real key starts with
 * "$".
 */
export const encodeValue = v => {
  if (v === undefined) return { $undefined: true }
  if (v === null) return null
  switch (typeof v) {
    case 'bigint': return { $bigint: v.toString() }
    case 'number':
      if (Number.isNaN(v)) return { $float: 'NaN' }
      if (v === Infinity) return { $float: 'Infinity' }
      if (v === -Infinity) return { $float: '-Infinity' }
      if (Object.is(v, -0)) return { $float: '-0' }
      return v
    case 'string': case 'boolean': return v
    case 'object': {
      if (v instanceof Uint8Array) return { $bytes: hex(v) }
      if (Array.isArray(v)) return v.map(encodeValue)
      if (Object.getPrototypeOf(v) !== Object.prototype) throw new Error(`cannot encode ${v.constructor && v.constructor.name}`)
      const o = {}
      for (const k of Object.keys(v)) {
        if (k.startsWith('$')) throw new Error(`object key ${JSON.stringify(k)} starts with $`)
        o[k] = encodeValue(v[k])
      }
      return o
    }
    default: throw new Error(`cannot encode a ${typeof v}`)
  }
}

const FLOAT_TAGS = { NaN, Infinity, '-Infinity': -Infinity, '-0': -0 }

/** Inverse of encodeValue. */
export const decodeValue = j => {
  if (j === null || typeof j !== 'object') return j
  if (Array.isArray(j)) return j.map(decodeValue)
  const keys = Object.keys(j)
  if (keys.length === 1 && keys[0].startsWith('$')) {
    const t = j[keys[0]]
    switch (keys[0]) {
      case '$undefined': return undefined
      case '$bigint': return BigInt(t)
      case '$bytes': return unhex(t)
      case '$float': if (t in FLOAT_TAGS) return FLOAT_TAGS[t]; break
    }
    throw new Error(`unknown tagged value ${JSON.stringify(j)}`)
  }
  const o = {}
  for (const k of keys) o[k] = decodeValue(j[k])
  return o
}

// ---------------------------------------------------------------------------
// Ops

/** Op kinds in display order. `insert` splits into with / without attributes
 * in reports (only the latter may anchor differently from Yjs). */
export const OP_KINDS = Object.freeze(['insert', 'delete', 'format', 'mapSet', 'appendParagraph', 'remote'])

/** Reporting bucket of an op. */
export const opBucket = op => op.op === 'insert' ? (op.attributes === undefined ? 'insert' : 'insert+attrs') : op.op
export const BUCKETS = Object.freeze(['insert', 'insert+attrs', 'delete', 'format', 'mapSet', 'appendParagraph', 'remote'])

/** op object (values as given to Yjs) -> JSON text */
export const opToJson = op => {
  switch (op.op) {
    case 'insert': {
      const o = { op: 'insert', root: op.root, index: op.index, text: op.text }
      if (op.attributes !== undefined) o.attributes = encodeValue(op.attributes)
      return JSON.stringify(o)
    }
    case 'delete': return JSON.stringify({ op: 'delete', root: op.root, index: op.index, length: op.length })
    case 'format': return JSON.stringify({ op: 'format', root: op.root, index: op.index, length: op.length, attributes: encodeValue(op.attributes) })
    case 'mapSet': return JSON.stringify({ op: 'mapSet', root: op.root, key: op.key, value: encodeValue(op.value) })
    case 'appendParagraph': return JSON.stringify({ op: 'appendParagraph', root: op.root, text: op.text })
    case 'remote': return JSON.stringify({ op: 'remote', update: hex(op.update) })
    default: throw new Error(`unknown op ${op.op}`)
  }
}

/** JSON text (string or UTF-8 bytes) -> op object with decoded values */
export const parseOp = src => {
  const j = JSON.parse(typeof src === 'string' ? src : Buffer.from(src).toString('utf8'))
  switch (j.op) {
    case 'insert': return { ...j, attributes: 'attributes' in j ? decodeValue(j.attributes) : undefined }
    case 'format': return { ...j, attributes: decodeValue(j.attributes) }
    case 'mapSet': return { ...j, value: decodeValue(j.value) }
    case 'remote': return { op: 'remote', update: unhex(j.update) }
    case 'delete': case 'appendParagraph': return j
    default: throw new Error(`unknown op ${JSON.stringify(j.op)}`)
  }
}

/**
 * Performs a local op on `doc` exactly as the reference calls do (one
 * transaction each, made by the Yjs method itself). Remote ops are applied
 * with Y.applyUpdate. Attribute objects are copied first: Y.Text.insert
 * mutates the object it is given.
 */
export const performOp = (doc, op, remoteOrigin = 'remote') => {
  switch (op.op) {
    case 'insert': {
      const t = doc.getText(op.root)
      if (op.attributes === undefined) t.insert(op.index, op.text)
      else t.insert(op.index, op.text, structuredClone(op.attributes))
      break
    }
    case 'delete': doc.getText(op.root).delete(op.index, op.length); break
    case 'format': doc.getText(op.root).format(op.index, op.length, structuredClone(op.attributes)); break
    case 'mapSet': doc.getMap(op.root).set(op.key, structuredClone(op.value)); break
    case 'appendParagraph': {
      const frag = doc.getXmlFragment(op.root)
      const text = op.text
      const p = new Y.XmlElement('paragraph'); if (text) { const t = new Y.XmlText(); t.insert(0, text); p.insert(0, [t]) } frag.push([p])
      break
    }
    case 'remote': Y.applyUpdate(doc, op.update, remoteOrigin); break
    default: throw new Error(`unknown op ${op.op}`)
  }
}

// ---------------------------------------------------------------------------
// Docs and content

/**
 * A Y.Doc (gc on) with the given clientID and the three roots declared, as
 * the editor has them. With `noCleanup`, Yjs's formatting cleanup after
 * remote transactions is switched off (the flag it checks is cleared in
 * 'afterTransaction', which fires right before): a mirror that replays
 * someone else's updates must not make changes of its own.
 */
export const newDoc = (clientID, { noCleanup = false } = {}) => {
  const doc = new Y.Doc({ guid: 'edits', gc: true })
  doc.clientID = clientID
  for (const [name, kind] of Object.entries(ROOTS)) doc[`get${kind}`](name)
  if (noCleanup) doc.on('afterTransaction', tr => { tr._needFormattingCleanup = false })
  return doc
}

const contentReplacer = (key, value) => typeof value === 'bigint' ? { $bigint: value.toString() } : value

/**
 * The `content` blob:
 *   JSON.stringify({ delta: { text: text.toDelta() },
 *                    json: { text: text.toString(), map: map.toJSON(), xml: xml.toString() } })
 * with BigInt (anywhere) written as {"$bigint": "<digits>"}; everything else
 * is plain JSON.stringify (undefined map values omitted, NaN/±Infinity ->
 * null, -0 -> 0, Uint8Array -> {"0":..,"1":..}, nested types via toJSON).
 * Map key order is the Y.Map's own (first integration of each key in this
 * doc, JS own-key rules on top), so docs compared this way must integrate
 * the same updates in the same order.
 */
export const contentOf = doc => {
  const text = doc.getText('text')
  return JSON.stringify({
    delta: { text: text.toDelta() },
    json: { text: text.toString(), map: doc.getMap('map').toJSON(), xml: doc.getXmlFragment('xml').toString() }
  }, contentReplacer)
}

/** contentOf with every object's keys sorted (for "same up to key order"). */
export const canonical = jsonText => {
  const sortKeys = v => {
    if (v === null || typeof v !== 'object') return v
    if (Array.isArray(v)) return v.map(sortKeys)
    const o = {}
    for (const k of Object.keys(v).sort()) o[k] = sortKeys(v[k])
    return o
  }
  return JSON.stringify(sortKeys(JSON.parse(jsonText)))
}

// ---------------------------------------------------------------------------
// Writer / reader

/** Buffered, append-only writer of edit-session records. */
export class EditWriter extends RecordWriter {
  /** @param {string} path */
  constructor (path) {
    super(path)
    this.records = 0
    this.ops = 0
  }

  /**
   * @param {number} session
   * @param {number} clientID < 2^53
   * @param {Uint8Array} baseState
   * @param {{json: string, update: Uint8Array, content: string}[]} ops
   * @param {Uint8Array} finalState
   */
  record (session, clientID, baseState, ops, finalState) {
    if (!Number.isSafeInteger(clientID) || clientID < 0) throw new Error(`bad clientID ${clientID}`)
    this.u32(session)
    this.u32(clientID % 4294967296)
    this.u32(Math.floor(clientID / 4294967296))
    this.blob(baseState)
    this.u32(ops.length)
    for (const op of ops) {
      this.blob(Buffer.from(op.json, 'utf8'))
      this.blob(op.update)
      this.blob(Buffer.from(op.content, 'utf8'))
    }
    this.blob(finalState)
    this.records++
    this.ops += ops.length
    this.maybeFlush()
  }
}

/**
 * Iterates the records of an edit file held in memory (zero-copy blobs).
 * @param {Uint8Array} buf
 * @returns {Generator<{ session: number, clientID: number, baseState: Uint8Array,
 *   ops: { json: Uint8Array, update: Uint8Array, content: Uint8Array }[], finalState: Uint8Array }>}
 */
export function * readEdits (buf) {
  const { u32, blob, atEnd } = recordReader(buf, 'edit')
  while (!atEnd()) {
    const session = u32()
    const low = u32()
    const high = u32()
    const baseState = blob()
    const n = u32()
    const ops = []
    for (let i = 0; i < n; i++) ops.push({ json: blob(), update: blob(), content: blob() })
    const finalState = blob()
    yield { session, clientID: high * 4294967296 + low, baseState, ops, finalState }
  }
}
