// Live enforcement on open sockets, against the real server with accounts: what a
// document was granted holds only while it stays true. Logout, refresh-token reuse and
// `quire user disable` close the session's sockets (4401); a role downgraded mid-session
// refuses the very next update; a removed member gets PermissionDenied (Hocuspocus) or
// 4403 (y-websocket); an access token past its expiry closes the socket unless the
// Hocuspocus client renewed it in-band (SECURITY.md §1 rows 9, 12, 15, 25). The server
// re-checks every 300 ms here (--recheck-ms) instead of every 5 s.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { startServer, QUIRE_BINARY } from './server.mjs'
import { apiClient, register, COOKIE } from './api.mjs'
import {
  hocuspocus, hocuspocusSocket, hpSynced, hpAcked, ywebsocket, ySynced, waitFor, sleep,
  rawHocuspocus, rawYWebsocket, hp, yw, parseHp, parseY, textUpdate, textOf, storedDoc
} from './clients.mjs'

const RECHECK = ['--recheck-ms', '300']

/** A second tab of the same browser: the same cookie (the same session), its own access token. */
async function secondTab (server, a) {
  const tab = apiClient(server)
  tab.cookie = a.cookie
  await tab.refresh()
  a.cookie = tab.cookie
  return tab
}

async function shareDoc (owner, id, members = {}) {
  const created = await owner.call('POST', '/api/docs', { id })
  assert.equal(created.status, 201, created.text)
  for (const [who, role] of Object.entries(members)) await setRole(owner, id, who, role)
}

async function setRole (owner, id, who, role) {
  const r = role === null
    ? await owner.call('DELETE', `/api/docs/${id}/members/${who}`)
    : await owner.call('PUT', `/api/docs/${id}/members/${who}`, { role })
  assert.ok(r.status === 200 || r.status === 204, r.text)
}

const hpClosed = (p, code) => waitFor(() => p.log.some((e) => e.event === 'close' && e.code === code),
  { timeout: 5000, what: `Hocuspocus provider '${p.configuration.name}' closed with ${code}`, detail: () => JSON.stringify(p.log) })
const yClosed = (p, code) => waitFor(() => p.closes.some((c) => c?.code === code),
  { timeout: 5000, what: `y-websocket provider '${p.roomname}' closed with ${code}`, detail: () => JSON.stringify(p.closes) })
const hpCloses = (p) => p.log.filter((e) => e.event === 'close')

test('enforcement: logout in one tab closes the other tab\'s sockets, not other sessions (row 15)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null, args: RECHECK })
  const alice = await register(server, 'alice')
  await shareDoc(alice, 'notes')
  const tabB = await secondTab(server, alice)
  const elsewhere = apiClient(server) // another device: its own session
  assert.equal((await elsewhere.call('POST', '/api/auth/login', { username: 'alice', password: 'alice-password-1' })).status, 200)

  const hpB = hocuspocus(t, server, 'notes', { token: tabB.token })
  const yB = ywebsocket(t, server, 'notes', { token: tabB.token })
  const other = hocuspocus(t, server, 'notes', { token: elsewhere.token })
  await Promise.all([hpSynced(hpB), ySynced(yB), hpSynced(other)])

  const started = Date.now()
  assert.equal((await alice.call('POST', '/api/auth/logout')).status, 204)
  await Promise.all([hpClosed(hpB, 4401), yClosed(yB, 4401)])
  assert.ok(Date.now() - started < 5000, 'within the bound')
  assert.match(hpCloses(hpB).find((e) => e.code === 4401).reason, /revoked/)
  // Reconnecting with the dead session's token gets nowhere.
  await waitFor(() => hpB.log.some((e) => e.event === 'authenticationFailed'), { what: 'the reconnect refused' })

  // The other session is untouched.
  assert.deepEqual(hpCloses(other), [])
  other.text.insert(0, 'still here')
  await hpAcked(other)
})

test('enforcement: refresh-token reuse revokes the family and closes its sockets (row 12)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null, args: RECHECK })
  const alice = await register(server, 'alice')
  await shareDoc(alice, 'ledger')
  const rt1 = alice.cookie
  await alice.refresh()
  await sleep(1100) // as in accounts.test.mjs: RT2 is used, so RT1 is past its grace
  const t3 = await alice.refresh()
  const p = hocuspocus(t, server, 'ledger', { token: t3 })
  const y = ywebsocket(t, server, 'ledger', { token: t3 })
  await Promise.all([hpSynced(p), ySynced(y)])

  const thief = apiClient(server)
  thief.cookie = rt1
  const replay = await thief.call('POST', '/api/auth/refresh')
  assert.equal(replay.status, 401)
  assert.equal(replay.json.error, 'reuse_detected')
  await Promise.all([hpClosed(p, 4401), yClosed(y, 4401)])
  assert.ok(server.sql('select kind from audit_events').some(([k]) => k === 'refresh_reuse'), 'the reuse is audited')
})

