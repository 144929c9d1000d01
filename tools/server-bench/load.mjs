#!/usr/bin/env node
// Load benchmark of `quire serve` on one node: C typing clients (raw Hocuspocus frames,
// one Y.Doc each) on D documents, an open-loop sweep of offered update rates, and per
// step the acknowledged rate, broadcast and commit latency, write amplification, server
// CPU and memory. Ends with a convergence check. Prints Markdown on stdout (progress on
// stderr). Starts and always removes its own server and data directory.
//
//   node tools/server-bench/load.mjs build/release/src/app/quire [options]
//
// Threads: this main thread runs the server process, the /proc and /metrics readings and
// the report; the typing clients live in worker threads (worker.mjs), whole documents
// per worker.
import { spawn, spawnSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import { nowMs, connectAndSync } from './protocol.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.resolve(here, '../..')
const TOKEN = 'bench-token-0123'

// ---------------------------------------------------------------------------------------
// Options

const DEFAULTS = {
  clients: 100,
  docs: 10,
  rates: '500,1000,2000,4000,8000',
  'step-seconds': 10,
  'warmup-seconds': 2,
  'drain-seconds': 5,
  workers: 1,
  seed: 1,
  'server-rate': 1000000,
  threads: 0,
  'data-parent': os.tmpdir(),
  'max-p99-ms': 1000,
  'min-achieved': 0.9
}

function usage (msg) {
  if (msg) process.stderr.write(`load.mjs: ${msg}\n`)
  process.stderr.write(`usage: node load.mjs QUIRE_BINARY [--clients N] [--docs N] [--rates R1,R2,...]
  [--step-seconds S] [--warmup-seconds S] [--drain-seconds S] [--workers N] [--seed N]
  [--server-rate N] [--threads N] [--data-parent DIR] [--max-p99-ms MS] [--min-achieved F]
defaults: ${Object.entries(DEFAULTS).map(([k, v]) => `--${k} ${v}`).join(' ')}
  --rates         offered total update rates (updates/s over all clients), one step each
  --server-rate   passed to quire as --rate-messages and --rate-burst (its per-connection
                  limit, 20 msg/s by default, would otherwise be what is measured)
  --threads       quire's --threads (0: its default, one per core)
  --workers       load-generator threads (documents are split between them)
`)
  process.exit(2)
}

function parseArgs (argv) {
  const opts = { ...DEFAULTS }
  let binary = null
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '-h' || a === '--help') usage()
    if (a.startsWith('--')) {
      const [k, inline] = a.slice(2).split('=', 2)
      if (!(k in DEFAULTS)) usage(`unknown option --${k}`)
      const v = inline !== undefined ? inline : argv[++i]
      if (v === undefined) usage(`--${k} needs a value`)
      opts[k] = typeof DEFAULTS[k] === 'number' ? Number(v) : v
      if (typeof DEFAULTS[k] === 'number' && !Number.isFinite(opts[k])) usage(`--${k}: not a number: ${v}`)
    } else if (binary === null) {
      binary = a
    } else {
      usage(`unexpected argument ${a}`)
    }
  }
  if (!binary) usage('QUIRE_BINARY is required')
  opts.rates = String(opts.rates).split(',').map(Number)
  if (opts.rates.some((r) => !(r > 0))) usage('--rates: positive numbers')
  if (!(opts.clients >= 2 && opts.docs >= 1 && opts.clients >= 2 * opts.docs)) {
    usage('need at least two clients per document')
  }
  opts.workers = Math.max(1, Math.min(opts.workers, opts.docs))
  return { binary: path.resolve(binary), opts }
}

const { binary, opts } = parseArgs(process.argv.slice(2))

// ---------------------------------------------------------------------------------------
// Clean-up that also runs on failure: the server is killed and the data dir removed.

let serverProc = null
let dataDir = null
const workers = []

function cleanupSync () {
  if (serverProc && serverProc.exitCode === null && serverProc.signalCode === null) {
    try { serverProc.kill('SIGKILL') } catch {}
  }
  for (const w of workers) { try { w.terminate() } catch {} }
  if (dataDir) {
    try { fs.rmSync(dataDir, { recursive: true, force: true }) } catch {}
    dataDir = null
  }
}
process.on('exit', cleanupSync)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { process.stderr.write(`load.mjs: ${sig}, cleaning up\n`); process.exit(130) })
}
function fail (err) {
  process.stderr.write(`load.mjs: FAILED: ${err && err.stack ? err.stack : err}\n`)
  if (serverStderr) process.stderr.write(`quire stderr (tail):\n${serverStderr.slice(-3000)}\n`)
  process.exit(1)
}
process.on('uncaughtException', fail)
process.on('unhandledRejection', fail)

