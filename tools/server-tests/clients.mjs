// Clients for the integration tests: the real, unmodified Yjs providers (@hocuspocus/provider
// and y-websocket's WebsocketProvider) on fresh Y.Docs, a raw `ws` client that sends
// hand-built frames, frame encoders/decoders for both protocols (lib0/encoding), a bounded
// wait-until helper and a seeded PRNG. Everything created here is destroyed when the test
// that created it ends (see scopeOf in server.mjs).
import http from 'node:http'
import * as Y from 'yjs'
import WebSocket from 'ws'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { WebsocketProvider } from 'y-websocket'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { RW_TOKEN, scopeOf, sleep, withTimeout } from './server.mjs'

export { Y, WebSocket, sleep }

// ---------------------------------------------------------------------------------------
// Waiting

/**
 * Polls `cond` (sync or async) until it returns a truthy value, which is returned. Throws
 * after `timeout` ms with `what` and, when given, `detail()` describing the current state.
 */
export async function waitFor (cond, { timeout = 5000, interval = 20, what = 'condition', detail } = {}) {
  const deadline = Date.now() + timeout
  let lastError = null
  for (;;) {
    try {
      const v = await cond()
      if (v) return v
      lastError = null
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      let msg = `timed out after ${timeout} ms waiting for ${what}`
      if (detail) {
        try { msg += `\n  state: ${detail()}` } catch (err) { msg += `\n  (detail failed: ${err})` }
      }
      if (lastError) msg += `\n  last error: ${lastError.stack || lastError}`
      throw new Error(msg)
    }
    await sleep(interval)
  }
}

