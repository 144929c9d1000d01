// Hocuspocus multiplexing: several documents on one socket (one HocuspocusProviderWebsocket
// shared by providers, as editors that switch documents do), each isolated from the others;
// leaving one document (the provider's CLOSE frame) keeps the socket and the other documents
// working. And document names outside [A-Za-z0-9_-]{1,128} are refused on both endpoints.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, RW_TOKEN } from './server.mjs'
import {
  hocuspocus, hocuspocusSocket, ywebsocket, hpSynced, hpAcked, ySynced, waitFor, sleep,
  RawClient, rawUpgrade, hp, parseHp
} from './clients.mjs'

const rejectedTotal = async (server) => [...(await server.metrics())]
  .filter(([k]) => k.startsWith('quire_rejected_messages_total')).reduce((s, [, v]) => s + v, 0)

test('several documents on one Hocuspocus socket', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const socket = hocuspocusSocket(t, server)
  const p1 = hocuspocus(t, server, 'mx-one', { socket })
  const p2 = hocuspocus(t, server, 'mx-two', { socket })
  const watch1 = ywebsocket(t, server, 'mx-one')
  const watch2 = ywebsocket(t, server, 'mx-two')
  await Promise.all([hpSynced(p1), hpSynced(p2), ySynced(watch1), ySynced(watch2)])

  p1.text.insert(0, 'one')
  p2.text.insert(0, 'two')
  await Promise.all([hpAcked(p1), hpAcked(p2)])
  await waitFor(() => watch1.text.toString() === 'one' && watch2.text.toString() === 'two', {
    what: 'each document\'s edit to reach its own watcher',
    detail: () => JSON.stringify([watch1.text.toString(), watch2.text.toString()])
  })
  await sleep(200)
  assert.equal(watch1.text.toString(), 'one', 'documents on one socket stay separate')
  assert.equal(watch2.text.toString(), 'two', 'documents on one socket stay separate')

  // Leaving one document: the provider sends `name 07` (CLOSE, @hocuspocus/provider 4.8.0
  // sends no reason string) and detaches. The socket and the other document carry on.
  const rejectedBefore = await rejectedTotal(server)
  p1.shutdown()
  await sleep(500)
  assert.deepEqual(socket.closes, [], 'leaving one document does not close the shared socket')
  p2.text.insert(3, '+')
  await hpAcked(p2)
  await waitFor(() => watch2.text.toString() === 'two+', { what: 'the remaining document to keep working' })
  assert.equal(p2.log.filter((e) => e.event === 'authenticated').length, 1, 'the remaining document never had to re-authenticate')
  assert.equal(await rejectedTotal(server), rejectedBefore, 'the CLOSE frame is not counted as a rejected message')

  // Joining again on the same socket works.
  const again = hocuspocus(t, server, 'mx-one', { socket })
  await hpSynced(again)
  assert.equal(again.text.toString(), 'one')
})

test('sessionAwareness: two providers of one document on one socket', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const socket = hocuspocusSocket(t, server)
  const p1 = hocuspocus(t, server, 'mx-session', { socket, sessionAwareness: true })
  const p2 = hocuspocus(t, server, 'mx-session', { socket, sessionAwareness: true })
  await Promise.all([hpSynced(p1), hpSynced(p2)])
  p1.text.insert(0, 'from p1 ')
  await hpAcked(p1)
  await waitFor(() => p2.text.toString() === 'from p1 ', { what: 'p1\'s edit to reach p2 through the server (routing keys name\\0session)' })
  p2.text.insert(p2.text.length, 'from p2')
  await hpAcked(p2)
  await waitFor(() => p1.text.toString() === 'from p1 from p2', { what: 'p2\'s edit to reach p1' })
  p1.awareness.setLocalStateField('mark', 'p1')
  await waitFor(() => p2.awareness.getStates().get(p1.ydoc.clientID)?.mark === 'p1', { what: 'p1\'s awareness to reach p2' })
  assert.deepEqual(socket.closes, [])
})

test('document names outside [A-Za-z0-9_-]{1,128} are refused', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  // (A NUL separates a document name from a session id in a 4.x routing key, spec §9.6: the
  // document part is what must be valid.)
  const bad = ['../etc', 'a/b', 'a.b', 'a b', 'ä', 'x'.repeat(129), '', '../etc\u0000session', '\u0000session']
  await t.test('y-websocket', async () => {
    for (const path of ['/ws/y/..%2Fetc', '/ws/y/a%2Fb', '/ws/y/a.b', '/ws/y/a%20b', '/ws/y/%C3%A4', `/ws/y/${'x'.repeat(129)}`, '/ws/y/a%00b', '/ws/y/', '/ws/y/a/b']) {
      const r = await rawUpgrade(`${server.url.replace('http', 'ws')}${path}`, { protocols: ['quire', `quire.auth.${RW_TOKEN}`] })
      assert.ok(r.status >= 400 && r.status < 500, `${path}: upgrade refused with a 4xx (got ${r.status})`)
    }
    const ok = await rawUpgrade(`${server.wsUrl}/y/${'x'.repeat(128)}`, { protocols: ['quire', `quire.auth.${RW_TOKEN}`] })
    assert.equal(ok.status, 101, 'a 128-character name is fine')
  })
  await t.test('Hocuspocus', async (st) => {
    for (const name of bad) {
      const client = await RawClient.connect(st, server.wsUrl)
      client.send(hp.auth(name, RW_TOKEN))
      client.send(hp.syncStep1(name))
      const answer = await Promise.race([
        client.next((f) => parseHp(f).type === 2, { what: 'an auth answer' }).then(parseHp).catch(() => null),
        client.closed
      ])
      const refused = answer === null || answer.code !== undefined || answer.auth === 1
      assert.ok(refused, `${JSON.stringify(name)}: refused (PermissionDenied or close), got ${JSON.stringify(answer)}`)
      await sleep(100)
      const sync = client.frames.filter((f) => parseHp(f).type === 0)
      assert.equal(sync.length, 0, `${JSON.stringify(name)}: no sync frames`)
      client.terminate()
    }
  })
})
