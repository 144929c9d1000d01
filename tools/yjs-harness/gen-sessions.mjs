// Seeded generator of receiver sessions for Quire's document engine.
//
//   node gen-sessions.mjs [--seed S] [--count N] [--start K] --out FILE
//
// Each session is a random multi-client editing session in the style of
// Yjs's own randomized tests: 2-6 client Y.Docs edit several root types and
// exchange their v1 updates through a lossy, reordering, duplicating network
// with disconnects and state-vector based resyncs. An extra RECEIVER doc (a
// server) never edits and never declares root types; it receives an
// interleaving of the traffic (out of order => pending structs, duplicates,
// resends, relayed and merged updates, catch-up diffs) and, in ~90% of the
// sessions, the full states of all clients at the end. We record every update
// in the order Y.applyUpdate was called on the receiver, plus what the
// receiver ends with (state, state vector, JSON view, pending flags); see
// session-file.mjs for the layout and the exact JSON definition.
//
// Determinism: everything random comes from a mulberry32 PRNG seeded per
// session from (seed, sessionIndex), so `--start K --count 1` regenerates
// session K alone. Every Y.Doc (clients, receiver, sub-documents) gets an
// explicit clientID / guid, so Yjs's own randomness never reaches any bytes.

import * as Y from 'yjs'
import {
  Rng, caseSeed, randomText, anyValue, arrayElement, OBJ_KEYS, FORMAT_ATTRS, EMBEDS, XML_NAMES, ATTR_NAMES,
  SUBDOC_OPTS, pickClientIds, collectTypes, splitPairIndices, parseGeneratorArgs
} from './sessions-lib.mjs'
import { SessionWriter, RECEIVER_CLIENT, receiverResults, stringify } from './session-file.mjs'

// ---------------------------------------------------------------------------
// Command line

const parseArgs = argv => parseGeneratorArgs(argv, {
  count: 1000,
  switches: { verbose: ['--verbose', true, false] },
  usage: 'node gen-sessions.mjs [--seed S] [--count N] [--start K] [--verbose] --out FILE'
})

/** Diagnostics printed to stderr at the end. */
const stats = { editErrors: 0, skipped: 0, incomplete: 0, completeWithPending: 0, receiverMerges: 0 }

/** Per-session seed, salted so session K does not replay gen-cases' case K. */
const sessionSeed = (seed, index) => (caseSeed(seed, index) ^ 0x53455353) >>> 0

// ---------------------------------------------------------------------------
// Pools specific to sessions

/** Root names and their kinds; a name always has the same kind. */
const ROOT_POOL = [
  ['text', 'Text'], ['map', 'Map'], ['arr', 'Array'], ['xml', 'XmlFragment'],
  ['notes', 'Text'], ['meta', 'Map'], ['list', 'Array'], ['prosemirror', 'XmlFragment']
]

/** Marks as y-prosemirror writes them on Y.XmlText: {markName: markAttrs},
 * removal = {markName: null}. */
const PM_MARKS_ADD = [
  { bold: {} }, { italic: {} }, { link: { href: 'https://quire.test/a', title: null } },
  { link: { href: '#frag', title: 'T' } }, { bold: {}, italic: {} }
]
const PM_MARKS = [...PM_MARKS_ADD, { bold: null }, { italic: null }, { link: null }, { bold: null, italic: {} }]
/** Y.Text formats: gen-cases' attribute pool plus the prosemirror marks. */
const TEXT_FORMATS = [...FORMAT_ATTRS, ...PM_MARKS]

const XML_NODE_NAMES = [...XML_NAMES, 'paragraph', 'heading', 'Blockquote']
const XML_ATTR_NAMES = [...ATTR_NAMES, 'level', 'src', 'title', 'align']

/** A deep copy of a pool value. Yjs MUTATES attribute objects passed to
 * Y.Text insert/insertEmbed (insertText adds `key: null` for every active
 * attribute not mentioned), so pool objects must never be handed out
 * directly: that would leak state from one session into the next. */