test('enforcement: `quire user disable` closes the user\'s sockets within the bound (row 9)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null, args: RECHECK })
  const alice = await register(server, 'alice')
  const carol = await register(server, 'carol')
  await shareDoc(alice, 'board', { carol: 'editor' })
  const socket = hocuspocusSocket(t, server)
  const c = hocuspocus(t, server, 'board', { token: carol.token, socket })
  const a = hocuspocus(t, server, 'board', { token: alice.token })
  await Promise.all([hpSynced(c), hpSynced(a)])

  const started = Date.now()
  const r = spawnSync(QUIRE_BINARY, ['user', 'disable', '--data-dir', server.dataDir, 'carol'], { encoding: 'utf8', timeout: 10000 })
  assert.equal(r.status, 0, r.stderr)
  await waitFor(() => socket.closes.some((e) => e.code === 4401), { what: 'carol\'s socket closed with 4401', detail: () => JSON.stringify(socket.closes) })
  assert.ok(Date.now() - started < 5000, `closed ${Date.now() - started} ms after the disable (bound: 5 s)`)
  assert.deepEqual(hpCloses(a), [], 'other users stay')
})

test('enforcement: editor downgraded to viewer mid-session — the next update is refused, nothing applied (row 25)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null, args: RECHECK })
  const alice = await register(server, 'alice')
  const bob = await register(server, 'bob')
  await shareDoc(alice, 'spec', { bob: 'editor' })
  const a = hocuspocus(t, server, 'spec', { token: alice.token })
  const b = hocuspocus(t, server, 'spec', { token: bob.token })
  await Promise.all([hpSynced(a), hpSynced(b)])
  const { client: rawB } = await rawHocuspocus(t, server, 'spec', { token: bob.token })
  const yB = await rawYWebsocket(t, server, 'spec', { token: bob.token })
  b.text.insert(0, 'bob wrote this. ')
  await hpAcked(b)
  await waitFor(() => a.text.toString() === 'bob wrote this. ', { what: 'alice sees the editor\'s edit' })

  await setRole(alice, 'spec', 'bob', 'viewer')
  // The provider is told its new scope…
  await waitFor(() => b.log.some((e) => e.event === 'authenticated' && e.scope === 'readonly'), { what: 'Authenticated readonly', detail: () => JSON.stringify(b.log) })
  const from = b.frames.length
  b.text.insert(0, 'VANDAL ')
  await waitFor(() => b.frames.slice(from).some((f) => { const m = parseHp(f); return m.type === 8 && m.status === 0 }),
    { what: 'the update refused with 08 00' })
  assert.ok(!b.frames.slice(from).some((f) => { const m = parseHp(f); return m.type === 8 && m.status === 1 }), 'never acknowledged')
  // …and so is a raw socket that opened as an editor: its next update is answered exactly `08 00`.
  await waitFor(() => rawB.frames.some((f) => { const m = parseHp(f); return m.type === 2 && m.scope === 'readonly' }), { what: 'raw Authenticated readonly' })
  const rawFrom = rawB.frames.length
  rawB.send(hp.update('spec', textUpdate('RAW ', 424242)))
  const status = await rawB.next((f) => parseHp(f).type === 8, { from: rawFrom, what: 'SyncStatus for the raw update' })
  assert.equal(parseHp(status).status, 0)
  // y-websocket (no scope message): the update is dropped; a SyncStep1 after it is a barrier.
  // Its connection is re-checked on its own timer, and nothing tells the client when: wait
  // several re-check rounds (300 ms each) so a loaded machine cannot win the race.
  await sleep(1500)
  yB.send(yw.update(textUpdate('Y-VANDAL ', 434343)))
  const yFrom = yB.frames.length
  yB.send(yw.syncStep1())
  const step2 = await yB.next((f) => { const m = parseY(f); return m.type === 0 && m.sync === 1 }, { from: yFrom, parse: parseY, what: 'SyncStep2' })
  assert.equal(textOf([parseY(step2).payload]), 'bob wrote this. ')

  await sleep(300)
  assert.equal(a.text.toString(), 'bob wrote this. ', 'nothing of it reached the editor')
  const stored = storedDoc(server, 'spec')
  assert.equal(stored.getText('text').toString(), 'bob wrote this. ', 'nothing of it was stored')
  stored.destroy()
  assert.deepEqual(hpCloses(b), [], 'a downgrade keeps the socket')

  // Upgraded again: edits flow (the provider resends what was refused on its next sync, so only new ones are checked).
  const rawScope = rawB.frames.length
  await setRole(alice, 'spec', 'bob', 'editor')
  await waitFor(() => b.log.filter((e) => e.event === 'authenticated').at(-1).scope === 'read-write', { what: 'Authenticated read-write' })
  await rawB.next((f) => { const m = parseHp(f); return m.type === 2 && m.scope === 'read-write' }, { from: rawScope, what: 'raw Authenticated read-write' })
  const rawFrom2 = rawB.frames.length
  rawB.send(hp.update('spec', textUpdate('OK ', 454545)))
  const ok = await rawB.next((f) => parseHp(f).type === 8, { from: rawFrom2, what: 'SyncStatus after the upgrade' })
  assert.equal(parseHp(ok).status, 1)
  await waitFor(() => a.text.toString().includes('OK '), { what: 'the upgraded edit reaches alice' })
})

