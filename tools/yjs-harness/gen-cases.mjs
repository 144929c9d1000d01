// Seeded generator of differential test cases for Quire's update codec.
//
//   node gen-cases.mjs [--seed S] [--count N] [--start K] --out FILE
//
// Each case is a random editing session between 2-5 Y.Doc replicas (reference
// Yjs). Every v1/v2 update the replicas emit is recorded; from those (plus
// full-state encodings, merges with holes and a few hand-crafted legacy
// updates) we derive op records: "Yjs function F applied to these inputs
// returned exactly these bytes". The C++ test replays each op and compares
// byte-for-byte. See case-file.mjs for the file layout and opcodes.
//
// Determinism: everything random comes from a mulberry32 PRNG seeded per case
// from (seed, caseIndex), so `--start K --count 1` regenerates case K alone.
// Every Y.Doc gets an explicit clientID and guid, so Yjs's own randomness
// (crypto-based clientIDs / uuid guids) never reaches the encoded bytes.

import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { CaseWriter, OP, OP_NAME, runOp } from './case-file.mjs'

// ---------------------------------------------------------------------------
// Command line

const parseArgs = argv => parseGeneratorArgs(argv, {
  count: 1000,
  usage: 'node gen-cases.mjs [--seed S] [--count N] [--start K] --out FILE'
})

/** Diagnostics printed to stderr at the end. */
const stats = { editErrors: 0, yjsThrows: 0, legacyCases: 0 }

// The PRNG, value pools, client-ID picker and type walkers are shared with the
// other generators (sessions-lib.mjs holds the single copy).
import {
  Rng, caseSeed,
  TEXT_PIECES, randomText, INTS, FLOATS, BIGINTS, STRINGS, OBJ_KEYS, randomBytes, anyValue, arrayElement,
  FORMAT_ATTRS, EMBEDS, XML_NAMES, ATTR_NAMES, SUBDOC_OPTS,
  MAX_SAFE, TRICKY_CLIENT_PAIRS, pickClientIds,
  collectTypes, splitPairIndices, parseGeneratorArgs
} from './sessions-lib.mjs'

// ---------------------------------------------------------------------------
// Editing session

/**
 * @typedef {Object} Replica
 * @property {Y.Doc} doc
 * @property {number} clientID the ID we assigned (Yjs would silently change it on conflict)
 * @property {Uint8Array[]} v1 every v1 update this doc emitted
 * @property {Uint8Array[]} v2 every v2 update this doc emitted
 */

class Session {
  /** @param {Rng} rng @param {number} caseIndex */
  constructor (rng, caseIndex) {
    this.rng = rng
    this.caseIndex = caseIndex
    this.subdocCounter = 0
    /** all recorded updates of all docs, in emission order */
    this.allV1 = []
    this.allV2 = []
    this.clientIDs = pickClientIds(rng, rng.weighted([[35, 2], [30, 3], [20, 4], [15, 5]]))
    /** @type {Replica[]} */
    this.replicas = this.clientIDs.map(clientID => {
      // guid is never encoded in updates, but must be explicit to keep Yjs's
      // uuid generator out of the picture.
      const doc = new Y.Doc({ guid: `case-${caseIndex}`, gc: rng.bool(0.5) })
      doc.clientID = clientID
      const r = { doc, clientID, v1: [], v2: [] }
      doc.on('update', u => { r.v1.push(u); this.allV1.push(u) })
      doc.on('updateV2', u => { r.v2.push(u); this.allV2.push(u) })
      doc.getText('text'); doc.getMap('map'); doc.getArray('arr'); doc.getXmlFragment('xml')
      return r
    })
  }

  /** Runs the random session: edits interleaved with random syncs. */
  run () {
    const rng = this.rng
    const nops = rng.bool(0.85) ? rng.int(5, 30) : rng.int(31, 60)
    for (let i = 0; i < nops; i++) {
      const r = rng.pick(this.replicas)
      if (rng.bool(0.12)) {
        // a transaction grouping several edits => one update event
        const k = rng.int(2, 5)
        r.doc.transact(() => { for (let j = 0; j < k; j++) this.edit(r.doc) }, 'local')
      } else {
        this.edit(r.doc)
      }
      if (rng.bool(0.35)) this.sync()
      this.checkClientIds()
    }
    if (rng.bool(0.3)) {
      // converge everyone sometimes, so full-state updates are identical sets
      for (const a of this.replicas) for (const b of this.replicas) if (a !== b) this.syncFull(a, b, false)
    }
    this.checkClientIds()
  }

