// Three nodes behind nginx on one PostgreSQL and one Redis (cluster.mjs): updates and
// awareness cross nodes, a client whose node dies resumes on another with its cursor, and
// idle nodes leave the database alone (no polling). Run by tools/server-tests/run.sh with
// the cluster files (CTest: quire_cluster_integration).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnSync } from 'node:child_process'
import { startCluster } from './cluster.mjs'
import { QUIRE_BINARY, RO_TOKEN } from './server.mjs'
import { apiClient } from './api.mjs'
import {
  hocuspocus, ywebsocket, synced, hpSynced, hpAcked, converged, prng, randInt, randomTextEdit, stateVector, sleep, waitFor
} from './clients.mjs'

test('cluster: clients on three nodes and through nginx converge; a late joiner on any node loads it all', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const name = 'across'
  // Two clients pinned to each node (both protocols) and two through the balancer.
  const clients = []
  for (let i = 0; i < 3; i++) {
    clients.push(hocuspocus(t, c.via(i), name), ywebsocket(t, c.via(i), name))
  }
  clients.push(hocuspocus(t, c.via(), name), ywebsocket(t, c.via(), name))
  await Promise.all(clients.map((p) => synced(p, 15000)))

  // A client on node 1 sees an edit made by a client on node 3.
  clients[4].text.insert(0, 'from node 3 ')
  await waitFor(() => clients[0].text.toString().includes('from node 3'), { timeout: 5000, what: 'node 1 sees node 3' })

  const rngs = clients.map((_, i) => prng(0xc105 + i))
  const pace = prng(7)
  await Promise.all(clients.map(async (p, i) => {
    for (let k = 0; k < 40; k++) {
      randomTextEdit(rngs[i], p.text, String.fromCharCode(65 + i))
      if (randInt(pace, 3) === 0) await sleep(randInt(pace, 20))
    }
  }))
  const text = await converged(clients.map((p) => p.ydoc), { timeout: 20000 })
  await Promise.all(clients.filter((p) => p.unsyncedChanges !== undefined).map((p) => hpAcked(p, 15000)))
  const sv = stateVector(clients[0].ydoc)

  // Let every node unload the document (2 s), then load it fresh from PostgreSQL on each node.
  for (const p of clients) p.shutdown()
  await sleep(3000)
  for (let i = 0; i < 3; i++) {
    const late = hocuspocus(t, c.via(i), name)
    await synced(late, 15000)
    assert.equal(late.text.toString(), text, `node ${i + 1} loads the converged text from the database`)
    assert.deepEqual(stateVector(late.ydoc), sv)
    late.shutdown()
  }
  // The last editors leaving made their nodes compact: a snapshot covers the log, and each
  // node covered only what it had seen (the fresh loads above are snapshot + remaining log).
  const snaps = c.pg.query("SELECT count(*), max(upto_seq) FROM snapshots WHERE doc = convert_to('across', 'UTF8')")
  assert.ok(snaps.ok, snaps.stderr)
  assert.ok(Number(snaps.rows[0][0]) >= 1, 'a snapshot was written')
  const last = c.pg.query("SELECT last_seq FROM logs WHERE doc = convert_to('across', 'UTF8')")
  assert.ok(Number(snaps.rows[0][1]) <= Number(last.rows[0][0]), 'a snapshot never covers more than the log holds')
})

