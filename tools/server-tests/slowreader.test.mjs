// Bounded memory under pressure. A client that stops reading must not make the server buffer
// without bound: once its send queue passes --send-queue-bytes it is disconnected (1013), and
// the server's memory stays within a fixed budget while far more than that passes through the
// room. Likewise a client that sends faster than the server applies and stores must be slowed
// down (TCP backpressure), not buffered.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer } from './server.mjs'
import { Y, hocuspocus, hpSynced, hpAcked, waitFor, rawHocuspocus, hp, parseHp } from './clients.mjs'

const MiB = 1024 * 1024
const SEND_QUEUE = 8 * MiB
const MAX_MESSAGE = 4 * MiB
const CHUNK = 3000000 // characters per insert (ASCII: ~3 MB per update)
const INSERTS = 30 // 90 MB through the room: more than queue + kernel buffers + the RSS budget
const RSS_BUDGET = 64 * MiB
// Under AddressSanitizer (the asan-ubsan CTest run sets QUIRE_TEST_SANITIZED) freed memory sits
// in ASan's quarantine and every block carries redzones, so RSS says nothing about what the
// server holds: the behaviour is still checked there, the memory budget only in plain builds.
const CHECK_RSS = !process.env.QUIRE_TEST_SANITIZED
const CLOSE_WITHIN = 20000 // ms for a server-side close to take effect on a peer that does not read
const ARGS = [
  '--send-queue-bytes', String(SEND_QUEUE),
  '--max-message-bytes', String(MAX_MESSAGE),
  // The document stays small (each chunk is deleted again); the size cap has its own test.
  '--max-document-bytes', String(1024 * MiB)
]

/** A writer on `name` with its own doc: each step inserts a big chunk and deletes it again. */
async function writer (t, server, name) {
  const { client } = await rawHocuspocus(t, server, name)
  client.record = false // it reads everything but keeps nothing
  const doc = new Y.Doc()
  doc.clientID = 909090
  const text = doc.getText('text')
  let pending = null
  doc.on('update', (u) => { pending = u })
  const chunk = 'q'.repeat(CHUNK)
  const frames = function * () {
    for (let i = 0; i < INSERTS; i++) {
      text.insert(0, chunk)
      yield hp.update(name, pending)
      text.delete(0, CHUNK)
      yield hp.update(name, pending)
    }
  }
  const send = (frame) => new Promise((resolve, reject) => client.ws.send(frame, (err) => err ? reject(err) : resolve()))
  return { client, frames, send }
}

const mib = (n) => `${(n / MiB).toFixed(1)} MiB`

