/// <reference lib="webworker" />
// The service worker: keeps the app shell (the entry page, the content-hashed
// assets, the icon) so a document opens with no network. The build writes the
// list of this deploy's files in place of SHELL (vite.config.ts), so every deploy
// is a new worker with its own cache; the old cache goes when the new worker
// activates. The entry page is network-first (a deploy shows on the next load),
// assets cache-first (their names change with their content). /api/* and /ws are
// never touched: no answer of the API, no token, no document content is cached
// here — document content lives in the per-user IndexedDB copies (editor.ts).
export {}
declare const self: ServiceWorkerGlobalScope

interface Shell { version: string, files: string[] }
const SHELL = '__QUIRE_SHELL__' as unknown as Shell
const CACHE = `quire-shell-${SHELL.version}`
const ENTRY = '/'

const neverCached = (path: string): boolean =>
  path === '/api' || path.startsWith('/api/') || path === '/ws' || path.startsWith('/ws/')
/** The paths the app routes itself (main.ts): an offline navigation to one gets the entry page. */
const appRoute = (path: string): boolean => path === '/' || path === '/login' || /^\/d\/[A-Za-z0-9_-]{1,128}$/.test(path)

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE)
    await cache.addAll([ENTRY, ...SHELL.files.map((f) => `/${f}`)])
    await self.skipWaiting()
  })())
})

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key.startsWith('quire-shell-') && key !== CACHE) await caches.delete(key)
    await self.clients.claim()
  })())
})

self.addEventListener('fetch', (event) => {
  const req = event.request
  const url = new URL(req.url)
  if (req.method !== 'GET' || url.origin !== self.location.origin || neverCached(url.pathname)) return
  if (req.mode === 'navigate') {
    if (appRoute(url.pathname)) event.respondWith(entryPage(req))
    return
  }
  if (url.pathname.startsWith('/assets/') || SHELL.files.includes(url.pathname.slice(1))) event.respondWith(cacheFirst(req, url))
})

/** Network first, so a deploy is picked up; the cached page when the server cannot be reached. */
async function entryPage (req: Request): Promise<Response> {
  const cache = await caches.open(CACHE)
  let res: Response
  try {
    res = await fetch(req)
  } catch (err) {
    const cached = await cache.match(ENTRY)
    if (cached) return cached
    throw err
  }
  if (res.ok && (res.headers.get('Content-Type') ?? '').startsWith('text/html')) {
    await cache.put(ENTRY, res.clone())
  } else if (res.status >= 500) {
    // A proxy in front of a stopped server answers 502/503/504: offline too.
    const cached = await cache.match(ENTRY)
    if (cached) return cached
  }
  return res
}

/** Assets never change under one name: from the cache, else fetched and kept (a chunk loaded later). */
async function cacheFirst (req: Request, url: URL): Promise<Response> {
  const cache = await caches.open(CACHE)
  const hit = await cache.match(req)
  if (hit) return hit
  const res = await fetch(req)
  if (res.ok && url.pathname.startsWith('/assets/')) await cache.put(req, res.clone())
  return res
}