test('cluster: awareness crosses nodes; a client whose node is killed resumes on another with its cursor', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const name = 'cursors'
  // The watcher sits on node 3; the mover goes through nginx and lands on node 1 or 2.
  const watcher = hocuspocus(t, c.via(2), name)
  await synced(watcher, 15000)
  let mover = null
  let home = -1
  for (let attempt = 0; attempt < 6 && home < 0; attempt++) {
    const p = hocuspocus(t, c.via(), name)
    await synced(p, 15000)
    const counts = await Promise.all(c.nodes.map(async (s) => (await s.metrics()).get('quire_connections')))
    const on = counts.findIndex((n, i) => i !== 2 && n === 1)
    if (on >= 0) { mover = p; home = on } else p.shutdown()
  }
  assert.ok(mover, 'a client landed on node 1 or 2')
  mover.setAwarenessField('user', { name: 'mover', color: '#0a0' })
  mover.setAwarenessField('cursor', { anchor: 5, head: 9 })
  const seen = () => [...watcher.awareness.getStates().values()].find((s) => s.cursor?.head === 9)
  await waitFor(seen, { timeout: 5000, what: 'node 3 sees the cursor set on another node' })

  // Its node dies: the provider reconnects through nginx to a live node, which takes over
  // its awareness client id; the cursor it moves there reaches the watcher at once, well
  // before the 30 s awareness timeout.
  await c.nodes[home].kill('SIGKILL')
  await waitFor(() => mover.log.some((e) => e.event === 'close'), { timeout: 10000, what: 'the mover notices its node died' })
  await waitFor(async () => {
    const counts = await Promise.all(c.nodes.map(async (s, i) => i === home ? 0 : (await s.metrics()).get('quire_connections')))
    return counts.reduce((a, b) => a + b, 0) === 2
  }, { timeout: 15000, what: 'the mover reconnected to a live node' })
  await hpSynced(mover, 15000)
  assert.ok(seen(), 'the cursor stayed visible through the failover')
  // The node it resumed on found its session record (written in Redis by the dead node).
  await waitFor(async () => {
    const found = await Promise.all(c.nodes.map(async (s, i) => i === home ? 0 : (await s.metrics()).get('quire_sessions_resumed_total')))
    return found.some((n) => n >= 1)
  }, { timeout: 5000, what: 'the session record read on the new node' })
  mover.setAwarenessField('cursor', { anchor: 5, head: 12 })
  await waitFor(() => [...watcher.awareness.getStates().values()].some((s) => s.cursor?.head === 12),
    { timeout: 3000, what: 'the cursor moved on the node the client resumed on' })
  // Edits still flow between them.
  mover.text.insert(0, 'still here ')
  await waitFor(() => watcher.text.toString().startsWith('still here'), { timeout: 5000, what: 'edits after the resume' })
  await hpAcked(mover, 10000)
})

test('cluster: a session back without its copy, on a node the stream has not reached, gets its acknowledged edits at once', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const name = 'read-your-writes'
  // Node 2 ignores what the stream relays: a node whose deliveries are late.
  c.nodes[1].env = { QUIRE_FAILPOINTS: 'relay.drop_updates' }
  await c.restartNode(1)
  const watcher = hocuspocus(t, c.via(1), name, { token: RO_TOKEN })
  await synced(watcher, 15000)
  // The editor's session writes on node 1; the record it leaves there holds the state vector
  // of its last acknowledged update (written at the awareness flush after the ack).
  const writer = hocuspocus(t, c.via(0), name)
  await synced(writer, 15000)
  writer.text.insert(0, 'acknowledged on node 1')
  await hpAcked(writer, 10000)
  writer.setAwarenessField('cursor', { anchor: 0, head: 3 })
  await waitFor(() => [...watcher.awareness.getStates().values()].some((s) => s.cursor?.head === 3),
    { timeout: 5000, what: 'the awareness flush on node 1 (which writes the session record)' })
  await sleep(500)
  assert.equal(watcher.text.toString(), '', 'node 2 never got the update from the stream (the fail point works)')
  // The same session comes back on node 2 without a local copy (a new tab): node 2 finds in the
  // session record that it lacks acknowledged updates and reads the log at once.
  writer.shutdown()
  const fresh = hocuspocus(t, c.via(1), name)
  await synced(fresh, 15000)
  await waitFor(() => fresh.text.toString() === 'acknowledged on node 1' && watcher.text.toString() === 'acknowledged on node 1',
    { timeout: 5000, what: 'the acknowledged edit on node 2, for the session and everyone there' })
  assert.ok((await c.nodes[1].metrics()).get('quire_session_catch_ups_total') >= 1)
})

