// Authentication: no document byte before a successful Auth (Hocuspocus) or without a valid
// token at the upgrade (y-websocket); the auth deadline closes silent sockets with 4401.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, withTimeout, RW_TOKEN, BAD_TOKEN } from './server.mjs'
import {
  hocuspocus, ywebsocket, hpSynced, hpAcked, waitFor, sleep, RawClient, rawHocuspocus, rawUpgrade,
  hp, yw, parseHp, hex
} from './clients.mjs'

const AUTH_TIMEOUT = 700
const SECRET = 'TOP SECRET CONTENT'
const secretBytes = Buffer.from(SECRET.slice(0, 10))

/**
 * Frames that carry document content or presence: sync, awareness, sync reply, stateless,
 * anything containing the secret text, and anything that does not decode.
 */
function documentFrames (client) {
  return client.frames.filter((f) => {
    const m = parseHp(f)
    return Buffer.from(f).includes(secretBytes) || m.error || [0, 1, 4, 5].includes(m.type)
  })
}

async function seeded (t) {
  const server = await startServer(t, { args: ['--auth-timeout-ms', String(AUTH_TIMEOUT)] })
  const owner = hocuspocus(t, server, 'secret')
  await hpSynced(owner)
  owner.text.insert(0, SECRET)
  owner.awareness.setLocalStateField('user', { name: 'owner' })
  await hpAcked(owner)
  return { server, owner }
}

test('auth: Hocuspocus', { timeout: 30000 }, async (t) => {
  const { server } = await seeded(t)

  await t.test('no Auth within the deadline → 4401, no document byte', async (st) => {
    const client = await RawClient.connect(st, server.wsUrl)
    const started = Date.now()
    const closed = await client.waitClose(AUTH_TIMEOUT + 3000)
    assert.equal(closed.code, 4401, `close code after the auth deadline (reason ${JSON.stringify(closed.reason)})`)
    assert.ok(Date.now() - started >= AUTH_TIMEOUT - 100, 'not closed before the deadline')
    assert.deepEqual(documentFrames(client).map((f) => hex(f)), [], 'no document byte was received')
  })

  await t.test('SyncStep1, awareness query and junk before Auth → no document byte, then 4401', async (st) => {
    const client = await RawClient.connect(st, server.wsUrl)
    client.send(hp.syncStep1('secret'))
    client.send(hp.queryAwareness('secret'))
    client.send(hp.update('secret', Uint8Array.of(0, 0)))
    const closed = await client.waitClose(AUTH_TIMEOUT + 3000)
    assert.ok(closed.code === 4401 || closed.code === 4400, `closed with 4401 (or 4400) (got ${JSON.stringify(closed)})`)
    assert.deepEqual(documentFrames(client).map((f) => hex(f)), [], 'no document byte was received')
  })

  await t.test('SyncStep1 before a bad Auth → PermissionDenied, no document byte', async (st) => {
    const client = await RawClient.connect(st, server.wsUrl)
    client.send(hp.syncStep1('secret'))
    client.send(hp.auth('secret', BAD_TOKEN))
    const denied = parseHp(await client.next((f) => parseHp(f).type === 2, { what: 'the auth answer' }))
    assert.equal(denied.name, 'secret')
    assert.equal(denied.auth, 1, `a bad token gets PermissionDenied (auth subtype 1), got ${JSON.stringify(denied)}`)
    client.send(hp.syncStep1('secret'))
    client.send(hp.queryAwareness('secret'))
    await withTimeout(client.closed, AUTH_TIMEOUT + 500, () => null)
    assert.deepEqual(documentFrames(client).map((f) => hex(f)), [], 'no document byte was received after a denied Auth')
  })

  await t.test('a valid Auth for one document does not open another', async (st) => {
    const { client } = await rawHocuspocus(st, server, 'other-doc')
    client.send(hp.syncStep1('secret'))
    client.send(hp.queryAwareness('secret'))
    // Barrier: a request on the authenticated document is answered after the ones before it.
    client.send(hp.syncStep1('other-doc'))
    await client.next((f) => { const m = parseHp(f); return m.name === 'other-doc' && m.type === 0 && m.sync === 1 }, { what: 'SyncStep2 for other-doc' })
    await sleep(200)
    const leaked = client.frames.filter((f) => { const m = parseHp(f); return m.name === 'secret' && m.type !== 2 })
    assert.deepEqual(leaked.map((f) => hex(f)), [], 'nothing of the unauthenticated document was sent')
  })

  await t.test('HocuspocusProvider with a bad token: authenticationFailed, empty document', async (st) => {
    const p = hocuspocus(st, server, 'secret', { token: BAD_TOKEN })
    await waitFor(() => p.log.some((e) => e.event === 'authenticationFailed'), { what: 'authenticationFailed', detail: () => JSON.stringify(p.log) })
    await sleep(300)
    assert.equal(p.text.toString(), '', 'the denied provider received no content')
    assert.equal(p.awareness.getStates().size, 1, 'the denied provider received no awareness state')
    assert.ok(!p.log.some((e) => e.event === 'authenticated'), 'never authenticated')
  })

  await t.test('an empty token is denied', async (st) => {
    const client = await RawClient.connect(st, server.wsUrl)
    client.send(hp.auth('secret', ''))
    const m = parseHp(await client.next((f) => parseHp(f).type === 2, { what: 'the auth answer' }))
    assert.equal(m.auth, 1, `an empty token gets PermissionDenied, got ${JSON.stringify(m)}`)
  })
})

