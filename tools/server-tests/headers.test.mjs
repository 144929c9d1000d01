// HTTP header policy (ARCHITECTURE §2.5, SECURITY #20): security headers on every response,
// no-store on dynamic routes, immutable caching for hashed assets, no-cache for index.html;
// and the WebSocket Origin allowlist (SECURITY #22).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { startServer, tempDir, removeDir, scopeOf, RW_TOKEN } from './server.mjs'
import { RawClient, rawHocuspocus, hp, parseHp } from './clients.mjs'

const INDEX = '<!doctype html><title>Quire</title><script src="/assets/app-abc123.js"></script>\n'
const APP_JS = 'console.log("quire app abc123");\n'

function checkSecurityHeaders (what, headers) {
  assert.equal(headers.get('x-content-type-options'), 'nosniff', `${what}: X-Content-Type-Options: nosniff`)
  const csp = headers.get('content-security-policy') || ''
  assert.match(csp, /frame-ancestors/, `${what}: CSP has frame-ancestors (got ${JSON.stringify(csp)})`)
  assert.match(csp, /object-src 'none'/, `${what}: CSP has object-src 'none' (got ${JSON.stringify(csp)})`)
}

function checkNoStore (what, headers) {
  assert.match(headers.get('cache-control') || '', /\bno-store\b/, `${what}: Cache-Control no-store (got ${JSON.stringify(headers.get('cache-control'))})`)
}

/** A raw GET (no URL normalisation by the client), for paths fetch() would rewrite. */
function rawGet (server, rawPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: rawPath, method: 'GET', timeout: 5000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode, headers: new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)])), body }))
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

test('HTTP header policy', { timeout: 30000 }, async (t) => {
  const staticDir = tempDir('quire-static-')
  scopeOf(t).add(() => removeDir(staticDir))
  fs.mkdirSync(path.join(staticDir, 'assets'))
  fs.writeFileSync(path.join(staticDir, 'index.html'), INDEX)
  fs.writeFileSync(path.join(staticDir, 'assets', 'app-abc123.js'), APP_JS)
  const server = await startServer(t, { args: ['--static-dir', staticDir] })

  for (const p of ['/healthz', '/readyz']) {
    await t.test(p, async () => {
      const r = await server.get(p)
      assert.equal(r.status, 200, `${p} answers 200`)
      assert.match(r.headers.get('content-type') || '', /application\/json/, `${p} is JSON`)
      JSON.parse(r.body)
      checkSecurityHeaders(p, r.headers)
      checkNoStore(p, r.headers)
    })
  }

  await t.test('/metrics', async () => {
    const r = await server.get('/metrics')
    assert.equal(r.status, 200)
    assert.match(r.headers.get('content-type') || '', /text\/plain/, '/metrics is Prometheus text')
    for (const m of ['quire_connections', 'quire_rooms', 'quire_updates_in_total', 'quire_compactions_total']) {
      assert.match(r.body, new RegExp(`^${m}(\\{[^}]*\\})? `, 'm'), `/metrics exposes ${m}`)
    }
    for (const line of r.body.split('\n')) {
      if (line && !line.startsWith('#')) assert.match(line, /^quire_/, `every metric is prefixed quire_: ${line}`)
    }
    checkSecurityHeaders('/metrics', r.headers)
    checkNoStore('/metrics', r.headers)
  })

  await t.test('unknown routes → 404 JSON', async () => {
    for (const p of ['/no/such/route', '/api/no-such-endpoint', '/assets/missing-000.js']) {
      const r = await server.get(p)
      assert.equal(r.status, 404, `${p} answers 404`)
      assert.equal(typeof JSON.parse(r.body).error, 'string', `${p}: the body is JSON {"error": …}`)
      checkSecurityHeaders(p, r.headers)
    }
    const api = await server.get('/api/no-such-endpoint')
    checkNoStore('/api/no-such-endpoint', api.headers)
  })

  await t.test('/ws and /ws/y/doc without an upgrade', async () => {
    for (const p of ['/ws', '/ws/y/some-doc']) {
      const r = await server.get(p)
      assert.ok(r.status >= 400 && r.status < 500, `${p} without upgrade is a 4xx (got ${r.status})`)
      checkSecurityHeaders(p, r.headers)
      checkNoStore(p, r.headers)
    }
  })

  await t.test('static files', async () => {
    const asset = await server.get('/assets/app-abc123.js')
    assert.equal(asset.status, 200)
    assert.equal(asset.body, APP_JS)
    assert.match(asset.headers.get('content-type') || '', /javascript/, 'a .js asset is served as JavaScript')
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable', 'hashed assets are immutable')
    checkSecurityHeaders('/assets/app-abc123.js', asset.headers)

    for (const p of ['/', '/index.html']) {
      const index = await server.get(p)
      if (p === '/index.html' && index.status === 404) continue // serving it only at / is fine
      assert.equal(index.status, 200, `${p} serves index.html`)
      assert.equal(index.body, INDEX)
      assert.match(index.headers.get('content-type') || '', /text\/html/)
      const cc = index.headers.get('cache-control') || ''
      assert.match(cc, /\bno-cache\b/, `${p}: Cache-Control no-cache (got ${JSON.stringify(cc)})`)
      assert.doesNotMatch(cc, /immutable|max-age=[1-9]/, `${p} is not cached long`)
      checkSecurityHeaders(p, index.headers)
    }
  })

  await t.test('open by URL: navigations to app routes get index.html', async () => {
    const html = { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } }
    for (const p of ['/d/some-doc', '/login', '/d/some-doc?x=1']) {
      const r = await server.get(p, html)
      assert.equal(r.status, 200, `${p} (a navigation) serves the entry page`)
      assert.equal(r.body, INDEX)
      assert.match(r.headers.get('cache-control') || '', /\bno-cache\b/, `${p}: no-cache`)
      checkSecurityHeaders(p, r.headers)
    }
    for (const p of ['/assets/missing-000.js', '/api/no-such-endpoint', '/favicon.ico', '/d/../etc/passwd']) {
      const r = await rawGet(server, p)
      assert.equal(r.status, 404, `${p} is not the entry page`)
    }
    const r = await server.get('/assets/missing-000.js', html)
    assert.equal(r.status, 404, 'a missing asset is a 404 even for a navigation')
  })

  await t.test('no path traversal out of the static dir', async () => {
    fs.writeFileSync(path.join(path.dirname(staticDir), path.basename(staticDir) + '-secret.txt'), 'SECRET')
    scopeOf(t).add(() => fs.rmSync(path.join(path.dirname(staticDir), path.basename(staticDir) + '-secret.txt'), { force: true }))
    for (const p of ['/assets/../../etc/passwd', '/assets/..%2f..%2f..%2fetc%2fpasswd', '/..%2f' + path.basename(staticDir) + '-secret.txt',
      '/assets/%2e%2e/%2e%2e/etc/passwd', '/assets/..\\..\\etc\\passwd']) {
      const r = await rawGet(server, p)
      assert.ok(r.status === 404 || r.status === 400 || r.status === 403, `${p} is refused (got ${r.status})`)
      assert.ok(!r.body.includes('root:') && !r.body.includes('SECRET'), `${p} leaks no file`)
      checkSecurityHeaders(p, r.headers)
    }
  })
})

