// Accounts against the real server in its default mode (no --dev-auth): the
// HTTP API's register/login/refresh/logout with the rotating __Host- cookie and
// the CSRF rules, bearer-only API routes, documents and their roles, and the
// same access tokens on both WebSocket protocols with roles enforced
// (SECURITY.md §1; the row numbers are in the test names).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer } from './server.mjs'
import { apiClient as client, register, COOKIE } from './api.mjs'
import { hocuspocus, hpSynced, hpAcked, ywebsocket, synced, waitFor, sleep, rawUpgrade } from './clients.mjs'

test('accounts: register, cookie, refresh rotation and reuse, logout (rows 10–12, 15, 17, 19)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null })
  const a = client(server)
  const reg = await a.call('POST', '/api/auth/register', { username: 'alice', email: 'alice@example.org', password: 'correct horse battery' })
  assert.equal(reg.status, 201, reg.text)
  assert.ok(reg.json.access_token.split('.').length === 3 && reg.json.expires_in > 0 && reg.json.expires_in <= 900)
  assert.equal(reg.json.user.username, 'alice')
  // Row 17: exactly the cookie attributes; row 11: the refresh token never in a body.
  const attrs = reg.setCookie.split(';').map((s) => s.trim())
  for (const a_ of ['Path=/', 'HttpOnly', 'Secure', 'SameSite=Strict']) assert.ok(attrs.includes(a_), `cookie has ${a_}: ${reg.setCookie}`)
  assert.ok(!/domain=/i.test(reg.setCookie), 'no Domain on a __Host- cookie')
  assert.ok(!reg.text.includes(a.cookie), 'the refresh token is not in the body')
  assert.equal(reg.headers.get('cache-control'), 'no-store')

  // Row 19: the API takes bearer tokens only, never the cookie.
  assert.equal((await a.call('GET', '/api/me')).status, 200, 'the access token from the body works')
  assert.equal((await a.call('GET', '/api/me', undefined, { bearer: null })).status, 401, 'the cookie alone is not an API credential')
  assert.equal((await a.call('GET', '/api/docs', undefined, { bearer: 'eyJhbGciOiJub25lIn0.e30.' })).status, 401, 'alg none refused (row 1)')

  // Rows 11–12: every refresh rotates; replaying a rotated-away token revokes the family.
  const rt1 = a.cookie
  const r2 = await a.call('POST', '/api/auth/refresh')
  assert.equal(r2.status, 200, r2.text)
  const rt2 = a.cookie
  assert.notEqual(rt2, rt1)
  await sleep(1100) // past nothing but a second; the grace rule allows the previous token only while its successor is unused
  const r3 = await a.call('POST', '/api/auth/refresh')
  assert.equal(r3.status, 200)
  const rt3 = a.cookie
  const replay = await a.call('POST', '/api/auth/refresh', undefined, { cookie: rt1 })
  assert.equal(replay.status, 401)
  assert.equal(replay.json.error, 'reuse_detected')
  assert.equal((await a.call('POST', '/api/auth/refresh', undefined, { cookie: rt3 })).status, 401, 'the whole family is revoked')
  assert.equal((await a.call('GET', '/api/me', undefined, { bearer: r3.json.access_token })).status, 401, 'its access tokens too (row 9)')

  // Row 15: logout revokes and clears the cookie.
  const login = await a.call('POST', '/api/auth/login', { username: 'ALICE@example.org', password: 'correct horse battery' })
  assert.equal(login.status, 200, login.text)
  const live = a.cookie
  const out = await a.call('POST', '/api/auth/logout')
  assert.equal(out.status, 204)
  assert.match(out.setCookie, /Max-Age=0/)
  assert.equal((await a.call('POST', '/api/auth/refresh', undefined, { cookie: live })).status, 401)
  assert.equal((await a.call('GET', '/api/me', undefined, { bearer: login.json.access_token })).status, 401)
  // Row 10: the database holds only hashes.
  const stored = server.sql('select hash from refresh_tokens').map(([h]) => h)
  assert.ok(stored.length >= 4 && stored.every((h) => /^[0-9a-f]{64}$/.test(h)))
  for (const raw of [rt1, rt2, rt3, live]) assert.ok(!stored.includes(raw))
})