const fresh = v => structuredClone(v)

const NET = 'net' // transaction origin of updates arriving from the network
const LOCAL = 'local'

// ---------------------------------------------------------------------------
// Session

class SessionRun {
  /** @param {Rng} rng @param {number} index */
  constructor (rng, index) {
    this.rng = rng
    this.index = index
    this.subdocCounter = 0
    this.step = 0

    // roots: each base kind with p=0.8, extra names with p=0.3, at least 2
    this.roots = ROOT_POOL.filter((r, i) => rng.bool(i < 4 ? 0.8 : 0.3))
    while (this.roots.length < 2) {
      const r = rng.pick(ROOT_POOL)
      if (!this.roots.includes(r)) this.roots.push(r)
    }
    this.kinds = new Map(this.roots)
    // "format war" sessions: text edits concentrate on one nested text with
    // many (concurrent) formats, the input Yjs's formatting cleanup acts on
    this.formatWar = rng.bool(0.25)

    const n = rng.weighted([[30, 2], [30, 3], [20, 4], [12, 5], [8, 6]])
    const ids = pickClientIds(rng, n + 1).filter(id => id !== RECEIVER_CLIENT).slice(0, n)
    this.clients = ids.map((clientID, i) => {
      const doc = new Y.Doc({ guid: `session-${index}`, gc: rng.bool(0.7) })
      doc.clientID = clientID
      for (const [name, kind] of this.roots) doc[`get${kind}`](name)
      doc.on('update', (u, origin) => this.onUpdate(i, u, origin))
      return { doc, clientID, online: true, receiverLink: true }
    })
    this.R = n // recipient index of the receiver
    this.receiverGc = rng.bool(0.8)
    this.receiver = new Y.Doc({ guid: 'receiver', gc: this.receiverGc })
    this.receiver.clientID = RECEIVER_CLIENT
    /** @type {Uint8Array[]} every update applied to the receiver, in order */
    this.received = []
    /** @type {Uint8Array[][][]} queues[from][to], to === R is the receiver */
    this.queues = this.clients.map(() => Array.from({ length: n + 1 }, () => []))
    /** @type {{from: number, to: number, bytes: Uint8Array, at: number}[]} dropped messages to re-send */
    this.dropped = []
  }

  kindOf (name) { return this.kinds.get(name) }

  // ---- network

  /** update event of client i */
  onUpdate (i, u, origin) {
    const c = this.clients[i]
    if (origin === NET) {
      // a peer relaying what it just integrated (as one update) to the server
      if (c.receiverLink && this.rng.bool(0.1)) this.queues[i][this.R].push(u)
      return
    }
    // local edit, or the formatting cleanup Yjs runs after remote transactions
    for (let j = 0; j < this.clients.length; j++) {
      if (j !== i && c.online && this.clients[j].online) this.queues[i][j].push(u)
    }
    if (c.receiverLink) this.queues[i][this.R].push(u)
  }

  /** diff of a's state against b's state vector */
  diff (a, bDoc) { return Y.encodeStateAsUpdate(this.clients[a].doc, Y.encodeStateVector(bDoc)) }

  applyTo (to, bytes) {
    if (to === this.R) {
      this.received.push(bytes)
      Y.applyUpdate(this.receiver, bytes, NET)
    } else {
      Y.applyUpdate(this.clients[to].doc, bytes, NET)
    }
  }

