// Seeded generator of local-edit sessions for Quire's edit API.
//
//   node gen-edits.mjs [--seed S] [--count N] [--start K] [--no-verify] --out FILE
//
// Each session: 2-4 Yjs clients build a random BASE document on the roots
// `text` (Y.Text: formats, deletions, surrogate pairs and split pairs,
// embeds), `map` (Y.Map: every Any kind, nested types, deletions) and `xml`
// (Y.XmlFragment: paragraphs holding XmlTexts with marks), exchanging
// partial state diffs (concurrency) until they converge. An EDITOR Y.Doc
// (fixed clientID, the three roots declared, gc on) loads the base state and
// performs 5-40 local ops — Y.Text insert / delete / format, Y.Map set,
// appending a y-prosemirror paragraph — one transaction each, sometimes
// interleaved with remote updates of the base clients that kept editing
// (often concurrently with the editor's ops). For every op we record its
// JSON, the v1 update the editor emitted and the content right after it;
// see edit-file.mjs for the layout and the exact definitions.
//
// Determinism: everything random comes from a mulberry32 PRNG seeded per
// session from (seed, sessionIndex), so `--start K --count 1` regenerates
// session K alone. Every Y.Doc gets an explicit clientID.
//
// Unless --no-verify, every record is replayed from the written data alone
// (base state + op JSON into a fresh editor with the same clientID) and must
// reproduce every update byte for byte and every content string.

import * as fs from 'node:fs'
import * as Y from 'yjs'
import {
  Rng, caseSeed, randomText, anyValue, OBJ_KEYS, FORMAT_ATTRS, EMBEDS, INTS, STRINGS, MAX_SAFE, pickClientIds, splitPairIndices,
  parseGeneratorArgs
} from './sessions-lib.mjs'
import {
  EditWriter, ROOTS, CHECKER_CLIENTS, BUCKETS, opBucket, opToJson, parseOp, performOp, newDoc, contentOf, readEdits
} from './edit-file.mjs'

// ---------------------------------------------------------------------------
// Command line

const parseArgs = argv => parseGeneratorArgs(argv, {
  count: 300,
  switches: { verify: ['--no-verify', false, true] },
  usage: 'node gen-edits.mjs [--seed S] [--count N] [--start K] [--no-verify] --out FILE'
})

const stats = {
  skipped: 0,
  clientEditErrors: 0,
  baseCleanupRounds: 0, // base states that needed the probe's cleanup folded in
  emptyBase: 0,
  mergedBase: 0,
  ops: Object.fromEntries(BUCKETS.map(b => [b, 0])),
  emptyUpdates: Object.fromEntries(BUCKETS.map(b => [b, 0])),
  plainSessions: 0,
  edges: {}, // text ops by position feature
  remoteWithCleanup: 0, // remote ops after which the editor ran a formatting cleanup
  remoteVariants: {},
  editorIdsAbove32: 0
}

/** Per-session seed, salted so session K differs from the other generators'. */
const sessionSeed = (seed, index) => (caseSeed(seed, index) ^ 0x45444954) >>> 0

// ---------------------------------------------------------------------------
// Pools

const PM_MARKS_ADD = [
  { bold: {} }, { italic: {} }, { link: { href: 'https://quire.test/a', title: null } },
  { link: { href: '#frag', title: 'T' } }, { bold: {}, italic: {} }
]
const PM_MARKS = [...PM_MARKS_ADD, { bold: null }, { italic: null }, { link: null }, { bold: null, italic: {} }]
/** Y.Text formats: values true, null, objects, numbers, strings. */
const TEXT_FORMATS = [
  ...FORMAT_ATTRS, ...PM_MARKS,
  { href: 'x' }, { link: { href: 'x' } }, { size: 0 }, { size: -1.5 }, { size: 2 ** 31 }, { color: '' },
  { bold: false }, { header: 1 }, { header: 2 }, { italic: true, color: '#0f0' }, { underline: 'single' },
  { bold: true, italic: true, size: 12 }, { link: null, bold: true }, { list: [1, 'a', null] }
]
/** Embeds: plain objects and arrays (ContentEmbed). */
const TEXT_EMBEDS = EMBEDS.filter(e => typeof e === 'object')
const FRESH_KEYS = ['k0', 'k1', 'k2', 'title', 'count', 'tags', 'owner', 'v']

