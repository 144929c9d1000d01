// A browser-like client of the HTTP API for the tests: same-origin headers
// (Origin, X-Quire-CSRF), its own jar for the refresh cookie, and the latest
// access token, sent as the bearer unless told otherwise.
import assert from 'node:assert/strict'

export const COOKIE = '__Host-quire_rt'

/**
 * call(method, path, body?, { bearer, headers, csrf = true, cookie }) → { status, headers, text, json, setCookie }.
 * `bearer` defaults to the client's latest access token (null: none); `cookie` to its jar.
 */
export function apiClient (server) {
  const c = {
    cookie: null,
    token: null,
    async call (method, path, body, { bearer = c.token, headers = {}, csrf = true, cookie = c.cookie } = {}) {
      const h = { ...headers }
      if (csrf) Object.assign(h, { Origin: server.url, 'X-Quire-CSRF': '1' })
      if (body !== undefined) h['Content-Type'] = 'application/json'
      if (bearer) h.Authorization = `Bearer ${bearer}`
      if (cookie) h.Cookie = `${COOKIE}=${cookie}`
      const res = await fetch(server.url + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) })
      const text = await res.text()
      const setCookie = res.headers.get('set-cookie')
      if (setCookie && setCookie.startsWith(`${COOKIE}=`)) c.cookie = setCookie.slice(COOKIE.length + 1).split(';')[0] || null
      const json = text ? JSON.parse(text) : null
      if (json?.access_token) c.token = json.access_token
      return { status: res.status, headers: res.headers, text, json, setCookie }
    },
    /** Rotates the refresh cookie; the new access token replaces the old one. */
    async refresh () {
      const r = await c.call('POST', '/api/auth/refresh')
      assert.equal(r.status, 200, r.text)
      return r.json.access_token
    }
  }
  return c
}

/** Registers `name` (email name@example.org, password name-password-1) and returns its client. */
export async function register (server, name) {
  const c = apiClient(server)
  const r = await c.call('POST', '/api/auth/register', { username: name, email: `${name}@example.org`, password: `${name}-password-1` })
  assert.equal(r.status, 201, r.text)
  c.user = r.json.user
  return c
}