  /** Delivers (or drops) one message of a random non-empty queue. */
  deliverOne (onlyReceiver = false) {
    const rng = this.rng
    const nonEmpty = []
    for (let f = 0; f < this.queues.length; f++) {
      for (let t = 0; t < this.queues[f].length; t++) {
        if (this.queues[f][t].length > 0 && (!onlyReceiver || t === this.R)) nonEmpty.push([f, t])
      }
    }
    if (nonEmpty.length === 0) return false
    const [from, to] = rng.pick(nonEmpty)
    const q = this.queues[from][to]
    // mostly in order, sometimes any queued message (=> pending structs)
    const pos = rng.bool(0.75) ? 0 : rng.int(0, q.length - 1)
    let bytes = q.splice(pos, 1)[0]
    if (rng.bool(0.1)) {
      this.dropped.push({ from, to, bytes, at: this.step + rng.int(2, 25) })
      return true
    }
    if (to === this.R && q.length > 0 && rng.bool(0.08)) {
      // a server batching a few queued messages into one merged update
      // (merging across gaps yields Skip structs)
      const batch = [bytes]
      const k = rng.int(1, Math.min(3, q.length))
      for (let i = 0; i < k; i++) batch.push(q.splice(rng.int(0, q.length - 1), 1)[0])
      bytes = Y.mergeUpdates(batch)
      stats.receiverMerges++
    }
    this.applyTo(to, bytes)
    if (rng.bool(0.1)) q.splice(rng.int(0, q.length), 0, bytes) // duplicate, delivered again later
    return true
  }

  /** Re-sends dropped messages that are due. */
  resend (all = false) {
    const keep = []
    for (const d of this.dropped) {
      if (all || d.at <= this.step) this.queues[d.from][d.to].push(d.bytes)
      else keep.push(d)
    }
    this.dropped = keep
  }

  /** Disconnects / reconnects / periodic resyncs, once per operation. */
  networkEvents () {
    const rng = this.rng
    const n = this.clients.length
    for (let i = 0; i < n; i++) {
      const c = this.clients[i]
      if (c.online && rng.bool(0.03)) {
        // in-flight peer messages are lost
        c.online = false
        for (let j = 0; j < n; j++) { this.queues[i][j] = []; this.queues[j][i] = [] }
      } else if (!c.online && rng.bool(0.25)) {
        // reconnect: state-vector sync with every online peer, both ways
        c.online = true
        for (let j = 0; j < n; j++) {
          if (j === i || !this.clients[j].online) continue
          this.queues[i][j].push(this.diff(i, this.clients[j].doc))
          this.queues[j][i].push(this.diff(j, c.doc))
        }
      }
      if (c.receiverLink && rng.bool(0.02)) {
        c.receiverLink = false
        this.queues[i][this.R] = []
      } else if (!c.receiverLink && rng.bool(0.25)) {
        c.receiverLink = true
        this.queues[i][this.R].push(this.diff(i, this.receiver)) // server's sync step 1 answered
      }
    }
    if (rng.bool(0.05)) {
      // periodic full sync between two online peers
      const a = rng.int(0, n - 1)
      const b = (a + rng.int(1, n - 1)) % n
      if (this.clients[a].online && this.clients[b].online) {
        this.queues[a][b].push(this.diff(a, this.clients[b].doc))
        this.queues[b][a].push(this.diff(b, this.clients[a].doc))
      }
    }
    if (rng.bool(0.05)) {
      const a = rng.int(0, n - 1)
      if (this.clients[a].receiverLink) this.queues[a][this.R].push(this.diff(a, this.receiver))
    }
  }