/** Deep copy of a pool value: Yjs mutates attribute objects it is given. */
const fresh = v => structuredClone(v)

const NET = 'net'

// ---------------------------------------------------------------------------
// Helpers

/** Positions in a Y.Text: visible length, run starts, format item and
 * deleted item positions, split points inside surrogate pairs. */
const analyze = ytext => {
  const formatAt = []
  const deletedAt = []
  let idx = 0
  for (let item = ytext._start; item !== null; item = item.right) {
    if (item.deleted) deletedAt.push(idx)
    else if (item.content instanceof Y.ContentFormat) formatAt.push(idx)
    else if (item.countable) idx += item.length
  }
  const runs = [] // {start, end, attributes}
  let pos = 0
  for (const d of ytext.toDelta()) {
    const len = typeof d.insert === 'string' ? d.insert.length : 1
    runs.push({ start: pos, end: pos + len, attributes: d.attributes || null })
    pos += len
  }
  return { len: idx, formatAt, deletedAt, runs, splits: splitPairIndices(ytext) }
}

const SURROGATE_TEXTS = ['😀', '👍🏽', '🇩🇪', '𝔘𝔫𝔦', 'a😀b', '👨‍👩‍👧']

// ---------------------------------------------------------------------------
// Session

class EditSession {
  /** @param {Rng} rng @param {number} index */
  constructor (rng, index) {
    this.rng = rng
    this.index = index
    this.localEvents = 0

    // editor: mostly a random u32, sometimes a large id < 2^53
    const editorID = rng.weighted([
      [70, () => rng.u32()], [20, () => rng.u53()], [5, () => MAX_SAFE], [5, () => 2 ** 32 + rng.int(0, 20)]
    ])()
    this.editorID = CHECKER_CLIENTS.includes(editorID) ? editorID + 2 : editorID
    if (this.editorID >= 2 ** 32) stats.editorIdsAbove32++

    const n = rng.int(2, 4)
    const taken = new Set([this.editorID, ...CHECKER_CLIENTS])
    const ids = pickClientIds(rng, n + 4).filter(id => !taken.has(id)).slice(0, n)
    // sometimes a neighbour of the editor's id (conflict order edge)
    if (rng.bool(0.15)) {
      const nb = this.editorID + (rng.bool() ? 1 : -1)
      if (nb >= 0 && nb <= MAX_SAFE && !taken.has(nb) && !ids.includes(nb)) ids[0] = nb
    }
    this.clients = ids.map(clientID => {
      const doc = new Y.Doc({ guid: 'edits', gc: rng.bool(0.7) })
      doc.clientID = clientID
      for (const [name, kind] of Object.entries(ROOTS)) doc[`get${kind}`](name)
      const c = { doc, clientID, outbox: [] }
      doc.on('update', (u, origin, d, tr) => {
        if (tr.local) { c.outbox.push(u); this.localEvents++ }
      })
      return c
    })
    this.editor = null
    this.sentRemote = []
    // "plain" sessions: the text root never gets a format (Yjs drops a
    // Y.Text's search markers for good once it holds one), so Yjs positions
    // the editor's inserts and deletes with search markers
    this.plain = rng.bool(0.2)
    if (this.plain) stats.plainSessions++
  }

  destroy () {
    for (const c of this.clients) c.doc.destroy()
    if (this.editor) this.editor.destroy()
  }

  /** diff of doc a against doc b's state vector, applied to b */
  syncInto (aDoc, bDoc) {
    Y.applyUpdate(bDoc, Y.encodeStateAsUpdate(aDoc, Y.encodeStateVector(bDoc)), NET)
  }

  // ---- base

