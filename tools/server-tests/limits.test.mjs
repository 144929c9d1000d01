// Limits with their close codes (ARCHITECTURE §5): idle connections (4408), the per-connection
// rate limit (4429), the document size cap (4413); and room unloading after the last client
// left (--unload-after-ms) with a clean reload from storage.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer } from './server.mjs'
import {
  Y, hocuspocus, ywebsocket, hpSynced, hpAcked, synced, waitFor, sleep, rawHocuspocus,
  rawYWebsocket, hp, yw, parseHp
} from './clients.mjs'

const MiB = 1024 * 1024

test('idle connections are closed with 4408', { timeout: 30000 }, async (t) => {
  const IDLE = 800
  const server = await startServer(t, { args: ['--idle-timeout-ms', String(IDLE)] })
  // autoPong off: the clients answer nothing at all, not even WebSocket pings.
  const { client: a } = await rawHocuspocus(t, server, 'idle-doc', { autoPong: false })
  const b = await rawYWebsocket(t, server, 'idle-doc', { autoPong: false })
  const started = Date.now()
  const SLACK = 2000
  const results = await Promise.all([['hocuspocus', a], ['y-websocket', b]].map(async ([kind, c]) => {
    const closed = await c.waitClose(IDLE + 10000, `${kind}: the idle close`)
    return { kind, closed, after: Date.now() - started }
  }))
  for (const { kind, closed, after } of results) {
    assert.equal(closed.code, 4408, `${kind}: a silent connection is closed with 4408 (got ${JSON.stringify(closed)})`)
    assert.ok(after >= IDLE - 100, `${kind}: not closed before the idle timeout (${after} ms)`)
  }
  assert.ok(results.every((r) => r.after <= IDLE + SLACK),
    `closed within ${SLACK} ms of --idle-timeout-ms ${IDLE}: ${results.map((r) => `${r.kind} after ${r.after} ms`).join(', ')}`)
})

test('a client over the rate limit is closed with 4429; others are unaffected', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const name = 'rate-doc'
  const good = hocuspocus(t, server, name)
  await hpSynced(good)
  good.text.insert(0, 'calm')
  await hpAcked(good)

  for (const kind of ['hocuspocus', 'y-websocket']) {
    await t.test(kind, async (st) => {
      const doc = new Y.Doc()
      const updates = []
      doc.on('update', (u) => updates.push(u))
      for (let i = 0; i < 400; i++) doc.getMap('flood').set('k', i)
      let client
      if (kind === 'hocuspocus') {
        ({ client } = await rawHocuspocus(st, server, name))
        for (const u of updates) client.send(hp.update(name, u))
      } else {
        client = await rawYWebsocket(st, server, name)
        for (const u of updates) client.send(yw.update(u))
      }
      const closed = await client.waitClose(10000, '4429 after 400 updates in a burst (default: 20/s, burst 100)')
      assert.equal(closed.code, 4429, `rate-limited connection closed with 4429 (got ${JSON.stringify(closed)})`)
      assert.equal(good.configuration.websocketProvider.status, 'connected', 'the other client stays connected')
    })
  }
  good.text.insert(0, 'still ')
  await hpAcked(good)
  assert.ok(server.alive())
})

test('updates that would grow a document past its cap are refused with 4413', { timeout: 30000 }, async (t) => {
  const CAP = MiB
  const CHUNK = 300000 // ASCII characters per insert: the 4th passes the cap
  const server = await startServer(t, { args: ['--max-document-bytes', String(CAP)] })
  const name = 'big-doc'
  const { client } = await rawHocuspocus(t, server, name)
  const doc = new Y.Doc()
  doc.clientID = 31337
  let pending = null
  doc.on('update', (u) => { pending = u })
  let accepted = 0
  let i = 0
  for (; i < 10 && !client.closeInfo; i++) {
    doc.getText('text').insert(0, String.fromCharCode(97 + i).repeat(CHUNK))
    const from = client.frames.length
    client.send(hp.update(name, pending))
    const answer = await Promise.race([
      client.next((f) => parseHp(f).type === 8, { from, timeout: 10000, what: `SyncStatus for insert ${i}` }).catch((err) => err),
      client.closed
    ])
    if (answer instanceof Uint8Array && parseHp(answer).status === 1) accepted += CHUNK
    else break
  }
  const closed = await client.waitClose(10000, '4413 once the document passes the cap')
  assert.equal(closed.code, 4413, `closed with 4413 at insert ${i + 1} of ${CHUNK} bytes, cap ${CAP} (got ${JSON.stringify(closed)})`)
  assert.ok(accepted >= CAP - CHUNK && accepted <= CAP, `the inserts up to the cap were accepted (${accepted} bytes)`)

  // The refused update is not in the document, before or after a restart.
  const reader = ywebsocket(t, server, name)
  await synced(reader, 10000)
  assert.equal(reader.text.length, accepted, 'the document holds exactly the accepted inserts')
  reader.shutdown()
  await server.restart()
  const again = hocuspocus(t, server, name)
  await hpSynced(again, 10000)
  assert.equal(again.text.length, accepted, 'the stored document holds exactly the accepted inserts')
})