test('cluster: `quire user` manages the accounts in PostgreSQL (--postgres); every node signs them in', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t, { accounts: true, nodes: 2 })
  const quire = (args, input) => spawnSync(QUIRE_BINARY, args, { input, encoding: 'utf8', timeout: 30000 })
  const made = quire(['user', 'create', '--postgres', c.pg.url, '--username', 'carol', '--email', 'carol@example.org',
    '--display-name', 'Carol', '--password-stdin'], 'carol-password-1\n')
  assert.equal(made.status, 0, made.stderr)
  const id = made.stdout.trim()
  // The environment variable works as the flag does.
  const listed = spawnSync(QUIRE_BINARY, ['user', 'list', '--json'],
    { env: { ...process.env, QUIRE_POSTGRES: c.pg.url }, encoding: 'utf8', timeout: 30000 })
  assert.equal(listed.status, 0, listed.stderr)
  assert.ok(JSON.parse(listed.stdout).some((u) => u.id === id && u.username === 'carol'))
  const login = async (i) => apiClient(c.via(i)).call('POST', '/api/auth/login', { username: 'carol', password: 'carol-password-1' })
  for (const i of [0, 1]) assert.equal((await login(i)).status, 200, `node ${i + 1} signs carol in`)
  assert.equal((await apiClient(c).call('POST', '/api/auth/login', { username: 'carol', password: 'carol-password-1' })).status, 200)
  // Taken names are refused with exit 1, a bad URL with a clear error, keys stay on the key directory.
  const again = quire(['user', 'create', '--postgres', c.pg.url, '--username', 'carol', '--email', 'c2@example.org'])
  assert.equal(again.status, 1)
  assert.match(again.stderr, /username 'carol' is taken/)
  const bad = quire(['user', 'list', '--postgres', 'postgresql://127.0.0.1:1/none?connect_timeout=2'])
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /quire:/)
  assert.equal(quire(['key', 'list', '--postgres', c.pg.url]).status, 2)
  // Disabled from the command line: refused on every node.
  const off = quire(['user', 'disable', '--postgres', c.pg.url, 'carol'])
  assert.equal(off.status, 0, off.stderr)
  for (const i of [0, 1]) assert.equal((await login(i)).status, 403, `node ${i + 1} refuses the disabled user`)
})

test('cluster: idle nodes send the database nothing (no polling); nginx caches only hashed assets', { timeout: 120000 }, async (t) => {
  const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/dist')
  const c = await startCluster(t, { args: ['--static-dir', web] })
  // ARCHITECTURE §2.5 through the balancer: the asset is cached (a HIT the second time),
  // the entry page and the API are not.
  const asset = fs.readdirSync(path.join(web, 'assets')).find((f) => f.endsWith('.js'))
  const get = (p) => fetch(c.url + p, { signal: AbortSignal.timeout(5000) })
  assert.equal((await get(`/assets/${asset}`)).headers.get('x-cache-status'), 'MISS')
  // nginx moves the response into its cache once the upstream answer is complete, which on
  // a busy machine may be just after the client got it.
  const again = await waitFor(async () => {
    const r = await get(`/assets/${asset}`)
    await r.arrayBuffer()
    return r.headers.get('x-cache-status') === 'HIT' && r
  }, { timeout: 5000, interval: 200, what: 'the asset served from nginx cache' })
  assert.match(again.headers.get('cache-control'), /immutable/)
  const entry = await get('/')
  assert.equal(entry.headers.get('cache-control'), 'no-cache')
  assert.equal(entry.headers.get('x-cache-status'), null)
  const api = await get('/api/me')
  assert.equal(api.headers.get('cache-control'), 'no-store')
  assert.equal(api.headers.get('x-cache-status'), null)

  const clients = [hocuspocus(t, c.via(0), 'idle'), hocuspocus(t, c.via(1), 'idle'), ywebsocket(t, c.via(2), 'idle')]
  await Promise.all(clients.map((p) => synced(p, 15000)))
  clients[0].text.insert(0, 'one edit')
  await hpAcked(clients[0], 10000)
  await converged(clients.map((p) => p.ydoc))
  // The nodes that received the edit from the stream look for it in the log once, about
  // 5–8 s later (relayed updates are held until seen committed). Then quiet: no backend
  // of the nodes may have run a statement in the last 5 s.
  await sleep(14000)
  const busy = c.pg.query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state_change > now() - interval '5 seconds'")
  assert.ok(busy.ok, busy.stderr)
  assert.equal(Number(busy.rows[0][0]), 0, 'no queries from idle nodes')
  // And the nodes really are connected to it (the check is not vacuous).
  const conns = c.pg.query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
  assert.ok(Number(conns.rows[0][0]) >= 3, `the nodes hold connections (${conns.rows[0][0]})`)
})
