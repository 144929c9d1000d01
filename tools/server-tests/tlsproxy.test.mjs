// SECURITY row 21: the server speaks plain HTTP and ws://, so off loopback it
// runs behind a TLS proxy (--behind-tls-proxy; without it `quire serve` refuses
// a non-loopback address — checked in src/app/cli_test.sh). Then every request
// must arrive as https (X-Forwarded-Proto, set by the proxy) except the health
// routes probes call directly, and HSTS is on.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer } from './server.mjs'
import { rawUpgrade } from './clients.mjs'

test('behind the TLS proxy: plain requests and ws:// upgrades refused, https ones served, HSTS on (row 21)', { timeout: 20000 }, async (t) => {
  const server = await startServer(t, { args: ['--behind-tls-proxy'] })
  const plain = await fetch(`${server.url}/api/docs`)
  assert.equal(plain.status, 403)
  assert.equal((await plain.json()).error, 'tls_required')
  const https = await fetch(`${server.url}/nothing-here`, { headers: { 'X-Forwarded-Proto': 'https' } })
  assert.equal(https.status, 404, 'served once it came through TLS')
  assert.match(https.headers.get('strict-transport-security') || '', /max-age=\d+/)
  for (const probe of ['/healthz', '/readyz', '/metrics']) {
    assert.equal((await fetch(server.url + probe)).status, 200, `${probe} answers probes directly`)
  }
  const ws = await rawUpgrade(`${server.wsUrl}/y/doc`, { protocols: ['quire', 'quire.auth.rw-token-0123'] })
  assert.equal(ws.status, 403, 'a plain ws:// upgrade is refused')
  const wss = await rawUpgrade(`${server.wsUrl}/y/doc`, {
    protocols: ['quire', 'quire.auth.rw-token-0123'], headers: { 'X-Forwarded-Proto': 'https' }
  })
  assert.equal(wss.status, 101, 'an upgrade that came through TLS is accepted')
})