  run () {
    const rng = this.rng
    const nops = rng.bool(0.8) ? rng.int(10, 60) : rng.int(61, 120)
    for (let op = 0; op < nops; op++) {
      const c = rng.pick(this.clients)
      if (rng.bool(0.15)) {
        const k = rng.int(2, 5)
        c.doc.transact(() => { for (let j = 0; j < k; j++) this.edit(c.doc) }, LOCAL)
      } else {
        this.edit(c.doc)
      }
      this.networkEvents()
      const deliveries = rng.bool(0.15) ? rng.int(5, 20) : rng.int(0, 3)
      for (let d = 0; d < deliveries; d++) {
        this.step++
        this.resend()
        this.deliverOne()
      }
      this.checkClientIds()
    }

    // end: drain part of what is still on its way to the receiver
    const complete = rng.bool(0.9)
    if (!complete) {
      stats.incomplete++
      // deliver the newest message of some receiver queues first: it likely
      // depends on older ones that then never arrive (pending leftovers)
      for (let i = 0; i < this.clients.length; i++) {
        const q = this.queues[i][this.R]
        if (q.length >= 2 && rng.bool(0.7)) this.applyTo(this.R, q.pop())
      }
      // and a catch-up diff computed against a state vector with a hole
      // (clock moved past what the receiver has): everything after the hole
      // stays pending, deletes of unknown items stay in pendingDs
      for (const i of rng.shuffle(this.clients.map((_, i) => i))) {
        const { doc, clientID } = this.clients[i]
        const sv = Y.decodeStateVector(Y.encodeStateVector(this.receiver))
        const have = sv.get(clientID) || 0
        const total = Y.getState(doc.store, clientID)
        if (total - have >= 2 && rng.bool(0.6)) {
          sv.set(clientID, rng.int(have + 1, total - 1))
          this.applyTo(this.R, Y.diffUpdate(Y.encodeStateAsUpdate(doc), Y.encodeStateVector(sv)))
        }
      }
    }
    if (rng.bool(0.5)) this.resend(true)
    while (rng.bool(complete ? 0.9 : 0.7) && this.deliverOne(true)) this.step++
    if (complete) {
      for (const i of rng.shuffle(this.clients.map((_, i) => i))) {
        const doc = this.clients[i].doc
        this.applyTo(this.R, rng.bool(0.5) ? Y.encodeStateAsUpdate(doc) : this.diff(i, this.receiver))
      }
      // stale leftovers arriving after everything is known
      while (rng.bool(0.5) && this.deliverOne(true)) this.step++
      if (this.receiver.store.pendingStructs !== null || this.receiver.store.pendingDs !== null) stats.completeWithPending++
    }
    this.checkClientIds()
  }

  checkClientIds () {
    for (const c of this.clients) {
      if (c.doc.clientID !== c.clientID) throw new Error(`session ${this.index}: clientID of a client changed`)
    }
    if (this.receiver.clientID !== RECEIVER_CLIENT) throw new Error(`session ${this.index}: receiver clientID changed`)
  }

  destroy () {
    for (const c of this.clients) c.doc.destroy()
    this.receiver.destroy()
  }

  // ---- content

  newSubdoc () {
    const opts = fresh(this.rng.pick(SUBDOC_OPTS))
    return new Y.Doc({ guid: `s${this.index}-doc${this.subdocCounter++}`, ...opts })
  }

  /** Preliminary text content: a few (formatted) runs, inserted at 0 since a
   * preliminary type has no length yet. */
  fillPrelimText (t, formats) {
    const rng = this.rng
    const n = rng.int(0, 3)
    for (let i = 0; i < n; i++) t.insert(0, randomText(rng), rng.bool(0.6) ? fresh(rng.pick(formats)) : undefined)
    return t
  }

