// Cluster benchmark (`make bench-cluster`, issue 7): three nodes behind nginx on one
// PostgreSQL and one Redis, all on this machine (cluster.mjs). Prints, as Markdown:
//   1. cross-node propagation: one writer on node 1 typing at a fixed rate, observers on
//      nodes 2 and 3 — latency from the writer's send to each observer's receipt, p50/p99,
//      per offered rate (and, for reference, to an observer on the writer's own node);
//   2. throughput: writers on every node at once as fast as acknowledgements allow —
//      acknowledged updates per second through the cluster;
//   3. database work per update: PostgreSQL transactions and rows written per stored update.
// A figure, not a test: nothing is asserted. Options: --rates 100,500,1000 --seconds 5
// --observers 4 --writers 6 --throughput-seconds 8.
import { performance } from 'node:perf_hooks'
import os from 'node:os'
import { startCluster } from './cluster.mjs'
import { hocuspocus, hpSynced, Y, sleep } from './clients.mjs'

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : def
}
const rates = arg('rates', '100,500,1000').split(',').map(Number)
const seconds = Number(arg('seconds', 5))
const observersPerNode = Number(arg('observers', 4))
const writersPerNode = Number(arg('writers', 2))
const throughputSeconds = Number(arg('throughput-seconds', 8))

const hooks = []
const t = { after: (f) => hooks.push(f) }
const pct = (xs, p) => {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a')

async function pgCounters (c) {
  const r = c.pg.query("SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = 'postgres'")
  return { xacts: Number(r.rows[0][0]), rows: Number(r.rows[0][1]) }
}

async function stored (c) {
  let n = 0
  for (const s of c.nodes) n += (await s.metrics()).get('quire_updates_stored_total') || 0
  return n
}

async function propagation (c, rate) {
  const name = `prop-${rate}`
  const writer = hocuspocus(t, c.via(0), name)
  await hpSynced(writer, 15000)
  const observers = []
  for (const node of [0, 1, 2]) {
    for (let i = 0; i < (node === 0 ? 1 : observersPerNode); i++) {
      const o = hocuspocus(t, c.via(node), name)
      o.node = node
      observers.push(o)
    }
  }
  await Promise.all(observers.map((o) => hpSynced(o, 15000)))
  const wid = writer.ydoc.clientID
  const sent = new Map() // writer clock after the edit → send time
  const lat = { same: [], cross: [] }
  for (const o of observers) {
    let seen = Y.getState(o.ydoc.store, wid)
    o.ydoc.on('update', () => {
      const now = performance.now()
      const clock = Y.getState(o.ydoc.store, wid)
      for (let k = seen + 1; k <= clock; k++) {
        const at = sent.get(k)
        if (at !== undefined) (o.node === 0 ? lat.same : lat.cross).push(now - at)
      }
      seen = Math.max(seen, clock)
    })
  }
  const total = Math.round(rate * seconds)
  const start = performance.now()
  for (let k = 0; k < total; k++) {
    const due = start + (k * 1000) / rate
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    writer.text.insert(writer.text.length, 'x')
    sent.set(Y.getState(writer.ydoc.store, wid), performance.now())
  }
  const elapsed = (performance.now() - start) / 1000
  await sleep(2000)
  const expected = total * observersPerNode * 2
  for (const p of [writer, ...observers]) p.shutdown()
  return { rate, offered: total / elapsed, cross: lat.cross, same: lat.same, lost: expected - lat.cross.length }
}

async function throughput (c) {
  const writers = []
  for (const node of [0, 1, 2]) {
    for (let i = 0; i < writersPerNode; i++) writers.push(hocuspocus(t, c.via(node), `tput-${i % 2}`))
  }
  await Promise.all(writers.map((w) => hpSynced(w, 15000)))
  const before = { stored: await stored(c), ...(await pgCounters(c)) }
  let acked = 0
  for (const w of writers) {
    w.on('unsyncedChanges', () => {})
    w.acks = 0
  }
  const deadline = performance.now() + throughputSeconds * 1000
  await Promise.all(writers.map(async (w) => {
    // Closed loop with a window: at most 32 unacknowledged updates per writer.
    while (performance.now() < deadline) {
      if (w.unsyncedChanges < 32) {
        w.text.insert(w.text.length, 'y')
      } else {
        await sleep(1)
      }
      if ((w.acks++ & 15) === 0) await new Promise((resolve) => setImmediate(resolve))
    }
  }))
  await sleep(1500)
  const after = { stored: await stored(c), ...(await pgCounters(c)) }
  acked = after.stored - before.stored
  for (const w of writers) w.shutdown()
  return {
    writers: writers.length,
    perSecond: acked / throughputSeconds,
    xactsPerUpdate: (after.xacts - before.xacts) / acked,
    rowsPerUpdate: (after.rows - before.rows) / acked
  }
}

// The per-connection rate limit (20 messages/s) would otherwise be what is measured.
const c = await startCluster(t, { args: ['--rate-messages', '1000000', '--rate-burst', '1000000'] })
try {
  const cpu = os.cpus()
  console.log(`## Cluster: three nodes behind nginx (PostgreSQL + Redis), one machine\n`)
  console.log(`- machine: ${cpu.length} × ${cpu[0].model}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; everything (nodes, nginx, PostgreSQL, Redis, clients) shares it`)
  console.log(`- command: make bench-cluster (node tools/server-tests/cluster-bench.mjs ${process.argv.slice(2).join(' ')})`)
  console.log(`- started: ${new Date().toISOString()}\n`)
  console.log(`### Propagation: one writer on node 1, ${observersPerNode} observers on each of nodes 2 and 3\n`)
  console.log('| offered updates/s | cross-node p50 ms | cross-node p99 ms | same-node p50 ms | same-node p99 ms | deliveries missing |')
  console.log('|---:|---:|---:|---:|---:|---:|')
  for (const r of rates) {
    const p = await propagation(c, r)
    console.log(`| ${p.offered.toFixed(0)} | ${fmt(pct(p.cross, 50))} | ${fmt(pct(p.cross, 99))} | ${fmt(pct(p.same, 50))} | ${fmt(pct(p.same, 99))} | ${p.lost} |`)
  }
  const tp = await throughput(c)
  console.log(`\n### Throughput: ${tp.writers} writers (${writersPerNode} per node) on 2 documents, ≤ 32 unacknowledged each, ${throughputSeconds} s\n`)
  console.log('| stored and acknowledged updates/s | PostgreSQL transactions per update | rows written per update |')
  console.log('|---:|---:|---:|')
  console.log(`| ${tp.perSecond.toFixed(0)} | ${tp.xactsPerUpdate.toFixed(3)} | ${tp.rowsPerUpdate.toFixed(2)} |`)
} finally {
  for (const h of hooks.reverse()) await h()
}
process.exit(0)