// Everything is bounded: a watchdog ends the run (and cleans up) if it overruns.
const perStepSeconds = opts['warmup-seconds'] + opts['step-seconds'] + opts['drain-seconds'] + 2
const deadlineSeconds = 40 + opts.rates.length * perStepSeconds + 35 // 170 s with the defaults
setTimeout(() => fail(new Error(`watchdog: run exceeded ${deadlineSeconds} s`)), deadlineSeconds * 1000).unref()

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------
// The server and its /proc figures

let serverStderr = ''
let serverUrl = null

function startServer () {
  dataDir = fs.mkdtempSync(path.join(opts['data-parent'], 'quire-bench-'))
  const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--dev-auth', `${TOKEN}=rw`,
    '--rate-messages', String(opts['server-rate']), '--rate-burst', String(opts['server-rate']),
    '--log-level', 'warn']
  if (opts.threads > 0) args.push('--threads', String(opts.threads))
  serverProc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  serverProc.stderr.setEncoding('utf8')
  serverProc.stderr.on('data', (chunk) => { serverStderr = (serverStderr + chunk).slice(-256 * 1024) })
  serverProc.on('exit', (code, signal) => {
    if (!stopping) fail(new Error(`quire serve exited during the run (code ${code}, signal ${signal})`))
  })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error('quire serve printed no ready line within 15 s')), 15000)
    serverProc.stdout.setEncoding('utf8')
    serverProc.stdout.on('data', (chunk) => {
      out += chunk
      const m = /quire: listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (m && !serverUrl) {
        clearTimeout(timer)
        serverUrl = m[1]
        resolve({ args })
      }
    })
  })
}

let stopping = false
async function stopServer () {
  stopping = true
  if (serverProc.exitCode !== null || serverProc.signalCode !== null) {
    return { code: serverProc.exitCode, signal: serverProc.signalCode }
  }
  const exited = new Promise((resolve) => serverProc.once('exit', (code, signal) => resolve({ code, signal })))
  serverProc.kill('SIGTERM')
  const r = await Promise.race([exited, sleep(10000).then(() => null)])
  if (r) return r
  serverProc.kill('SIGKILL')
  return { ...(await exited), note: 'did not exit within 10 s of SIGTERM; killed' }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

function procSnapshot () {
  const pid = serverProc.pid
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8')
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (text, key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)[1])
  const size = (name) => { try { return fs.statSync(path.join(dataDir, name)).size } catch { return 0 } }
  return {
    t: nowMs(),
    cpuTicks: Number(rest[11]) + Number(rest[12]), // utime + stime
    threads: Number(rest[17]),
    writeBytes: field(io, 'write_bytes'),
    rss: field(status, 'VmRSS') * 1024,
    dbBytes: size('quire.db'),
    walBytes: size('quire.db-wal'),
    clientCpu: process.cpuUsage(),
    machine: machineTicks()
  }
}

// Busy ticks of the whole machine (every core), to see what other processes took.
function machineTicks () {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f
  return { busy: user + nice + system + irq + softirq + steal, iowait }
}

async function metrics () {
  const res = await fetch(serverUrl + '/metrics', { signal: AbortSignal.timeout(5000) })
  const out = new Map()
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^(\S+?)(\{.*\})?\s+(\S+)/.exec(line)
    if (m) out.set(m[1] + (m[2] || ''), Number(m[3]))
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Workers

function startWorkers () {
  const specs = Array.from({ length: opts.workers }, () => [])
  for (let i = 0; i < opts.clients; i++) {
    const d = i % opts.docs
    specs[d % opts.workers].push({
      index: i,
      doc: `bench-doc-${String(d).padStart(3, '0')}`,
      clientID: (opts.seed * 1000003 + i + 1) >>> 0
    })
  }
  const wsUrl = serverUrl.replace(/^http/, 'ws') + '/ws'
  for (const clients of specs) {
    const w = new Worker(path.join(here, 'worker.mjs'), { workerData: { url: wsUrl, token: TOKEN, clients, seed: opts.seed } })
    w.inbox = []
    w.waiters = []
    w.on('message', (msg) => {
      if (msg.type === 'error') fail(new Error(`worker: ${msg.error}`))
      const i = w.waiters.findIndex((x) => x.type === msg.type)
      if (i >= 0) w.waiters.splice(i, 1)[0].resolve(msg)
      else w.inbox.push(msg)
    })
    w.on('error', fail)
    workers.push(w)
  }
}

function receive (w, type, timeoutMs) {
  const i = w.inbox.findIndex((m) => m.type === type)
  if (i >= 0) return Promise.resolve(w.inbox.splice(i, 1)[0])
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${type}' from a worker within ${timeoutMs} ms`)), timeoutMs)
    w.waiters.push({ type, resolve: (m) => { clearTimeout(timer); resolve(m) } })
  })
}

