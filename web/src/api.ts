// The session and the JSON API (docs/api.md). The access token lives in this
// module's memory only — never in localStorage, sessionStorage, IndexedDB or a
// readable cookie. The refresh token is the HttpOnly `__Host-quire_rt` cookie,
// sent only to the cookie routes, which also carry `X-Quire-CSRF: 1`.
// localStorage holds two non-secrets: the last signed-in user's id and names
// (for the offline mode, when the server cannot be reached at start-up) and a
// flag for a sign-out whose request did not reach the server. Tabs of the same
// profile tell each other about sign-in and sign-out on a BroadcastChannel.

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
  /** Milliseconds since the epoch. */
  created_at?: number
  updated_at?: number
  /** The last stored edit (milliseconds since the epoch), null if never edited. */
  last_edited_at?: number | null
  last_edited_by?: { id: string, username: string, display_name?: string } | null
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

/** What a refresh found: a session, none (401/403), or no usable answer (network, 5xx…). */
export type RefreshOutcome = 'ok' | 'signed-out' | 'failed'

const USER_KEY = 'quire:user'
const LOGOUT_KEY = 'quire:logout-pending'
const OFFLINE_RETRY_MS = 5000

let accessToken: string | null = null
let currentUser: User | null = null
let offline = false
let refreshTimer: ReturnType<typeof setTimeout> | undefined
let offlineTimer: ReturnType<typeof setInterval> | undefined
let refreshing: Promise<RefreshOutcome> | null = null
const tokenListeners = new Set<() => void>()
const signedOutListeners = new Set<(user: User) => void>()
const offlineEndListeners = new Set<(was: User) => void>()
const signedInElsewhereListeners = new Set<() => void>()

// Sign-in and sign-out news between this profile's tabs: `{type, user}` with the user's id only.
interface TabMessage { type: 'signed-in' | 'signed-out', user: string }
const tabs = typeof BroadcastChannel === 'function' ? new BroadcastChannel('quire-session') : null

export const session = {
  get user (): User | null { return currentUser },
  get signedIn (): boolean { return accessToken !== null },
  /**
   * Offline mode: the server could not be reached at start-up, so the page works
   * for the last signed-in user from this device's copies, without a token. Ends
   * with a refresh (retried every few seconds and when the browser says it is
   * online): a session (`onOfflineEnd`, signed in) or a 401 (`onOfflineEnd`, not).
   */
  get offline (): boolean { return offline },
  /** The current access token, for the WebSocket's Auth message. */
  token (): string { return accessToken ?? '' },
  /** Called after every refresh (open providers send the new token in-band). */
  onToken (fn: () => void): () => void { tokenListeners.add(fn); return () => tokenListeners.delete(fn) },
  /** Called with the user who was signed out: here, in another tab, or by the server (revoked session). */
  onSignedOut (fn: (user: User) => void): () => void { signedOutListeners.add(fn); return () => signedOutListeners.delete(fn) },
  /** Offline mode ended, with the user it was for; `session.signedIn` tells whether a session came back. */
  onOfflineEnd (fn: (was: User) => void): () => void { offlineEndListeners.add(fn); return () => offlineEndListeners.delete(fn) },
  /** This page had no session and another tab signed in: this page has one now too. */
  onSignedInElsewhere (fn: () => void): () => void { signedInElsewhereListeners.add(fn); return () => signedInElsewhereListeners.delete(fn) }
}

/** The last signed-in user of this browser profile (id and names only), for the offline mode. */
export function rememberedUser (): User | null {
  try {
    const u = JSON.parse(localStorage.getItem(USER_KEY) ?? 'null') as Partial<User> | null
    if (typeof u?.id !== 'string' || typeof u.username !== 'string') return null
    return { id: u.id, username: u.username, display_name: typeof u.display_name === 'string' ? u.display_name : undefined }
  } catch {
    return null
  }
}

function remember (user: User): void {
  try {
    localStorage.setItem(USER_KEY, JSON.stringify({ id: user.id, username: user.username, display_name: user.display_name ?? '' }))
  } catch { /* storage full or disabled: no offline mode */ }
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
  const was = offline ? currentUser : null
  accessToken = answer.access_token
  currentUser = answer.user
  remember(answer.user)
  clearTimeout(refreshTimer)
  // Refresh a minute before expiry; a short lifetime (tests) refreshes half-way.
  const ms = Math.max(Math.min(10, answer.expires_in / 2), answer.expires_in - 60) * 1000
  refreshTimer = setTimeout(() => { void refresh() }, ms)
  for (const fn of tokenListeners) fn()
  if (was) endOffline(was)
}

/** The session is over (signed out here or elsewhere, revoked): forget it and everything remembered. */
function forget (): void {
  const was = accessToken !== null || offline ? currentUser : null
  accessToken = null
  currentUser = null
  clearTimeout(refreshTimer)
  stopOfflineRetry()
  offline = false
  if (!was) return
  try { localStorage.removeItem(USER_KEY) } catch { /* nothing to forget */ }
  for (const fn of signedOutListeners) fn(was)
}

/** Starts the offline mode for `user` (no token): see `session.offline`. */
function enterOffline (user: User): void {
  offline = true
  currentUser = user
  accessToken = null
  window.addEventListener('online', retryOnline)
  offlineTimer = setInterval(retryOnline, OFFLINE_RETRY_MS)
}