test('auth: y-websocket upgrade', { timeout: 30000 }, async (t) => {
  const { server } = await seeded(t)
  const url = `${server.wsUrl}/y/secret`
  const refusals = [
    ['no subprotocol', undefined],
    ['only "quire"', ['quire']],
    ['a bad token', ['quire', `quire.auth.${BAD_TOKEN}`]],
    ['an empty token', ['quire', 'quire.auth.']]
  ]
  for (const [what, protocols] of refusals) {
    await t.test(`${what} → 401`, async (st) => {
      const r = await RawClient.attempt(st, url, { protocols })
      assert.ok(!r.client, `the upgrade with ${what} must be refused`)
      assert.equal(r.status, 401, `HTTP status for ${what}`)
      const body = JSON.parse(r.body)
      assert.equal(typeof body.error, 'string', 'the 401 body is JSON {"error": …}')
      assert.equal(r.headers['x-content-type-options'], 'nosniff', 'the 401 has nosniff')
      assert.match(r.headers['content-security-policy'] || '', /object-src 'none'/, 'the 401 has the CSP')
      assert.match(r.headers['cache-control'] || '', /no-store/, 'the 401 is no-store')
      assert.ok(!r.body.includes(SECRET.slice(0, 10)), 'no content in the refusal')
    })
  }

  await t.test('the token subprotocol is never selected', async () => {
    // Offered without "quire", a valid token may be refused or accepted without a
    // subprotocol, but the server must not answer with (echo) the token protocol.
    const r = await rawUpgrade(url, { protocols: [`quire.auth.${RW_TOKEN}`] })
    assert.ok(r.status === 101 || (r.status >= 400 && r.status < 500), `status ${r.status}`)
    assert.ok(!String(r.headers['sec-websocket-protocol'] || '').includes('quire.auth'), `the token is not echoed (${r.headers['sec-websocket-protocol']})`)
    const both = await rawUpgrade(url, { protocols: [`quire.auth.${RW_TOKEN}`, 'quire'] })
    assert.equal(both.status, 101)
    assert.equal(both.headers['sec-websocket-protocol'], 'quire', 'with both offered (token first), the server answers "quire"')
  })

  await t.test('a valid token: subprotocol "quire" answered, content served', async (st) => {
    const client = await RawClient.connect(st, url, { protocols: ['quire', `quire.auth.${RW_TOKEN}`] })
    assert.equal(client.ws.protocol, 'quire', 'the server answers subprotocol "quire"')
    client.send(yw.syncStep1())
    await client.next((f) => Buffer.from(f).includes(secretBytes), { what: 'the content' })
  })

  await t.test('WebsocketProvider with a bad token gets nothing', async (st) => {
    const p = ywebsocket(st, server, 'secret', { token: BAD_TOKEN })
    await sleep(1000)
    assert.equal(p.synced, false)
    assert.equal(p.text.toString(), '', 'a refused provider received no content')
  })
})
