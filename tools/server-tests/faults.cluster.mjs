// The cluster fault scenarios of SECURITY.md §2 against three real nodes behind nginx, one
// PostgreSQL and one Redis (cluster.mjs), one test per fault row with its invariants:
// I1 nothing acknowledged is lost, I2 clients and a fresh load converge within 5 s of the
// healing, I3 snapshot + log replay (read from PostgreSQL) equals the live state, I4 one
// live head per refresh family and revoked stays revoked, I5 no process dies and memory
// stays bounded. The workload and the checks are in workload.mjs; docs/testing.md lists
// what each row injects and checks. Run by run.sh with the other *.cluster.mjs files.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { startCluster } from './cluster.mjs'
import { COOKIE, register } from './api.mjs'
import {
  Y, hocuspocus, ywebsocket, synced, hpAcked, converged, rawHocuspocus, hp, parseHp, prng, randInt, randomTextEdit,
  stateVector, sleep, waitFor
} from './clients.mjs'
import {
  Workload, SLOW, CONVERGE_MS, freeze, thaw, ownClock, metricSum, pinnedTo, pgStoredDoc, waitUnloaded
} from './workload.mjs'

/** I5: no node died on its own. */
function assertNodesAlive (c) {
  for (const [i, s] of c.nodes.entries()) {
    assert.equal(s.unexpectedExit, null, `node ${i + 1} died: ${JSON.stringify(s.unexpectedExit)}\n${s.unexpectedStderr.slice(-2000)}`)
  }
}

/** I5: each node's resident memory stays within `budget` bytes (not judged under ASan). */
function assertMemory (t, c, when, budget = 256 << 20) {
  const rss = c.nodes.filter((s) => s.running).map((s) => s.memory().rss)
  t.diagnostic(`node RSS ${when}: ${rss.map((b) => (b / 1048576).toFixed(0)).join(', ')} MiB`)
  if (process.env.QUIRE_TEST_SANITIZED) return
  for (const [i, b] of rss.entries()) assert.ok(b < budget, `node ${i + 1} holds ${(b / 1048576).toFixed(0)} MiB (budget ${budget / 1048576} MiB)`)
}

/**
 * Takes an ACCESS EXCLUSIVE lock on `table` in a psql session and waits until PostgreSQL
 * has granted it. release() (also when the test ends) rolls back and ends the session.
 */
async function holdLock (t, c, table) {
  const held = c.pg.hold(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
  let released = false
  const lock = { release: () => { if (!released) { released = true; held.release() } } }
  t.after(lock.release)
  await waitFor(() => c.pg.query(`SELECT count(*) FROM pg_locks WHERE granted AND mode = 'AccessExclusiveLock' AND relation = '${table}'::regclass`).rows[0]?.[0] === '1',
    { timeout: 10000, interval: 50, what: `the lock on ${table}` })
  return lock
}

/** Per Hocuspocus client, the acknowledged clock must not pass `limits` (own clocks taken earlier). */
function assertNoAcksSince (w, limits, what) {
  const over = w.hp.map((cl, k) => [cl, limits[k]]).filter(([cl, limit]) => cl.tracker.acked > limit)
    .map(([cl, limit]) => `client ${cl.i} (${cl.target ?? 'nginx'}): acked ${cl.tracker.acked} > ${limit}`)
  assert.deepEqual(over, [], `acknowledged ${what}`)
}

test('fault 1: kill -9 a node mid-burst — I1, I2, I3', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const w = new Workload(t, c, { docs: ['f1-a', 'f1-b'], seed: 101 })
  await w.connect()
  w.start()
  await sleep(2500)
  // Every client types over the last 30 ms before the kill: node 2 dies with updates
  // broadcast (and published to the other nodes) but not committed.
  for (let k = 0; k < 6; k++) {
    for (const cl of w.clients) cl.text.insert(0, 'k')
    await sleep(5)
  }
  await c.nodes[1].kill('SIGKILL')
  // The clients through nginx move to the live nodes; the pinned ones edit offline.
  await sleep(4000)
  await c.restartNode(1)
  await waitFor(() => pinnedTo(w, 1).every((cl) => cl.provider.synced), { timeout: 10000 * SLOW, what: 'the clients pinned to node 2 to be back' })
  await sleep(1000)
  await w.stop()
  await w.verify({ freshLoads: true })
  assertNodesAlive(c)
})

