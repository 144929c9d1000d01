// A real cluster on loopback for the cluster tests and `make cluster`: PostgreSQL (initdb
// into a temporary directory), redis-server, N `quire serve` nodes sharing them, and nginx in
// front (round-robin, WebSocket proxying, only /assets cached — ARCHITECTURE §2.5). Every
// process is a child with its own data directory and an ephemeral port, killed and removed
// when the test ends. Handles expose the fault injections of SECURITY.md §2.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { QuireServer, QUIRE_BINARY, RW_TOKEN, RO_TOKEN, tempDir } from './server.mjs'
import { sleep, waitFor } from './clients.mjs'

const live = new Set()
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL') } catch {}
  }
})

/** A port nobody listens on right now (bind 0, read it, close). */
export async function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function portOpen (port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

function which (cmd, fallbacks = []) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  if (r.status === 0) return r.stdout.trim()
  for (const f of fallbacks) if (fs.existsSync(f)) return f
  throw new Error(`${cmd} not found (scripts/install-deps.sh installs it)`)
}

/** One child process that can be stopped, killed, frozen and started again with the same argv. */
class Child {
  constructor (name, argv, { cwd, env, user } = {}) {
    this.name = name
    this.argv = argv
    this.cwd = cwd
    this.env = env
    this.user = user
    this.proc = null
    this.log = ''
  }

  get running () { return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null }

  start () {
    // setpriv execs in place (runuser would fork and wait): the child IS the server, so
    // signals (SIGQUIT: PostgreSQL's immediate stop) reach it and nothing outlives a kill.
    const [cmd, ...args] = this.user ? ['setpriv', `--reuid=${this.user}`, `--regid=${this.user}`, '--init-groups', '--', ...this.argv] : this.argv
    const proc = spawn(cmd, args, { cwd: this.cwd, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(proc)
    this.proc = proc
    const keep = (chunk) => { this.log = (this.log + chunk).slice(-32768) }
    proc.stdout.setEncoding('utf8').on('data', keep)
    proc.stderr.setEncoding('utf8').on('data', keep)
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => { live.delete(proc); resolve({ code, signal }) }))
    return this
  }

  async kill (signal = 'SIGKILL', timeoutMs = 15000) {
    if (!this.running) return
    this.proc.kill(signal)
    const done = await Promise.race([this.exited, sleep(timeoutMs).then(() => null)])
    if (done === null) {
      this.proc.kill('SIGKILL')
      await this.exited
    }
  }

  signal (sig) { if (this.running) this.proc.kill(sig) }
}