/** Resolves with the first emission of `event` on an EventEmitter-like object, or rejects. */
export function once (emitter, event, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms waiting for '${event}'`)), timeout)
    emitter.once(event, (...args) => { clearTimeout(timer); resolve(args) })
  })
}

// ---------------------------------------------------------------------------------------
// Seeded randomness (no Math.random in tests)

export { prng } from '../lib/prng.mjs'

export function randInt (rng, n) { return Math.floor(rng() * n) }

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzäöü€😀 '

/** One random text edit on `ytext`: mostly inserts of short words, sometimes deletes. */
export function randomTextEdit (rng, ytext, tag = '') {
  const len = ytext.length
  if (len > 4 && rng() < 0.3) {
    const pos = randInt(rng, len)
    const n = 1 + randInt(rng, Math.min(4, len - pos))
    ytext.delete(pos, n)
  } else {
    let word = tag
    const wl = 1 + randInt(rng, 6)
    for (let i = 0; i < wl; i++) word += [...ALPHABET][randInt(rng, [...ALPHABET].length)]
    ytext.insert(randInt(rng, len + 1), word)
  }
}

// ---------------------------------------------------------------------------------------
// Real providers

function once_ (fn) {
  let done = false
  return () => { if (!done) { done = true; fn() } }
}

function trackDoc (t, doc) {
  scopeOf(t).add(() => doc.destroy())
  return doc
}

/**
 * A HocuspocusProvider on `${server.wsUrl}` (the /ws endpoint) for document `name`, on a fresh
 * Y.Doc unless `doc` is given. `provider.frames` records every incoming frame (Uint8Array)
 * and `provider.log` the auth results and close events.
 */
export function hocuspocus (t, server, name, { token = RW_TOKEN, doc, url, socket, ...extra } = {}) {
  doc = doc || trackDoc(t, new Y.Doc())
  const log = []
  const frames = []
  const provider = new HocuspocusProvider({
    // With `socket` (a shared HocuspocusProviderWebsocket) documents are multiplexed on it.
    ...(socket ? { websocketProvider: socket } : { url: url || server.wsUrl }),
    name,
    token,
    document: doc,
    WebSocketPolyfill: WebSocket,
    // Reconnect quickly (defaults: 1 s doubling to 30 s) so restarts don't stall tests.
    delay: 100,
    minDelay: 100,
    maxDelay: 500,
    ...extra
  })
  // Listeners on the provider itself: callbacks passed in the configuration would also be
  // registered on the shared socket object, with different arguments.
  provider.on('authenticated', ({ scope }) => log.push({ event: 'authenticated', scope }))
  provider.on('authenticationFailed', ({ reason }) => log.push({ event: 'authenticationFailed', reason }))
  provider.on('close', ({ event }) => log.push({ event: 'close', code: event?.code, reason: event?.reason }))
  provider.on('message', ({ event }) => frames.push(new Uint8Array(event.data)))
  provider.frames = frames
  provider.log = log
  provider.ydoc = doc
  provider.text = doc.getText('text')
  provider.shutdown = once_(() => provider.destroy())
  scopeOf(t).add(provider.shutdown)
  if (socket) provider.attach()
  return provider
}

/** A HocuspocusProviderWebsocket to share between providers (pass as `socket`). */
export function hocuspocusSocket (t, server) {
  const socket = new HocuspocusProviderWebsocket({
    url: server.wsUrl,
    WebSocketPolyfill: WebSocket,
    delay: 100,
    minDelay: 100,
    maxDelay: 500
  })
  socket.closes = []
  socket.on('close', ({ event }) => socket.closes.push({ code: event?.code, reason: event?.reason }))
  scopeOf(t).add(() => socket.destroy())
  return socket
}

/** Waits for the Hocuspocus handshake (SyncStep2 received). */
export function hpSynced (provider, timeout = 5000) {
  return waitFor(() => provider.isSynced, {
    timeout,
    what: `Hocuspocus provider '${provider.configuration.name}' synced`,
    detail: () => JSON.stringify({ status: provider.configuration.websocketProvider.status, log: provider.log, frames: provider.frames.length })
  })
}

/** Waits until every update the provider sent was acknowledged (`08 01`) by the server. */
export function hpAcked (provider, timeout = 5000) {
  return waitFor(() => provider.isSynced && provider.unsyncedChanges === 0, {
    timeout,
    what: `Hocuspocus provider '${provider.configuration.name}' to have every change acknowledged`,
    detail: () => JSON.stringify({ unsyncedChanges: provider.unsyncedChanges, synced: provider.isSynced, log: provider.log })
  })
}

/**
 * A y-websocket WebsocketProvider on `${server.wsUrl}/y` for document `name` with the token
 * offered as subprotocol `quire.auth.TOKEN` beside `quire`. BroadcastChannel is disabled:
 * in Node 20 it would connect providers of one process directly, bypassing the server.
 * `provider.closes` records close events ({code, reason}).
 */
export function ywebsocket (t, server, name, { token = RW_TOKEN, doc, protocols, ...extra } = {}) {
  doc = doc || trackDoc(t, new Y.Doc())
  const provider = new WebsocketProvider(`${server.wsUrl}/y`, name, doc, {
    WebSocketPolyfill: WebSocket,
    protocols: protocols || ['quire', `quire.auth.${token}`],
    disableBc: true,
    maxBackoffTime: 500,
    ...extra
  })
  provider.closes = []
  provider.errors = []
  provider.on('connection-close', (event) => provider.closes.push(event ? { code: event.code, reason: event.reason } : null))
  provider.on('connection-error', (event) => provider.errors.push(String(event?.message || event?.error || event)))
  provider.ydoc = doc
  provider.text = doc.getText('text')
  provider.shutdown = once_(() => {
    provider.destroy()
    provider.awareness.destroy()
  })
  scopeOf(t).add(provider.shutdown)
  return provider
}

export function ySynced (provider, timeout = 5000) {
  return waitFor(() => provider.synced, {
    timeout,
    what: `y-websocket provider '${provider.roomname}' synced`,
    detail: () => JSON.stringify({ wsconnected: provider.wsconnected, closes: provider.closes, errors: provider.errors })
  })
}

/** Synced for either kind of provider. */
export function synced (provider, timeout) {
  return provider instanceof HocuspocusProvider ? hpSynced(provider, timeout) : ySynced(provider, timeout)
}

/** Makes a provider stop reconnecting and drops its socket without a close handshake. */
export function severProvider (provider) {
  if (provider instanceof HocuspocusProvider) {
    const ws = provider.configuration.websocketProvider
    ws.shouldConnect = false
    ws.webSocket?.terminate()
  } else {
    provider.shouldConnect = false
    provider.ws?.terminate()
  }
}

/** The decoded state vector of a doc as a plain object {client: clock}. */
export function stateVector (doc) {
  return Object.fromEntries([...Y.decodeStateVector(Y.encodeStateVector(doc))].sort((a, b) => a[0] - b[0]))
}

/** Waits until every doc's `text` (and state vector) equals the first one's. */
export async function converged (docs, { timeout = 10000, field = 'text' } = {}) {
  await waitFor(() => {
    const t0 = docs[0].getText(field).toString()
    const sv0 = JSON.stringify(stateVector(docs[0]))
    return docs.every((d) => d.getText(field).toString() === t0 && JSON.stringify(stateVector(d)) === sv0)
  }, {
    timeout,
    what: `${docs.length} documents to converge`,
    detail: () => docs.map((d, i) => `\n    #${i} sv=${JSON.stringify(stateVector(d))} len=${d.getText(field).length} ${JSON.stringify(d.getText(field).toString().slice(0, 60))}`).join('')
  })
  return docs[0].getText(field).toString()
}