test('fault 1: a node killed between broadcast and commit — its client, resuming on another node, is acknowledged only once it is stored (I1)', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const name = 'f1-window'
  const writer = hocuspocus(t, c.via(1), name)
  const watcher = hocuspocus(t, c.via(0), name)
  await synced(writer, 15000)
  await synced(watcher, 15000)
  writer.text.insert(0, 'committed. ')
  await hpAcked(writer, 10000)
  // Commits wait behind a lock on the log: node 2 broadcasts the next edit (node 1 has it
  // from the stream) and dies before committing it.
  const lock = await holdLock(t, c, 'updates')
  writer.text.insert(0, 'published, not committed. ')
  // Node 1 has it from the stream when nodes publish before committing (bounded: a node
  // that publishes only after its commit never shows it here, and that is fine).
  const deadline = Date.now() + 3000
  while (!watcher.text.toString().startsWith('published') && Date.now() < deadline) await sleep(20)
  await c.nodes[1].kill('SIGKILL')
  lock.release()
  // The same document resumes on node 1 (a new provider on the same Y.Doc, as a browser
  // would through the balancer). Once everything is acknowledged it must be stored.
  writer.shutdown()
  const resumed = hocuspocus(t, c.via(0), name, { doc: writer.ydoc })
  await synced(resumed, 15000)
  await hpAcked(resumed, 10000)
  const stored = pgStoredDoc(c.pg, name)
  const id = writer.ydoc.clientID
  assert.equal(stored.sv[id] || 0, ownClock(writer.ydoc),
    `I1: every change of client ${id} was acknowledged, but PostgreSQL holds its clock ${stored.sv[id] || 0} of ${ownClock(writer.ydoc)} ` +
    `(stored text ${JSON.stringify(stored.text)})`)
  assert.equal(stored.text, writer.text.toString())
  assertNodesAlive(c)
})

test('fault 2: SIGSTOP a node for 20 s, then SIGCONT — I1, I2, I3', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const w = new Workload(t, c, { docs: ['f2-a', 'f2-b'], seed: 202 })
  await w.connect()
  w.start()
  await sleep(2000)
  freeze(c, 2)
  t.after(() => { try { thaw(c, 2) } catch {} })
  const froze = Date.now()
  const acksBefore = w.totalAcks()
  await sleep(20000)
  // The others went on: acknowledgements kept coming from the live nodes.
  assert.ok(w.totalAcks() > acksBefore, 'the live nodes acknowledged while node 3 was frozen')
  thaw(c, 2)
  t.diagnostic(`node 3 frozen for ${Date.now() - froze} ms`)
  await sleep(3000)
  await w.stop()
  await w.verify({ freshLoads: true })
  assertNodesAlive(c)
})

test('fault 3: PostgreSQL crash for 10 s — no acks during the outage, acks resume, I1, I2, I3', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const w = new Workload(t, c, { docs: ['f3-a', 'f3-b'], seed: 303 })
  await w.connect()
  w.start()
  await sleep(2000)
  const atCrash = w.hp.map((cl) => ownClock(cl.ydoc))
  await c.pg.crash()
  await sleep(10000)
  // Nothing written during the outage was acknowledged; every client still counts it.
  assertNoAcksSince(w, atCrash, 'while PostgreSQL was down')
  const editedDuring = w.hp.filter((cl, k) => ownClock(cl.ydoc) > atCrash[k])
  assert.ok(editedDuring.length > 0)
  for (const cl of editedDuring) {
    assert.ok(cl.provider.unsyncedChanges > 0, `client ${cl.i} edited during the outage and still has unsynced changes`)
  }
  assertMemory(t, c, 'at the end of the outage')
  await c.pg.resume()
  await sleep(2000)
  await w.stop()
  await w.verify({ freshLoads: true })
  assertNodesAlive(c)
})

test('fault 5: the log table locked for 12 s — no acks, memory bounded, drains afterwards, I1, I2, I3', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const w = new Workload(t, c, { docs: ['f5-a', 'f5-b'], seed: 505 })
  await w.connect()
  w.start()
  await sleep(2000)
  const lock = await holdLock(t, c, 'updates')
  const atLock = w.hp.map((cl) => ownClock(cl.ydoc))
  await sleep(12000)
  assertNoAcksSince(w, atLock, 'while the log was locked')
  assertMemory(t, c, 'at the end of the stall')
  lock.release()
  await sleep(2000)
  await w.stop()
  await w.verify()
  assertMemory(t, c, 'drained')
  assertNodesAlive(c)
})