test('WebSocket Origin allowlist', { timeout: 30000 }, async (t) => {
  const allowed = 'http://app.quire.test'
  const server = await startServer(t, { args: ['--allowed-origins', `${allowed},http://other.quire.test:8080`] })
  const endpoints = [
    ['hocuspocus', server.wsUrl, undefined],
    ['y-websocket', `${server.wsUrl}/y/origin-doc`, ['quire', `quire.auth.${RW_TOKEN}`]]
  ]
  const refused = ['https://evil.test', 'http://app.quire.test.evil.net', 'http://evil.test/http://app.quire.test',
    'null', 'https://app.quire.test', 'http://other.quire.test']
  for (const [kind, url, protocols] of endpoints) {
    await t.test(`${kind}: refused origins → 403`, async (st) => {
      for (const origin of refused) {
        const r = await RawClient.attempt(st, url, { protocols, headers: { Origin: origin } })
        assert.ok(!r.client, `${kind}: Origin ${origin} must be refused`)
        assert.equal(r.status, 403, `${kind}: Origin ${origin} → 403`)
      }
    })
    await t.test(`${kind}: the exact origin and a missing Origin are accepted`, async (st) => {
      for (const headers of [{ Origin: allowed }, { Origin: 'http://other.quire.test:8080' }, {}]) {
        const r = await RawClient.attempt(st, url, { protocols, headers })
        assert.ok(r.client, `${kind}: ${JSON.stringify(headers)} is accepted (got ${r.status} ${r.body})`)
        r.client.terminate()
      }
    })
  }
  await t.test('an accepted origin works end to end', async (st) => {
    const { client } = await rawHocuspocus(st, server, 'origin-doc', { headers: { Origin: allowed } })
    client.send(hp.syncStep1('origin-doc'))
    await client.next((f) => parseHp(f).sync === 1, { what: 'SyncStep2' })
  })
})