// ---------------------------------------------------------------------------------------
// Frames

function build (fn) {
  const enc = encoding.createEncoder()
  fn(enc)
  return encoding.toUint8Array(enc)
}

/** Hocuspocus frames (spec §9.6): varString(name) • varUint(type) • payload. */
export const hp = {
  frame: (name, type, write = () => {}) => build((e) => { encoding.writeVarString(e, name); encoding.writeVarUint(e, type); write(e) }),
  auth: (name, token) => hp.frame(name, 2, (e) => { encoding.writeVarUint(e, 0); encoding.writeVarString(e, token) }),
  syncStep1: (name, sv = Uint8Array.of(0)) => hp.frame(name, 0, (e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, sv) }),
  syncStep2: (name, update) => hp.frame(name, 0, (e) => { encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, update) }),
  update: (name, update) => hp.frame(name, 0, (e) => { encoding.writeVarUint(e, 2); encoding.writeVarUint8Array(e, update) }),
  awareness: (name, au) => hp.frame(name, 1, (e) => encoding.writeVarUint8Array(e, au)),
  queryAwareness: (name) => hp.frame(name, 3),
  syncStatus: (name, applied) => hp.frame(name, 8, (e) => encoding.writeVarInt(e, applied)),
  pong: () => Uint8Array.of(10)
}

/** y-websocket frames (spec §9.5): varUint(outerType) • payload. */
export const yw = {
  syncStep1: (sv = Uint8Array.of(0)) => build((e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 0); encoding.writeVarUint8Array(e, sv) }),
  syncStep2: (update) => build((e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, update) }),
  update: (update) => build((e) => { encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 2); encoding.writeVarUint8Array(e, update) }),
  awareness: (au) => build((e) => { encoding.writeVarUint(e, 1); encoding.writeVarUint8Array(e, au) }),
  queryAwareness: () => Uint8Array.of(3)
}

/** An awareness update (spec §9.3) from explicit entries {client, clock, state}. */
export function awarenessUpdate (entries) {
  return build((e) => {
    encoding.writeVarUint(e, entries.length)
    for (const { client, clock, state } of entries) {
      encoding.writeVarUint(e, client)
      encoding.writeVarUint(e, clock)
      encoding.writeVarString(e, JSON.stringify(state))
    }
  })
}

export function parseAwarenessUpdate (bytes) {
  const d = decoding.createDecoder(bytes)
  const n = decoding.readVarUint(d)
  const out = []
  for (let i = 0; i < n; i++) {
    out.push({ client: decoding.readVarUint(d), clock: decoding.readVarUint(d), state: JSON.parse(decoding.readVarString(d)) })
  }
  return out
}

function parseSync (d, out) {
  out.sync = decoding.readVarUint(d) // 0 step1, 1 step2, 2 update
  out.payload = decoding.readVarUint8Array(d)
}

/**
 * Decodes a Hocuspocus frame sent by the server. Returns {name, type, …}; for type 0/4
 * {sync, payload}, 1 {awareness: entries}, 2 {auth: 0|1|2, reason|scope}, 8 {status}, 9 ping.
 * `error` is set when the frame does not decode.
 */