const all = (type, timeoutMs) => Promise.all(workers.map((w) => receive(w, type, timeoutMs)))

// ---------------------------------------------------------------------------------------
// Figures

function percentile (sorted, q) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

function concat (arrays) {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0))
  let o = 0
  for (const a of arrays) { out.set(a, o); o += a.length }
  return out.sort()
}

const fmtMs = (v) => Number.isNaN(v) ? '—' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)
const fmtInt = (v) => Math.round(v).toLocaleString('en-US')
const mb = (b) => (b / 1e6).toFixed(2)

async function runStep (rate) {
  const perClientRate = rate / opts.clients
  const startAt = nowMs() + 200
  const windowStart = startAt + opts['warmup-seconds'] * 1000
  const windowEnd = windowStart + opts['step-seconds'] * 1000
  const drainUntil = windowEnd + opts['drain-seconds'] * 1000
  for (const w of workers) w.postMessage({ type: 'step', perClientRate, startAt, windowStart, windowEnd, drainUntil })
  const results = all('stepDone', (drainUntil - nowMs()) + 20000)
  await sleep(windowStart - nowMs())
  const before = procSnapshot()
  const mBefore = await metrics()
  await sleep(windowEnd - nowMs())
  const after = procSnapshot()
  const mAfter = await metrics()
  const rs = (await results).map((m) => m.result)
  const sum = (k) => rs.reduce((n, r) => n + r[k], 0)
  const seconds = (after.t - before.t) / 1000
  const bcast = concat(rs.map((r) => r.bcastLat))
  const ack = concat(rs.map((r) => r.ackLat))
  const lag = concat(rs.map((r) => r.lag))
  const md = (k) => (mAfter.get(k) || 0) - (mBefore.get(k) || 0)
  const matched = sum('matchedByBytes') + sum('matchedById')
  const ackedBytes = sum('ackedBytesInWindow')
  const clientCpuUs = (after.clientCpu.user - before.clientCpu.user) + (after.clientCpu.system - before.clientCpu.system)
  const serverCpuSec = (after.cpuTicks - before.cpuTicks) / CLK_TCK
  const machineBusySec = (after.machine.busy - before.machine.busy) / CLK_TCK
  const row = {
    rate,
    sentPerSec: sum('sentInWindow') / seconds,
    ackedPerSec: sum('ackedInWindow') / seconds,
    bcastN: bcast.length,
    bcastP50: percentile(bcast, 0.5),
    bcastP99: percentile(bcast, 0.99),
    bcastMax: bcast.length ? bcast[bcast.length - 1] : NaN,
    ackN: ack.length,
    ackP50: percentile(ack, 0.5),
    ackP99: percentile(ack, 0.99),
    ackMax: ack.length ? ack[ack.length - 1] : NaN,
    lagP99: percentile(lag, 0.99),
    lagMax: lag.length ? lag[lag.length - 1] : NaN,
    ackedBytes,
    diskWritten: after.writeBytes - before.writeBytes,
    writeAmp: ackedBytes > 0 ? (after.writeBytes - before.writeBytes) / ackedBytes : NaN,
    fileGrowth: (after.dbBytes + after.walBytes) - (before.dbBytes + before.walBytes),
    dbBytes: after.dbBytes,
    walBytes: after.walBytes,
    serverCpu: serverCpuSec / seconds * 100,
    otherCpu: Math.max(0, machineBusySec - serverCpuSec - clientCpuUs / 1e6) / seconds * 100,
    iowait: (after.machine.iowait - before.machine.iowait) / CLK_TCK / seconds * 100,
    threads: after.threads,
    rss: after.rss,
    clientCpu: clientCpuUs / 1e6 / seconds * 100,
    elu: rs.map((r) => r.elu),
    commits: md('quire_commit_seconds_count'),
    commitEntries: md('quire_commit_entries_total'),
    commitSeconds: md('quire_commit_seconds_sum'),
    generatorBehind: false,
    compactions: md('quire_compactions_total'),
    slowCommits100: md('quire_commit_seconds_count') - md('quire_commit_seconds_bucket{le="0.1"}'),
    slowCommits500: md('quire_commit_seconds_count') - md('quire_commit_seconds_bucket{le="0.5"}'),
    matchedByBytes: sum('matchedByBytes'),
    matchedById: sum('matchedById'),
    unmatched: sum('unmatched'),
    matchRate: matched > 0 ? sum('matchedByBytes') / matched : NaN,
    echoes: sum('echoes'),
    rejected: sum('rejected'),
    extraAcks: sum('extraAcks'),
    otherFrames: sum('otherFrames'),
    outstandingAcks: sum('outstandingAcks'),
    outstandingBroadcasts: sum('outstandingBroadcasts'),
    openSockets: sum('openSockets'),
    drainMs: Math.max(...rs.map((r) => r.drainedAt)) - windowEnd
  }
  // The load generator kept its schedule only if its thread had time to spare: otherwise
  // its own queueing is part of every latency of the row.
  row.generatorBehind = row.elu.some((x) => x > 0.9) || row.lagP99 > 50 || row.sentPerSec < 0.95 * rate
  return row
}