  /** A fresh shared type of a random kind (all 7 type refs); texts are often
   * formatted, since formatting on nested texts triggers Yjs's cleanup. */
  newType (depth = 0) {
    const rng = this.rng
    const kind = rng.weighted([[3, 'map'], [3, 'array'], [5, 'text'], [2, 'xmlElement'], [1, 'xmlFragment'], [1, 'xmlHook'], [2, 'xmlText']])
    const deeper = depth < 2 && rng.bool(0.3)
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
      case 'text': return this.fillPrelimText(new Y.Text(), TEXT_FORMATS)
      case 'xmlText': return this.fillPrelimText(new Y.XmlText(), PM_MARKS_ADD)
      case 'xmlHook': return this.newHook()
      case 'xmlFragment': {
        const f = new Y.XmlFragment()
        if (deeper) f.insert(0, [this.newXmlNode(depth + 1)])
        return f
      }
      default: return this.newXmlNode(depth, 'element')
    }
  }

  newHook () {
    const h = new Y.XmlHook(this.rng.pick(['hook', 'embed-hook']))
    if (this.rng.bool(0.6)) h.set('data', anyValue(this.rng))
    return h
  }

  /** Attribute values as y-prosemirror writes them: mostly strings, some
   * numbers (heading level), booleans and null. */
  xmlAttrValue () {
    const rng = this.rng
    return rng.weighted([
      [70, () => rng.bool(0.5) ? randomText(rng) : rng.pick(['left', 'center', 'https://quire.test/x.png', ''])],
      [12, () => rng.int(1, 6)], [8, () => rng.bool()], [10, () => null]
    ])()
  }

  /** A fresh XmlElement / XmlText (with marks) / XmlHook. */
  newXmlNode (depth = 0, forced = null) {
    const rng = this.rng
    const kind = forced || rng.weighted([[5, 'element'], [5, 'text'], [1, 'hook']])
    if (kind === 'text') return this.fillPrelimText(new Y.XmlText(), PM_MARKS_ADD)
    if (kind === 'hook') return this.newHook()
    const el = new Y.XmlElement(rng.pick(XML_NODE_NAMES))
    const nattrs = rng.int(0, 3)
    for (let i = 0; i < nattrs; i++) el.setAttribute(rng.pick(XML_ATTR_NAMES), this.xmlAttrValue())
    if (depth < 2 && rng.bool(0.6)) {
      const kids = [this.newXmlNode(depth + 1)]
      if (rng.bool(0.3)) kids.push(this.newXmlNode(depth + 1))
      el.insert(0, kids)
    }
    return el
  }

  /** Mostly an existing key (overwrite), sometimes a new one. */
  mapKey (m) {
    const keys = Array.from(m.keys())
    return keys.length > 0 && this.rng.bool(0.4) ? this.rng.pick(keys) : this.rng.pick(OBJ_KEYS)
  }

  /** Applies one random edit to `doc`; errors thrown by Yjs are counted and
   * ignored (the session stays deterministic either way). */
  edit (doc) {
    const rng = this.rng
    const types = collectTypes(doc)
    const texts = types.filter(t => t instanceof Y.Text && !(t instanceof Y.XmlText))
    const nestedTexts = texts.filter(t => t._item !== null)
    const xmlTexts = types.filter(t => t instanceof Y.XmlText)
    const maps = types.filter(t => t instanceof Y.Map) // includes Y.XmlHook
    const arrays = types.filter(t => t instanceof Y.Array)
    const xmls = types.filter(t => t instanceof Y.XmlFragment) // includes Y.XmlElement
    const elements = types.filter(t => t instanceof Y.XmlElement)
    const w = (list, weight) => list.length > 0 ? weight : 0
    const fw = this.formatWar ? 4 : 1
    const kind = rng.weighted([
      [w(texts, 10), 'textInsert'], [w(texts, 5), 'textInsertFmt'], [w(texts, 6), 'textDelete'],
      [w(texts, 3), 'textSurrogate'], [w(texts, fw * 6), 'textFormat'], [w(texts, fw * fw * 3), 'textFormatHead'], [w(texts, 2), 'textEmbed'],
      [w(xmlTexts, 4), 'xtInsert'], [w(xmlTexts, 2), 'xtDelete'], [w(xmlTexts, 4), 'xtFormat'],
      [w(maps, 8), 'mapSet'], [w(maps, 4), 'mapSetType'], [w(maps, 1), 'mapSetSubdoc'], [w(maps, 3), 'mapDelete'],
      [w(arrays, 6), 'arrInsert'], [w(arrays, 2), 'arrPush'], [w(arrays, 4), 'arrDelete'], [w(arrays, 3), 'arrInsertType'],
      [w(arrays, 2), 'arrDeleteType'], [w(arrays, 1), 'arrInsertSubdoc'],
      [w(xmls, 4), 'xmlInsert'], [w(elements, 3), 'xmlAttr'], [w(xmls, 2), 'xmlDelete'],
      [1, 'noop']
    ])
    // texts: nested ones 60% of the time when there are any, and then mostly
    // the first one ("hot"), so that clients format the same nested text
    // concurrently, which is what makes Yjs's formatting cleanup do work
    const pickText = () => {
      if (nestedTexts.length === 0 || rng.bool(this.formatWar ? 0.1 : 0.4)) return rng.pick(texts)
      return rng.bool(this.formatWar ? 0.9 : 0.6) ? nestedTexts[0] : rng.pick(nestedTexts)
    }
    const delRange = t => {
      const index = rng.int(0, t.length - 1)
      t.delete(index, rng.int(1, Math.min(6, t.length - index)))
    }
    try {
      switch (kind) {
        case 'textInsert': {
          const t = pickText()
          t.insert(rng.int(0, t.length), randomText(rng))
          break
        }
        case 'textInsertFmt': {
          const t = pickText()
          t.insert(rng.int(0, t.length), randomText(rng), fresh(rng.pick(TEXT_FORMATS)))
          break
        }
        case 'textDelete': {
          const t = pickText()
          if (t.length > 0) delRange(t)
          break
        }
        case 'textSurrogate': {
          // edits at an index between the two halves of a surrogate pair
          const t = pickText()
          const splits = splitPairIndices(t)
          if (splits.length === 0) {
            t.insert(rng.int(0, t.length), rng.pick(['😀', '👍🏽', '🇩🇪', '𝔘𝔫𝔦']))
            break
          }
          const at = rng.pick(splits)
          const v = rng.int(0, 3)
          if (v === 0) t.insert(at, randomText(rng), rng.bool(0.3) ? fresh(rng.pick(TEXT_FORMATS)) : undefined)
          else if (v === 1) t.delete(at, rng.int(1, Math.min(3, t.length - at)))
          else if (v === 2) t.delete(at - 1, 1)
          else t.format(at, rng.int(1, t.length - at), fresh(rng.pick(TEXT_FORMATS)))
          break
        }
        case 'textFormat': {
          const t = pickText()
          if (t.length === 0) break
          const index = rng.int(0, t.length - 1)
          t.format(index, rng.int(1, Math.min(8, t.length - index)), fresh(rng.pick(TEXT_FORMATS)))
          break
        }
        case 'textFormatHead': {
          // Yjs's full cleanup after a remote transaction only reaches the
          // formats before the first content item (see README), so concurrent
          // formats at index 0 are what a receiver actually cleans up
          const t = pickText()
          if (t.length === 0) break
          t.format(0, rng.int(1, Math.min(4, t.length)), fresh(rng.pick(rng.bool(0.7) ? FORMAT_ATTRS : TEXT_FORMATS)))
          break
        }
        case 'textEmbed': {
          const t = pickText()
          const embed = rng.bool(0.25) ? this.newType(1) : fresh(rng.pick(EMBEDS))
          t.insertEmbed(rng.int(0, t.length), embed, rng.bool(0.3) ? fresh(rng.pick(TEXT_FORMATS)) : undefined)
          break
        }
        case 'xtInsert': {
          const t = rng.pick(xmlTexts)
          t.insert(rng.int(0, t.length), randomText(rng), rng.bool(0.5) ? fresh(rng.pick(PM_MARKS_ADD)) : undefined)
          break
        }
        case 'xtDelete': {
          const t = rng.pick(xmlTexts)
          if (t.length > 0) delRange(t)
          break
        }
        case 'xtFormat': {
          const t = rng.pick(xmlTexts)
          if (t.length === 0) break
          const index = rng.int(0, t.length - 1)
          t.format(index, rng.int(1, t.length - index), fresh(rng.pick(PM_MARKS)))
          break
        }
        case 'mapSet': {
          const m = rng.pick(maps)
          m.set(this.mapKey(m), anyValue(rng))
          break
        }
        case 'mapSetType': {
          const m = rng.pick(maps)
          m.set(this.mapKey(m), this.newType())
          break
        }
        case 'mapSetSubdoc': {
          const m = rng.pick(maps)
          m.set(rng.bool(0.7) ? 'sub' : this.mapKey(m), this.newSubdoc())
          break
        }
        case 'mapDelete': {
          const m = rng.pick(maps)
          const keys = Array.from(m.keys())
          m.delete(keys.length > 0 && rng.bool(0.85) ? rng.pick(keys) : rng.pick(OBJ_KEYS))
          break
        }
        case 'arrInsert': {
          const a = rng.pick(arrays)
          const els = []
          const n = rng.int(1, 5)
          for (let i = 0; i < n; i++) els.push(arrayElement(rng))
          a.insert(rng.int(0, a.length), els)
          break
        }
        case 'arrPush': {
          rng.pick(arrays).push([arrayElement(rng), arrayElement(rng)])
          break
        }
        case 'arrDelete': {
          const a = rng.pick(arrays)
          if (a.length === 0) break
          const index = rng.int(0, a.length - 1)
          a.delete(index, rng.int(1, Math.min(4, a.length - index)))
          break
        }
        case 'arrInsertType': {
          const a = rng.pick(arrays)
          const els = [this.newType()]
          if (rng.bool(0.3)) els.push(arrayElement(rng), this.newType())
          a.insert(rng.int(0, a.length), els)
          break
        }
        case 'arrDeleteType': {
          // delete a nested type (its content becomes GC structs where gc is on)
          const a = rng.pick(arrays)
          const at = []
          a.toArray().forEach((v, i) => { if (v instanceof Y.AbstractType || v instanceof Y.Doc) at.push(i) })
          if (at.length > 0) a.delete(rng.pick(at), 1)
          break
        }
        case 'arrInsertSubdoc': {
          const a = rng.pick(arrays)
          a.insert(rng.int(0, a.length), [this.newSubdoc()])
          break
        }
        case 'xmlInsert': {
          const x = rng.pick(xmls)
          const nodes = [this.newXmlNode()]
          if (rng.bool(0.3)) nodes.push(this.newXmlNode())
          x.insert(rng.int(0, x.length), nodes)
          break
        }
        case 'xmlAttr': {
          const el = rng.pick(elements)
          const existing = Object.keys(el.getAttributes())
          if (existing.length > 0 && rng.bool(0.35)) el.removeAttribute(rng.pick(existing))
          else el.setAttribute(rng.pick(XML_ATTR_NAMES), this.xmlAttrValue())
          break
        }
        case 'xmlDelete': {
          const x = rng.pick(xmls)
          if (x.length === 0) break
          const index = rng.int(0, x.length - 1)
          x.delete(index, rng.int(1, Math.min(2, x.length - index)))
          break
        }
        default: break
      }
    } catch (e) {
      stats.editErrors++
    }
  }
}

