// Shared definition of the receiver-session file format (writer + reader) and
// of the "expected results" computation, used by gen-sessions.mjs (to record)
// and check-sessions.mjs (to re-verify), so both agree on every detail.
//
// The file is a flat sequence of session records, no header; all integers are
// u32 little-endian:
//
//   record := u32 sessionIndex, u32 flags, u32 nupdates, blob{nupdates},
//             blob state, blob sv, blob json
//   blob   := u32 byteLength, bytes
//   flags  := bit0 receiver gc disabled, bit1 pending structs remain,
//             bit2 pending delete set remains
//
// updates: every v1 update, in the order Y.applyUpdate was called on the
// receiver. state / sv: Y.encodeStateAsUpdate / Y.encodeStateVector of the
// receiver afterwards. json: see expectedJson below.

import * as Y from 'yjs'
import { yXmlFragmentToProsemirrorJSON } from 'y-prosemirror'
import { RecordWriter, recordReader } from './record-io.mjs'

export const FLAG_GC_DISABLED = 1
export const FLAG_PENDING_STRUCTS = 2
export const FLAG_PENDING_DS = 4

/** clientID of the receiver and of the JSON doc. No session client uses it;
 * since neither doc ever creates a struct, it never reaches any bytes. */
export const RECEIVER_CLIENT = 4242424242

/** Root kind name -> the Y.Doc getter that declares it. */
export const ROOT_GETTERS = Object.freeze({
  Text: (doc, name) => doc.getText(name),
  Map: (doc, name) => doc.getMap(name),
  Array: (doc, name) => doc.getArray(name),
  XmlFragment: (doc, name) => doc.getXmlFragment(name)
})

/** A fresh receiver: never declares root types, never edits. */
export const newReceiver = gc => {
  const doc = new Y.Doc({ guid: 'receiver', gc })
  doc.clientID = RECEIVER_CLIENT
  return doc
}

// JSON.stringify throws on BigInt; we write a BigInt as a bare JSON integer
// (its decimal digits), which is what an int64-aware JSON writer produces.
// Implementation: the replacer turns it into a marker string that is then
// unquoted. No generated string contains the marker.
const BIGINT_MARK = /"@@bigint\((-?\d+)\)@@"/g
const replacer = (key, value) => typeof value === 'bigint' ? `@@bigint(${value.toString()})@@` : value
export const stringify = v => JSON.stringify(v, replacer).replace(BIGINT_MARK, '$1')

/**
 * The `json` blob:
 *   JSON.stringify({ kinds: {root: kind}, json: {root: root.toJSON()},
 *                    delta: {root: text.toDelta()} (Text roots only),
 *                    prosemirror: {root: yXmlFragmentToProsemirrorJSON(root)}
 *                      (XmlFragment roots only; null where it or JSON.stringify throws),
 *                    pending: {structs: bool, ds: bool} })
 * computed on a fresh doc (gc as the receiver's, clientID RECEIVER_CLIENT)
 * that first applies `state` and THEN declares every root with its kind.
 * Roots are listed in JS default sort order of their names; only roots the
 * receiver's share map contains are listed. `pending` describes the
 * receiver's own store.
 * @param {Uint8Array} state
 * @param {string[]} rootNames keys of receiver.share
 * @param {(name: string) => string} kindOf root name -> 'Text' | 'Map' | 'Array' | 'XmlFragment'
 * @param {{structs: boolean, ds: boolean}} pending
 * @param {boolean} gc
 * @returns {string}
 */
export const expectedJson = (state, rootNames, kindOf, pending, gc) => {
  const doc = new Y.Doc({ guid: 'json', gc })
  doc.clientID = RECEIVER_CLIENT
  try {
    Y.applyUpdate(doc, state)
    const names = [...rootNames].sort()
    const kinds = {}
    const types = {}
    for (const name of names) {
      const kind = kindOf(name)
      if (!ROOT_GETTERS[kind]) throw new Error(`unknown root kind ${kind} for ${name}`)
      kinds[name] = kind
      types[name] = ROOT_GETTERS[kind](doc, name)
    }
    const json = {}
    const delta = {}
    for (const name of names) json[name] = types[name].toJSON()
    for (const name of names) if (kinds[name] === 'Text') delta[name] = types[name].toDelta()
    const prosemirror = {}
    for (const name of names) {
      if (kinds[name] !== 'XmlFragment') continue
      try {
        prosemirror[name] = JSON.parse(stringify(yXmlFragmentToProsemirrorJSON(types[name])))
      } catch {
        prosemirror[name] = null
      }
    }
    return stringify({ kinds, json, delta, prosemirror, pending })
  } finally {
    doc.destroy()
  }
}

/**
 * state, sv, json and flags of a receiver doc.
 * @param {Y.Doc} receiver
 * @param {(name: string) => string} kindOf
 */
export const receiverResults = (receiver, kindOf) => {
  const state = Y.encodeStateAsUpdate(receiver)
  const sv = Y.encodeStateVector(receiver)
  const pending = { structs: receiver.store.pendingStructs !== null, ds: receiver.store.pendingDs !== null }
  const json = expectedJson(state, Array.from(receiver.share.keys()), kindOf, pending, receiver.gc)
  const flags = (receiver.gc ? 0 : FLAG_GC_DISABLED) | (pending.structs ? FLAG_PENDING_STRUCTS : 0) | (pending.ds ? FLAG_PENDING_DS : 0)
  return { state, sv, json: Buffer.from(json, 'utf8'), flags }
}

/** Buffered, append-only writer of session records. */
export class SessionWriter extends RecordWriter {
  /** @param {string} path */
  constructor (path) {
    super(path)
    this.sessions = 0
    this.updates = 0
  }

  /**
   * @param {number} sessionIndex
   * @param {number} flags
   * @param {Uint8Array[]} updates
   * @param {Uint8Array} state
   * @param {Uint8Array} sv
   * @param {Uint8Array} json
   */
  record (sessionIndex, flags, updates, state, sv, json) {
    this.u32(sessionIndex)
    this.u32(flags)
    this.u32(updates.length)
    for (const u of updates) this.blob(u)
    this.blob(state)
    this.blob(sv)
    this.blob(json)
    this.sessions++
    this.updates += updates.length
    this.maybeFlush()
  }
}

/**
 * Iterates the records of a session file held in memory (zero-copy blobs).
 * @param {Uint8Array} buf
 * @returns {Generator<{ sessionIndex: number, flags: number, updates: Uint8Array[], state: Uint8Array, sv: Uint8Array, json: Uint8Array }>}
 */
export function * readSessions (buf) {
  const { u32, blob, atEnd } = recordReader(buf, 'session')
  while (!atEnd()) {
    const sessionIndex = u32()
    const flags = u32()
    const n = u32()
    const updates = []
    for (let i = 0; i < n; i++) updates.push(blob())
    const state = blob()
    const sv = blob()
    const json = blob()
    yield { sessionIndex, flags, updates, state, sv, json }
  }
}