  /** Yjs regenerates a doc's clientID if a remote update carries structs of
   * its own ID; our IDs are distinct so that must never happen. */
  checkClientIds () {
    for (const r of this.replicas) {
      if (r.doc.clientID !== r.clientID) throw new Error(`case ${this.caseIndex}: clientID of a replica changed`)
    }
  }

  /** @param {Replica} a @param {Replica} b @param {boolean} v2 sends a's state that b lacks */
  syncFull (a, b, v2) {
    const sv = Y.encodeStateVector(b.doc)
    if (v2) Y.applyUpdateV2(b.doc, Y.encodeStateAsUpdateV2(a.doc, sv), 'remote')
    else Y.applyUpdate(b.doc, Y.encodeStateAsUpdate(a.doc, sv), 'remote')
  }

  /** One random sync action: partial/full state exchange or forwarding one
   * recorded update (possibly out of order => pending structs, or already
   * known => duplicate). */
  sync () {
    const rng = this.rng
    const a = rng.pick(this.replicas)
    let b = rng.pick(this.replicas)
    if (b === a) b = this.replicas[(this.replicas.indexOf(a) + 1) % this.replicas.length]
    const kind = rng.weighted([[40, 'full'], [15, 'fullV2'], [30, 'fwd'], [10, 'fwdV2'], [5, 'all']])
    switch (kind) {
      case 'full': this.syncFull(a, b, false); break
      case 'fullV2': this.syncFull(a, b, true); break
      case 'fwd':
        if (this.allV1.length > 0) Y.applyUpdate(b.doc, rng.pick(this.allV1), 'remote')
        break
      case 'fwdV2':
        if (this.allV2.length > 0) Y.applyUpdateV2(b.doc, rng.pick(this.allV2), 'remote')
        break
      default:
        for (const x of this.replicas) if (x !== a) this.syncFull(a, x, rng.bool(0.3))
    }
  }

  newSubdoc () {
    const opts = this.rng.pick(SUBDOC_OPTS)
    return new Y.Doc({ guid: `g${this.subdocCounter++}`, ...opts })
  }

  /**
   * A fresh (not yet integrated) shared type of a random kind, sometimes with
   * preliminary content, covering all 7 type refs.
   * @param {number} depth
   */
  newType (depth = 0) {
    const rng = this.rng
    const kind = rng.weighted([[3, 'map'], [3, 'array'], [3, 'text'], [2, 'xmlElement'], [1, 'xmlFragment'], [1, 'xmlHook'], [2, 'xmlText']])
    const deeper = depth < 1 && rng.bool(0.3)
    switch (kind) {
      case 'map': {
        const m = new Y.Map()
        const n = rng.int(0, 3)
        for (let i = 0; i < n; i++) m.set(rng.pick(OBJ_KEYS), deeper && i === 0 ? this.newType(depth + 1) : anyValue(rng))
        return m
      }
      case 'array': {
        const els = []
        const n = rng.int(0, 3)
        for (let i = 0; i < n; i++) els.push(deeper && i === 0 ? this.newType(depth + 1) : arrayElement(rng))
        return Y.Array.from(els)
      }
      case 'text': return new Y.Text(rng.bool(0.7) ? randomText(rng) : undefined)
      case 'xmlText': return new Y.XmlText(rng.bool(0.7) ? randomText(rng) : undefined)
      case 'xmlHook': {
        const h = new Y.XmlHook(rng.pick(['hook', 'embed-hook']))
        if (rng.bool(0.6)) h.set('data', anyValue(rng))
        return h
      }
      case 'xmlFragment': {
        const f = new Y.XmlFragment()
        if (deeper) f.insert(0, [this.newXmlNode(depth + 1)])
        return f
      }
      default: return this.newXmlNode(depth, 'element')
    }
  }