export function parseHp (bytes) {
  if (bytes.length === 1 && (bytes[0] === 9 || bytes[0] === 10)) return { type: bytes[0], ping: true }
  const out = {}
  try {
    const d = decoding.createDecoder(bytes)
    out.name = decoding.readVarString(d)
    out.type = decoding.readVarUint(d)
    switch (out.type) {
      case 0: case 4: parseSync(d, out); break
      case 1: out.awareness = parseAwarenessUpdate(decoding.readVarUint8Array(d)); break
      case 2:
        out.auth = decoding.readVarUint(d)
        if (out.auth === 1) out.reason = decoding.readVarString(d)
        if (out.auth === 2) out.scope = decoding.readVarString(d)
        break
      case 5: case 7: out.text = decoding.hasContent(d) ? decoding.readVarString(d) : ''; break
      case 8: out.status = decoding.readVarInt(d); break
    }
  } catch (err) {
    out.error = String(err)
  }
  return out
}

/** Decodes a y-websocket frame: {type, sync?, payload?, awareness?}. */
export function parseY (bytes) {
  const out = {}
  try {
    const d = decoding.createDecoder(bytes)
    out.type = decoding.readVarUint(d)
    if (out.type === 0) parseSync(d, out)
    else if (out.type === 1) out.awareness = parseAwarenessUpdate(decoding.readVarUint8Array(d))
    else if (out.type === 2) { out.auth = decoding.readVarUint(d); out.reason = decoding.readVarString(d) }
  } catch (err) {
    out.error = String(err)
  }
  return out
}

export const hex = (bytes, max = 64) => Buffer.from(bytes.subarray(0, max)).toString('hex').replace(/(..)/g, '$1 ').trim() +
  (bytes.length > max ? ` … (${bytes.length} bytes)` : '')

// ---------------------------------------------------------------------------------------
// Raw WebSocket client

/**
 * A `ws` client that records everything it receives. `frames` holds binary frames as
 * Uint8Array, `texts` text frames; `closed` resolves with {code, reason} (1006 when the
 * connection dropped without a close frame).
 */