test('fault 7: Redis killed and restarted empty — acks go on without it, cross-node updates flow again, I1, I2, I3', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const w = new Workload(t, c, { docs: ['f7-a', 'f7-b'], seed: 707 })
  await w.connect()
  w.start()
  await sleep(2000)
  await c.redis.crash()
  await sleep(1000)
  const acksBefore = w.totalAcks()
  await sleep(3000)
  // Redis is not in the acknowledgement path.
  assert.ok(w.totalAcks() > acksBefore, 'acknowledgements went on while Redis was down')
  await c.redis.resume()
  await waitFor(async () => (await metricSum(c, 'quire_bus_connected')) === 3, { timeout: 10000 * SLOW, what: 'every node reconnected to Redis' })
  await sleep(2000)
  await w.stop()
  await w.verify()
  assertNodesAlive(c)
})

test('fault 7 (I4): with Redis down, a logout on one node still closes the session\'s socket on another — fail closed', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t, { accounts: true, args: ['--recheck-ms', '1000'] })
  // Alice's API calls go to node 1, her socket to node 3.
  const alice = await register(c.via(0), 'alice')
  assert.equal((await alice.call('POST', '/api/docs', { id: 'i4' })).status, 201)
  const p = hocuspocus(t, c.via(2), 'i4', { token: alice.token })
  await synced(p, 15000)
  p.text.insert(0, 'before the outage')
  await hpAcked(p, 10000)

  await c.redis.crash()
  await waitFor(async () => (await c.nodes[0].metrics()).get('quire_bus_connected') === 0,
    { timeout: 10000, what: 'node 1 notices Redis is gone' })
  // The revocation cannot be published; node 3 must find out from the database.
  assert.equal((await alice.call('POST', '/api/auth/logout')).status, 204)
  await waitFor(() => p.log.some((e) => e.event === 'close' && e.code === 4401),
    { timeout: 10000 * SLOW, what: 'node 3 closes the revoked session\'s socket without Redis' })
  // And it stays revoked when Redis is back: the reconnect is refused.
  await c.redis.resume()
  await waitFor(() => p.log.some((e) => e.event === 'authenticationFailed'),
    { timeout: 10000 * SLOW, what: 'the reconnect with the revoked session refused' })
  assertNodesAlive(c)
})

test('fault 8: the nodes\' Redis connections killed (CLIENT KILL) — they reconnect and catch up, I2', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const w = new Workload(t, c, { docs: ['f8-a', 'f8-b'], seed: 808 })
  await w.connect()
  const reconnects = await Promise.all(c.nodes.map(async (s) => (await s.metrics()).get('quire_bus_reconnects_total') || 0))
  w.start()
  await sleep(2000)
  const killed = c.redis.cli('CLIENT', 'KILL', 'TYPE', 'normal').trim()
  assert.ok(Number(killed) >= 3, `CLIENT KILL closed the nodes' connections (${killed})`)
  await waitFor(async () => {
    const now = await Promise.all(c.nodes.map(async (s) => (await s.metrics()).get('quire_bus_reconnects_total') || 0))
    return now.every((n, i) => n > reconnects[i])
  }, { timeout: 10000 * SLOW, what: 'every node to reconnect to Redis' })
  await sleep(3000)
  await w.stop()
  await w.verify()
  assertNodesAlive(c)
})

