// Awareness across both protocols: states reach the other clients, a client's disconnect
// (graceful or not) removes its state at the others within seconds (well under the 30 s
// outdated timeout), a connection cannot publish a state for another client's id, and the
// server stamps the authenticated name into user.name (SECURITY #26). Test states carry
// their marker in a `mark` field, which the server leaves alone.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, RW_TOKEN, RO_TOKEN } from './server.mjs'
import {
  hocuspocus, ywebsocket, synced, waitFor, severProvider, rawHocuspocus, rawYWebsocket,
  hp, yw, awarenessUpdate, parseHp, parseY, sleep
} from './clients.mjs'

const GONE_WITHIN = 5000

const markAt = (observer, clientID) => observer.awareness.getStates().get(clientID)?.mark
const nameAt = (observer, clientID) => observer.awareness.getStates().get(clientID)?.user?.name

function seen (observers, clientID, mark, what) {
  return waitFor(() => observers.every((o) => markAt(o, clientID) === mark), {
    what: `${what}: every observer to see client ${clientID} with mark ${JSON.stringify(mark)}`,
    detail: () => observers.map((o) => JSON.stringify([...o.awareness.getStates()])).join(' | ')
  })
}

function gone (observers, clientID, what) {
  return waitFor(() => observers.every((o) => !o.awareness.getStates().has(clientID)), {
    timeout: GONE_WITHIN,
    what: `${what}: client ${clientID}'s awareness state to be removed at every observer`,
    detail: () => observers.map((o) => JSON.stringify([...o.awareness.getStates().keys()])).join(' | ')
  })
}