  buildBase () {
    const rng = this.rng
    const nEdits = rng.bool(0.05) ? 0 : rng.weighted([[60, () => rng.int(3, 25)], [40, () => rng.int(26, 70)]])()
    for (let e = 0; e < nEdits; e++) {
      const c = rng.pick(this.clients)
      if (rng.bool(0.12)) c.doc.transact(() => { for (let k = rng.int(2, 4); k > 0; k--) this.clientEdit(c.doc) })
      else this.clientEdit(c.doc)
      if (rng.bool(0.3)) {
        const a = rng.pick(this.clients)
        const b = rng.pick(this.clients)
        if (a !== b) this.syncInto(a.doc, b.doc)
      }
    }
    if (!this.converge()) throw new Error('base clients did not converge')
    for (const c of this.clients) c.outbox = []

    let base
    if (nEdits === 0) {
      stats.emptyBase++
      base = Y.encodeStateAsUpdate(this.clients[0].doc)
    } else if (rng.bool(0.25)) {
      stats.mergedBase++
      base = Y.mergeUpdates(rng.shuffle(this.clients.map(c => Y.encodeStateAsUpdate(c.doc))))
    } else {
      base = Y.encodeStateAsUpdate(rng.pick(this.clients).doc)
    }

    // The base must be "clean": loading it into a doc with the roots declared
    // must not make Yjs run a formatting cleanup that changes anything (else
    // the editor would start with a local change of its own). A cleanup only
    // deletes, so its update is a pure delete set: fold it into the base.
    for (let round = 0; ; round++) {
      const probe = newDoc(this.editorID)
      const local = []
      probe.on('update', (u, o, d, tr) => { if (tr.local) local.push(u) })
      Y.applyUpdate(probe, base, NET)
      probe.destroy()
      if (local.length === 0) break
      if (round >= 3) throw new Error('base state keeps needing formatting cleanups')
      stats.baseCleanupRounds++
      base = Y.mergeUpdates([base, ...local])
      for (const c of this.clients) for (const u of local) Y.applyUpdate(c.doc, u, NET)
      if (!this.converge()) throw new Error('base clients did not converge after cleanup')
      for (const c of this.clients) c.outbox = []
      // the clients' own cleanups (if any) must be part of the base as well
      base = Y.mergeUpdates([base, Y.encodeStateAsUpdate(this.clients[0].doc)])
    }
    return base
  }

  /** Full pairwise exchange until no client makes cleanup changes and all
   * state vectors agree. */
  converge () {
    for (let round = 0; round < 8; round++) {
      const before = this.localEvents
      for (const b of this.clients) for (const a of this.clients) if (a !== b) this.syncInto(a.doc, b.doc)
      const sv = Buffer.from(Y.encodeStateVector(this.clients[0].doc)).toString('hex')
      const same = this.clients.every(c => Buffer.from(Y.encodeStateVector(c.doc)).toString('hex') === sv)
      if (same && this.localEvents === before) return true
    }
    return false
  }

  // ---- client edits (base and remote)