test('fault 9: the stream trimmed past a frozen node (--redis-maxlen 5) — gap detected, caught up from the log, I2', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t, { args: ['--redis-maxlen', '5'] })
  // MAXLEN ~ trims whole stream nodes: small nodes make the trim bite at once.
  assert.equal(c.redis.cli('CONFIG', 'SET', 'stream-node-max-entries', '4').trim(), 'OK')
  const w = new Workload(t, c, { docs: ['f9'], clients: 15, targets: [0, 1, 2], seed: 909 })
  await w.connect()
  w.start()
  await sleep(1500)
  const before = await c.nodes[2].metrics()
  freeze(c, 2)
  t.after(() => { try { thaw(c, 2) } catch {} })
  // Nodes 1 and 2 write far more than MAXLEN meanwhile.
  const stored = await metricSum(c, 'quire_updates_stored_total', [0, 1])
  await waitFor(async () => (await metricSum(c, 'quire_updates_stored_total', [0, 1])) > stored + 60, { timeout: 20000 * SLOW, interval: 200, what: '60 updates written while node 3 is frozen' })
  const keys = c.redis.cli('--scan').split('\n').filter((k) => k.includes('f9'))
  const lengths = keys.map((k) => Number(c.redis.cli('XLEN', k).trim())).filter((n) => !Number.isNaN(n))
  assert.ok(lengths.length > 0 && lengths.every((n) => n < 30), `the stream was trimmed (${keys.join(', ')}: ${lengths.join(', ')})`)
  thaw(c, 2)
  await waitFor(async () => (await c.nodes[2].metrics()).get('quire_cluster_gaps_total') > (before.get('quire_cluster_gaps_total') || 0),
    { timeout: 10000 * SLOW, what: 'node 3 to detect the gap' })
  await sleep(2000)
  await w.stop()
  await w.verify()
  const after = await c.nodes[2].metrics()
  assert.ok(after.get('quire_catch_ups_total') > (before.get('quire_catch_ups_total') || 0), 'node 3 read the log tail')
  assertNodesAlive(c)
})

test('fault 11: nginx reloaded under load, then killed and restarted — clients reconnect, I2', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const w = new Workload(t, c, { docs: ['f11-a', 'f11-b'], seed: 1111 })
  await w.connect()
  w.start()
  await sleep(2000)
  c.nginx.reload()
  await sleep(3000)
  await c.nginx.crash()
  const viaNginx = w.clients.filter((cl) => cl.target === undefined)
  await sleep(2000)
  await c.nginx.resume()
  await waitFor(() => viaNginx.every((cl) => cl.provider.synced), { timeout: 10000 * SLOW, what: 'the clients through nginx to reconnect' })
  await sleep(2000)
  await w.stop()
  for (const cl of viaNginx.filter((x) => x.kind === 'hp')) {
    assert.ok(cl.provider.log.some((e) => e.event === 'close'), `client ${cl.i} lost its connection with nginx`)
  }
  await w.verify()
  assertNodesAlive(c)
})

test('fault 12: a node crashing inside compaction (fail points after the snapshot, after the trim, after the commit) — the document after the restart equals before, I1, I3', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  for (const point of ['compact.after_snapshot', 'compact.after_trim', 'compact.after_commit']) {
    const name = `f12-${point.replace(/\W/g, '-')}`
    c.nodes[0].env = { QUIRE_FAILPOINTS: point }
    await c.restartNode(0)
    // Hocuspocus clients only, all on node 1: every edit is acknowledged, and node 1
    // compacts when the last of them leaves.
    const w = new Workload(t, c, { docs: [name], clients: 4, targets: [0], ywsEvery: 1000, seed: 1212 })
    await w.connect()
    await w.burst(1500)
    const live = await w.converge({ fresh: false })
    await w.settle()
    await w.checkStored(live)
    w.shutdown()
    await waitFor(() => !c.nodes[0].running, { timeout: 15000 * SLOW, what: `node 1 to die at ${point}` })
    assert.equal(c.nodes[0].exitInfo.signal, 'SIGKILL', `node 1 killed itself at ${point}`)
    c.nodes[0].unexpectedExit = null
    const key = `'\\x${Buffer.from(name).toString('hex')}'::bytea`
    const snapshots = Number(c.pg.query(`SELECT count(*) FROM snapshots WHERE doc = ${key}`).rows[0][0])
    const logRows = Number(c.pg.query(`SELECT count(*) FROM updates WHERE doc = ${key}`).rows[0][0])
    if (point === 'compact.after_commit') {
      assert.deepEqual([snapshots, logRows], [1, 0], 'the compaction committed: one snapshot, log trimmed')
    } else {
      assert.equal(snapshots, 0, 'the interrupted compaction left no snapshot')
      assert.ok(logRows > 0, 'the interrupted compaction left the log')
    }
    // I3: what is stored replays to the same document; I1: with every acknowledged clock.
    const stored = pgStoredDoc(c.pg, name)
    assert.equal(stored.text, live[name].text)
    assert.deepEqual(stored.sv, live[name].sv)
    c.nodes[0].env = {}
    await c.restartNode(0)
    const p = hocuspocus(t, c.via(0), name)
    await synced(p, 15000 * SLOW)
    assert.equal(p.text.toString(), live[name].text, `after ${point} and a restart the document is as before`)
    assert.deepEqual(stateVector(p.ydoc), live[name].sv)
    for (const cl of w.hp) assert.ok((live[name].sv[cl.ydoc.clientID] || 0) >= cl.tracker.acked)
    p.shutdown()
  }
  assertNodesAlive(c)
})

