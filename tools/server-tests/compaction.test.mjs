// Compaction: after --compact-updates N updates (and when the last client leaves) the log is
// folded into a snapshot; snapshot + remaining log always equal the live document.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer } from './server.mjs'
import { Y, hocuspocus, ywebsocket, hpSynced, hpAcked, synced, waitFor, sleep, stateVector, storedDoc } from './clients.mjs'

const EDITS = 100
const COMPACT_EVERY = 20

test('compaction folds the log into a snapshot without changing the document', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { args: ['--compact-updates', String(COMPACT_EVERY)] })
  const name = 'compact-doc'
  const a = hocuspocus(t, server, name)
  await hpSynced(a)

  // 100 updates, paced under the default rate limit (20/s sustained, burst 100).
  for (let i = 0; i < EDITS; i++) {
    if (i % 3 === 2) a.text.delete(0, 1)
    else a.text.insert(a.text.length, `e${i};`)
    await sleep(15)
  }
  await hpAcked(a, 10000)
  const text = a.text.toString()
  const sv = stateVector(a.ydoc)

  // While the client is connected: at least one snapshot, and fewer log rows than updates.
  const counts = () => ({
    updates: server.sqlNumber('select count(*) from updates'),
    snapshots: server.sqlNumber('select count(*) from snapshots')
  })
  // (Compaction runs in the background: allow it a moment, and up to 2N rows in the log.)
  await waitFor(() => { const c = counts(); return c.snapshots >= 1 && c.updates <= 2 * COMPACT_EVERY }, {
    timeout: 10000,
    what: `a snapshot and at most ${2 * COMPACT_EVERY} log rows after ${EDITS} updates with --compact-updates ${COMPACT_EVERY}`,
    detail: () => JSON.stringify(counts())
  })
  const snapCols = server.sql('select upto_seq, length(bytes), length(state_vector), created_at from snapshots')
  for (const [upto, len, svLen, created] of snapCols) {
    assert.ok(Number(upto) > 0 && Number(len) > 0 && Number(svLen) > 0 && Number(created) > 0, `snapshot row is complete: ${[upto, len, svLen, created]}`)
  }
  const live = storedDoc(server)
  assert.equal(live.getText('text').toString(), text, 'snapshot + remaining log = the live text')
  assert.deepEqual(stateVector(live), sv, 'snapshot + remaining log = the live state vector')
  const snapSv = server.sql('select hex(state_vector), hex(bytes) from snapshots order by upto_seq desc limit 1')[0]
  assert.equal(snapSv[0], Buffer.from(Y.encodeStateVectorFromUpdate(Buffer.from(snapSv[1], 'hex'))).toString('hex').toUpperCase(),
    'the snapshot\'s state_vector column is the state vector of its bytes')

  const metrics = await server.metrics()
  assert.ok(metrics.get('quire_compactions_total') >= 1, `quire_compactions_total counts compactions (${metrics.get('quire_compactions_total')})`)

  // When the last client leaves, the whole log is folded.
  a.shutdown()
  await waitFor(() => counts().updates === 0, { timeout: 10000, what: 'the log to be empty after the last client left', detail: () => JSON.stringify(counts()) })
  const folded = storedDoc(server)
  assert.equal(folded.getText('text').toString(), text, 'the final snapshot has the whole text')

  // Fresh clients, before and after a restart, see the identical document.
  for (const round of ['live', 'restarted']) {
    if (round === 'restarted') await server.restart()
    const b = hocuspocus(t, server, name)
    const c = ywebsocket(t, server, name)
    await Promise.all([synced(b), synced(c)])
    for (const p of [b, c]) {
      assert.equal(p.text.toString(), text, `${round}: a fresh client sees the identical text`)
      assert.deepEqual(stateVector(p.ydoc), sv, `${round}: a fresh client has the identical state vector`)
    }
    b.shutdown()
    c.shutdown()
  }
})
