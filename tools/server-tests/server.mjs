// Starts the real `quire serve` as a child process for the integration tests: a fresh
// temporary data directory, an ephemeral port, the ready line parsed from stdout, stderr
// kept for diagnostics, and guaranteed clean-up (the process is killed and the directory
// removed when the test ends, even when the test process itself is torn down).
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))

export const RW_TOKEN = 'rw-token-0123'
export const RO_TOKEN = 'ro-token-4567'
export const BAD_TOKEN = 'not-a-token'

/** The binary under test: $QUIRE_BINARY (set by run.sh) or the release build. */
export const QUIRE_BINARY = process.env.QUIRE_BINARY ||
  path.resolve(here, '../../build/release/src/app/quire')

const READY_RE = /^quire: listening on (http:\/\/127\.0\.0\.1:(\d+))\s*$/
const STDERR_KEEP = 64 * 1024

// Every live child and temp dir, so that an exiting test process never leaves any behind.
const liveChildren = new Set()
const liveDirs = new Set()
process.on('exit', () => {
  for (const child of liveChildren) {
    try { child.kill('SIGKILL') } catch {}
  }
  for (const dir of liveDirs) {
    try { fs.rmSync(dir, { recursive: true, force: true }) } catch {}
  }
})
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.once(sig, () => process.exit(128 + os.constants.signals[sig]))
}

/**
 * A running (or stopped) server. `url`, `wsUrl`, `port` and `pid` change on restart; the
 * data directory does not.
 */
export class QuireServer {
  constructor ({ args, dataDir, ownsDataDir, binary, readyTimeoutMs, verbose, env }) {
    this.args = args
    // Extra environment variables (e.g. QUIRE_FAILPOINTS); may be changed before a restart.
    this.env = env || {}
    this.dataDir = dataDir
    this.ownsDataDir = ownsDataDir
    this.binary = binary
    this.readyTimeoutMs = readyTimeoutMs
    this.verbose = verbose
    this.proc = null
    this.url = null
    this.wsUrl = null
    this.port = null
    this.pid = null
    this.stderr = ''
    this.exitInfo = null // {code, signal} of the last exit
    this.starts = 0
    this.expectingExit = false
    this.unexpectedExit = null // {code, signal} when the process died without being asked
    this.unexpectedStderr = ''
  }

  get dbPath () { return path.join(this.dataDir, 'quire.db') }

  /** True while the child process has not exited. */
  get running () { return this.proc !== null && this.exitInfo === null }

  async start () {
    if (this.running) throw new Error('server already running')
    this.starts += 1
    this.exitInfo = null
    this.expectingExit = false
    this.stderr = ''
    const argv = ['serve', '--listen', `127.0.0.1:${this.nextPort || 0}`, '--data-dir', this.dataDir, ...this.args]
    const proc = spawn(this.binary, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } })
    this.proc = proc
    liveChildren.add(proc)
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        liveChildren.delete(proc)
        this.exitInfo = { code, signal }
        if (!this.expectingExit && !this.unexpectedExit) {
          this.unexpectedExit = { code, signal }
          this.unexpectedStderr = this.stderr
        }
        resolve(this.exitInfo)
      })
    })
    proc.stderr.setEncoding('utf8')
    proc.stderr.on('data', (chunk) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_KEEP)
      if (this.verbose) process.stderr.write(chunk)
    })
    proc.stdout.setEncoding('utf8')
    let stdoutBuf = ''
    const ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `quire serve printed no ready line within ${this.readyTimeoutMs} ms\n` +
        `argv: ${argv.join(' ')}\nstdout: ${stdoutBuf}\nstderr: ${this.stderr}`)), this.readyTimeoutMs)
      proc.stdout.on('data', (chunk) => {
        stdoutBuf += chunk
        if (this.verbose) process.stderr.write(`[quire stdout] ${chunk}`)
        for (const line of stdoutBuf.split('\n')) {
          const m = READY_RE.exec(line)
          if (m) {
            clearTimeout(timer)
            resolve({ url: m[1], port: Number(m[2]) })
            return
          }
        }
      })
      proc.once('error', (err) => { clearTimeout(timer); reject(err) })
      proc.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`quire serve exited before it was ready (code ${code}, signal ${signal})\n` +
          `argv: ${argv.join(' ')}\nstdout: ${stdoutBuf}\nstderr: ${this.stderr}`))
      })
    })
    try {
      const { url, port } = await ready
      this.url = url
      this.port = port
      this.wsUrl = `ws://127.0.0.1:${port}/ws`
      this.pid = proc.pid
    } catch (err) {
      this.expectingExit = true
      if (!this.exitInfo) { proc.kill('SIGKILL'); await this.exited }
      throw err
    }
    return this
  }

  /** Sends `signal` and waits (bounded) for the exit. Returns {code, signal}. */
  async kill (signal = 'SIGKILL', timeoutMs = 10000) {
    if (!this.running) return this.exitInfo
    this.expectingExit = true
    this.proc.kill(signal)
    const info = await withTimeout(this.exited, timeoutMs, () => null)
    if (info === null) {
      this.proc.kill('SIGKILL')
      await this.exited
      throw new Error(`quire serve did not exit within ${timeoutMs} ms of ${signal}; killed\n` +
        `stderr: ${this.stderr}`)
    }
    return info
  }

  /** Graceful stop (SIGTERM). Returns {code, signal}. */
  stop (timeoutMs = 10000) { return this.kill('SIGTERM', timeoutMs) }

  /**
   * Stops the server if it runs (SIGTERM) and starts it again on the same data dir: on a new
   * port, or with samePort on the old one (so that connected providers reconnect by themselves).
   */
  async restart ({ samePort = false } = {}) {
    if (this.running) await this.stop()
    this.nextPort = samePort ? this.port : 0
    try {
      return await this.start()
    } finally {
      this.nextPort = 0
    }
  }

  /** VmRSS / VmHWM of the server in bytes, from /proc. */
  memory () {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8')
    const kb = (key) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)
      return m ? Number(m[1]) * 1024 : NaN
    }
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
  }

  /** True when the process exists (not exited, not a zombie we have reaped). */
  alive () {
    if (!this.running) return false
    try { process.kill(this.pid, 0); return true } catch { return false }
  }

  /** GET a path on the server, with the body read as text. */
  async get (p, init = {}) {
    const res = await fetch(this.url + p, { ...init, signal: AbortSignal.timeout(5000) })
    const body = await res.text()
    return { status: res.status, headers: res.headers, body }
  }

  /** Parsed Prometheus text: `name{labels}` → value. */
  async metrics () {
    const { status, body } = await this.get('/metrics')
    if (status !== 200) throw new Error(`/metrics answered ${status}`)
    const out = new Map()
    for (const line of body.split('\n')) {
      if (!line || line.startsWith('#')) continue
      const m = /^(\S+?)(\{.*\})?\s+(\S+)/.exec(line)
      if (m) out.set(m[1] + (m[2] || ''), Number(m[3]))
    }
    return out
  }

  /**
   * Runs one read-only SQL statement on the data dir's database with the sqlite3 CLI and
   * returns the rows (arrays of strings, `|`-separated columns).
   */
  sql (query) {
    const r = spawnSync('sqlite3', ['-readonly', '-batch', '-cmd', '.timeout 5000', this.dbPath, query],
      { encoding: 'utf8', timeout: 10000 })
    if (r.error) throw r.error
    if (r.status !== 0) throw new Error(`sqlite3 failed (${r.status}) on ${query}: ${r.stderr}`)
    return r.stdout.split('\n').filter((l) => l.length > 0).map((l) => l.split('|'))
  }

  /** First column of the first row as a number. */
  sqlNumber (query) {
    const rows = this.sql(query)
    return rows.length ? Number(rows[0][0]) : NaN
  }

  async cleanup () {
    if (this.running) {
      this.expectingExit = true
      this.proc.kill('SIGKILL')
      await this.exited
    }
    if (this.ownsDataDir) {
      fs.rmSync(this.dataDir, { recursive: true, force: true })
      liveDirs.delete(this.dataDir)
    }
  }
}