function retryOnline (): void {
  if (offline) void refresh()
}

function stopOfflineRetry (): void {
  window.removeEventListener('online', retryOnline)
  clearInterval(offlineTimer)
}

/** Leaves the offline mode: signed in again (accept) or the session is gone (401); the copies stay. */
function endOffline (was: User): void {
  stopOfflineRetry()
  offline = false
  if (accessToken === null) currentUser = null
  for (const fn of offlineEndListeners) fn(was)
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

/** A sign-out made without the network still ends the cookie's session once the server answers. */
async function finishPendingLogout (): Promise<void> {
  try {
    if (localStorage.getItem(LOGOUT_KEY) === null) return
    await cookieRoute('/api/auth/logout')
    localStorage.removeItem(LOGOUT_KEY)
  } catch { /* still unreachable: next time */ }
}

async function signIn (path: string, body: unknown): Promise<User> {
  await finishPendingLogout()
  const res = await cookieRoute(path, body)
  if (!res.ok) throw await readError(res)
  try { localStorage.removeItem(LOGOUT_KEY) } catch { /* no storage */ }
  accept(await res.json() as TokenAnswer)
  tabs?.postMessage({ type: 'signed-in', user: currentUser!.id } satisfies TabMessage)
  return currentUser!
}

export async function register (username: string, email: string, password: string): Promise<User> {
  return signIn('/api/auth/register', { username, email, password })
}

export async function login (username: string, password: string): Promise<User> {
  return signIn('/api/auth/login', { username, password })
}

/**
 * Page start: a session from the refresh cookie, else the offline mode for the
 * remembered user if the server could not be reached, else signed out.
 */
export async function startSession (): Promise<void> {
  await finishPendingLogout()
  if (await refreshOutcome() !== 'failed' || accessToken !== null) return
  const user = rememberedUser()
  if (user) enterOffline(user)
}

/**
 * Trades the refresh cookie for a new access token (on load, before expiry,
 * after a 401). One request at a time: concurrent callers share it, so a
 * rotated-away cookie is never presented twice by this page.
 */
export async function refresh (): Promise<boolean> {
  return await refreshOutcome() === 'ok'
}

function refreshOutcome (): Promise<RefreshOutcome> {
  if (!refreshing) {
    refreshing = (async (): Promise<RefreshOutcome> => {
      try {
        const res = await cookieRoute('/api/auth/refresh')
        if (res.ok) { accept(await res.json() as TokenAnswer); return 'ok' }
        if (res.status === 401 || res.status === 403) {
          // Offline, the session ended meanwhile: sign in again; the copies (unsent edits) stay.
          if (offline && currentUser) endOffline(currentUser)
          else forget()
          return 'signed-out'
        }
        scheduleRetry()
        return 'failed'
      } catch {
        scheduleRetry() // offline: keep the token we have, try again later
        return 'failed'
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

/**
 * Signs out here and in this profile's other tabs. Without the network the
 * cookie cannot be revoked now: a flag makes the next start-up or sign-in do it.
 */
export async function logout (): Promise<void> {
  const user = currentUser
  try {
    await cookieRoute('/api/auth/logout')
  } catch {
    try { localStorage.setItem(LOGOUT_KEY, '1') } catch { /* no storage: the cookie lives until it expires */ }
  } finally {
    forget()
    if (user) tabs?.postMessage({ type: 'signed-out', user: user.id } satisfies TabMessage)
  }
}

tabs?.addEventListener('message', (e: MessageEvent<TabMessage>) => {
  const { type, user } = e.data ?? {}
  if (type === 'signed-out' && currentUser?.id === user) forget()
  if (type === 'signed-in' && accessToken === null) {
    if (offline) retryOnline()
    else void refresh().then((ok) => { if (ok) for (const fn of signedInElsewhereListeners) fn() })
  }
})

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

/**
 * One path segment: percent-encoded except the characters a segment may hold
 * as they are (RFC 3986 pchar: `@ : + $ & , ; =`), since the server compares
 * `{user}` as written — an email's `@` must arrive as `@`.
 */
const segment = (s: string): string => encodeURIComponent(s).replace(/%(?:40|3A|2B|24|26|2C|3B|3D)/gi, decodeURIComponent)

export const docs = {
  list: async () => (await api<{ documents: Doc[] }>('GET', '/api/docs')).documents,
  get: async (id: string) => api<Doc>('GET', `/api/docs/${segment(id)}`),
  create: async (title: string) => api<Doc>('POST', '/api/docs', { title }),
  rename: async (id: string, title: string) => api<Doc>('PATCH', `/api/docs/${segment(id)}`, { title }),
  remove: async (id: string) => api<void>('DELETE', `/api/docs/${segment(id)}`),
  members: async (id: string) => (await api<{ members: Member[] }>('GET', `/api/docs/${segment(id)}/members`)).members,
  share: async (id: string, user: string, role: Doc['role']) =>
    api<unknown>('PUT', `/api/docs/${segment(id)}/members/${segment(user)}`, { role }),
  unshare: async (id: string, user: string) =>
    api<void>('DELETE', `/api/docs/${segment(id)}/members/${segment(user)}`)
}
