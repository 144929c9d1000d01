// Hocuspocus frames for the load benchmark (yjs-wire-format.md §9.2, §9.6), a raw `ws`
// connection that authenticates and syncs one document, a seeded PRNG and the shared
// monotonic clock. Used by the load workers (typing clients) and by the main thread
// (the fresh client of the convergence check).
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

export const MSG_SYNC = 0
export const MSG_AUTH = 2
export const MSG_SYNC_STATUS = 8
export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2
export const AUTH_TOKEN = 0
export const AUTH_DENIED = 1
export const AUTH_OK = 2
const PING = 9
const PONG = 10

/** Milliseconds on CLOCK_MONOTONIC: the same clock in every worker thread of the process. */
export function nowMs () { return Number(process.hrtime.bigint()) / 1e6 }

export { prng } from '../lib/prng.mjs'

function frame (doc, type, write) {
  const e = encoding.createEncoder()
  encoding.writeVarString(e, doc)
  encoding.writeVarUint(e, type)
  write(e)
  return encoding.toUint8Array(e)
}

/** `doc 02 00 varString(token)` */
export function authFrame (doc, token) {
  return frame(doc, MSG_AUTH, (e) => { encoding.writeVarUint(e, AUTH_TOKEN); encoding.writeVarString(e, token) })
}

/** `doc 00 00 varBytes(stateVector)` */
export function syncStep1Frame (doc, stateVector) {
  return frame(doc, MSG_SYNC, (e) => { encoding.writeVarUint(e, SYNC_STEP1); encoding.writeVarUint8Array(e, stateVector) })
}

/** `doc 00 02 varBytes(update)` */
export function updateFrame (doc, update) {
  return frame(doc, MSG_SYNC, (e) => { encoding.writeVarUint(e, SYNC_UPDATE); encoding.writeVarUint8Array(e, update) })
}

/**
 * Parses one server frame (a Buffer). Returns
 *   {kind: 'ping'}
 *   {kind: 'sync', doc, sub, start, end}      payload = buf[start, end)
 *   {kind: 'auth', doc, sub, reason}
 *   {kind: 'status', doc, applied}
 *   {kind: 'other', doc, type}
 * Offsets instead of copies: the receive path runs ~100,000 times a second.
 */
export function parseFrame (buf) {
  if (buf.length === 1 && buf[0] === PING) return { kind: 'ping' }
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  const d = decoding.createDecoder(bytes)
  const doc = decoding.readVarString(d)
  const type = decoding.readVarUint(d)
  if (type === MSG_SYNC) {
    const sub = decoding.readVarUint(d)
    const len = decoding.readVarUint(d)
    const start = d.pos
    if (start + len > bytes.length) throw new Error('truncated sync frame')
    return { kind: 'sync', doc, sub, start, end: start + len }
  }
  if (type === MSG_AUTH) {
    const sub = decoding.readVarUint(d)
    const reason = decoding.hasContent(d) ? decoding.readVarString(d) : ''
    return { kind: 'auth', doc, sub, reason }
  }
  if (type === MSG_SYNC_STATUS) return { kind: 'status', doc, applied: decoding.readVarUint(d) }
  return { kind: 'other', doc, type }
}

/** The answer to an application-level Ping frame. */
export const PONG_FRAME = new Uint8Array([PONG])

/**
 * (client, clock) of the first struct of a v1 update: varUint(#clients) varUint(#structs)
 * varUint(client) varUint(clock). A key for an update that does not depend on how its
 * bytes were encoded.
 */
export function firstStructId (bytes, start, end) {
  const d = decoding.createDecoder(new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start))
  const clients = decoding.readVarUint(d)
  if (clients === 0) return null
  const structs = decoding.readVarUint(d)
  if (structs === 0) return null
  const client = decoding.readVarUint(d)
  const clock = decoding.readVarUint(d)
  return `${client}:${clock}`
}

/**
 * Opens a socket to `url`, authenticates for `doc` with `token`, sends SyncStep1 with the
 * state vector of `ydoc` and waits (at most `timeoutMs`) for the server's SyncStep2, which
 * is applied to `ydoc`. Resolves with the open socket; `onFrame(buf)` then receives every
 * later frame, and `onClose(code, reason)` the close.
 */
export function connectAndSync ({ url, doc, token, ydoc, timeoutMs = 10000, onFrame, onClose }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    let synced = false
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`${doc}: not synced within ${timeoutMs} ms`))
    }, timeoutMs)
    ws.on('open', () => {
      ws.send(authFrame(doc, token))
    })
    ws.on('message', (buf) => {
      if (synced) { onFrame(buf); return }
      const f = parseFrame(buf)
      if (f.kind === 'ping') { ws.send(PONG_FRAME); return }
      if (f.kind === 'auth') {
        if (f.sub === AUTH_OK) {
          ws.send(syncStep1Frame(doc, Y.encodeStateVector(ydoc)))
        } else {
          clearTimeout(timer)
          ws.terminate()
          reject(new Error(`${doc}: authentication refused (${f.sub} ${f.reason})`))
        }
      } else if (f.kind === 'sync' && f.sub === SYNC_STEP2) {
        Y.applyUpdate(ydoc, buf.subarray(f.start, f.end), 'server')
        synced = true
        clearTimeout(timer)
        resolve(ws)
      }
      // The server's own SyncStep1 before its SyncStep2 needs no answer here: the clients
      // start empty and send everything they type as updates.
    })
    ws.on('error', (err) => {
      if (!synced) { clearTimeout(timer); reject(err) }
    })
    ws.on('close', (code, reason) => {
      if (!synced) { clearTimeout(timer); reject(new Error(`${doc}: closed before sync (${code} ${reason})`)) }
      if (onClose) onClose(code, reason.toString())
    })
  })
}
