// Bad frames from an authenticated read-write connection, on both endpoints: each closes that
// connection with the documented code, never disturbs the other clients of the document,
// never reaches storage, and never takes the process down.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer } from './server.mjs'
import {
  Y, hocuspocus, ywebsocket, hpSynced, hpAcked, ySynced, waitFor, rawHocuspocus, rawYWebsocket,
  hp, yw, parseHp, parseY, textUpdate, stateVector, hex
} from './clients.mjs'

const MAX_MESSAGE = 65536
const name = 'bad-doc'

const valid = textUpdate('hello world', 4242)
const garbage = {
  // A real update cut in half: Yjs throws "Unexpected end of array".
  truncatedUpdate: valid.subarray(0, Math.floor(valid.length / 2)),
  // One struct whose content ref is 12 (refs 0–10 exist).
  unknownContentRef: Uint8Array.of(1, 1, 0x92, 0x21, 0, 0x0c, 1, 4, 0x74, 0x65, 0x78, 0x74, 0),
  // A varint longer than 53 bits.
  overlongVarint: new Uint8Array(11).fill(0xff)
}

const bytes = (...parts) => Uint8Array.from(parts.flatMap((p) => typeof p === 'number' ? [p] : [...p]))
const nameBytes = bytes(name.length, new TextEncoder().encode(name))
const bigUpdate = textUpdate('x'.repeat(MAX_MESSAGE + 1000), 4343)

// [case name, frame (Uint8Array or string for a text frame), expected close code]
const hocuspocusCases = [
  ['truncated varint (document name length)', bytes(0x85), 4400],
  ['truncated varint (sync payload length)', bytes(nameBytes, 0, 2, 0x80), 4400],
  ['payload shorter than its length', bytes(nameBytes, 0, 2, 10, 1, 2, 3), 4400],
  ['unknown message type', hp.frame(name, 63), 4400],
  ['unknown sync message type', bytes(nameBytes, 0, 7, 1, 0), 4400],
  ['garbage update: truncated', hp.update(name, garbage.truncatedUpdate), 4400],
  ['garbage update: unknown content ref', hp.update(name, garbage.unknownContentRef), 4400],
  ['garbage update: overlong varint', hp.update(name, garbage.overlongVarint), 4400],
  ['garbage SyncStep2', hp.syncStep2(name, garbage.truncatedUpdate), 4400],
  ['text frame', 'hello', 1003],
  ['oversized frame', hp.update(name, bigUpdate), 1009]
]
const yWebsocketCases = [
  ['truncated varint (message type)', bytes(0x80), 4400],
  ['truncated varint (sync payload length)', bytes(0, 2, 0x80), 4400],
  ['payload shorter than its length', bytes(0, 2, 10, 1, 2, 3), 4400],
  ['unknown message type', bytes(63), 4400],
  ['unknown sync message type', bytes(0, 7, 1, 0), 4400],
  ['garbage update: truncated', yw.update(garbage.truncatedUpdate), 4400],
  ['garbage update: unknown content ref', yw.update(garbage.unknownContentRef), 4400],
  ['garbage update: overlong varint', yw.update(garbage.overlongVarint), 4400],
  ['garbage SyncStep2', yw.syncStep2(garbage.truncatedUpdate), 4400],
  ['text frame', 'hello', 1003],
  ['oversized frame', yw.update(bigUpdate), 1009]
]