test('a document larger than the send queue still reaches every joiner (one shared frame)', { timeout: 30000 }, async (t) => {
  // The send queue is 256 KiB here; the document is ~600 KB, within its cap.
  const server = await startServer(t, { args: ['--send-queue-bytes', String(256 * 1024), '--rate-burst', '1000'] })
  const name = 'bigger-than-the-queue'
  const writer = hocuspocus(t, server, name)
  await hpSynced(writer)
  for (let i = 0; i < 6; i++) writer.text.insert(0, String.fromCharCode(97 + i).repeat(100000))
  await hpAcked(writer, 10000)
  const joiners = [hocuspocus(t, server, name), hocuspocus(t, server, name), ywebsocket(t, server, name)]
  await Promise.all(joiners.map((j) => synced(j, 10000)))
  for (const j of joiners) assert.equal(j.text.length, 600000, 'the whole document arrived')
  // And they keep receiving edits afterwards.
  writer.text.insert(0, 'after ')
  await waitFor(() => joiners.every((j) => j.text.toString().startsWith('after ')), { what: 'edits after the join' })
})

test('the document cap is about the document, not its history: insert + delete repeatedly', { timeout: 30000 }, async (t) => {
  // A Yjs user pastes and deletes a big block a few times: the document (Yjs GC drops
  // deleted content) stays far below the cap, but the log grows past it.
  const CAP = MiB
  const CHUNK = 300000
  const server = await startServer(t, { args: ['--max-document-bytes', String(CAP)] })
  const a = hocuspocus(t, server, 'paste-doc')
  await hpSynced(a)
  for (let i = 0; i < 8; i++) {
    a.text.insert(0, 'p'.repeat(CHUNK))
    a.text.delete(0, CHUNK)
    a.text.insert(a.text.length, `${i}`)
    await hpAcked(a, 10000).catch((err) => {
      throw new Error(`round ${i} (${(i + 1) * CHUNK} bytes pasted in total, document ${a.text.length} characters) not acknowledged; ` +
        `closes ${JSON.stringify(a.log.filter((e) => e.event === 'close'))}\n${err.message}`)
    })
  }
  assert.equal(a.text.toString(), '01234567')
  assert.ok(!a.log.some((e) => e.event === 'close'), `never closed (${JSON.stringify(a.log)})`)
})

test('a room unloads after --unload-after-ms and reloads from storage', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { args: ['--unload-after-ms', '300'] })
  const name = 'unload-doc'
  const a = hocuspocus(t, server, name)
  await hpSynced(a)
  a.text.insert(0, 'persisted')
  a.awareness.setLocalStateField('user', { name: 'gone-soon' })
  await hpAcked(a)
  assert.equal((await server.metrics()).get('quire_rooms'), 1, 'one room while a client is connected')
  const id = a.ydoc.clientID
  a.shutdown()
  await waitFor(async () => (await server.metrics()).get('quire_rooms') === 0, { timeout: 5000, what: 'quire_rooms to drop to 0 after the unload delay' })

  const b = ywebsocket(t, server, name)
  await synced(b)
  assert.equal(b.text.toString(), 'persisted', 'the reloaded room has the content')
  await sleep(200)
  assert.ok(!b.awareness.getStates().has(id), 'no stale awareness state survives the unload')
  b.text.insert(0, '>')
  const c = hocuspocus(t, server, name)
  await hpSynced(c)
  await waitFor(() => c.text.toString() === '>persisted', { what: 'an edit after the reload to reach a second client' })
})