test('awareness', { timeout: 60000 }, async (t) => {
  // Named dev tokens: the names are what the server stamps into user.name.
  const server = await startServer(t, { devAuth: `writer:${RW_TOKEN}=rw,reader:${RO_TOKEN}=ro` })
  const doc = 'aw-doc'
  const alice = hocuspocus(t, server, doc)
  const bob = ywebsocket(t, server, doc)
  const carol = hocuspocus(t, server, doc)
  await Promise.all([alice, bob, carol].map((p) => synced(p)))
  const idOf = (p) => p.ydoc.clientID

  // Any state whose user name contains "spoof", ever seen by anyone.
  const spoofSightings = []
  for (const o of [alice, bob, carol]) {
    o.awareness.on('change', () => {
      for (const [id, s] of o.awareness.getStates()) {
        if (JSON.stringify(s).includes('spoof')) spoofSightings.push({ observer: idOf(o), id, s })
      }
    })
  }

  await t.test('states reach the other clients, both directions across protocols', async () => {
    alice.awareness.setLocalState({ mark: 'alice', user: { name: 'Admin', color: '#f00' } })
    bob.awareness.setLocalState({ mark: 'bob' })
    carol.awareness.setLocalState({ mark: 'carol', user: { color: '#00f' } })
    await seen([bob, carol], idOf(alice), 'alice', 'Hocuspocus → both')
    await seen([alice, carol], idOf(bob), 'bob', 'y-websocket → Hocuspocus')
    await seen([alice, bob], idOf(carol), 'carol', 'Hocuspocus → both')
    alice.awareness.setLocalStateField('mark', 'alice2')
    await seen([bob, carol], idOf(alice), 'alice2', 'a changed state')
  })

  await t.test('the server stamps the authenticated name into user.name', async () => {
    for (const o of [bob, carol]) {
      assert.equal(nameAt(o, idOf(alice)), 'writer', 'a claimed user.name "Admin" is replaced by the authenticated name')
      assert.equal(o.awareness.getStates().get(idOf(alice)).user.color, '#f00', 'other user fields pass unchanged')
    }
    assert.equal(nameAt(alice, idOf(bob)), 'writer', 'a state without user gets the authenticated name')
    assert.equal(nameAt(alice, idOf(carol)), 'writer', 'a user object without name gets the authenticated name')
  })

  await t.test('a late joiner gets the current states', async (st) => {
    const late = ywebsocket(st, server, doc)
    await synced(late)
    await seen([late], idOf(bob), 'bob', 'late joiner')
    await seen([late], idOf(alice), 'alice2', 'late joiner')
    await seen([late], idOf(carol), 'carol', 'late joiner')
    late.shutdown()
  })

  await t.test('graceful disconnect (provider.destroy) removes the state', async () => {
    const id = idOf(alice)
    alice.shutdown()
    await gone([bob, carol], id, 'Hocuspocus provider destroyed')
  })

  await t.test('dropped Hocuspocus connection (no close handshake) removes the state', async (st) => {
    const dave = hocuspocus(st, server, doc)
    await synced(dave)
    dave.awareness.setLocalStateField('mark', 'dave')
    await seen([bob, carol], idOf(dave), 'dave', 'dave joined')
    severProvider(dave)
    await gone([bob, carol], idOf(dave), 'Hocuspocus socket dropped')
  })

  await t.test('dropped y-websocket connection (no close handshake) removes the state', async (st) => {
    const eve = ywebsocket(st, server, doc)
    await synced(eve)
    eve.awareness.setLocalStateField('mark', 'eve')
    await seen([bob, carol], idOf(eve), 'eve', 'eve joined')
    severProvider(eve)
    await gone([bob, carol], idOf(eve), 'y-websocket socket dropped')
  })

  await t.test('read-only connections may publish awareness', async (st) => {
    const ro = hocuspocus(st, server, doc, { token: RO_TOKEN })
    await synced(ro)
    ro.awareness.setLocalStateField('mark', 'ro')
    await seen([bob, carol], idOf(ro), 'ro', 'read-only client')
    assert.equal(nameAt(bob, idOf(ro)), 'reader', 'the read-only client is stamped with its own name')
    ro.shutdown()
    await gone([bob, carol], idOf(ro), 'read-only client left')
  })

  const spoofing = [
    ['hocuspocus', async (st) => {
      const { client } = await rawHocuspocus(st, server, doc)
      client.send(hp.syncStep1(doc))
      await client.next((f) => parseHp(f).sync === 1, { what: 'SyncStep2' })
      return { client, send: (entries) => client.send(hp.awareness(doc, awarenessUpdate(entries))) }
    }],
    ['y-websocket', async (st) => {
      const client = await rawYWebsocket(st, server, doc)
      client.send(yw.syncStep1())
      await client.next((f) => parseY(f).sync === 1, { what: 'SyncStep2', parse: parseY })
      return { client, send: (entries) => client.send(yw.awareness(awarenessUpdate(entries))) }
    }]
  ]
  let rawId = 515150
  for (const [kind, open] of spoofing) {
    await t.test(`${kind}: a raw client cannot publish another client's id`, async (st) => {
      const victim = idOf(bob)
      const other = idOf(carol)
      // 1. Its own state first, then a mixed update (own + foreign), a foreign-only update,
      //    a foreign removal, and a barrier of its own.
      const own = ++rawId
      const r = await open(st)
      r.send([{ client: own, clock: 1, state: { mark: `raw-${kind}` } }])
      await seen([bob, carol], own, `raw-${kind}`, `${kind} raw client's own state`)
      r.send([{ client: own, clock: 2, state: { mark: `raw2-${kind}` } },
        { client: victim, clock: 1000, state: { mark: 'spoof-mixed', user: { name: 'Admin' } } }])
      r.send([{ client: other, clock: 1000, state: { mark: 'spoof-only' } }])
      r.send([{ client: victim, clock: 1001, state: null }])
      r.send([{ client: own, clock: 3, state: { mark: `barrier-${kind}` } }])
      await seen([bob, carol], own, `barrier-${kind}`, `${kind} barrier after the spoofing attempts`)

      // 2. A second raw connection whose very first entry is a foreign id.
      const own2 = ++rawId
      const r2 = await open(st)
      r2.send([{ client: victim, clock: 2000, state: { mark: 'spoof-first' } }])
      r2.send([{ client: own2, clock: 1, state: { mark: `barrier2-${kind}` } }])
      await seen([bob, carol], own2, `barrier2-${kind}`, `${kind} second raw client's barrier`)

      assert.deepEqual(spoofSightings, [], 'no observer ever saw a spoofed state')
      assert.equal(markAt(bob, victim), 'bob', 'the victim keeps its own state')
      assert.equal(markAt(carol, victim), 'bob', 'others still see the victim\'s real state')
      assert.equal(markAt(bob, other), 'carol', 'others still see the other client\'s real state')
      assert.equal(markAt(carol, other), 'carol', 'the other client keeps its own state')

      // 3. Dropping the raw sockets removes their (own) states.
      r.client.terminate()
      r2.client.terminate()
      await gone([bob, carol], own, `${kind} raw client dropped`)
      await gone([bob, carol], own2, `${kind} second raw client dropped`)
      assert.equal(markAt(carol, victim), 'bob', 'the victim\'s state survives the spoofer\'s disconnect')
    })
  }
})

test('--read-only-awareness false drops read-only cursors', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { args: ['--read-only-awareness', 'false'] })
  const doc = 'ro-aw-doc'
  const watcher = hocuspocus(t, server, doc)
  await synced(watcher)
  const { client: ro } = await rawHocuspocus(t, server, doc, { token: RO_TOKEN })
  ro.send(hp.awareness(doc, awarenessUpdate([{ client: 626262, clock: 1, state: { mark: 'ro-cursor' } }])))
  // Barrier: the answer to a later SyncStep1 on the same connection.
  ro.send(hp.syncStep1(doc))
  await ro.next((f) => parseHp(f).sync === 1, { what: 'SyncStep2' })
  await sleep(300)
  assert.ok(!watcher.awareness.getStates().has(626262), 'the read-only client\'s awareness is not published')
})