/** PostgreSQL in a fresh temporary cluster directory, trust auth, loopback only. */
export class Postgres {
  async start () {
    const bin = path.dirname(which('initdb', ['/usr/lib/postgresql/15/bin/initdb']))
    this.dir = tempDir('quire-pg-')
    this.port = this.port || await freePort()
    // initdb and postgres refuse to run as root: run them as the postgres user.
    this.user = process.getuid() === 0 ? 'postgres' : undefined
    if (this.user) {
      spawnSync('chown', ['-R', this.user, this.dir])
      fs.chmodSync(this.dir, 0o700)
    }
    if (!fs.existsSync(path.join(this.dir, 'PG_VERSION'))) {
      const init = spawnSync(...runAs(this.user, [path.join(bin, 'initdb'), '-D', this.dir, '-A', 'trust', '-U', 'quire', '--no-sync', '-E', 'UTF8']), { encoding: 'utf8' })
      if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`)
    }
    this.child = new Child('postgres', [path.join(bin, 'postgres'), '-D', this.dir, '-k', this.dir, '-p', String(this.port),
      '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=on', '-c', 'max_connections=200', '-c', 'log_min_messages=warning'], { user: this.user })
    this.url = `postgresql://quire@127.0.0.1:${this.port}/postgres?connect_timeout=3`
    await this.resume()
    return this
  }

  /** Starts the server process again on the same directory and port. */
  async resume () {
    this.child.start()
    await waitFor(async () => (await portOpen(this.port)) && this.query('SELECT 1').ok, { timeout: 30000, what: 'postgres accepting', interval: 100 })
  }

  /** Immediate stop (a crash as far as clients can tell). */
  async crash () { await this.child.kill('SIGQUIT') }

  query (sql) {
    const psql = which('psql')
    const r = spawnSync(psql, ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'quire', '-d', 'postgres', '-At', '-c', sql], { encoding: 'utf8', timeout: 20000 })
    return { ok: r.status === 0, rows: r.stdout ? r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split('|')) : [], stderr: r.stderr }
  }

  /** A psql session that holds `sql` (e.g. a table lock) until release() is called. */
  hold (sql) {
    const psql = which('psql')
    const proc = spawn(psql, ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'quire', '-d', 'postgres', '-q'], { stdio: ['pipe', 'ignore', 'ignore'] })
    live.add(proc)
    proc.stdin.write(`BEGIN; ${sql};\n`)
    return { release: () => { proc.stdin.end('ROLLBACK;\n'); live.delete(proc) } }
  }

  async cleanup () {
    if (this.child) await this.child.kill('SIGKILL')
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

function runAs (user, argv) {
  return user ? ['runuser', ['-u', user, '--', ...argv]] : [argv[0], argv.slice(1)]
}

/** redis-server without persistence, loopback only. */
export class Redis {
  async start () {
    this.dir = tempDir('quire-redis-')
    this.port = this.port || await freePort()
    this.child = new Child('redis', [which('redis-server'), '--port', String(this.port), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'no', '--dir', this.dir])
    this.url = `redis://127.0.0.1:${this.port}`
    await this.resume()
    return this
  }

  async resume () {
    this.child.start()
    await waitFor(() => this.cli('PING').trim() === 'PONG', { timeout: 10000, what: 'redis answering PING', interval: 50 })
  }

  cli (...args) {
    const r = spawnSync(which('redis-cli'), ['-h', '127.0.0.1', '-p', String(this.port), ...args], { encoding: 'utf8', timeout: 10000 })
    return r.stdout || ''
  }

  async crash () { await this.child.kill('SIGKILL') }

  async cleanup () {
    if (this.child) await this.child.kill('SIGKILL')
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

/** nginx in front of the nodes: round-robin, WebSockets, /assets cached, everything else not. */
export class Nginx {
  constructor (upstreams, { affinity = false } = {}) {
    this.upstreams = upstreams
    this.affinity = affinity
  }

  async start () {
    this.dir = tempDir('quire-nginx-')
    this.port = this.port || await freePort()
    for (const d of ['tmp', 'cache']) fs.mkdirSync(path.join(this.dir, d))
    this.conf = path.join(this.dir, 'nginx.conf')
    // As root, nginx's workers run as www-data: they must own the cache and temp dirs.
    const user = process.getuid() === 0 ? 'www-data' : null
    fs.writeFileSync(this.conf, nginxConfig(this.dir, this.port, this.upstreams, this.affinity, user))
    if (user) spawnSync('chown', ['-R', user, this.dir])
    this.child = new Child('nginx', [which('nginx', ['/usr/sbin/nginx']), '-c', this.conf, '-p', this.dir, '-e', path.join(this.dir, 'error.log')])
    this.url = `http://127.0.0.1:${this.port}`
    this.wsUrl = `ws://127.0.0.1:${this.port}/ws`
    await this.resume()
    return this
  }

  async resume () {
    this.child.start()
    await waitFor(() => portOpen(this.port), { timeout: 10000, what: 'nginx listening', interval: 50 })
  }

  /** `nginx -s reload`: new workers, old ones finish their connections. */
  reload () {
    const r = spawnSync(which('nginx', ['/usr/sbin/nginx']), ['-c', this.conf, '-p', this.dir, '-e', path.join(this.dir, 'error.log'), '-s', 'reload'], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`nginx -s reload: ${r.stderr}`)
  }

  /** The master's children (workers, cache manager): named "nginx: worker process", not by the config. */
  workers () {
    const pid = this.child?.proc?.pid
    if (!pid) return []
    return spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number)
  }

  async crash () {
    const workers = this.workers()
    await this.child.kill('SIGKILL')
    // The workers die with the master only on SIGTERM; orphaned, they would keep the port
    // (and the test process, through their inherited pipes).
    for (const pid of workers) {
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
    spawnSync('pkill', ['-KILL', '-f', `nginx.*${this.conf}`])
  }

  async cleanup () {
    const workers = this.workers()
    if (this.child) await this.child.kill('SIGTERM')
    for (const pid of workers) {
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
    spawnSync('pkill', ['-KILL', '-f', `nginx.*${this.conf}`])
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

export function nginxConfig (dir, port, upstreams, affinity, user) {
  const servers = upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n')
  return `# Generated by tools/server-tests/cluster.mjs (docs/deploy.md explains each part).
${user ? `user ${user};\n` : ''}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  # Only content-hashed assets are cached (ARCHITECTURE §2.5); the nodes say no-store elsewhere.
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=assets:10m max_size=100m inactive=7d use_temp_path=off;
  upstream quire {
${affinity ? '    hash $quire_doc consistent;  # optional affinity by document: less fan-out, never required\n' : ''}${servers}
  }
  # The document a request is about, for the optional affinity: /ws/y/DOC, or ?doc= on /ws.
  map $uri $quire_doc { ~^/ws/y/(?<d>[^/]+) $d; default $arg_doc; }
  server {
    listen 127.0.0.1:${port};
    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_connect_timeout 2s;
    proxy_next_upstream error timeout http_502 http_503;
    location /ws {
      proxy_pass http://quire;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
      proxy_buffering off;
    }
    location /assets/ {
      proxy_pass http://quire;
      proxy_cache assets;
      proxy_cache_valid 200 7d;
      add_header X-Cache-Status $upstream_cache_status always;
    }
    location / {
      proxy_pass http://quire;
      proxy_buffering off;
    }
  }
}
`
}

/**
 * Starts PostgreSQL, Redis, `nodes` Quire nodes and nginx. `devAuth` (default: an editor and a
 * viewer token) or `accounts: true`. Everything is torn down when `t` ends.
 */
export async function startCluster (t, { nodes = 3, accounts = false, args = [], affinity = false, verbose = !!process.env.QUIRE_TEST_VERBOSE } = {}) {
  const pg = await new Postgres().start()
  const redis = await new Redis().start()
  const keysDir = tempDir('quire-keys-')
  const ports = []
  for (let i = 0; i < nodes; i++) ports.push(await freePort())
  const auth = accounts ? [] : ['--dev-auth', `editor:${RW_TOKEN}=rw,viewer:${RO_TOKEN}=ro`]
  const servers = []
  const cluster = { pg, redis, nodes: servers, nginx: null }
  t.after(async () => {
    for (const s of servers) await s.cleanup()
    if (cluster.nginx) await cluster.nginx.cleanup()
    await redis.cleanup()
    await pg.cleanup()
    fs.rmSync(keysDir, { recursive: true, force: true })
  })
  for (let i = 0; i < nodes; i++) {
    const s = new QuireServer({
      args: ['--postgres', pg.url, '--redis', redis.url, '--node-id', `node-${i + 1}`, '--keys-dir', keysDir,
        '--unload-after-ms', '2000', ...auth, ...args],
      dataDir: tempDir(`quire-node${i + 1}-`),
      ownsDataDir: true,
      binary: QUIRE_BINARY,
      readyTimeoutMs: 30000,
      verbose
    })
    s.nextPort = ports[i]
    servers.push(s)
  }
  // The first node migrates the schema and makes the keys; the others start together.
  await servers[0].start()
  await Promise.all(servers.slice(1).map((s) => s.start()))
  cluster.nginx = await new Nginx(ports, { affinity }).start()
  cluster.url = cluster.nginx.url
  cluster.wsUrl = cluster.nginx.wsUrl
  /** A `server`-shaped target for the client helpers of clients.mjs: through nginx, or one node. */
  cluster.via = (i) => i === undefined ? { url: cluster.url, wsUrl: cluster.wsUrl } : { url: servers[i].url, wsUrl: servers[i].wsUrl }
  /** Starts node i again on its port after a kill. */
  cluster.restartNode = async (i) => {
    const s = servers[i]
    if (s.running) await s.kill('SIGKILL')
    s.nextPort = ports[i]
    await s.start()
  }
  return cluster
}

// `node tools/server-tests/cluster.mjs`: a cluster to try by hand (`make cluster`), until Ctrl-C.
if (import.meta.url === `file://${process.argv[1]}`) {
  const hooks = []
  const fakeT = { after: (f) => hooks.push(f) }
  const c = await startCluster(fakeT, { accounts: true, args: process.argv.slice(2) })
  console.log(`quire cluster: ${c.nodes.length} nodes behind nginx at ${c.url} (PostgreSQL ${c.pg.url}, Redis ${c.redis.url}); Ctrl-C stops it`)
  for (const [i, s] of c.nodes.entries()) console.log(`  node-${i + 1}: ${s.url} (data ${s.dataDir})`)
  const stop = async () => { for (const h of hooks.reverse()) await h(); process.exit(0) }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}