  /** One random edit by a base client; errors thrown by Yjs are counted and
   * ignored (deterministic either way). */
  clientEdit (doc) {
    const rng = this.rng
    const t = doc.getText('text')
    const m = doc.getMap('map')
    const x = doc.getXmlFragment('xml')
    const paras = x.toArray().filter(n => n instanceof Y.XmlElement)
    const xmlTexts = []
    for (const p of paras) for (const k of p.toArray()) if (k instanceof Y.XmlText) xmlTexts.push(k)
    const nested = []
    for (const v of m.values()) if (v instanceof Y.Text || v instanceof Y.Map || v instanceof Y.Array) nested.push(v)
    const w = (cond, weight) => cond ? weight : 0
    const fmt = this.plain ? 0 : 1
    const kind = rng.weighted([
      [10, 'textInsert'], [7 * fmt, 'textInsertFmt'], [w(t.length > 0, 6), 'textDelete'], [w(t.length > 0, 8 * fmt), 'textFormat'],
      [3, 'textSurrogate'], [2, 'textEmbed'],
      [6, 'mapSet'], [2, 'mapSetType'], [w(m.size > 0, 2), 'mapDelete'], [w(nested.length > 0, 1.5), 'nestedEdit'],
      [4, 'xmlPara'], [w(x.length > 0, 1.5), 'xmlDelete'], [w(xmlTexts.length > 0, 2), 'xtInsert'],
      [w(xmlTexts.length > 0, 1), 'xtDelete'], [w(xmlTexts.length > 0, 1.5), 'xtFormat'], [w(paras.length > 0, 1), 'xmlAttr']
    ])
    const delRange = tt => {
      const index = rng.int(0, tt.length - 1)
      tt.delete(index, rng.int(1, Math.min(rng.bool(0.8) ? 6 : 30, tt.length - index)))
    }
    try {
      switch (kind) {
        case 'textInsert': t.insert(rng.int(0, t.length), randomText(rng)); break
        case 'textInsertFmt': t.insert(rng.int(0, t.length), randomText(rng), fresh(rng.pick(TEXT_FORMATS))); break
        case 'textDelete': delRange(t); break
        case 'textFormat': {
          const index = rng.int(0, t.length - 1)
          t.format(index, rng.int(1, Math.min(rng.bool(0.7) ? 8 : 40, t.length - index)), fresh(rng.pick(TEXT_FORMATS)))
          break
        }
        case 'textSurrogate': {
          const splits = splitPairIndices(t)
          if (splits.length === 0) { t.insert(rng.int(0, t.length), rng.pick(SURROGATE_TEXTS)); break }
          const at = rng.pick(splits)
          const v = rng.int(0, this.plain ? 2 : 3)
          if (v === 0) t.insert(at, randomText(rng), rng.bool(0.3) && !this.plain ? fresh(rng.pick(TEXT_FORMATS)) : undefined)
          else if (v === 1) t.delete(at, rng.int(1, Math.min(3, t.length - at)))
          else if (v === 2) t.delete(at - 1, 1)
          else t.format(at, rng.int(1, t.length - at), fresh(rng.pick(TEXT_FORMATS)))
          break
        }
        case 'textEmbed': {
          let embed
          if (rng.bool(0.15)) { embed = new Y.Map(); embed.set('alt', randomText(rng)) } else embed = fresh(rng.pick(TEXT_EMBEDS))
          t.insertEmbed(rng.int(0, t.length), embed, rng.bool(0.4) && !this.plain ? fresh(rng.pick(TEXT_FORMATS)) : undefined)
          break
        }
        case 'mapSet': m.set(this.mapKey(m), anyValue(rng)); break
        case 'mapSetType': {
          const k = rng.int(0, 2)
          let v
          if (k === 0) { v = new Y.Text(); v.insert(0, randomText(rng), rng.bool(0.5) ? fresh(rng.pick(TEXT_FORMATS)) : undefined) } else if (k === 1) { v = new Y.Map(); v.set(rng.pick(OBJ_KEYS), anyValue(rng)) } else v = Y.Array.from([rng.pick(INTS), rng.pick(STRINGS)])
          m.set(this.mapKey(m), v)
          break
        }
        case 'mapDelete': m.delete(rng.pick(Array.from(m.keys()))); break
        case 'nestedEdit': {
          const v = rng.pick(nested)
          if (v instanceof Y.Text) {
            if (v.length > 0 && rng.bool(0.4)) delRange(v)
            else v.insert(rng.int(0, v.length), randomText(rng), rng.bool(0.4) ? fresh(rng.pick(TEXT_FORMATS)) : undefined)
          } else if (v instanceof Y.Map) v.set(rng.pick(OBJ_KEYS), anyValue(rng))
          else if (v.length > 0 && rng.bool(0.4)) v.delete(rng.int(0, v.length - 1), 1)
          else v.insert(rng.int(0, v.length), [rng.pick(INTS)])
          break
        }
        case 'xmlPara': {
          const name = rng.weighted([[8, 'paragraph'], [1, 'heading'], [1, 'blockquote']])
          const p = new Y.XmlElement(name)
          if (name === 'heading') p.setAttribute('level', rng.int(1, 3))
          if (rng.bool(0.85)) {
            const xt = new Y.XmlText()
            const runs = rng.int(1, 3)
            for (let i = 0; i < runs; i++) xt.insert(0, randomText(rng), rng.bool(0.4) ? fresh(rng.pick(PM_MARKS_ADD)) : undefined)
            p.insert(0, [xt])
          }
          x.insert(rng.int(0, x.length), [p])
          break
        }
        case 'xmlDelete': {
          const index = rng.int(0, x.length - 1)
          x.delete(index, rng.int(1, Math.min(2, x.length - index)))
          break
        }
        case 'xtInsert': {
          const xt = rng.pick(xmlTexts)
          xt.insert(rng.int(0, xt.length), randomText(rng), rng.bool(0.4) ? fresh(rng.pick(PM_MARKS_ADD)) : undefined)
          break
        }
        case 'xtDelete': {
          const xt = rng.pick(xmlTexts)
          if (xt.length > 0) delRange(xt)
          break
        }
        case 'xtFormat': {
          const xt = rng.pick(xmlTexts)
          if (xt.length === 0) break
          const index = rng.int(0, xt.length - 1)
          xt.format(index, rng.int(1, xt.length - index), fresh(rng.pick(PM_MARKS)))
          break
        }
        case 'xmlAttr': {
          const p = rng.pick(paras)
          if (rng.bool(0.3)) p.removeAttribute(rng.pick(['class', 'level', 'align']))
          else p.setAttribute(rng.pick(['class', 'align', 'data-x']), rng.pick(['left', 'center', 'x y', '']))
          break
        }
      }
    } catch (e) {
      stats.clientEditErrors++
    }
  }