test('bad frames close only the sender, with the right code', { timeout: 90000 }, async (t) => {
  // The garbage really is garbage for Yjs.
  for (const [k, u] of Object.entries(garbage)) {
    assert.throws(() => Y.applyUpdate(new Y.Doc(), u), `precondition: Yjs rejects ${k}`)
  }
  assert.ok(hp.update(name, bigUpdate).length > MAX_MESSAGE && yw.update(bigUpdate).length > MAX_MESSAGE)

  const server = await startServer(t, { args: ['--max-message-bytes', String(MAX_MESSAGE)] })
  const a = hocuspocus(t, server, name)
  const b = ywebsocket(t, server, name)
  await Promise.all([hpSynced(a), ySynced(b)])
  a.text.insert(0, 'keep me')
  await hpAcked(a)
  await waitFor(() => b.text.toString() === 'keep me', { what: 'the y-websocket client to see the first edit' })
  const rowsBefore = server.sqlNumber('select count(*) from updates')
  assert.ok(rowsBefore >= 1, 'the acknowledged edit is in the updates table')
  let edits = 0

  const checkOthers = async (label) => {
    assert.ok(server.alive(), `${label}: the server process is alive`)
    assert.equal(a.configuration.websocketProvider.status, 'connected', `${label}: the Hocuspocus client is still connected`)
    assert.ok(b.wsconnected, `${label}: the y-websocket client is still connected`)
    assert.equal(a.text.toString(), b.text.toString(), `${label}: both clients agree`)
    assert.ok(a.text.toString().endsWith('keep me'), `${label}: content unchanged`)
  }

  const run = async (endpoint, [caseName, frame, code]) => {
    await t.test(`${endpoint}: ${caseName} → ${code}`, { timeout: 15000 }, async (st) => {
      let client
      if (endpoint === 'hocuspocus') {
        ({ client } = await rawHocuspocus(st, server, name))
        client.send(hp.syncStep1(name))
        await client.next((f) => { const m = parseHp(f); return m.type === 0 && m.sync === 1 }, { what: 'SyncStep2' })
      } else {
        client = await rawYWebsocket(st, server, name)
        client.send(yw.syncStep1())
        await client.next((f) => { const m = parseY(f); return m.type === 0 && m.sync === 1 }, { what: 'SyncStep2', parse: parseY })
      }
      client.send(frame)
      const closed = await client.waitClose(5000, `close ${code} after ${typeof frame === 'string' ? 'a text frame' : hex(frame, 16)}`)
      assert.equal(closed.code, code, `close code for "${caseName}" (frame ${typeof frame === 'string' ? JSON.stringify(frame) : hex(frame, 16)}); reason ${JSON.stringify(closed.reason)}`)
      if (code === 4400) assert.ok(closed.reason.length > 0, 'a 4400 close says what was wrong in its reason')
      await checkOthers(caseName)
      // The document still works for the others.
      const marker = `${edits++}|`
      a.text.insert(0, marker)
      await hpAcked(a)
      await waitFor(() => b.text.toString().startsWith(marker), { what: 'an edit after the bad frame to reach the y-websocket client' })
    })
  }
  for (const c of hocuspocusCases) await run('hocuspocus', c)
  for (const c of yWebsocketCases) await run('y-websocket', c)

  const expected = a.text.toString()
  assert.equal(expected.split('|').length - 1, edits, 'every edit after a bad frame arrived')
  const health = await server.get('/healthz')
  assert.equal(health.status, 200, 'the server is healthy after all bad frames')
  const metrics = await server.metrics()
  const rejected = [...metrics].filter(([k]) => k.startsWith('quire_rejected_messages_total')).reduce((s, [, v]) => s + v, 0)
  assert.ok(rejected >= hocuspocusCases.length + yWebsocketCases.length,
    `quire_rejected_messages_total counts the rejected frames (sum ${rejected})`)

  // Nothing bad was stored: no extra log rows (one per good update at most), and a fresh
  // load after a restart has exactly the good content.
  const rowsAfter = server.sqlNumber('select count(*) from updates')
  assert.ok(rowsAfter <= rowsBefore + edits, `no rows from bad frames in updates (${rowsBefore} + ${edits} good edits, now ${rowsAfter})`)
  const sv = stateVector(a.ydoc)
  a.shutdown()
  b.shutdown()
  await server.restart()
  const fresh = hocuspocus(t, server, name)
  await hpSynced(fresh)
  assert.equal(fresh.text.toString(), expected, 'the stored document has exactly the good edits')
  assert.deepEqual(stateVector(fresh.ydoc), sv, 'the stored state vector is the good clients\' only')
})