function verdict (row) {
  const reasons = []
  if (row.ackedPerSec < opts['min-achieved'] * row.rate) {
    reasons.push(`acknowledged ${fmtInt(row.ackedPerSec)}/s < ${opts['min-achieved'] * 100}% of ${fmtInt(row.rate)}/s offered`)
  }
  if (row.bcastP99 > opts['max-p99-ms']) reasons.push(`broadcast p99 ${fmtMs(row.bcastP99)} ms > ${opts['max-p99-ms']} ms`)
  if (row.ackP99 > opts['max-p99-ms']) reasons.push(`ack p99 ${fmtMs(row.ackP99)} ms > ${opts['max-p99-ms']} ms`)
  if (row.outstandingAcks || row.outstandingBroadcasts) {
    reasons.push(`${row.outstandingAcks} acks and ${row.outstandingBroadcasts} broadcasts still missing ${opts['drain-seconds']} s after the sends stopped`)
  }
  if (row.openSockets < opts.clients) reasons.push(`${opts.clients - row.openSockets} client sockets closed`)
  return reasons
}

// ---------------------------------------------------------------------------------------
// Convergence

async function convergence () {
  for (const w of workers) w.postMessage({ type: 'texts' })
  const perDoc = {}
  for (const m of await all('texts', 30000)) Object.assign(perDoc, m.texts)
  const wsUrl = serverUrl.replace(/^http/, 'ws') + '/ws'
  const lines = []
  let ok = true
  for (const [doc, list] of Object.entries(perDoc).sort()) {
    const first = list[0].text
    const differing = list.filter((x) => x.text !== first).map((x) => x.client)
    const fresh = new Y.Doc()
    const ws = await connectAndSync({ url: wsUrl, doc, token: TOKEN, ydoc: fresh, onFrame: () => {} })
    const freshText = fresh.getText('t').toString()
    ws.close(1000)
    const same = differing.length === 0 && freshText === first
    ok = ok && same
    lines.push(`${doc}: ${list.length} clients, ${first.length} characters, ` +
      (differing.length ? `clients ${differing.join(',')} differ from client ${list[0].client}` : 'all clients equal') +
      `, fresh client ${freshText === first ? 'equal' : `DIFFERENT (${freshText.length} characters)`}`)
    fresh.destroy()
  }
  return { ok, lines }
}

// ---------------------------------------------------------------------------------------
// Main

function git (...args) {
  const r = spawnSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}