  /** A fresh XmlElement / XmlText / XmlHook for XML containers. */
  newXmlNode (depth = 0, forced = null) {
    const rng = this.rng
    const kind = forced || rng.weighted([[5, 'element'], [4, 'text'], [1, 'hook']])
    if (kind === 'text') return new Y.XmlText(randomText(rng))
    if (kind === 'hook') return new Y.XmlHook('hook')
    const el = new Y.XmlElement(rng.pick(XML_NAMES))
    const nattrs = rng.int(0, 2)
    for (let i = 0; i < nattrs; i++) el.setAttribute(rng.pick(ATTR_NAMES), rng.bool(0.85) ? randomText(rng) : anyValue(rng))
    if (depth < 2 && rng.bool(0.5)) el.insert(0, [this.newXmlNode(depth + 1)])
    return el
  }

  /** Applies one random edit to `doc` (errors thrown by Yjs are ignored: the
   * session stays deterministic either way). */
  edit (doc) {
    const rng = this.rng
    const types = collectTypes(doc)
    const texts = types.filter(t => t instanceof Y.Text) // includes Y.XmlText
    const maps = types.filter(t => t instanceof Y.Map) // includes Y.XmlHook
    const arrays = types.filter(t => t instanceof Y.Array)
    const xmls = types.filter(t => t instanceof Y.XmlFragment) // includes Y.XmlElement
    const elements = types.filter(t => t instanceof Y.XmlElement)
    // prefer roots a bit so the top level keeps growing
    const pickOf = (list, root) => rng.bool(0.4) ? root : rng.pick(list)
    const kind = rng.weighted([
      [10, 'textInsert'], [6, 'textDelete'], [4, 'textFormat'], [2, 'textEmbed'],
      [8, 'mapSet'], [3, 'mapSetType'], [1, 'mapSetSubdoc'], [3, 'mapDelete'],
      [6, 'arrInsert'], [2, 'arrPush'], [4, 'arrDelete'], [3, 'arrInsertType'], [1, 'arrInsertSubdoc'],
      [4, 'xmlInsert'], [3, 'xmlAttr'], [2, 'xmlDelete']
    ])
    try {
      switch (kind) {
        case 'textInsert': {
          const t = pickOf(texts, doc.getText('text'))
          const index = rng.int(0, t.length)
          if (rng.bool(0.3)) t.insert(index, randomText(rng), rng.pick(FORMAT_ATTRS))
          else t.insert(index, randomText(rng))
          break
        }
        case 'textDelete': {
          const t = pickOf(texts, doc.getText('text'))
          if (t.length === 0) break
          const splits = splitPairIndices(t)
          if (splits.length > 0 && rng.bool(0.3)) {
            // start on the 2nd half of a pair, or end after the 1st half
            const at = rng.pick(splits)
            if (rng.bool()) t.delete(at, rng.int(1, Math.min(3, t.length - at)))
            else t.delete(at - 1, 1)
          } else {
            const index = rng.int(0, t.length - 1)
            t.delete(index, rng.int(1, Math.min(6, t.length - index)))
          }
          break
        }
        case 'textFormat': {
          const t = pickOf(texts, doc.getText('text'))
          if (t.length === 0) break
          const index = rng.int(0, t.length - 1)
          t.format(index, rng.int(1, t.length - index), rng.pick(FORMAT_ATTRS))
          break
        }
        case 'textEmbed': {
          const t = pickOf(texts, doc.getText('text'))
          const embed = rng.bool(0.2) ? this.newType(1) : rng.pick(EMBEDS)
          t.insertEmbed(rng.int(0, t.length), embed, rng.bool(0.3) ? rng.pick(FORMAT_ATTRS) : undefined)
          break
        }
        case 'mapSet': {
          const m = pickOf(maps, doc.getMap('map'))
          m.set(this.mapKey(m), anyValue(rng))
          break
        }
        case 'mapSetType': {
          const m = pickOf(maps, doc.getMap('map'))
          m.set(this.mapKey(m), this.newType())
          break
        }
        case 'mapSetSubdoc': {
          const m = pickOf(maps, doc.getMap('map'))
          m.set(rng.bool(0.7) ? 'sub' : this.mapKey(m), this.newSubdoc())
          break
        }
        case 'mapDelete': {
          const m = pickOf(maps, doc.getMap('map'))
          const keys = Array.from(m.keys())
          m.delete(keys.length > 0 && rng.bool(0.85) ? rng.pick(keys) : rng.pick(OBJ_KEYS))
          break
        }
        case 'arrInsert': {
          const a = pickOf(arrays, doc.getArray('arr'))
          const els = []
          const n = rng.int(1, 5)
          for (let i = 0; i < n; i++) els.push(arrayElement(rng))
          a.insert(rng.int(0, a.length), els)
          break
        }
        case 'arrPush': {
          const a = pickOf(arrays, doc.getArray('arr'))
          a.push([arrayElement(rng), arrayElement(rng)])
          break
        }
        case 'arrDelete': {
          const a = pickOf(arrays, doc.getArray('arr'))
          if (a.length === 0) break
          const index = rng.int(0, a.length - 1)
          a.delete(index, rng.int(1, Math.min(4, a.length - index)))
          break
        }
        case 'arrInsertType': {
          const a = pickOf(arrays, doc.getArray('arr'))
          const els = [this.newType()]
          if (rng.bool(0.3)) els.push(arrayElement(rng), this.newType())
          a.insert(rng.int(0, a.length), els)
          break
        }
        case 'arrInsertSubdoc': {
          const a = pickOf(arrays, doc.getArray('arr'))
          a.insert(rng.int(0, a.length), [this.newSubdoc()])
          break
        }
        case 'xmlInsert': {
          const x = pickOf(xmls, doc.getXmlFragment('xml'))
          const nodes = [this.newXmlNode()]
          if (rng.bool(0.3)) nodes.push(this.newXmlNode())
          x.insert(rng.int(0, x.length), nodes)
          break
        }
        case 'xmlAttr': {
          if (elements.length === 0) break
          const el = rng.pick(elements)
          const existing = Object.keys(el.getAttributes())
          if (existing.length > 0 && rng.bool(0.35)) el.removeAttribute(rng.pick(existing))
          else el.setAttribute(rng.pick(ATTR_NAMES), rng.bool(0.85) ? randomText(rng) : anyValue(rng))
          break
        }
        default: { // xmlDelete
          const x = pickOf(xmls, doc.getXmlFragment('xml'))
          if (x.length === 0) break
          const index = rng.int(0, x.length - 1)
          x.delete(index, rng.int(1, Math.min(2, x.length - index)))
        }
      }
    } catch (e) {
      stats.editErrors++
    }
  }

