// Convergence: Hocuspocus and y-websocket clients editing one document at once end with
// the same content, and a client that joins afterwards loads exactly that content.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer } from './server.mjs'
import {
  hocuspocus, ywebsocket, synced, hpAcked, converged, prng, randInt, randomTextEdit,
  stateVector, sleep
} from './clients.mjs'

const EDITS_PER_CLIENT = 50

test('3 Hocuspocus + 3 y-websocket clients converge under concurrent random edits', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const name = 'convergence'
  const clients = [
    hocuspocus(t, server, name), hocuspocus(t, server, name), hocuspocus(t, server, name),
    ywebsocket(t, server, name), ywebsocket(t, server, name), ywebsocket(t, server, name)
  ]
  await Promise.all(clients.map((c) => synced(c)))

  // Each client edits with its own seeded PRNG; clients interleave with short pauses so that
  // updates cross in flight (edits based on states the others have not seen yet).
  const rngs = clients.map((_, i) => prng(0x5eed0000 + i))
  const pace = prng(0xabc)
  await Promise.all(clients.map(async (c, i) => {
    for (let k = 0; k < EDITS_PER_CLIENT; k++) {
      randomTextEdit(rngs[i], c.text, String.fromCharCode(65 + i))
      if (randInt(pace, 3) === 0) await sleep(randInt(pace, 15))
      else await new Promise((resolve) => setImmediate(resolve))
    }
  }))

  const docs = clients.map((c) => c.ydoc)
  const text = await converged(docs, { timeout: 15000 })
  assert.ok(text.length > 0, 'the converged text is not empty')
  // Every client's own edits are in everyone's state vector.
  const sv = stateVector(docs[0])
  for (const d of docs) assert.ok(sv[d.clientID] > 0, `client ${d.clientID}'s edits are in the converged state`)
  // The Hocuspocus clients got every update acknowledged.
  await Promise.all(clients.slice(0, 3).map((c) => hpAcked(c, 10000)))

  // Fresh clients of both kinds load exactly the converged document.
  const late = [hocuspocus(t, server, name), ywebsocket(t, server, name)]
  await Promise.all(late.map((c) => synced(c)))
  for (const c of late) {
    const d = c.ydoc
    assert.equal(d.getText('text').toString(), text, 'a client joining afterwards sees the converged text')
    assert.deepEqual(stateVector(d), sv, 'a client joining afterwards has the converged state vector')
  }
})
