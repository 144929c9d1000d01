// Restart and durability: content survives a graceful stop (SIGTERM) and, once acknowledged,
// a kill -9; a fresh client after the restart loads it from the data directory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer } from './server.mjs'
import { hocuspocus, ywebsocket, hpSynced, hpAcked, ySynced, synced, waitFor, stateVector, storedDoc, sleep } from './clients.mjs'

test('restart: content survives SIGTERM and a restart on the same data dir', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const name = 'restart-doc'
  const a = hocuspocus(t, server, name)
  const b = ywebsocket(t, server, name)
  await Promise.all([hpSynced(a), ySynced(b)])

  a.text.insert(0, 'from hocuspocus. ')
  await hpAcked(a)
  b.text.insert(b.text.length, 'from y-websocket.')
  // Received and applied by the server: the Hocuspocus client sees it.
  await waitFor(() => a.text.toString() === 'from hocuspocus. from y-websocket.', { what: 'the y-websocket edit to reach the Hocuspocus client' })
  await hpAcked(a)
  const sv = stateVector(a.ydoc)

  const exit = await server.stop()
  assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM is a graceful stop with exit code 0')
  // The old clients must not re-upload their state after the restart.
  a.shutdown()
  b.shutdown()

  await server.restart()
  const c = hocuspocus(t, server, name)
  const d = ywebsocket(t, server, name)
  await Promise.all([hpSynced(c), ySynced(d)])
  assert.equal(c.text.toString(), 'from hocuspocus. from y-websocket.', 'a Hocuspocus client after the restart sees both edits')
  assert.equal(d.text.toString(), 'from hocuspocus. from y-websocket.', 'a y-websocket client after the restart sees both edits')
  assert.deepEqual(stateVector(c.ydoc), sv, 'the reloaded document has the same state vector')

  // And the restarted server keeps working.
  c.text.insert(0, '>')
  await hpAcked(c)
  await waitFor(() => d.text.toString().startsWith('>'), { what: 'an edit after the restart to reach the other client' })
})

test('durability: every acknowledged update survives kill -9', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const name = 'durable-doc'
  const a = hocuspocus(t, server, name)
  await hpSynced(a)

  // 40 separate transactions (one update each), sent without waiting, then one wait for all
  // acknowledgements (SyncStatus after commit).
  let expected = ''
  for (let i = 0; i < 40; i++) {
    const word = `w${i} `
    a.text.insert(a.text.length, word)
    expected += word
    if (i % 10 === 9) await sleep(5)
  }
  a.ydoc.getMap('meta').set('done', true)
  await hpAcked(a, 10000)
  const sv = stateVector(a.ydoc)
  // Acknowledged means committed: the database already has all of it.
  const stored = storedDoc(server, name)
  assert.equal(stored.getText('text').toString(), expected, 'every acknowledged edit is in quire.db when its SyncStatus arrives')
  assert.deepEqual(stateVector(stored), sv, 'the stored state vector equals the acknowledged one')
  const updatesIn = (await server.metrics()).get('quire_updates_in_total')
  assert.ok(updatesIn >= 41, `quire_updates_in_total counts the updates (${updatesIn})`)

  const exit = await server.kill('SIGKILL')
  assert.equal(exit.signal, 'SIGKILL')
  a.shutdown()

  await server.restart()
  const b = hocuspocus(t, server, name)
  const c = ywebsocket(t, server, name)
  await Promise.all([synced(b), synced(c)])
  for (const [kind, p] of [['Hocuspocus', b], ['y-websocket', c]]) {
    assert.equal(p.text.toString(), expected, `${kind}: every acknowledged text edit survived kill -9`)
    assert.equal(p.ydoc.getMap('meta').get('done'), true, `${kind}: the last acknowledged update survived kill -9`)
    assert.deepEqual(stateVector(p.ydoc), sv, `${kind}: the reloaded state vector equals the acknowledged one`)
  }
})

test('providers reconnect after a crash and merge their offline edits', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const name = 'offline-doc'
  const a = hocuspocus(t, server, name)
  const b = ywebsocket(t, server, name)
  await Promise.all([hpSynced(a), ySynced(b)])
  a.text.insert(0, 'online.')
  await hpAcked(a)
  await waitFor(() => b.text.toString() === 'online.', { what: 'the first edit to reach the y-websocket client' })

  await server.kill('SIGKILL')
  // Both keep editing while the server is down.
  a.text.insert(a.text.length, ' A-offline.')
  b.text.insert(0, 'B-offline. ')
  await sleep(300)

  // Same port: the providers find the server again by themselves.
  await server.restart({ samePort: true })
  await waitFor(() => a.text.toString() === b.text.toString() && a.text.toString().includes('A-offline') && a.text.toString().includes('B-offline'), {
    timeout: 15000,
    what: 'both clients to reconnect and merge their offline edits',
    detail: () => JSON.stringify({ a: a.text.toString(), b: b.text.toString(), aLog: a.log, bCloses: b.closes })
  })
  assert.equal(a.text.toString(), 'B-offline. online. A-offline.')
  await hpAcked(a, 10000)
  const fresh = ywebsocket(t, server, name)
  await ySynced(fresh)
  assert.equal(fresh.text.toString(), 'B-offline. online. A-offline.', 'a fresh client sees the merged document')
})