  /** Mostly an existing key (overwrite), sometimes a new one. */
  mapKey (m) {
    const keys = Array.from(m.keys())
    return keys.length > 0 && this.rng.bool(0.4) ? this.rng.pick(keys) : this.rng.pick(OBJ_KEYS)
  }
}

// ---------------------------------------------------------------------------
// Hand-crafted legacy ContentJSON updates
//
// Current Yjs never writes ContentJSON (info ref 2), but still reads it: each
// element is a JSON text that is JSON.parse'd on read and JSON.stringify'd on
// write, so merging/converting normalises numbers ("1.50" -> "1.5"), reorders
// integer-like object keys and maps the text "undefined" to undefined.

const JSON_TEXTS = [
  'undefined', '"undefined"', '1.50', '1e2', '-0', '0.1', '1E-7', '123456789012345678901234', '1e400',
  'true', 'null', '"plain"', '{}', '[]', ' [ 1 , "two" , true , null ] ',
  '{"b":1,"10":2,"2":{"z":null,"1":[1,2.50]},"a":"x"}',
  '{"4294967295":1,"4294967294":2,"01":3,"-1":4,"1":5}',
  '"\\u00e9\\ud83d\\ude00\\n"', '"\\ud800"', '"漢字😀"'
]

/** Writes a raw ContentAny object whose keys are NOT in JS own-key order (as
 * yrs may produce, its maps are unordered); Yjs re-encodes it in JS order. */
const writeUnorderedAnyObject = (enc, rng) => {
  const entries = rng.shuffle([['b', 1], ['10', 'ten'], ['2', 2.5], ['a', null], ['1', [10n, new Uint8Array([1, 2])]], ['4294967295', true]])
  encoding.writeUint8(enc, 118) // Any type: object
  encoding.writeVarUint(enc, entries.length)
  for (const [k, v] of entries) {
    encoding.writeVarString(enc, k)
    encoding.writeAny(enc, v)
  }
}

/**
 * Encodes a v1 update with the structs of one client starting at `clock`.
 * @param {number} client
 * @param {number} clock
 * @param {{ref: number, origin?: number, parent?: string, parentSub?: string, len: number, write: (e: encoding.Encoder) => void}[]} items
 *   origin: clock of the left origin (same client), else a root parent name
 * @param {[number, number][]} ds delete ranges of `client` as [clock, len]
 */
