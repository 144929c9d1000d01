// The workload and invariant checks of the cluster fault tests (faults.cluster.mjs,
// SECURITY.md §2): about 20 real clients (@hocuspocus/provider and y-websocket) on a few
// documents, through nginx and pinned to nodes, making seeded random text edits at a
// bounded rate. Every Hocuspocus client records what the server acknowledged, exactly:
// its socket keeps the updates it sent in order, and each SyncStatus answers the oldest
// (the server acknowledges in order, after the commit). The checks: I1 (a fresh load has
// every acknowledged clock), I2 (clients and a fresh load converge), I3 (snapshot + log
// replay, read straight from PostgreSQL, equals the live state).
import assert from 'node:assert/strict'
import {
  Y, WebSocket, hocuspocus, ywebsocket, synced, converged, parseHp, prng, randInt, randomTextEdit, stateVector,
  sleep, waitFor
} from './clients.mjs'

/** Bounds of the waits; sanitised builds run several times slower. */
export const SLOW = process.env.QUIRE_TEST_SANITIZED ? 3 : 1
/** I2: clients and a fresh load converge within 5 s of the fault healing. */
export const CONVERGE_MS = 5000 * SLOW

/** The highest clock of `client`'s own structs in a v1 update (0 if it has none). */
function ownEnd (update, client) {
  let end = 0
  for (const s of Y.decodeUpdate(update).structs) {
    if (s.id.client === client) end = Math.max(end, s.id.clock + s.length)
  }
  return end
}

function bytesOf (data) {
  if (data instanceof Uint8Array) return data
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data))
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/**
 * What the server acknowledged to one Hocuspocus client. `socketClass()` is the client's
 * WebSocketPolyfill: on each socket, every Step2 or Update the client sends is queued with
 * the own clock it covers (an Update: its own structs; a Step2: also everything the
 * server's Step1 on that socket said it had, which the acknowledgement vouches for), and
 * each SyncStatus takes the oldest. A dropped socket forgets its queue (never acknowledged).
 */
class AckTracker {
  constructor (doc) {
    this.doc = doc
    this.acked = 0 // highest own clock acknowledged as committed
    this.ackTimes = [] // [ms, clock] per positive SyncStatus
    this.refused = 0 // SyncStatus 0
    this.socket = null
  }

  get pending () { return this.socket ? this.socket.quirePending.length : 0 }

  socketClass () {
    const tracker = this
    return class TrackedWebSocket extends WebSocket {
      constructor (...args) {
        super(...args)
        this.quirePending = []
        this.quireServerClock = 0
        tracker.socket = this
        this.on('message', (data) => tracker.received(this, bytesOf(data)))
      }

      send (data, ...rest) {
        tracker.sending(this, bytesOf(data))
        return super.send(data, ...rest)
      }
    }
  }

  sending (ws, bytes) {
    const m = parseHp(bytes)
    if (m.error || m.type !== 0 || (m.sync !== 1 && m.sync !== 2)) return
    let covered = ownEnd(m.payload, this.doc.clientID)
    if (m.sync === 1) covered = Math.max(covered, ws.quireServerClock)
    ws.quirePending.push(covered)
  }

  received (ws, bytes) {
    const m = parseHp(bytes)
    if (m.error) return
    if (m.type === 0 && m.sync === 0) {
      ws.quireServerClock = Y.decodeStateVector(m.payload).get(this.doc.clientID) || 0
    } else if (m.type === 8) {
      const covered = ws.quirePending.shift()
      if (m.status !== 1) {
        this.refused++
      } else if (covered !== undefined) {
        this.acked = Math.max(this.acked, covered)
        this.ackTimes.push([Date.now(), this.acked])
      }
    }
  }
}

/** The client's own clock: everything it has written so far. */
export function ownClock (doc) { return Y.getState(doc.store, doc.clientID) }

/**
 * Reads document `name` straight from PostgreSQL — the newest snapshot and the log after
 * it, in one statement (one database snapshot) — and replays it into a fresh Y.Doc.
 */
export function pgStoredDoc (pg, name) {
  const key = `'\\x${Buffer.from(name).toString('hex')}'::bytea`
  const r = pg.query(`WITH s AS (SELECT upto_seq, bytes FROM snapshots WHERE doc = ${key} ORDER BY upto_seq DESC LIMIT 1)
    SELECT 's', upto_seq, encode(bytes, 'hex') FROM s
    UNION ALL SELECT 'u', seq, encode(bytes, 'hex') FROM updates
      WHERE doc = ${key} AND seq > coalesce((SELECT upto_seq FROM s), 0)
    ORDER BY 1, 2`)
  if (!r.ok) throw new Error(`reading '${name}' from PostgreSQL: ${r.stderr}`)
  const doc = new Y.Doc()
  for (const [, , hex] of r.rows) Y.applyUpdate(doc, Buffer.from(hex, 'hex'))
  const out = { text: doc.getText('text').toString(), sv: stateVector(doc), doc, rows: r.rows.length }
  doc.destroy()
  return out
}