  /** Remote edits that make the editor's formatting cleanup work: formats
   * near the head (Yjs's full cleanup only reaches formats before the first
   * content item), re-formats of existing runs, deletes between formats. */
  formatWarEdit (doc) {
    const rng = this.rng
    const t = doc.getText('text')
    if (t.length === 0) { t.insert(0, randomText(rng), fresh(rng.pick(TEXT_FORMATS))); return }
    const a = analyze(t)
    const v = rng.int(0, 3)
    if (v === 0) t.format(0, rng.int(1, Math.min(4, t.length)), fresh(rng.pick(TEXT_FORMATS)))
    else if (v === 1) {
      const r = rng.pick(a.runs)
      t.format(r.start, r.end - r.start, r.attributes && rng.bool(0.5) ? fresh(r.attributes) : fresh(rng.pick(TEXT_FORMATS)))
    } else if (v === 2 && a.runs.length > 1) {
      // delete the content of a whole run: its formats become adjacent
      const r = rng.pick(a.runs)
      t.delete(r.start, r.end - r.start)
    } else {
      const index = rng.int(0, t.length - 1)
      t.delete(index, rng.int(1, Math.min(3, t.length - index)))
    }
  }

  mapKey (m) {
    const rng = this.rng
    const keys = Array.from(m.keys())
    if (keys.length > 0 && rng.bool(0.4)) return rng.pick(keys)
    return rng.bool(0.7) ? rng.pick(OBJ_KEYS) : rng.pick(FRESH_KEYS)
  }

  // ---- editor ops

  /** Index in [0, len] (allowEnd) or [0, len-1], biased towards edges. */
  pickIndex (a, allowEnd) {
    const rng = this.rng
    const max = allowEnd ? a.len : a.len - 1
    if (max <= 0) return 0
    const interior = a.runs.filter(r => r.end - r.start >= 2)
    const v = rng.weighted([
      [10, () => 0],
      [allowEnd ? 8 : 3, () => max],
      [a.splits.length > 0 ? 7 : 0, () => rng.pick(a.splits)],
      [a.runs.length > 1 ? 9 : 0, () => rng.pick(a.runs).start],
      [a.runs.length > 0 ? 5 : 0, () => rng.pick(a.runs).end],
      [interior.length > 0 ? 6 : 0, () => { const r = rng.pick(interior); return rng.int(r.start + 1, r.end - 1) }],
      [a.formatAt.length > 0 ? 6 : 0, () => rng.pick(a.formatAt)],
      [a.deletedAt.length > 0 ? 7 : 0, () => rng.pick(a.deletedAt) - rng.int(0, 2)],
      [25, () => rng.int(0, max)]
    ])()
    return Math.max(0, Math.min(max, v))
  }