const encodeRawV1 = (client, clock, items, ds) => {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1) // one client
  encoding.writeVarUint(e, items.length)
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, clock)
  for (const it of items) {
    const hasOrigin = it.origin !== undefined
    const hasSub = !hasOrigin && it.parentSub !== undefined
    encoding.writeUint8(e, it.ref | (hasOrigin ? 0x80 : 0) | (hasSub ? 0x20 : 0))
    if (hasOrigin) {
      encoding.writeVarUint(e, client)
      encoding.writeVarUint(e, it.origin)
    } else {
      encoding.writeVarUint(e, 1) // parent is a root type, given by name
      encoding.writeVarString(e, it.parent)
      if (hasSub) encoding.writeVarString(e, it.parentSub)
    }
    it.write(e)
  }
  // delete set
  encoding.writeVarUint(e, ds.length > 0 ? 1 : 0)
  if (ds.length > 0) {
    encoding.writeVarUint(e, client)
    encoding.writeVarUint(e, ds.length)
    for (const [c, l] of ds) { encoding.writeVarUint(e, c); encoding.writeVarUint(e, l) }
  }
  return encoding.toUint8Array(e)
}

/**
 * Two overlapping legacy updates of one client: A = [J0, J1], B = [J1 from an
 * offset, an unordered-key ContentAny, a map-entry ContentJSON] + a delete set.
 * Merging A and B slices and concatenates ContentJSON structs.
 */
const craftLegacyUpdates = (rng, client) => {
  const texts = n => Array.from({ length: n }, () => rng.pick(JSON_TEXTS))
  const jsonItem = (arr, extra) => ({
    ref: 2,
    len: arr.length,
    write: e => { encoding.writeVarUint(e, arr.length); for (const s of arr) encoding.writeVarString(e, s) },
    ...extra
  })
  const t0 = texts(rng.int(2, 5))
  const t1 = texts(rng.int(2, 5))
  const n0 = t0.length
  const k = rng.int(1, t1.length - 1) // B starts inside J1
  const j0 = jsonItem(t0, { parent: 'arr' })
  const j1 = jsonItem(t1, { origin: n0 - 1 })
  const j1Tail = jsonItem(t1.slice(k), { origin: n0 + k - 1 })
  const anyItem = {
    ref: 8,
    len: 2,
    origin: n0 + t1.length - 1,
    write: e => { encoding.writeVarUint(e, 2); writeUnorderedAnyObject(e, rng); encoding.writeAny(e, { '10': 1, '2': 2 }) }
  }
  const mapItem = jsonItem(texts(1), { parent: 'map', parentSub: 'legacy' })
  const a = encodeRawV1(client, 0, [j0, j1], [])
  const b = encodeRawV1(client, n0 + k, [j1Tail, anyItem, mapItem], [[1, Math.max(1, n0 - 1)]])
  return { a, b, n0, total: n0 + t1.length + 3 }
}

// ---------------------------------------------------------------------------
// Op emission

/**
 * Runs `opcode` on `args` with Yjs and records the op; if Yjs throws, the op
 * is skipped. Returns the result (or null).
 */
const emit = (w, caseIndex, opcode, args) => {
  let out
  try {
    out = runOp(opcode, args)
  } catch (e) {
    stats.yjsThrows++
    return null
  }
  w.record(caseIndex, opcode, args, out)
  return out
}

/**
 * A random state vector: a replica's, an edited one (clocks moved into the
 * middle of structs, clients dropped/added) or a fully random one.
 * @param {Rng} rng
 * @param {Session} s
 * @param {Uint8Array} update the update it will be diffed against (v1 or v2)
 * @param {boolean} v2
 */