/** The sum of one metric over the running nodes (or those of `nodes`, indices). */
export async function metricSum (c, name, nodes = c.nodes.map((_, i) => i)) {
  let sum = 0
  for (const i of nodes) if (c.nodes[i].running) sum += (await c.nodes[i].metrics()).get(name) || 0
  return sum
}

/** Waits until no node holds a document (they unload `--unload-after-ms` after the last client left). */
export async function waitUnloaded (c, timeout = 15000 * SLOW) {
  await waitFor(async () => (await metricSum(c, 'quire_rooms')) === 0, { timeout, interval: 200, what: 'every node to unload its documents' })
}

const DEFAULT_TARGETS = [undefined, 0, 1, 2]

/**
 * `clients` scripted clients on `docs`: client i edits docs[i % docs.length] through
 * targets[⌊i / docs.length⌋ % targets.length] (undefined: nginx, a number: that node),
 * every third one a y-websocket client. Each edits every `pace` ms (a seeded range).
 */
export class Workload {
  constructor (t, c, { docs = ['doc'], clients = 20, targets = DEFAULT_TARGETS, seed = 1, pace = [150, 450], ywsEvery = 3 } = {}) {
    this.t = t
    this.c = c
    this.docs = docs
    this.pace = pace
    this.editing = false
    this.loops = []
    this.clients = []
    this.late = [] // the new clients converge() adds
    const rng = prng(seed)
    for (let i = 0; i < clients; i++) {
      const doc = docs[i % docs.length]
      const target = targets[Math.floor(i / docs.length) % targets.length]
      const kind = i % ywsEvery === ywsEvery - 1 ? 'yws' : 'hp'
      this.clients.push({ i, doc, target, kind, rng: prng(Math.floor(rng() * 2 ** 32)), edits: 0 })
    }
  }

  get hp () { return this.clients.filter((cl) => cl.kind === 'hp') }

  /** Opens every client and waits until each has synced. */
  async connect (timeout = 20000 * SLOW) {
    for (const cl of this.clients) this.open(cl)
    await Promise.all(this.clients.map((cl) => synced(cl.provider, timeout)))
  }

  open (cl) {
    const via = this.c.via(cl.target)
    // A socket silent for 5 s is given up (the server's traffic never pauses that long
    // while the workload runs), so clients of a frozen node move elsewhere.
    if (cl.kind === 'hp') {
      const doc = new Y.Doc()
      this.t.after(() => doc.destroy())
      cl.tracker = new AckTracker(doc)
      cl.provider = hocuspocus(this.t, via, cl.doc, { doc, WebSocketPolyfill: cl.tracker.socketClass(), messageReconnectTimeout: 5000 })
    } else {
      cl.provider = ywebsocket(this.t, via, cl.doc)
    }
    cl.ydoc = cl.provider.ydoc
    cl.text = cl.provider.text
  }

  /** Starts the edit loops (offline clients edit too, like a person typing on). */
  start () {
    this.editing = true
    this.loops = this.clients.map(async (cl) => {
      await sleep(randInt(cl.rng, this.pace[1]))
      while (this.editing) {
        randomTextEdit(cl.rng, cl.text)
        cl.edits++
        await sleep(this.pace[0] + randInt(cl.rng, this.pace[1] - this.pace[0]))
      }
    })
  }

  async stop () {
    this.editing = false
    await Promise.all(this.loops)
  }

  /** Runs the edit loops for `ms`. */
  async burst (ms) {
    this.start()
    await sleep(ms)
    await this.stop()
  }

  /** Per Hocuspocus client: [own clock, acknowledged clock]. */
  clocks () {
    return this.hp.map((cl) => [ownClock(cl.ydoc), cl.tracker.acked])
  }

  totalAcks () { return this.hp.reduce((n, cl) => n + cl.tracker.ackTimes.length, 0) }

  /**
   * I2: every client of each document (and a new client through nginx, loading it on
   * whichever node nginx picks) converges within `timeout`. Returns {doc: {text, sv}}.
   */
  async converge ({ timeout = CONVERGE_MS, fresh = true } = {}) {
    const out = {}
    for (const name of this.docs) {
      const docs = this.clients.filter((cl) => cl.doc === name).map((cl) => cl.ydoc)
      if (fresh) {
        const late = hocuspocus(this.t, this.c.via(), name)
        this.late.push(late)
        await synced(late, timeout)
        docs.push(late.ydoc)
      }
      const text = await converged(docs, { timeout })
      out[name] = { text, sv: stateVector(docs[0]) }
    }
    return out
  }