async function main () {
  const t0 = nowMs()
  const loadBefore = os.loadavg()
  const commit = git('rev-parse', '--short', 'HEAD') || 'unknown'
  const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'CMakeLists.txt')
  const startedAt = new Date().toISOString().replace('T', ' ').slice(0, 19) + ' UTC'
  const command = ['node', path.relative(process.cwd(), process.argv[1]) || process.argv[1],
    ...process.argv.slice(2)].join(' ')

  const { args } = await startServer()
  const fsType = spawnSync('findmnt', ['-no', 'FSTYPE', '-T', dataDir], { encoding: 'utf8' }).stdout.trim() || '?'
  log(`quire serve on ${serverUrl}, data dir ${dataDir} (${fsType})`)
  startWorkers()
  await all('ready', 15000)
  for (const w of workers) w.postMessage({ type: 'connect' })
  await all('connected', 30000)
  log(`${opts.clients} clients connected and synced on ${opts.docs} documents`)

  const rows = []
  let stopReason = null
  for (const rate of opts.rates) {
    log(`step: ${rate} updates/s offered (${(rate / opts.clients).toFixed(1)}/s per client), ` +
      `${opts['warmup-seconds']} s warm-up + ${opts['step-seconds']} s measured`)
    const row = await runStep(rate)
    rows.push(row)
    log(`  sent ${fmtInt(row.sentPerSec)}/s, acked ${fmtInt(row.ackedPerSec)}/s, broadcast p50/p99 ` +
      `${fmtMs(row.bcastP50)}/${fmtMs(row.bcastP99)} ms, ack p50/p99 ${fmtMs(row.ackP50)}/${fmtMs(row.ackP99)} ms, ` +
      `server CPU ${row.serverCpu.toFixed(0)}%, client CPU ${row.clientCpu.toFixed(0)}%`)
    const reasons = verdict(row)
    if (reasons.length) { stopReason = `${fmtInt(rate)}/s: ${reasons.join('; ')}`; break }
  }

  log('convergence check')
  const conv = await convergence()
  for (const w of workers) w.postMessage({ type: 'close' })
  const closed = await all('closed', 10000)
  await sleep(200)
  const finalMetrics = await metrics()
  const exit = await stopServer()
  const loadAfter = os.loadavg()
  const wall = (nowMs() - t0) / 1000

  // ---- report
  const o = []
  const p = (s = '') => o.push(s)
  const cpuModel = (os.cpus()[0] || {}).model || '?'
  p(`### quire serve under load: ${opts.clients} typing clients on ${opts.docs} documents`)
  p()
  p(`- machine: ${os.cpus().length} cores (${cpuModel.trim()}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
    `Linux ${os.release()}; node ${process.version}; yjs 13.6.33; quire ${commit}${dirty ? ' (+ uncommitted changes in src)' : ''}`)
  p(`- command: \`${command}\``)
  p(`- started ${startedAt}; load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, ` +
    `after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}; wall time ${wall.toFixed(0)} s`)
  p(`- server: \`quire ${args.join(' ').replace(dataDir, 'TMPDIR')}\` — data dir on ${fsType}; ` +
    `the per-connection rate limit (20 msg/s, burst 100 by default) is raised to ${fmtInt(opts['server-rate'])} ` +
    'so that it is not what is measured; every other limit is the default')
  p(`- load: ${opts.clients} clients (client i on document i mod ${opts.docs}), each a raw \`ws\` socket speaking ` +
    `Hocuspocus frames with its own Y.Doc, in ${opts.workers} load-generator thread(s) of one node process; ` +
    `per step ${opts['warmup-seconds']} s warm-up (not measured), ${opts['step-seconds']} s measured, ` +
    `then up to ${opts['drain-seconds']} s for the remaining answers; seed ${opts.seed}`)
  p()
  p('| offered upd/s | sent upd/s | acked upd/s | broadcast p50 ms | broadcast p99 ms | broadcast max ms | ack p50 ms | ack p99 ms | ack max ms | send lag p99 ms | matched by bytes |')
  p('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    p(`| ${fmtInt(r.rate)}${r.generatorBehind ? ' †' : ''} | ${fmtInt(r.sentPerSec)} | ${fmtInt(r.ackedPerSec)} | ${fmtMs(r.bcastP50)} | ${fmtMs(r.bcastP99)} | ` +
      `${fmtMs(r.bcastMax)} | ${fmtMs(r.ackP50)} | ${fmtMs(r.ackP99)} | ${fmtMs(r.ackMax)} | ${fmtMs(r.lagP99)} | ` +
      `${Number.isNaN(r.matchRate) ? '—' : (r.matchRate * 100).toFixed(2) + '%'} |`)
  }
  p()
  p('| offered upd/s | update bytes acked | disk writes (write_bytes) | write amplification | quire.db + WAL growth | commits/s | updates per commit | mean commit ms | compactions | server CPU | server RSS | load generator CPU (event loop busy) | other processes CPU |')
  p('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    const secs = opts['step-seconds']
    p(`| ${fmtInt(r.rate)} | ${mb(r.ackedBytes)} MB | ${mb(r.diskWritten)} MB | ${r.writeAmp.toFixed(1)}× | ${mb(r.fileGrowth)} MB | ` +
      `${fmtInt(r.commits / secs)} | ${r.commits ? (r.commitEntries / r.commits).toFixed(1) : '—'} | ` +
      `${r.commits ? fmtMs(r.commitSeconds / r.commits * 1000) : '—'} | ${r.compactions} | ` +
      `${r.serverCpu.toFixed(0)}% | ${(r.rss / 2 ** 20).toFixed(0)} MiB | ${r.clientCpu.toFixed(0)}% ` +
      `(${r.elu.map((x) => (x * 100).toFixed(0) + '%').join(' / ')}) | ${r.otherCpu.toFixed(0)}% |`)
  }
  p()
  p('- CPU figures are % of one core over the measured window. † the load generator could not keep ' +
    'its schedule in that step (its event loop > 90% busy, send lag p99 > 50 ms or < 95% of the offered ' +
    'rate sent): that row\'s latencies include the generator\'s own queueing, so they bound the ' +
    'server\'s from above.')
  p(`- sweep: ${stopReason ? `stopped at ${stopReason}` : 'every offered rate was sustained (no step fell behind)'}.`)
  p(`- convergence: ${conv.ok ? 'yes' : 'NO'} — every client of a document has the same text and a fresh client that syncs gets it too:`)
  for (const l of conv.lines) p(`  - ${l}`)
  const odd = []
  for (const r of rows) {
    const bits = []
    if (r.unmatched) bits.push(`${r.unmatched} received updates matched no sent one`)
    if (r.matchedById) bits.push(`${r.matchedById} matched only by (client, clock)`)
    if (r.echoes) bits.push(`${r.echoes} echoes to the sender`)
    if (r.rejected) bits.push(`${r.rejected} updates answered 08 00 (rejected)`)
    if (r.extraAcks) bits.push(`${r.extraAcks} acks without an unacknowledged update`)
    if (r.otherFrames) bits.push(`${r.otherFrames} other frames`)
    if (r.slowCommits100) bits.push(`${r.slowCommits100} commits took > 100 ms (${r.slowCommits500} > 500 ms)`)
    if (r.outstandingAcks || r.outstandingBroadcasts) bits.push(`${r.outstandingAcks} acks / ${r.outstandingBroadcasts} broadcasts missing after the drain`)
    if (bits.length) odd.push(`${fmtInt(r.rate)}/s: ${bits.join(', ')}`)
  }
  const closes = closed.flatMap((m) => m.closes)
  const unexpected = closes.filter((c) => !c.expected)
  if (unexpected.length) {
    const byCode = {}
    for (const c of unexpected) byCode[`${c.code} ${c.reason}`] = (byCode[`${c.code} ${c.reason}`] || 0) + 1
    odd.push(`sockets closed during the run: ${JSON.stringify(byCode)}`)
  }
  const errors = closed.flatMap((m) => m.errors)
  if (errors.length) odd.push(`socket errors: ${errors.slice(0, 5).join('; ')}${errors.length > 5 ? ` (+${errors.length - 5})` : ''}`)
  const alarming = [...finalMetrics].filter(([k, v]) => v > 0 && /reject|fail|error|closed|close_/i.test(k))
  if (alarming.length) odd.push(`server metrics: ${alarming.map(([k, v]) => `${k} ${v}`).join(', ')}`)
  const warnLines = serverStderr.split('\n').filter((l) => l.trim())
  if (warnLines.length) odd.push(`server log (warn and above): ${warnLines.length} lines, e.g. ${warnLines.slice(0, 3).join(' | ')}`)
  if (exit.code !== 0) odd.push(`server exit after SIGTERM: ${JSON.stringify(exit)}`)
  p(`- anomalies:${odd.length ? '' : ' none (no unmatched or echoed updates, no rejections, no closes, no server warnings, clean exit)'}`)
  for (const l of odd) p(`  - ${l}`)
  p(`- totals at the end: ${fmtInt(finalMetrics.get('quire_updates_stored_total') || 0)} updates stored, ` +
    `${fmtInt(finalMetrics.get('quire_commit_seconds_count') || 0)} commits, ` +
    `${fmtInt(finalMetrics.get('quire_compactions_total') || 0)} compactions; quire.db ${mb(rows.at(-1)?.dbBytes || 0)} MB, ` +
    `WAL ${mb(rows.at(-1)?.walBytes || 0)} MB; server threads ${rows.at(-1)?.threads}`)
  process.stdout.write(o.join('\n') + '\n')
  return conv.ok ? 0 : 1
}

main().then((code) => {
  cleanupSync()
  process.exit(code)
}, fail)