const randomStateVector = (rng, s, update, v2) => {
  const kind = rng.weighted([[35, 'doc'], [35, 'edited'], [10, 'fromUpdate'], [15, 'random'], [5, 'empty']])
  if (kind === 'doc') return Y.encodeStateVector(rng.pick(s.replicas).doc)
  if (kind === 'fromUpdate') {
    try {
      return v2 ? Y.encodeStateVectorFromUpdateV2(update) : Y.encodeStateVectorFromUpdate(update)
    } catch (e) { return Y.encodeStateVector(new Map()) }
  }
  if (kind === 'empty') return Y.encodeStateVector(new Map())
  /** @type {Map<number, number>} */
  let sv
  if (kind === 'edited') {
    sv = Y.decodeStateVector(Y.encodeStateVector(rng.pick(s.replicas).doc))
    for (const [client, clock] of Array.from(sv.entries())) {
      const r = rng.next()
      if (r < 0.2) sv.delete(client)
      else if (r < 0.7) sv.set(client, rng.int(0, clock + 2)) // often lands inside a struct
    }
  } else {
    sv = new Map()
    for (const client of s.clientIDs) if (rng.bool(0.6)) sv.set(client, rng.int(0, 40))
  }
  if (rng.bool(0.2)) sv.set(rng.u32(), rng.int(0, 10)) // a client the update doesn't know
  return Y.encodeStateVector(sv)
}

/**
 * Picks `n` elements with replacement (so duplicates occur), random order.
 * @template T @param {Rng} rng @param {T[]} pool @param {number} n @returns {T[]}
 */
const sample = (rng, pool, n) => Array.from({ length: n }, () => rng.pick(pool))

/** Number of merge inputs: 10% a single one, else 2-20 skewed small. */
const mergeCount = rng => rng.bool(0.1) ? 1 : (rng.bool(0.75) ? rng.int(2, 8) : rng.int(9, 20))

/**
 * A subsequence of `list` with random elements dropped (at most 20 kept), so
 * its merge has gaps per client => Skip structs in the result.
 */
const holeySubset = (rng, list) => {
  if (list.length < 3) return null
  const start = rng.int(0, Math.max(0, list.length - 20))
  const window = list.slice(start, start + 20)
  const kept = window.filter(() => rng.bool(0.6))
  return kept.length >= 2 ? kept : null
}