  /** A range length >= 1 from index (index < len). */
  pickLength (a, index) {
    const rng = this.rng
    const max = a.len - index
    const after = list => list.filter(p => p > index)
    const dels = after(a.deletedAt)
    const splits = after(a.splits)
    const ends = after(a.runs.map(r => r.end))
    const v = rng.weighted([
      [20, () => 1],
      [20, () => rng.int(1, 5)],
      [8, () => max],
      [10, () => rng.int(1, max)],
      [dels.length > 0 ? 10 : 0, () => rng.pick(dels) - index + rng.int(0, 3)], // over deleted content
      [splits.length > 0 ? 5 : 0, () => rng.pick(splits) - index], // ends inside a surrogate pair
      [ends.length > 0 ? 8 : 0, () => rng.pick(ends) - index] // up to a run boundary
    ])()
    return Math.max(1, Math.min(max, v))
  }

  insertText () {
    const rng = this.rng
    return rng.weighted([
      [70, () => randomText(rng)],
      [10, () => rng.pick(SURROGATE_TEXTS)],
      [8, () => rng.pick(['a', ' ', '\n', 'x'])],
      [10, () => { let s = ''; for (let i = rng.int(3, 8); i > 0; i--) s += randomText(rng); return s }],
      [1, () => '']
    ])()
  }

  /** attributes active at `index` as an insert there would inherit them */
  attrsAt (a, index) {
    for (const r of a.runs) if (r.start < index && index <= r.end) return r.attributes ? fresh(r.attributes) : {}
    return {}
  }

  nextLocalOp () {
    const op = this.makeLocalOp()
    if (op.root === 'text') {
      const a = this.lastAnalysis
      const e = stats.edges
      const bump = k => { e[k] = (e[k] || 0) + 1 }
      const end = op.index + (op.length || 0)
      if (op.index === 0) bump('index0')
      if (op.index === a.len) bump('atEnd')
      if (a.splits.includes(op.index)) bump('indexInsidePair')
      if (op.length && a.splits.includes(end)) bump('endInsidePair')
      if (a.runs.some(r => r.start === op.index) && op.index > 0) bump('atRunStart')
      if (a.formatAt.includes(op.index)) bump('atFormatItem')
      if (op.length && a.deletedAt.some(d => d > op.index && d < end)) bump('overDeleted')
      if (a.deletedAt.includes(op.index)) bump('nextToDeleted')
    }
    return op
  }

  makeLocalOp () {
    const rng = this.rng
    const t = this.editor.getText('text')
    const a = this.lastAnalysis = analyze(t)
    const kind = rng.weighted([
      [30, 'insert'], [a.len > 0 ? 20 : 0, 'delete'], [a.len > 0 && !this.plain ? 20 : 0, 'format'], [15, 'mapSet'], [8, 'appendParagraph']
    ])
    switch (kind) {
      case 'insert': {
        const index = this.pickIndex(a, true)
        const op = { op: 'insert', root: 'text', index, text: this.insertText() }
        const attributes = this.plain ? undefined : rng.weighted([
          [50, () => undefined],
          [30, () => fresh(rng.pick(TEXT_FORMATS))],
          [5, () => ({})],
          [7, () => this.attrsAt(a, index)], // explicitly what it would inherit anyway
          [8, () => ({ ...fresh(rng.pick(TEXT_FORMATS)), ...fresh(rng.pick(TEXT_FORMATS)) })]
        ])()
        if (attributes !== undefined) op.attributes = attributes
        return op
      }
      case 'delete': {
        const index = this.pickIndex(a, false)
        const length = rng.bool(0.01) ? 0 : this.pickLength(a, index)
        return { op: 'delete', root: 'text', index, length }
      }
      case 'format': {
        const index = this.pickIndex(a, false)
        const length = rng.bool(0.01) ? 0 : this.pickLength(a, index)
        const attributes = rng.weighted([
          [70, () => fresh(rng.pick(TEXT_FORMATS))],
          [8, () => this.attrsAt(a, index + 1)], // redundant: what the range starts with
          [10, () => { // remove what is active there
            const cur = this.attrsAt(a, index + 1)
            const o = {}
            for (const k of Object.keys(cur)) o[k] = null
            return Object.keys(o).length > 0 ? o : { bold: null }
          }],
          [10, () => ({ ...fresh(rng.pick(TEXT_FORMATS)), ...fresh(rng.pick(TEXT_FORMATS)) })],
          [2, () => ({})]
        ])()
        return { op: 'format', root: 'text', index, length, attributes }
      }
      case 'mapSet': {
        const m = this.editor.getMap('map')
        const key = this.mapKey(m)
        const cur = m.get(key)
        let value
        if (m.has(key) && !(cur instanceof Y.AbstractType) && rng.bool(0.08)) value = structuredClone(cur) // same value again
        else value = anyValue(this.rng)
        return { op: 'mapSet', root: 'map', key, value }
      }
      default:
        return { op: 'appendParagraph', root: 'xml', text: rng.bool(0.2) ? '' : this.insertText() }
    }
  }