test('accounts: CSRF rules on the cookie routes (row 18) and login errors', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null })
  const a = await register(server, 'bob')
  const refresh = (opts) => a.call('POST', '/api/auth/refresh', undefined, opts)
  assert.equal((await refresh({ csrf: false, headers: { Origin: server.url } })).status, 403, 'no X-Quire-CSRF')
  assert.equal((await refresh({ csrf: false, headers: { 'X-Quire-CSRF': '1' } })).status, 403, 'no Origin')
  assert.equal((await refresh({ csrf: false, headers: { Origin: 'https://evil.test', 'X-Quire-CSRF': '1' } })).status, 403)
  assert.equal((await refresh({ headers: { 'Sec-Fetch-Site': 'cross-site' } })).status, 403)
  assert.equal((await a.call('GET', '/api/auth/refresh')).status, 405, 'GET refused')
  const form = await fetch(server.url + '/api/auth/refresh', {
    method: 'POST', headers: { 'Content-Type': 'text/plain', Cookie: `${COOKIE}=${a.cookie}`, Origin: 'https://evil.test' }, body: 'x'
  })
  assert.equal(form.status, 403, 'a cross-site form post')
  assert.equal((await refresh()).status, 200, 'and the real thing still works: nothing rotated before')

  const bad = await a.call('POST', '/api/auth/login', { username: 'bob', password: 'wrong password!' })
  const unknown = await a.call('POST', '/api/auth/login', { username: 'nobody', password: 'wrong password!' })
  assert.equal(bad.status, 401)
  assert.deepEqual(bad.json, unknown.json, 'an unknown account and a wrong password look the same')
  const taken = await a.call('POST', '/api/auth/register', { username: 'BOB', email: 'other@example.org', password: 'long enough 1' })
  assert.equal(taken.status, 409)
  assert.equal((await a.call('POST', '/api/auth/register', { username: 'x', email: 'nope', password: 'short' })).status, 400)
})

test('accounts: documents, sharing and roles through the API (row 6)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null })
  const alice = await register(server, 'alice')
  const bob = await register(server, 'bob')
  const created = await alice.call('POST', '/api/docs', { id: 'plan', title: 'The plan' })
  assert.equal(created.status, 201, created.text)
  assert.equal(created.json.role, 'owner')
  assert.equal((await bob.call('GET', '/api/docs/plan')).status, 404, 'not a member: no such document')
  assert.equal((await alice.call('PUT', '/api/docs/plan/members/bob', { role: 'viewer' })).status, 200)
  const list = await bob.call('GET', '/api/docs')
  assert.deepEqual(list.json.documents.map((d) => [d.id, d.role]), [['plan', 'viewer']])
  assert.equal((await bob.call('PATCH', '/api/docs/plan', { title: 'mine' })).status, 403)
  assert.equal((await bob.call('PUT', '/api/docs/plan/members/bob', { role: 'owner' })).status, 403)
  const last = await alice.call('PUT', `/api/docs/plan/members/${alice.user.id}`, { role: 'viewer' })
  assert.equal(last.status, 409)
  assert.equal(last.json.error, 'last_owner')
  // By email, percent-encoded as a browser's encodeURIComponent does; a broken escape is a 400.
  const carol = await register(server, 'carol')
  assert.equal((await alice.call('PUT', `/api/docs/plan/members/${encodeURIComponent('carol@example.org')}`, { role: 'editor' })).status, 200)
  assert.equal((await alice.call('PUT', '/api/docs/plan/members/carol%4', { role: 'editor' })).status, 400)
  assert.equal((await alice.call('PUT', '/api/docs/plan/members/carol%00', { role: 'editor' })).status, 400)
  const members = await alice.call('GET', '/api/docs/plan/members')
  assert.deepEqual(members.json.members.map((m) => [m.user.username, m.role]).sort(), [['alice', 'owner'], ['bob', 'viewer'], ['carol', 'editor']])
  assert.equal((await alice.call('DELETE', `/api/docs/plan/members/${encodeURIComponent('carol@example.org')}`)).status, 204)
  assert.ok(carol.user.id)
  assert.equal((await alice.call('DELETE', '/api/docs/plan')).status, 204)
  assert.equal((await bob.call('GET', '/api/docs/plan')).status, 404)
})