/** Emits all ops of one case. */
const emitCase = (w, s, rng) => {
  const ci = s.caseIndex
  const docs = s.replicas.map(r => r.doc)

  // ---- v1 pools
  const recV1 = s.allV1
  const fullV1 = docs.map(d => Y.encodeStateAsUpdate(d))
  const partialV1 = Y.encodeStateAsUpdate(rng.pick(docs), Y.encodeStateVector(rng.pick(docs)))
  /** merges of subsets with gaps: contain Skip structs */
  const holeyV1 = []
  for (let i = 0; i < 2; i++) {
    const subset = holeySubset(rng, rng.bool() ? rng.pick(s.replicas).v1 : recV1)
    if (subset) {
      const out = emit(w, ci, OP.MERGE_V1, subset)
      if (out) holeyV1.push(out)
    }
  }
  // holey merges are listed twice: they are few but the main source of inputs with Skips
  const poolV1 = [...recV1, ...fullV1, partialV1, ...holeyV1, ...holeyV1]
  const anyV1 = () => rng.pick(poolV1)

  // 1. MERGE_V1
  const mergedV1 = []
  for (let i = 0; i < 2; i++) {
    const inputs = sample(rng, poolV1, mergeCount(rng))
    if (inputs.length > 1 && inputs.length < 20 && rng.bool(0.2)) inputs.push(rng.pick(inputs)) // explicit duplicate
    const out = emit(w, ci, OP.MERGE_V1, inputs)
    if (out) mergedV1.push(out)
  }
  const derivedV1 = [...mergedV1, ...fullV1, ...holeyV1]

  // 2. DIFF_V1: against merged / full / holey / single recorded updates
  for (let i = 0; i < 2; i++) {
    const x = rng.bool(0.8) ? rng.pick(derivedV1) : anyV1()
    emit(w, ci, OP.DIFF_V1, [x, randomStateVector(rng, s, x, false)])
  }

  // 3. SV_FROM_UPDATE_V1: merged, single recorded, holey/full
  if (mergedV1.length) emit(w, ci, OP.SV_FROM_UPDATE_V1, [rng.pick(mergedV1)])
  if (recV1.length) emit(w, ci, OP.SV_FROM_UPDATE_V1, [rng.pick(recV1)])
  emit(w, ci, OP.SV_FROM_UPDATE_V1, [holeyV1.length && rng.bool(0.7) ? rng.pick(holeyV1) : rng.pick(fullV1)])

  // 4. V1_TO_V2: merged, full-state, holey
  const convertedV2 = []
  for (const x of [mergedV1.length ? rng.pick(mergedV1) : anyV1(), rng.pick(fullV1), holeyV1.length ? rng.pick(holeyV1) : anyV1()]) {
    const out = emit(w, ci, OP.V1_TO_V2, [x])
    if (out) convertedV2.push(out)
  }

  // ---- v2 pools
  const recV2 = s.allV2
  const fullV2 = docs.map(d => Y.encodeStateAsUpdateV2(d))
  const holeyV2 = []
  {
    const subset = holeySubset(rng, rng.bool() ? rng.pick(s.replicas).v2 : recV2)
    if (subset) {
      const out = emit(w, ci, OP.MERGE_V2, subset)
      if (out) holeyV2.push(out)
    }
  }
  // converted (v1->v2) merges/holey updates add more v2 inputs with Skips
  const poolV2 = [...recV2, ...fullV2, ...holeyV2, ...convertedV2]

  // 5. V2_TO_V1: full-state v2 and recorded updateV2 events
  emit(w, ci, OP.V2_TO_V1, [rng.pick(fullV2)])
  if (recV2.length) emit(w, ci, OP.V2_TO_V1, [rng.pick(recV2)])
  if (holeyV2.length && rng.bool(0.5)) emit(w, ci, OP.V2_TO_V1, [holeyV2[0]])

  // 6. MERGE_V2 / DIFF_V2 / SV_FROM_UPDATE_V2
  const mergedV2 = []
  for (let i = 0; i < 2; i++) {
    const out = emit(w, ci, OP.MERGE_V2, sample(rng, poolV2, mergeCount(rng)))
    if (out) mergedV2.push(out)
  }
  const derivedV2 = [...mergedV2, ...fullV2, ...holeyV2]
  for (let i = 0; i < 2; i++) {
    const x = rng.bool(0.8) ? rng.pick(derivedV2) : rng.pick(poolV2)
    emit(w, ci, OP.DIFF_V2, [x, randomStateVector(rng, s, x, true)])
  }
  if (mergedV2.length) emit(w, ci, OP.SV_FROM_UPDATE_V2, [rng.pick(mergedV2)])
  emit(w, ci, OP.SV_FROM_UPDATE_V2, [rng.pick(poolV2)])

  // 7. legacy ContentJSON, once every 50 cases
  if (ci % 50 === 0) {
    stats.legacyCases++
    // a client ID distinct from the session's
    let client = rng.u32()
    while (s.clientIDs.includes(client)) client = rng.u32()
    const { a, b, n0, total } = craftLegacyUpdates(rng, client)
    const a2 = emit(w, ci, OP.V1_TO_V2, [a])
    const b2 = emit(w, ci, OP.V1_TO_V2, [b])
    emit(w, ci, OP.MERGE_V1, [a, b])
    emit(w, ci, OP.MERGE_V1, rng.shuffle([b, anyV1(), a]))
    emit(w, ci, OP.DIFF_V1, [a, Y.encodeStateVector(new Map([[client, rng.int(1, n0)]]))])
    emit(w, ci, OP.DIFF_V1, [b, Y.encodeStateVector(new Map([[client, rng.int(0, total)]]))])
    emit(w, ci, OP.SV_FROM_UPDATE_V1, [a])
    if (a2 && b2) {
      emit(w, ci, OP.MERGE_V2, [a2, b2])
      emit(w, ci, OP.V2_TO_V1, [b2])
    }
  }
}

// ---------------------------------------------------------------------------
// Main

const main = () => {
  const opts = parseArgs(process.argv.slice(2))
  const t0 = performance.now()
  const w = new CaseWriter(opts.out)
  for (let ci = opts.start; ci < opts.start + opts.count; ci++) {
    const rng = new Rng(caseSeed(opts.seed, ci))
    const s = new Session(rng, ci)
    s.run()
    emitCase(w, s, rng)
    for (const r of s.replicas) r.doc.destroy()
  }
  w.close()
  const ms = Math.round(performance.now() - t0)
  const perOp = Array.from(w.perOpcode.entries()).sort((a, b) => a[0] - b[0]).map(([k, v]) => `${OP_NAME[k]}=${v}`).join(' ')
  process.stderr.write(`ms=${ms} ${perOp} editErrors=${stats.editErrors} yjsThrows=${stats.yjsThrows} legacyCases=${stats.legacyCases}\n`)
  console.log(`cases=${opts.count} ops=${w.ops} bytes=${w.bytes}`)
}

main()