  /** A remote update from the base clients (who may have seen some of the
   * editor's updates) — or, rarely, a duplicate of an earlier one. */
  nextRemoteOp () {
    const rng = this.rng
    const c = rng.pick(this.clients)
    if (rng.bool(0.6)) this.syncInto(this.editor, c.doc)
    for (let k = rng.int(1, 3); k > 0; k--) {
      if (!this.plain && rng.bool(0.35)) this.formatWarEdit(c.doc)
      else this.clientEdit(c.doc)
    }
    const variant = rng.weighted([
      [this.sentRemote.length > 0 ? 6 : 0, 'duplicate'], [45, 'outbox'], [15, 'first'], [20, 'diff'], [14, 'two']
    ])
    stats.remoteVariants[variant] = (stats.remoteVariants[variant] || 0) + 1
    let update
    switch (variant) {
      case 'duplicate': update = rng.pick(this.sentRemote); break
      case 'first': // only the oldest queued message of c (the rest stays queued)
        update = c.outbox.length > 0 ? c.outbox.shift() : Y.encodeStateAsUpdate(c.doc, Y.encodeStateVector(this.editor))
        break
      case 'diff': // sync step 2 answered by c
        update = Y.encodeStateAsUpdate(c.doc, Y.encodeStateVector(this.editor))
        c.outbox = []
        break
      case 'two': { // a relay batching the queues of two clients
        const d = rng.pick(this.clients)
        if (d !== c) this.clientEdit(d.doc)
        const all = [...c.outbox, ...(d !== c ? d.outbox : [])]
        c.outbox = []; d.outbox = []
        update = all.length > 0 ? Y.mergeUpdates(all) : Y.encodeStateAsUpdate(c.doc, Y.encodeStateVector(this.editor))
        break
      }
      default: {
        const all = c.outbox
        c.outbox = []
        update = all.length === 0 ? Y.encodeStateAsUpdate(c.doc, Y.encodeStateVector(this.editor)) : all.length === 1 ? all[0] : Y.mergeUpdates(all)
      }
    }
    this.sentRemote.push(update)
    return { op: 'remote', update }
  }

  /** Runs the whole session; returns the record. */
  run () {
    const rng = this.rng
    const baseState = this.buildBase()

    const editor = this.editor = newDoc(this.editorID)
    let emitted = []
    let localEmits = 0
    editor.on('update', (u, origin, d, tr) => { emitted.push(u); if (tr.local) localEmits++ })
    Y.applyUpdate(editor, baseState, NET)
    if (localEmits !== 0) throw new Error('editor made changes while loading the base state')
    if (editor.store.pendingStructs !== null || editor.store.pendingDs !== null) throw new Error('base state left pending data')

    const nLocal = rng.int(5, 40)
    const remoteRate = rng.pick([0, 0.08, 0.15, 0.3])
    const ops = []
    for (let local = 0; local < nLocal;) {
      const isRemote = rng.bool(remoteRate)
      const op = isRemote ? this.nextRemoteOp() : this.nextLocalOp()
      if (!isRemote) local++
      const json = opToJson(op)
      emitted = []
      localEmits = 0
      performOp(editor, parseOp(json), NET) // the JSON is what gets performed
      if (!isRemote && emitted.length > 1) throw new Error('a local op emitted more than one update')
      if (isRemote && localEmits > 0) stats.remoteWithCleanup++
      const update = emitted.length === 0 ? new Uint8Array(0) : emitted.length === 1 ? emitted[0] : Y.mergeUpdates(emitted)
      if (editor.clientID !== this.editorID) throw new Error('the editor\'s clientID changed')
      if (editor.store.pendingStructs !== null || editor.store.pendingDs !== null) throw new Error('editor has pending data')
      const bucket = opBucket(op)
      stats.ops[bucket]++
      if (update.length === 0) stats.emptyUpdates[bucket]++
      ops.push({ json, update, content: contentOf(editor) })
    }
    return { session: this.index, clientID: this.editorID, baseState, ops, finalState: Y.encodeStateAsUpdate(editor) }
  }
}