test('a client that stops reading is disconnected and memory stays bounded', { timeout: 60000 }, async (t) => {
  const server = await startServer(t, { args: ARGS })
  const name = 'slow-doc'

  const { client: slow } = await rawHocuspocus(t, server, name)
  slow.send(hp.syncStep1(name))
  await slow.next((f) => { const m = parseHp(f); return m.type === 0 && m.sync === 1 }, { what: 'SyncStep2' })
  const w = await writer(t, server, name)
  // Acknowledgements come back to the writer; it waits for each before sending the next, so
  // only the paused client's queue can grow.
  w.client.record = true
  const connectionsBefore = (await server.metrics()).get('quire_connections')
  assert.ok(connectionsBefore >= 2, `quire_connections counts both sockets (got ${connectionsBefore})`)
  const base = server.memory()

  slow.ws._socket.pause()

  let sentBytes = 0
  let peakRss = base.rss
  for (const frame of w.frames()) {
    const from = w.client.frames.length
    await w.send(frame)
    const ack = parseHp(await w.client.next((f) => parseHp(f).type === 8, { from, timeout: 10000, what: 'the SyncStatus for a big update' }))
    assert.equal(ack.status, 1, 'the writer\'s update is applied')
    w.client.frames.length = 0
    sentBytes += frame.length
    peakRss = Math.max(peakRss, server.memory().rss)
  }
  assert.equal(w.client.closeInfo, null, `the writer (reading normally) stays connected; closed ${JSON.stringify(w.client.closeInfo)}`)
  assert.ok(sentBytes > SEND_QUEUE + RSS_BUDGET, 'the test pushed more than the queue plus the budget')

  // Server side: the paused connection is gone. Its close frame cannot get through, so the
  // server must drop the TCP connection after a bounded close timeout.
  await waitFor(async () => (await server.metrics()).get('quire_connections') === connectionsBefore - 1, {
    timeout: CLOSE_WITHIN,
    what: 'quire_connections to drop by one (the paused client disconnected)',
    detail: () => `before ${connectionsBefore}`
  })

  const mem = server.memory()
  peakRss = Math.max(peakRss, mem.rss)
  const growth = mem.hwm - base.rss
  assert.ok(!CHECK_RSS || growth < RSS_BUDGET,
    `server peak RSS grew by ${mib(growth)} (start ${mib(base.rss)}, VmHWM ${mib(mem.hwm)}, highest sampled RSS ${mib(peakRss)}), budget ${mib(RSS_BUDGET)}`)

  // Client side: after resuming, the paused client reads what was buffered, then the close.
  // A server may have to drop the TCP connection of a peer that does not read (no close frame
  // can get through then: 1006); when a close frame does arrive it must say 1013.
  slow.record = false
  slow.ws._socket.resume()
  const closed = await slow.waitClose(15000)
  assert.ok(closed.code === 1013 || closed.code === 1006,
    `the slow reader is closed with 1013 (or dropped, 1006); got ${JSON.stringify(closed)} after ${slow.received.frames} frames`)
  assert.ok(slow.received.bytes < sentBytes,
    `the server dropped what the slow reader could not take (it received ${slow.received.bytes} of ${sentBytes} bytes)`)

  // The room still works.
  const a = hocuspocus(t, server, name)
  await hpSynced(a, 10000)
  assert.equal(a.text.toString(), '', 'inserted-then-deleted content is gone')
  a.text.insert(0, 'still works')
  await hpAcked(a)
  assert.ok(server.alive())
})

test('a client sending faster than the server stores is slowed down, not buffered', { timeout: 60000 }, async (t) => {
  const server = await startServer(t, { args: ARGS })
  const name = 'flood-doc'
  const w = await writer(t, server, name)
  const observer = hocuspocus(t, server, name)
  await hpSynced(observer)
  const base = server.memory()

  // No waiting for acknowledgements: the writer sends as fast as the socket takes it.
  let sentBytes = 0
  let sentFrames = 0
  let peakRss = base.rss
  for (const frame of w.frames()) {
    await w.send(frame)
    sentBytes += frame.length
    sentFrames += 1
    peakRss = Math.max(peakRss, server.memory().rss)
  }
  w.client.record = true
  // Everything is applied in the end: the observer sees the writer's last delete.
  const writerClock = () => Y.decodeStateVector(Y.encodeStateVector(observer.ydoc)).get(909090) || 0
  await waitFor(() => writerClock() === INSERTS * CHUNK && observer.text.length === 0, {
    timeout: 30000, what: 'the observer to receive every update', detail: () => `observer text length ${observer.text.length}`
  })
  assert.equal(w.client.closeInfo, null, `the writer stays connected; closed ${JSON.stringify(w.client.closeInfo)}`)
  const mem = server.memory()
  const growth = mem.hwm - base.rss
  assert.ok(!CHECK_RSS || growth < RSS_BUDGET,
    `server peak RSS grew by ${mib(growth)} while ${mib(sentBytes)} in ${sentFrames} messages arrived unpaced ` +
    `(start ${mib(base.rss)}, VmHWM ${mib(mem.hwm)}, highest sampled RSS ${mib(peakRss)}), budget ${mib(RSS_BUDGET)}`)
  observer.text.insert(0, 'ok')
  await hpAcked(observer)
})
