// One load-generator thread of the server benchmark (load.mjs): it owns whole documents,
// i.e. every typing client of them, so that a sender and all the receivers of its update
// share one thread and one clock reading. Each client is a raw `ws` socket speaking
// Hocuspocus frames with its own Y.Doc; during a step it types one character per update
// at its own open-loop pace (timers on a fixed schedule, never waiting for answers),
// and the thread records when each update was sent, acknowledged (08 01) and received by
// every other client of its document.
//
// Limitations: one thread; what it measures includes its own event-loop delay, which it
// reports (event-loop utilisation and how late the sends left their schedule).
import { parentPort, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import * as Y from 'yjs'
import {
  nowMs, prng, parseFrame, connectAndSync, updateFrame, firstStructId, PONG_FRAME,
  SYNC_UPDATE, SYNC_STEP1, SYNC_STEP2
} from './protocol.mjs'

const { url, token, clients: clientSpecs, seed } = workerData
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz      '

// Per step, reset by startStep().
let step = null
// Updates sent and not yet received by every other client of their document:
// key (update bytes as latin1) → record; and "client:clock" → the same record.
const byBytes = new Map()
const byId = new Map()
// Run-wide observations.
const closes = []
const errors = []

class Client {
  constructor (spec) {
    this.index = spec.index
    this.docName = spec.doc
    this.ydoc = new Y.Doc()
    this.ydoc.clientID = spec.clientID
    this.text = this.ydoc.getText('t')
    this.rng = prng(seed * 7919 + spec.index + 1)
    this.cursor = null // Y.RelativePosition just after this client's last character
    this.pending = [] // received updates not yet applied (applied in one transaction)
    this.acks = [] // FIFO of records awaiting 08 01
    this.ackHead = 0
    this.peers = 0 // other clients of the document, set once all are connected
    this.ws = null
    this.timer = null
    this.nextAt = 0
    this.captured = null
    this.onUpdate = (u) => { this.captured = u }
  }

  async connect () {
    this.ws = await connectAndSync({
      url,
      doc: this.docName,
      token,
      ydoc: this.ydoc,
      onFrame: (buf) => this.onFrame(buf),
      onClose: (code, reason) => {
        closes.push({ client: this.index, doc: this.docName, code, reason, at: nowMs(), expected: !!finishing })
      }
    })
    this.ws.on('error', (err) => errors.push(`client ${this.index}: ${err.message}`))
  }

  applyPending () {
    if (this.pending.length === 0) return
    const batch = this.pending
    this.pending = []
    Y.transact(this.ydoc, () => {
      for (const u of batch) Y.applyUpdate(this.ydoc, u, 'remote')
    }, 'remote')
  }

  /** Types one character near the cursor and sends the update. */
  typeOne (scheduledAt) {
    this.applyPending()
    const len = this.text.length
    const abs = this.cursor === null ? null : Y.createAbsolutePositionFromRelativePosition(this.cursor, this.ydoc)
    let pos = abs === null ? Math.floor(this.rng() * (len + 1)) : abs.index
    if (this.rng() < 0.2) pos += Math.floor(this.rng() * 9) - 4 // the cursor moves a little
    pos = Math.max(0, Math.min(len, pos))
    const ch = ALPHABET[Math.floor(this.rng() * ALPHABET.length)]
    this.captured = null
    this.ydoc.on('update', this.onUpdate) // only around local edits: no encoding of remote ones
    this.text.insert(pos, ch)
    this.ydoc.off('update', this.onUpdate)
    this.cursor = Y.createRelativePositionFromTypeIndex(this.text, pos + 1, -1)
    const update = this.captured
    const frameBytes = updateFrame(this.docName, update)
    const t = nowMs()
    const s = step
    const inWindow = t >= s.windowStart && t < s.windowEnd
    const rec = { t, inWindow, bytes: update.length, remaining: this.peers, sender: this, id: null, key: null }
    rec.key = Buffer.from(update.buffer, update.byteOffset, update.byteLength).toString('latin1')
    rec.id = firstStructId(update, 0, update.length)
    if (rec.remaining > 0) {
      byBytes.set(rec.key, rec)
      byId.set(rec.id, rec)
    }
    this.acks.push(rec)
    this.ws.send(frameBytes)
    s.sent++
    if (inWindow) {
      s.sentInWindow++
      s.lag.push(t - scheduledAt)
    }
  }

  onFrame (buf) {
    const t = nowMs()
    let f
    try {
      f = parseFrame(buf)
    } catch (err) {
      errors.push(`client ${this.index}: unparsable frame (${err.message})`)
      return
    }
    const s = step
    if (f.kind === 'status') {
      if (this.ackHead >= this.acks.length) {
        if (s) s.extraAcks++
        return
      }
      const rec = this.acks[this.ackHead++]
      if (this.ackHead > 4096 && this.ackHead * 2 > this.acks.length) {
        this.acks = this.acks.slice(this.ackHead)
        this.ackHead = 0
      }
      if (f.applied !== 1) { s.rejected++; return }
      if (rec.inWindow) s.ackLat.push(t - rec.t)
      if (t >= s.windowStart && t < s.windowEnd) {
        s.ackedInWindow++
        s.ackedBytesInWindow += rec.bytes
      }
      return
    }
    if (f.kind === 'sync' && (f.sub === SYNC_UPDATE || f.sub === SYNC_STEP2)) {
      const update = buf.subarray(f.start, f.end)
      this.pending.push(update)
      const key = buf.toString('latin1', f.start, f.end)
      let rec = byBytes.get(key)
      if (rec !== undefined) {
        if (s) s.matchedByBytes++
      } else {
        rec = byId.get(firstStructId(buf, f.start, f.end))
        if (rec !== undefined) {
          if (s) s.matchedById++
        } else {
          if (s) s.unmatched++
          return
        }
      }
      if (rec.sender === this) { if (s) s.echoes++; return }
      if (rec.inWindow) s.bcastLat.push(t - rec.t)
      if (--rec.remaining === 0) {
        byBytes.delete(rec.key)
        byId.delete(rec.id)
      }
      return
    }
    if (f.kind === 'ping') { this.ws.send(PONG_FRAME); return }
    if (f.kind === 'sync' && f.sub === SYNC_STEP1) return // not sent after the handshake
    if (s) s.otherFrames++
  }

  outstandingAcks () { return this.acks.length - this.ackHead }
}

const clients = clientSpecs.map((spec) => new Client(spec))
let finishing = false

function startStep ({ perClientRate, startAt, windowStart, windowEnd }) {
  step = {
    windowStart,
    windowEnd,
    sent: 0,
    sentInWindow: 0,
    ackedInWindow: 0,
    ackedBytesInWindow: 0,
    rejected: 0,
    extraAcks: 0,
    matchedByBytes: 0,
    matchedById: 0,
    unmatched: 0,
    echoes: 0,
    otherFrames: 0,
    ackLat: [],
    bcastLat: [],
    lag: []
  }
  const interval = 1000 / perClientRate
  for (const c of clients) {
    // A random phase per client spreads the sends over the interval.
    c.nextAt = startAt + c.rng() * interval
    const fire = () => {
      const now = nowMs()
      // Open loop: every send that is due leaves now, however late the timer fired.
      while (c.nextAt <= now && c.nextAt < windowEnd) {
        if (c.ws.readyState !== c.ws.OPEN) return
        c.typeOne(c.nextAt)
        c.nextAt += interval
      }
      if (c.nextAt < windowEnd) c.timer = setTimeout(fire, Math.max(0, c.nextAt - nowMs()))
      else c.timer = null
    }
    c.timer = setTimeout(fire, Math.max(0, c.nextAt - nowMs()))
  }
}

function outstanding () {
  let acks = 0
  for (const c of clients) acks += c.outstandingAcks()
  return { acks, broadcasts: byBytes.size }
}

async function endStep ({ drainUntil }) {
  // Sending stops at windowEnd by itself; wait for the answers to everything sent.
  for (;;) {
    const o = outstanding()
    if ((o.acks === 0 && o.broadcasts === 0) || nowMs() >= drainUntil) break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  for (const c of clients) if (c.timer) { clearTimeout(c.timer); c.timer = null }
  const s = step
  const o = outstanding()
  const drainedAt = nowMs()
  step = { ...s, ackLat: [], bcastLat: [], lag: [], windowStart: Infinity, windowEnd: Infinity }
  const ackLat = Float64Array.from(s.ackLat)
  const bcastLat = Float64Array.from(s.bcastLat)
  const lag = Float64Array.from(s.lag)
  return {
    result: {
      sent: s.sent,
      sentInWindow: s.sentInWindow,
      ackedInWindow: s.ackedInWindow,
      ackedBytesInWindow: s.ackedBytesInWindow,
      rejected: s.rejected,
      extraAcks: s.extraAcks,
      matchedByBytes: s.matchedByBytes,
      matchedById: s.matchedById,
      unmatched: s.unmatched,
      echoes: s.echoes,
      otherFrames: s.otherFrames,
      outstandingAcks: o.acks,
      outstandingBroadcasts: o.broadcasts,
      drainedAt,
      openSockets: clients.filter((c) => c.ws.readyState === c.ws.OPEN).length,
      ackLat,
      bcastLat,
      lag
    },
    transfer: [ackLat.buffer, bcastLat.buffer, lag.buffer]
  }
}

/** Each document's texts as its clients see them, after applying everything received. */
function texts () {
  const out = {}
  for (const c of clients) {
    c.applyPending()
    ;(out[c.docName] ||= []).push({ client: c.index, text: c.text.toString() })
  }
  return out
}

let eluMark = performance.eventLoopUtilization()

parentPort.on('message', async (msg) => {
  try {
    if (msg.type === 'connect') {
      // Connect a few at a time: the server's accept loop is not what is measured here.
      for (let i = 0; i < clients.length; i += 10) {
        await Promise.all(clients.slice(i, i + 10).map((c) => c.connect()))
      }
      const perDoc = new Map()
      for (const c of clients) perDoc.set(c.docName, (perDoc.get(c.docName) || 0) + 1)
      for (const c of clients) c.peers = perDoc.get(c.docName) - 1
      parentPort.postMessage({ type: 'connected' })
    } else if (msg.type === 'step') {
      eluMark = performance.eventLoopUtilization()
      startStep(msg)
      // Event-loop utilisation over the measurement window only.
      setTimeout(() => { eluMark = performance.eventLoopUtilization() }, Math.max(0, msg.windowStart - nowMs()))
      setTimeout(async () => {
        const elu = performance.eventLoopUtilization(eluMark).utilization
        const { result, transfer } = await endStep(msg)
        result.elu = elu
        parentPort.postMessage({ type: 'stepDone', result }, transfer)
      }, Math.max(0, msg.windowEnd - nowMs()))
    } else if (msg.type === 'texts') {
      parentPort.postMessage({ type: 'texts', texts: texts() })
    } else if (msg.type === 'close') {
      finishing = true
      for (const c of clients) {
        if (c.timer) clearTimeout(c.timer)
        if (c.ws) c.ws.close(1000, 'benchmark done')
      }
      parentPort.postMessage({ type: 'closed', closes, errors })
    }
  } catch (err) {
    parentPort.postMessage({ type: 'error', error: err.stack || String(err) })
  }
})

parentPort.postMessage({ type: 'ready' })