// ---------------------------------------------------------------------------
// Main

const main = () => {
  const opts = parseArgs(process.argv.slice(2))
  const t0 = performance.now()
  // sessions must not leak state into each other through the shared pools
  const pools = () => stringify([FORMAT_ATTRS, EMBEDS, SUBDOC_OPTS, PM_MARKS, XML_NODE_NAMES, XML_ATTR_NAMES, ROOT_POOL])
  const poolsBefore = pools()
  const w = new SessionWriter(opts.out)
  for (let si = opts.start; si < opts.start + opts.count; si++) {
    const rng = new Rng(sessionSeed(opts.seed, si))
    let s = null
    try {
      s = new SessionRun(rng, si)
      s.run()
      const res = receiverResults(s.receiver, name => s.kindOf(name))
      w.record(si, res.flags, s.received, res.state, res.sv, res.json)
    } catch (e) {
      stats.skipped++
      process.stderr.write(`session ${si} skipped: ${e && e.stack}\n`)
    } finally {
      if (s) s.destroy()
    }
  }
  w.close()
  if (pools() !== poolsBefore) throw new Error('a value pool was mutated during generation (output depends on --start)')
  const ms = Math.round(performance.now() - t0)
  process.stderr.write(`ms=${ms} skipped=${stats.skipped} editErrors=${stats.editErrors} incomplete=${stats.incomplete} ` +
    `completeWithPending=${stats.completeWithPending} receiverMerges=${stats.receiverMerges}\n`)
  console.log(`sessions=${w.sessions} updates=${w.updates} bytes=${w.bytes}`)
}

main()