test('accounts: access tokens on both WebSocket protocols, roles on every message (rows 1, 6, 24)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null })
  const alice = await register(server, 'alice')
  const bob = await register(server, 'bob')
  const carol = await register(server, 'carol')
  assert.equal((await alice.call('POST', '/api/docs', { id: 'shared' })).status, 201)
  assert.equal((await alice.call('PUT', '/api/docs/shared/members/bob', { role: 'viewer' })).status, 200)

  const a = hocuspocus(t, server, 'shared', { token: alice.token })
  await hpSynced(a)
  a.text.insert(0, 'from alice')
  await hpAcked(a)
  const y = ywebsocket(t, server, 'shared', { token: alice.token })
  await synced(y)
  assert.equal(y.text.toString(), 'from alice')
  // The list names the last editor once the edit is committed.
  await waitFor(async () => {
    const docs = (await bob.call('GET', '/api/docs')).json.documents
    const shared = docs.find((d) => d.id === 'shared')
    return shared.last_edited_by?.id === alice.user.id && shared.last_edited_by.username === 'alice' &&
      shared.last_edited_at >= shared.created_at
  }, { what: 'the list shows alice as the last editor' })

  // The viewer reads, but its edits go nowhere.
  const b = hocuspocus(t, server, 'shared', { token: bob.token })
  await hpSynced(b)
  assert.ok(b.log.some((e) => e.event === 'authenticated' && e.scope === 'readonly'), JSON.stringify(b.log))
  assert.equal(b.text.toString(), 'from alice')
  b.text.insert(0, 'vandal ')
  await sleep(300)
  assert.equal(a.text.toString(), 'from alice')

  // No role, a forged token, or no token: nothing.
  const c = hocuspocus(t, server, 'shared', { token: carol.token })
  await waitFor(() => c.log.some((e) => e.event === 'authenticationFailed'), { what: 'carol refused' })
  const forged = hocuspocus(t, server, 'shared', { token: 'eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0.' })
  await waitFor(() => forged.log.some((e) => e.event === 'authenticationFailed'), { what: 'alg none refused' })
  assert.equal(c.text.toString(), '')
  const up = await rawUpgrade(`${server.wsUrl}/y/shared`, { protocols: ['quire', `quire.auth.${carol.token}`] })
  assert.equal(up.status, 401)
})

test('accounts: login rate limit answers 429 with Retry-After (row 28)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t, { devAuth: null })
  await register(server, 'dave')
  const c = client(server)
  let limited = null
  for (let i = 0; i < 12 && !limited; i++) {
    const r = await c.call('POST', '/api/auth/login', { username: 'dave', password: `guess number ${i}` })
    if (r.status === 429) limited = r
    else assert.equal(r.status, 401)
  }
  assert.ok(limited, 'the limit tripped')
  assert.equal(limited.json.error, 'rate_limited')
  assert.ok(Number(limited.headers.get('retry-after')) >= 1)
  const audit = server.sql("select kind from audit_events").map(([k]) => k)
  assert.ok(audit.some((k) => /rate/.test(k)), `a rate-limit trip is audited: ${audit}`)
})