  /** Waits until every Hocuspocus client has everything it wrote acknowledged. */
  async settle (timeout = 15000 * SLOW) {
    await waitFor(() => this.hp.every((cl) => cl.tracker.acked >= ownClock(cl.ydoc)), {
      timeout,
      interval: 50,
      what: 'every Hocuspocus client to have all its edits acknowledged',
      detail: () => this.hp.filter((cl) => cl.tracker.acked < ownClock(cl.ydoc)).map((cl) =>
        `\n    client ${cl.i} (${cl.doc} via ${cl.target ?? 'nginx'}): own clock ${ownClock(cl.ydoc)}, acked ${cl.tracker.acked}, ` +
        `pending ${cl.tracker.pending}, acks ${cl.tracker.ackTimes.length}, refused ${cl.tracker.refused}, synced ${cl.provider.isSynced}, unsyncedChanges ${cl.provider.unsyncedChanges}, log ${JSON.stringify(cl.provider.log.slice(-3))}`).join('')
    })
  }

  /**
   * I1 and I3 against the database itself, while every client is still connected (so no
   * compaction on leave has written a node's memory since): the snapshot + log replay of
   * each document has every acknowledged (client, clock) and equals the live state
   * `live` (from converge()). Waits up to `timeout` for commits still on their way
   * (y-websocket clients have no acknowledgement to wait for).
   */
  async checkStored (live, timeout = 5000 * SLOW) {
    for (const name of this.docs) {
      let stored = null
      const missing = () => this.hp.filter((cl) => cl.doc === name && (stored.sv[cl.ydoc.clientID] || 0) < cl.tracker.acked)
        .map((cl) => `client ${cl.i} (${cl.target ?? 'nginx'}) id ${cl.ydoc.clientID}: acked ${cl.tracker.acked}, stored ${stored.sv[cl.ydoc.clientID] || 0}`)
      try {
        await waitFor(() => {
          stored = pgStoredDoc(this.c.pg, name)
          return missing().length === 0 && stored.text === live[name].text && JSON.stringify(stored.sv) === JSON.stringify(live[name].sv)
        }, { timeout, interval: 250, what: `'${name}' in PostgreSQL` })
      } catch {
        const lost = missing()
        assert.deepEqual(lost, [], `I1: '${name}' read from PostgreSQL lacks acknowledged updates:\n  ${lost.join('\n  ')}`)
        const diff = Object.entries(live[name].sv).filter(([id, clock]) => (stored.sv[id] || 0) !== clock)
          .map(([id, clock]) => `${id}: live ${clock}, stored ${stored.sv[id] || 0}`)
        assert.fail(`I3: '${name}' replayed from PostgreSQL (${stored.rows} rows) differs from the live state ` +
          `(${stored.text.length} vs ${live[name].text.length} characters; state vector differences: ${diff.join(', ')})`)
      }
    }
  }

  /** Closes every client of the workload. */
  shutdown () {
    for (const cl of this.clients) cl.provider.shutdown()
    for (const p of this.late) p.shutdown()
  }

  /**
   * I1 + I3 through the servers' own load path: with every client gone and every node
   * unloaded, a new client on each of `nodes` loads each document from the database and
   * gets exactly `live`, which has every acknowledged clock.
   */
  async checkFreshLoads (live, nodes = [0, 1, 2]) {
    this.shutdown()
    await waitUnloaded(this.c)
    for (const name of this.docs) {
      for (const i of nodes) {
        const p = hocuspocus(this.t, this.c.via(i), name)
        await synced(p, 15000 * SLOW)
        assert.equal(p.text.toString(), live[name].text, `node ${i + 1} loads '${name}' as it was`)
        assert.deepEqual(stateVector(p.ydoc), live[name].sv, `node ${i + 1} loads '${name}' with the same state vector`)
        p.shutdown()
      }
      for (const cl of this.hp.filter((x) => x.doc === name)) {
        assert.ok((live[name].sv[cl.ydoc.clientID] || 0) >= cl.tracker.acked, `I1: client ${cl.i}'s acknowledged clock ${cl.tracker.acked} is in '${name}'`)
      }
    }
  }

  /** Everything after a fault has healed: I2 (converge), then I1 and I3 on the database. */
  async verify ({ freshLoads = false } = {}) {
    const live = await this.converge()
    await this.settle()
    await this.checkStored(live)
    if (freshLoads) await this.checkFreshLoads(live)
    const edits = this.clients.reduce((n, cl) => n + cl.edits, 0)
    this.t.diagnostic(`workload: ${this.clients.length} clients, ${edits} edits, ${this.totalAcks()} acknowledgements, ` +
      `documents of ${this.docs.map((d) => live[d].text.length).join(', ')} characters`)
    return live
  }
}

/** Clients that are pinned to node `i`. */
export function pinnedTo (w, i) { return w.clients.filter((cl) => cl.target === i) }

/** Sends SIGSTOP / SIGCONT to node i. */
export function freeze (c, i) { process.kill(c.nodes[i].pid, 'SIGSTOP') }
export function thaw (c, i) { process.kill(c.nodes[i].pid, 'SIGCONT') }
