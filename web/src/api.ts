// The session and the JSON API (docs/api.md). The access token lives in this
// module's memory only — never in localStorage, sessionStorage, IndexedDB or a
// readable cookie. The refresh token is the HttpOnly `__Host-quire_rt` cookie,
// sent only to the cookie routes, which also carry `X-Quire-CSRF: 1`.

export interface User {
  id: string
  username: string
  display_name?: string
  email?: string
}

export interface Doc {
  id: string
  title: string
  role: 'owner' | 'editor' | 'viewer'
  workspace_id?: string
  created_at?: string
  updated_at?: string
}

export interface Member {
  user: { id: string, username: string, display_name?: string }
  role: Doc['role']
}

export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

interface TokenAnswer { access_token: string, expires_in: number, user: User }

let accessToken: string | null = null
let currentUser: User | null = null
let refreshTimer: ReturnType<typeof setTimeout> | undefined
let refreshing: Promise<boolean> | null = null
const tokenListeners = new Set<() => void>()
const signedOutListeners = new Set<(user: User) => void>()

export const session = {
  get user (): User | null { return currentUser },
  get signedIn (): boolean { return accessToken !== null },
  /** The current access token, for the WebSocket's Auth message. */
  token (): string { return accessToken ?? '' },
  /** Called after every refresh (open providers send the new token in-band). */
  onToken (fn: () => void): () => void { tokenListeners.add(fn); return () => tokenListeners.delete(fn) },
  /** Called with the user who was signed out: here, in another tab, or by the server (revoked session). */
  onSignedOut (fn: (user: User) => void): () => void { signedOutListeners.add(fn); return () => signedOutListeners.delete(fn) }
}

async function readError (res: Response): Promise<ApiError> {
  let code = 'http_' + res.status
  let message = res.statusText || 'request failed'
  try {
    const body = await res.json() as { error?: string, message?: string }
    if (body.error) code = body.error
    if (body.message) message = body.message
  } catch { /* not JSON */ }
  if (res.status === 429) {
    const after = res.headers.get('Retry-After')
    if (after) message += ` (try again in ${after} s)`
  }
  return new ApiError(res.status, code, message)
}

function accept (answer: TokenAnswer): void {
  accessToken = answer.access_token
  currentUser = answer.user
  clearTimeout(refreshTimer)
  // Refresh a minute before expiry; a short lifetime (tests) refreshes half-way.
  const ms = Math.max(Math.min(10, answer.expires_in / 2), answer.expires_in - 60) * 1000
  refreshTimer = setTimeout(() => { void refresh() }, ms)
  for (const fn of tokenListeners) fn()
}

function forget (): void {
  const was = accessToken !== null ? currentUser : null
  accessToken = null
  currentUser = null
  clearTimeout(refreshTimer)
  if (was) for (const fn of signedOutListeners) fn(was)
}

/** A cookie route: POST, same origin (the browser sends Origin), the CSRF header. */
async function cookieRoute (path: string, body?: unknown): Promise<Response> {
  return fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-Quire-CSRF': '1', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
}

export async function register (username: string, email: string, password: string): Promise<User> {
  const res = await cookieRoute('/api/auth/register', { username, email, password })
  if (!res.ok) throw await readError(res)
  accept(await res.json() as TokenAnswer)
  return currentUser!
}

export async function login (username: string, password: string): Promise<User> {
  const res = await cookieRoute('/api/auth/login', { username, password })
  if (!res.ok) throw await readError(res)
  accept(await res.json() as TokenAnswer)
  return currentUser!
}

/**
 * Trades the refresh cookie for a new access token (on load, before expiry,
 * after a 401). One request at a time: concurrent callers share it, so a
 * rotated-away cookie is never presented twice by this page.
 */
export function refresh (): Promise<boolean> {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const res = await cookieRoute('/api/auth/refresh')
        if (res.ok) { accept(await res.json() as TokenAnswer); return true }
        if (res.status === 401 || res.status === 403) forget()
        else scheduleRetry()
        return false
      } catch {
        scheduleRetry() // offline: keep the token we have, try again later
        return false
      } finally {
        refreshing = null
      }
    })()
  }
  return refreshing
}

function scheduleRetry (): void {
  if (accessToken === null) return
  clearTimeout(refreshTimer)
  refreshTimer = setTimeout(() => { void refresh() }, 15_000)
}

export async function logout (): Promise<void> {
  try { await cookieRoute('/api/auth/logout') } finally { forget() }
}

/** A bearer route; a 401 refreshes once and retries. */
export async function api<T> (method: string, path: string, body?: unknown): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = { Authorization: `Bearer ${accessToken ?? ''}` }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit' })
    if (res.status === 401 && attempt === 0 && await refresh()) continue
    if (!res.ok) {
      const err = await readError(res)
      if (res.status === 401) forget()
      throw err
    }
    if (res.status === 204) return undefined as T
    return await res.json() as T
  }
}

export const docs = {
  list: async () => (await api<{ documents: Doc[] }>('GET', '/api/docs')).documents,
  get: async (id: string) => api<Doc>('GET', `/api/docs/${encodeURIComponent(id)}`),
  create: async (title: string) => api<Doc>('POST', '/api/docs', { title }),
  rename: async (id: string, title: string) => api<Doc>('PATCH', `/api/docs/${encodeURIComponent(id)}`, { title }),
  remove: async (id: string) => api<void>('DELETE', `/api/docs/${encodeURIComponent(id)}`),
  members: async (id: string) => (await api<{ members: Member[] }>('GET', `/api/docs/${encodeURIComponent(id)}/members`)).members,
  share: async (id: string, user: string, role: Doc['role']) =>
    api<unknown>('PUT', `/api/docs/${encodeURIComponent(id)}/members/${encodeURIComponent(user)}`, { role }),
  unshare: async (id: string, user: string) =>
    api<void>('DELETE', `/api/docs/${encodeURIComponent(id)}/members/${encodeURIComponent(user)}`)
}