test('fault 13: cold-load race — 10 clients join a stored document on 2 nodes during a slow load; nobody syncs an empty document, nothing is saved over it, I2', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const name = 'f13'
  const writer = hocuspocus(t, c.via(0), name)
  await synced(writer, 15000)
  const rng = prng(1313)
  for (let k = 0; k < 40; k++) randomTextEdit(rng, writer.text)
  writer.text.insert(0, 'real content: ')
  await hpAcked(writer, 10000)
  const original = writer.text.toString()
  const originalSv = stateVector(writer.ydoc)
  writer.shutdown()
  await waitUnloaded(c)
  // The load waits behind a lock on the log while the joiners arrive on nodes 1 and 2.
  const lock = await holdLock(t, c, 'updates')
  const joiners = []
  for (let k = 0; k < 10; k++) {
    const via = c.via(k % 2)
    const p = k % 3 === 2 ? ywebsocket(t, via, name) : hocuspocus(t, via, name)
    p.textAtSync = null
    p.on('synced', () => { if (p.textAtSync === null) p.textAtSync = p.text.toString() })
    joiners.push(p)
  }
  await sleep(1500)
  assert.deepEqual(joiners.filter((p) => p.textAtSync !== null).map((p) => p.textAtSync), [], 'nobody synced before the load')
  lock.release()
  await Promise.all(joiners.map((p) => synced(p, 15000 * SLOW)))
  for (const [k, p] of joiners.entries()) assert.equal(p.textAtSync, original, `joiner ${k} synced the stored document`)
  // Each edits once; everything converges, and the database holds the original under it.
  for (const [k, p] of joiners.entries()) p.text.insert(p.text.length, ` j${k}`)
  const docs = joiners.map((p) => p.ydoc)
  const text = await converged(docs, { timeout: CONVERGE_MS })
  await Promise.all(joiners.filter((p) => p.unsyncedChanges !== undefined).map((p) => hpAcked(p, 10000 * SLOW)))
  assert.ok(text.startsWith('real content: '))
  await waitFor(() => pgStoredDoc(c.pg, name).text === text, { timeout: 5000 * SLOW, what: 'PostgreSQL to hold the converged text' })
  const stored = pgStoredDoc(c.pg, name)
  for (const [id, clock] of Object.entries(originalSv)) assert.ok(stored.sv[id] >= clock, 'the original is still stored')
  assertNodesAlive(c)
})

test('fault 15: every update sent 3× out of order — identical content on every node and in the database, I2', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t)
  const name = 'f15'
  const local = new Y.Doc()
  t.after(() => local.destroy())
  const updates = []
  local.on('update', (u) => updates.push(u))
  const rng = prng(1515)
  for (let k = 0; k < 25; k++) randomTextEdit(rng, local.getText('text'))
  const order = []
  for (let k = 0; k < updates.length; k++) order.push(k, k, k)
  for (let k = order.length - 1; k > 0; k--) {
    const j = randInt(rng, k + 1)
    const swap = order[k]
    order[k] = order[j]
    order[j] = swap
  }
  const { client } = await rawHocuspocus(t, c.via(0), name)
  for (const k of order) client.send(hp.update(name, updates[k]))
  const acks = () => client.frames.map(parseHp).filter((m) => m.type === 8)
  await waitFor(() => acks().length === order.length, { timeout: 15000 * SLOW, what: `${order.length} acknowledgements`, detail: () => client.describe() })
  assert.ok(acks().every((m) => m.status === 1), 'every copy acknowledged')
  const readers = [0, 1, 2].map((i) => hocuspocus(t, c.via(i), name))
  await Promise.all(readers.map((p) => synced(p, 15000 * SLOW)))
  const want = local.getText('text').toString()
  for (const [i, p] of readers.entries()) {
    await waitFor(() => p.text.toString() === want, { timeout: CONVERGE_MS, what: `node ${i + 1} to hold the content` })
    assert.deepEqual(stateVector(p.ydoc), stateVector(local))
  }
  const stored = pgStoredDoc(c.pg, name)
  assert.equal(stored.text, want)
  assert.deepEqual(stored.sv, stateVector(local))
  assertNodesAlive(c)
})