/** A fresh temporary directory, removed at process exit at the latest. */
export function tempDir (prefix = 'quire-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  liveDirs.add(dir)
  return dir
}

export function removeDir (dir) {
  fs.rmSync(dir, { recursive: true, force: true })
  liveDirs.delete(dir)
}

/**
 * Clean-up actions of one test, run last-in first-out when the test ends (clients are
 * destroyed before the server they talk to is killed).
 */
class Scope {
  constructor () { this.actions = [] }
  add (fn) { this.actions.push(fn) }
  async close () {
    const errors = []
    while (this.actions.length) {
      const fn = this.actions.pop()
      try { await fn() } catch (err) { errors.push(err) }
    }
    if (errors.length) throw errors[0]
  }
}
const scopes = new WeakMap()

/** The clean-up scope of node:test context `t` (one `after` hook per test). */
export function scopeOf (t) {
  let s = scopes.get(t)
  if (!s) {
    s = new Scope()
    scopes.set(t, s)
    t.after(() => s.close())
  }
  return s
}

/**
 * Starts `quire serve` with dev tokens RW_TOKEN (rw) and RO_TOKEN (ro) plus `args`.
 * Registers clean-up on `t` (a node:test context): the process is killed and its data dir
 * removed when the test ends; if it died on its own, its stderr goes to the test output.
 */
export async function startServer (t, { args = [], devAuth = `${RW_TOKEN}=rw,${RO_TOKEN}=ro`, readyTimeoutMs = 15000 } = {}) {
  const dataDir = tempDir()
  const server = new QuireServer({
    args: devAuth ? ['--dev-auth', devAuth, ...args] : args,
    dataDir,
    ownsDataDir: true,
    binary: QUIRE_BINARY,
    readyTimeoutMs,
    verbose: !!process.env.QUIRE_TEST_VERBOSE
  })
  scopeOf(t).add(async () => {
    if (server.unexpectedExit) {
      t.diagnostic(`quire serve exited unexpectedly ${JSON.stringify(server.unexpectedExit)}; stderr tail:\n` +
        server.unexpectedStderr.slice(-4000))
    }
    await server.cleanup()
  })
  await server.start()
  return server
}

export function sleep (ms) { return new Promise((resolve) => setTimeout(resolve, ms)) }

/**
 * `promise`, or after `ms` the result of `onTimeout()` (which may throw). The timer is
 * cleared either way, so no test process waits for it before exiting.
 */
export function withTimeout (promise, ms, onTimeout) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => { try { resolve(onTimeout()) } catch (err) { reject(err) } }, ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
