// A document that cannot be loaded is never served and never overwritten
// (ARCHITECTURE §2.2, PEERS "no data loss at load/persist boundaries"): its
// joiners are closed with 1011 before any sync byte, nothing is written over
// the stored rows, and once storage is readable again the next join loads the
// real content — without restarting the server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { startServer } from './server.mjs'
import { hocuspocus, hpSynced, hpAcked, waitFor, rawHocuspocus, rawYWebsocket, hp, parseHp, parseY } from './clients.mjs'

function sqlWrite (server, query) {
  const r = spawnSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', server.dbPath, query], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`sqlite3 failed (${r.status}) on ${query}: ${r.stderr}`)
}

test('a document that fails to load is closed with 1011, never synced empty, never saved over', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const name = 'precious'
  const writer = hocuspocus(t, server, name)
  await hpSynced(writer)
  writer.text.insert(0, 'years of work')
  await hpAcked(writer)
  writer.destroy()
  // The last editor left: the log is folded into a snapshot.
  await waitFor(() => server.sqlNumber(`select count(*) from snapshots where doc = '${name}'`) === 1, {
    timeout: 10000, what: 'the snapshot written when the last editor left'
  })
  await server.stop()
  const [[good]] = server.sql(`select hex(bytes) from snapshots where doc = '${name}'`)
  // Damage the snapshot the way a bad disk or a bad migration might.
  sqlWrite(server, `update snapshots set bytes = x'00ff11' where doc = '${name}'`)
  await server.start()

  const rows = () => JSON.stringify(server.sql(`select 'snap', upto_seq, hex(bytes) from snapshots union all select 'log', seq, hex(bytes) from updates order by 1, 2`))
  const before = rows()
  const { client } = await rawHocuspocus(t, server, name)
  client.send(hp.syncStep1(name))
  const closed = await client.waitClose(5000, 'the close of a document that cannot load')
  assert.equal(closed.code, 1011, `closed ${JSON.stringify(closed)}`)
  assert.ok(!client.frames.some((f) => parseHp(f).type === 0), 'no sync frame for a document that did not load')
  const yws = await rawYWebsocket(t, server, name)
  const closedY = await yws.waitClose(5000, 'the y-websocket close of a document that cannot load')
  assert.equal(closedY.code, 1011)
  assert.ok(!yws.frames.some((f) => parseY(f).type === 0), 'no sync frame on y-websocket either')
  assert.equal(rows(), before, 'nothing was written over the stored document')
  const metrics = await server.metrics()
  assert.ok(metrics.get('quire_document_load_failures_total') >= 2, 'the failed loads are counted')

  // Repaired storage: the next join loads the real content, same server process.
  sqlWrite(server, `update snapshots set bytes = x'${good}' where doc = '${name}'`)
  const reader = hocuspocus(t, server, name)
  await hpSynced(reader)
  assert.equal(reader.text.toString(), 'years of work')
  assert.ok(server.alive())
})