test('fault 17: 20 parallel refreshes of one cookie while PostgreSQL restarts — one live head, revoked stays revoked (I4)', { timeout: 120000 }, async (t) => {
  const c = await startCluster(t, { accounts: true })
  const user = await register(c.via(), 'racer')
  const origin = c.via().url
  const refresh = async (cookie) => {
    try {
      const res = await fetch(`${origin}/api/auth/refresh`, {
        method: 'POST',
        headers: { Origin: origin, 'X-Quire-CSRF': '1', Cookie: `${COOKIE}=${cookie}` },
        signal: AbortSignal.timeout(20000)
      })
      const set = res.headers.get('set-cookie')
      const next = set && set.startsWith(`${COOKIE}=`) ? set.slice(COOKIE.length + 1).split(';')[0] : null
      return { status: res.status, cookie: next || null, body: await res.text() }
    } catch (err) {
      return { status: 0, error: String(err) }
    }
  }
  // Spread over the crash, the outage and the recovery.
  const storm = Array.from({ length: 20 }, (_, k) => sleep(k * 250).then(() => refresh(user.cookie)))
  await sleep(300)
  await c.pg.crash()
  await sleep(1500)
  await c.pg.resume()
  const results = await Promise.all(storm)
  const statuses = results.map((r) => r.status)
  t.diagnostic(`refresh answers: ${statuses.join(' ')}`)
  assert.ok(statuses.every((s) => [200, 401, 503].includes(s)), `only 200, 401 or 503: ${statuses.join(' ')}`)
  // One live head per family, and at most one of the cookies handed out is it.
  const heads = c.pg.query('SELECT family_id, count(*) FROM refresh_tokens WHERE used_at IS NULL GROUP BY family_id HAVING count(*) > 1')
  assert.ok(heads.ok, heads.stderr)
  assert.deepEqual(heads.rows, [], 'no family has two live heads')
  const issued = results.filter((r) => r.status === 200 && r.cookie).map((r) => r.cookie)
  const hash = (token) => createHash('sha256').update(token).digest('hex')
  const live = c.pg.query(`SELECT hash FROM refresh_tokens WHERE used_at IS NULL AND hash IN (${issued.map((k) => `'${hash(k)}'`).join(',') || "''"})`)
  assert.ok(live.rows.length <= 1, `${live.rows.length} of the issued cookies are live heads`)
  const head = issued.find((k) => live.rows.some(([h]) => h === hash(k)))
  const family = c.pg.query('SELECT revoked_at IS NOT NULL FROM token_families')
  const revoked = family.rows.every(([r]) => r === 't')
  t.diagnostic(`${issued.length} cookies issued, ${head ? 'one of them' : 'none'} the live head, family ${revoked ? 'revoked' : 'live'}`)
  // The nodes may still answer 503 for a moment after PostgreSQL is back (their pools
  // wait out a reconnect backoff): that is no answer about the token, so ask again.
  const answer = (cookie) => waitFor(async () => {
    const r = await refresh(cookie)
    return r.status !== 503 && r.status !== 0 && r
  }, { timeout: 15000 * SLOW, interval: 250, what: 'a refresh answered without 503' })
  if (!revoked && issued.some((k) => k !== head)) {
    // A dead cookie presented again is reuse: the family is revoked, the head with it.
    const dead = await answer(issued.find((k) => k !== head))
    assert.equal(dead.status, 401, dead.body)
    assert.ok(c.pg.query('SELECT revoked_at IS NOT NULL FROM token_families').rows.every(([r]) => r === 't'), 'reuse revoked the family')
    if (head) assert.equal((await answer(head)).status, 401, 'the head died with its family')
  } else if (revoked) {
    for (const k of issued) assert.equal((await answer(k)).status, 401, 'a revoked family stays revoked')
  } else if (head) {
    assert.equal((await answer(head)).status, 200, 'the live head refreshes')
  }
  assertNodesAlive(c)
})