export class RawClient {
  constructor (ws) {
    this.ws = ws
    this.frames = []
    this.texts = []
    this.closeInfo = null
    this.waiters = new Set()
    // With record = false frames are only counted (for clients that receive a lot).
    this.record = true
    this.received = { frames: 0, bytes: 0 }
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() }
        resolve(this.closeInfo)
        this.notify()
      })
    })
    ws.on('message', (data, isBinary) => {
      this.received.frames += 1
      this.received.bytes += Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength
      if (!this.record) return
      if (isBinary) {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
        this.frames.push(new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)))
      } else {
        this.texts.push(data.toString())
      }
      this.notify()
    })
    ws.on('error', (err) => { this.error = err })
  }

  notify () { for (const w of this.waiters) w() }

  /**
   * Opens a connection. Resolves with a RawClient on 101, or rejects with an error carrying
   * {status, headers, body} when the upgrade is refused.
   */
  static connect (t, url, { protocols, headers, autoPong = true, timeout = 5000 } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, { headers, autoPong, handshakeTimeout: timeout, maxPayload: 256 * 1024 * 1024 })
      const client = new RawClient(ws)
      if (t) scopeOf(t).add(() => client.terminate())
      ws.once('open', () => resolve(client))
      ws.once('unexpected-response', (req, res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c) => { body += c })
        res.on('end', () => {
          const err = new Error(`upgrade refused: HTTP ${res.statusCode} ${body}`)
          Object.assign(err, { status: res.statusCode, headers: res.headers, body })
          ws.on('error', () => {})
          req.destroy()
          reject(err)
        })
      })
      ws.once('error', (err) => reject(err))
    })
  }

  /** Like connect, but resolves {client} or {status, headers, body} instead of rejecting on refusal. */
  static async attempt (t, url, opts) {
    try {
      return { client: await RawClient.connect(t, url, opts) }
    } catch (err) {
      if (err.status) return { status: err.status, headers: err.headers, body: err.body }
      throw err
    }
  }

  send (data) { this.ws.send(data) }

  get open () { return this.ws.readyState === WebSocket.OPEN }

  /** Waits for a binary frame (received at or after index `from`) satisfying `pred`. */
  next (pred = () => true, { timeout = 5000, from = 0, what = 'a frame', parse } = {}) {
    return new Promise((resolve, reject) => {
      let i = from
      const check = () => {
        for (; i < this.frames.length; i++) {
          if (pred(this.frames[i], i)) { done(); resolve(this.frames[i]); return }
        }
        if (this.closeInfo) { done(); reject(new Error(`connection closed ${JSON.stringify(this.closeInfo)} while waiting for ${what}; got ${this.describe(parse)}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeout} ms waiting for ${what}; got ${this.describe(parse)}`)) }, timeout)
      const done = () => { clearTimeout(timer); this.waiters.delete(check) }
      this.waiters.add(check)
      check()
    })
  }

  /** Waits for the close; rejects after `timeout` ms. */
  waitClose (timeout = 5000, what = 'the server to close the connection') {
    return withTimeout(this.closed, timeout, () => {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; got ${this.describe()}`)
    })
  }

  describe (parse = parseHp) {
    const frames = this.frames.slice(-8).map((f) => `${hex(f, 24)} = ${JSON.stringify(parse(f), (k, v) => v instanceof Uint8Array ? `<${v.length} bytes>` : v)}`)
    return `${this.frames.length} frames [${frames.join('; ')}] texts=${JSON.stringify(this.texts)} close=${JSON.stringify(this.closeInfo)}`
  }

  close (code, reason) { try { this.ws.close(code, reason) } catch {} }

  terminate () { try { this.ws.terminate() } catch {} }
}

/**
 * A bare WebSocket upgrade request with `protocols` offered, without a WebSocket client's
 * own checks. Resolves {status, headers, body}; a 101 connection is destroyed at once.
 */
export function rawUpgrade (url, { protocols, headers = {} } = {}) {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      timeout: 5000,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': Buffer.from('quire-test-key-1').toString('base64'),
        ...(protocols ? { 'Sec-WebSocket-Protocol': protocols.join(', ') } : {}),
        ...headers
      }
    })
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode, headers: res.headers, body: '' }) })
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }))
    })
    req.on('timeout', () => req.destroy(new Error('upgrade request timed out')))
    req.on('error', reject)
    req.end()
  })
}

/**
 * A raw client on the Hocuspocus endpoint, authenticated for document `name` with `token`
 * (when `auth` is true). Resolves {client, authFrame} with the parsed auth answer.
 */
export async function rawHocuspocus (t, server, name, { token = RW_TOKEN, auth = true, expect = 2, ...opts } = {}) {
  const client = await RawClient.connect(t, server.wsUrl, opts)
  if (!auth) return { client }
  client.send(hp.auth(name, token))
  const frame = await client.next((f) => { const m = parseHp(f); return m.name === name && m.type === 2 && m.auth !== 0 },
    { what: `the auth answer for '${name}'` })
  const authFrame = parseHp(frame)
  if (expect !== undefined && authFrame.auth !== expect) {
    throw new Error(`expected auth subtype ${expect} for '${name}', got ${JSON.stringify(authFrame)}`)
  }
  return { client, authFrame }
}

/** A raw client on the y-websocket endpoint for document `name`. */
export function rawYWebsocket (t, server, name, { token = RW_TOKEN, protocols, ...opts } = {}) {
  return RawClient.connect(t, `${server.wsUrl}/y/${encodeURIComponent(name)}`,
    { protocols: protocols || ['quire', `quire.auth.${token}`], ...opts })
}

/** An update (v1) inserting `text` at index 0 of text 'text' from a fresh doc with `clientID`. */
export function textUpdate (text, clientID) {
  const doc = new Y.Doc()
  if (clientID !== undefined) doc.clientID = clientID
  doc.getText('text').insert(0, text)
  const u = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return u
}

/** Applies `update` to a fresh doc and returns its text 'text'. */
export function textOf (updates, field = 'text') {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  const s = doc.getText(field).toString()
  doc.destroy()
  return s
}

/**
 * The document as stored in the data dir: the latest snapshot and the log rows after it
 * (read-only sqlite3), applied to a fresh Y.Doc. Pass `name` to select one document.
 */
export function storedDoc (server, name) {
  const where = name === undefined ? '' : `where doc = '${name.replace(/'/g, "''")}'`
  const and = name === undefined ? 'where' : `${where} and`
  const doc = new Y.Doc()
  const snap = server.sql(`select upto_seq, hex(bytes) from snapshots ${where} order by upto_seq desc limit 1`)
  const upto = snap.length ? Number(snap[0][0]) : -1
  if (snap.length) Y.applyUpdate(doc, Buffer.from(snap[0][1], 'hex'))
  for (const [hexBytes] of server.sql(`select hex(bytes) from updates ${and} seq > ${upto} order by seq`)) {
    Y.applyUpdate(doc, Buffer.from(hexBytes, 'hex'))
  }
  return doc
}