// ---------------------------------------------------------------------------
// Verification: a record must be reproducible from its own data

const sameBytes = (a, b) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

const verifyRecord = rec => {
  const doc = newDoc(rec.clientID)
  try {
    let emitted = []
    doc.on('update', u => emitted.push(u))
    Y.applyUpdate(doc, rec.baseState, NET)
    rec.ops.forEach((o, i) => {
      emitted = []
      performOp(doc, parseOp(o.json), NET)
      const update = emitted.length === 0 ? new Uint8Array(0) : emitted.length === 1 ? emitted[0] : Y.mergeUpdates(emitted)
      const content = Buffer.from(o.content).toString('utf8')
      if (!sameBytes(update, o.update)) throw new Error(`session ${rec.session} op ${i}: replayed update differs`)
      if (contentOf(doc) !== content) throw new Error(`session ${rec.session} op ${i}: replayed content differs`)
    })
    if (!sameBytes(Y.encodeStateAsUpdate(doc), rec.finalState)) throw new Error(`session ${rec.session}: replayed final state differs`)
  } finally {
    doc.destroy()
  }
}

// ---------------------------------------------------------------------------
// Main

const main = () => {
  const opts = parseArgs(process.argv.slice(2))
  const t0 = performance.now()
  const pools = () => JSON.stringify([FORMAT_ATTRS, EMBEDS, TEXT_FORMATS, PM_MARKS, OBJ_KEYS, INTS.map(String), STRINGS])
  const poolsBefore = pools()
  const w = new EditWriter(opts.out)
  for (let si = opts.start; si < opts.start + opts.count; si++) {
    const rng = new Rng(sessionSeed(opts.seed, si))
    let s = null
    try {
      s = new EditSession(rng, si)
      const rec = s.run()
      w.record(rec.session, rec.clientID, rec.baseState, rec.ops, rec.finalState)
    } catch (e) {
      stats.skipped++
      process.stderr.write(`session ${si} skipped: ${e && e.stack}\n`)
    } finally {
      if (s) s.destroy()
    }
  }
  w.close()
  if (pools() !== poolsBefore) throw new Error('a value pool was mutated during generation (output depends on --start)')
  const tGen = performance.now()
  if (opts.verify) {
    let n = 0
    for (const rec of readEdits(fs.readFileSync(opts.out))) {
      verifyRecord(rec)
      n++
    }
    if (n !== w.records) throw new Error(`verify: read ${n} records, wrote ${w.records}`)
  }
  const tEnd = performance.now()
  const kinds = BUCKETS.map(b => `${b}=${stats.ops[b]}${stats.emptyUpdates[b] ? `(${stats.emptyUpdates[b]} empty)` : ''}`).join(' ')
  process.stderr.write(`gen ms=${Math.round(tGen - t0)}${opts.verify ? ` verify ms=${Math.round(tEnd - tGen)}` : ''} skipped=${stats.skipped} ` +
    `clientEditErrors=${stats.clientEditErrors} emptyBase=${stats.emptyBase} mergedBase=${stats.mergedBase} ` +
    `baseCleanupRounds=${stats.baseCleanupRounds} editorIds>=2^32=${stats.editorIdsAbove32} plainSessions=${stats.plainSessions}\n` +
    `ops: ${kinds}\n` +
    `text op positions: ${JSON.stringify(stats.edges)}\n` +
    `remote: variants=${JSON.stringify(stats.remoteVariants)} withEditorCleanup=${stats.remoteWithCleanup}\n`)
  console.log(`sessions=${w.records} ops=${w.ops} bytes=${w.bytes}`)
}

main()
