// Read-only tokens: the connection may read the document but its edits are never applied,
// broadcast or stored (Hocuspocus answers them with SyncStatus `08 00`).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, RO_TOKEN } from './server.mjs'
import {
  hocuspocus, ywebsocket, hpSynced, hpAcked, ySynced, waitFor, sleep, rawHocuspocus,
  rawYWebsocket, hp, yw, parseHp, parseY, textUpdate, textOf, hex
} from './clients.mjs'

test('read-only clients can read but their edits are never applied', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const name = 'ro-doc'
  const observer = hocuspocus(t, server, name)
  await hpSynced(observer)
  observer.text.insert(0, 'base')
  await hpAcked(observer)
  const seenRo = []
  observer.text.observe(() => {
    if (observer.text.toString().includes('RO')) seenRo.push(observer.text.toString())
  })

  // Real providers with the read-only token, one per protocol.
  const roHp = hocuspocus(t, server, name, { token: RO_TOKEN })
  const roY = ywebsocket(t, server, name, { token: RO_TOKEN })
  await Promise.all([hpSynced(roHp), ySynced(roY)])
  assert.deepEqual(roHp.log.filter((e) => e.event === 'authenticated'), [{ event: 'authenticated', scope: 'readonly' }],
    'the Hocuspocus server answers a read-only token with Authenticated "readonly"')
  assert.equal(roHp.text.toString(), 'base', 'a read-only Hocuspocus client receives the document')
  assert.equal(roY.text.toString(), 'base', 'a read-only y-websocket client receives the document')

  // The handshake's SyncStep2 from the provider gets its SyncStatus first (08 01 when it
  // brings nothing new, spec §9.6); only frames after it answer the edit below.
  await waitFor(() => roHp.frames.some((f) => parseHp(f).type === 8), { what: 'the SyncStatus answering the read-only handshake' })
  const framesBefore = roHp.frames.length
  roHp.text.insert(0, 'RO-HP ')
  roY.text.insert(0, 'RO-Y ')
  // The Hocuspocus provider's update is refused with SyncStatus 0.
  await waitFor(() => roHp.frames.slice(framesBefore).some((f) => { const m = parseHp(f); return m.type === 8 && m.status === 0 }),
    { what: 'SyncStatus 0 (rejected) for the read-only Hocuspocus update', detail: () => roHp.frames.slice(framesBefore).map((f) => hex(f)).join(' | ') })
  assert.ok(!roHp.frames.slice(framesBefore).some((f) => { const m = parseHp(f); return m.type === 8 && m.status === 1 }),
    'a read-only update is never acknowledged as applied (08 01)')

  // Raw read-only clients: a Hocuspocus update is answered exactly `name 08 00`; on
  // y-websocket, a SyncStep1 after the update is a barrier (its SyncStep2 answer comes after
  // the server handled the update).
  const { client: rawHp, authFrame } = await rawHocuspocus(t, server, name, { token: RO_TOKEN })
  assert.equal(authFrame.scope, 'readonly')
  const from = rawHp.frames.length
  rawHp.send(hp.update(name, textUpdate('RO-RAW-HP ', 777001)))
  const status = await rawHp.next((f) => parseHp(f).type === 8, { from, what: 'SyncStatus for a read-only update' })
  assert.equal(hex(status), hex(hp.syncStatus(name, 0)), 'a read-only update is answered `name 08 00`')
  assert.ok(!rawHp.frames.slice(from).some((f) => { const m = parseHp(f); return m.type === 0 && m.sync === 2 }),
    'the read-only update is not echoed back as an update')

  const rawY = await rawYWebsocket(t, server, name, { token: RO_TOKEN })
  rawY.send(yw.update(textUpdate('RO-RAW-Y ', 777002)))
  rawY.send(yw.syncStep1())
  const step2 = await rawY.next((f) => { const m = parseY(f); return m.type === 0 && m.sync === 1 }, { what: 'SyncStep2 for a read-only y-websocket client', parse: parseY })
  assert.equal(textOf([parseY(step2).payload]), 'base', 'the read-only client\'s own update is not in the server\'s state')

  // Give the real providers' frames time to arrive too, then check the observer.
  await sleep(300)
  assert.equal(observer.text.toString(), 'base', 'the read-write observer never sees read-only edits')
  assert.deepEqual(seenRo, [], 'no read-only edit was ever visible to the observer')
  assert.equal(roHp.text.toString(), 'RO-HP base', 'the read-only client keeps its local edit (it is only refused)')

  // Nothing of it was stored: restart and load fresh.
  roHp.shutdown()
  roY.shutdown()
  observer.shutdown()
  rawHp.terminate()
  rawY.terminate()
  await server.restart()
  const fresh = hocuspocus(t, server, name)
  await hpSynced(fresh)
  assert.equal(fresh.text.toString(), 'base', 'the stored document has no read-only edit')
})