test('enforcement: a removed member gets PermissionDenied and nothing more; y-websocket closes 4403 (row 25)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null, args: RECHECK })
  const alice = await register(server, 'alice')
  const bob = await register(server, 'bob')
  await shareDoc(alice, 'secret', { bob: 'editor' })
  await shareDoc(alice, 'public', { bob: 'viewer' })
  const a = hocuspocus(t, server, 'secret', { token: alice.token })
  const socket = hocuspocusSocket(t, server)
  const b = hocuspocus(t, server, 'secret', { token: bob.token, socket })
  const bPublic = hocuspocus(t, server, 'public', { token: bob.token, socket })
  const yB = ywebsocket(t, server, 'secret', { token: bob.token })
  await Promise.all([hpSynced(a), hpSynced(b), hpSynced(bPublic), ySynced(yB)])

  await setRole(alice, 'secret', 'bob', null)
  await waitFor(() => b.log.some((e) => e.event === 'authenticationFailed'), { what: 'PermissionDenied for the removed document', detail: () => JSON.stringify(b.log) })
  await yClosed(yB, 4403)
  a.text.insert(0, 'after the removal')
  await hpAcked(a)
  await sleep(500)
  assert.equal(b.text.toString(), '', 'no update after the removal')
  assert.deepEqual(socket.closes, [], 'the socket stays for the other document')
  const pub = hocuspocus(t, server, 'public', { token: alice.token })
  await hpSynced(pub)
  pub.text.insert(0, 'news')
  await waitFor(() => bPublic.text.toString() === 'news', { what: 'the other document still flows' })
})

test('enforcement: an in-band token for another user ends the document (PermissionDenied)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null, args: RECHECK })
  const alice = await register(server, 'alice')
  const bob = await register(server, 'bob')
  await shareDoc(alice, 'pad', { bob: 'editor' })
  const a = hocuspocus(t, server, 'pad', { token: alice.token })
  await hpSynced(a)
  const { client } = await rawHocuspocus(t, server, 'pad', { token: alice.token })
  const from = client.frames.length
  client.send(hp.auth('pad', bob.token))
  const answer = await client.next((f) => parseHp(f).type === 2, { from, what: 'the answer to a token for someone else' })
  assert.equal(parseHp(answer).auth, 1, 'PermissionDenied')
  const after = client.frames.length
  a.text.insert(0, 'x')
  await hpAcked(a)
  await sleep(300)
  assert.deepEqual(client.frames.slice(after).map(parseHp).filter((m) => m.type === 0), [], 'no more updates for it')
  assert.ok(client.open, 'the socket stays')
})

test('enforcement: an access token expiring on an open socket closes it unless renewed in-band (row 25)', { timeout: 40000 }, async (t) => {
  const TTL = 3
  const server = await startServer(t, { devAuth: null, args: [...RECHECK, '--access-ttl-seconds', String(TTL), '--token-leeway-seconds', '0'] })
  const alice = await register(server, 'alice')
  await shareDoc(alice, 'timed')
  let current = alice.token
  const renewed = hocuspocus(t, server, 'timed', { token: () => current })
  const stale = hocuspocus(t, server, 'timed', { token: alice.token })
  const y = ywebsocket(t, server, 'timed', { token: alice.token })
  await Promise.all([hpSynced(renewed), hpSynced(stale), ySynced(y)])
  const issued = Date.now()

  // The renewing tab refreshes every second and hands the new token to the open socket.
  let renewals = 0
  const until = issued + 3 * TTL * 1000
  while (Date.now() < until) {
    await sleep(1000)
    current = await alice.refresh()
    await renewed.sendToken()
    renewals++
  }
  await Promise.all([hpClosed(stale, 4401), yClosed(y, 4401)])
  assert.equal(hpCloses(stale).find((e) => e.code === 4401).reason, 'access token expired')
  assert.ok(renewals >= 2)
  assert.deepEqual(hpCloses(renewed), [], 'the renewed socket stayed open past three lifetimes')
  renewed.text.insert(0, 'still editing')
  await hpAcked(renewed)
})
