// One open document: a Y.Doc kept in IndexedDB (y-indexeddb, offline edits),
// synced over the page's single Hocuspocus socket, rendered by Tiptap with
// collaborative carets. The status line follows the provider: "Saving…" while
// updates are unacknowledged (the server acks only after commit), "Saved" when
// none are, "Offline — your edits will sync" while the socket is down or, in the
// offline mode (api.ts), when there is no socket at all.
import { Editor, Extension } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { HocuspocusProvider, HocuspocusProviderWebsocket, WebSocketStatus } from '@hocuspocus/provider'
import { IndexeddbPersistence } from 'y-indexeddb'
import * as Y from 'yjs'
import { refresh, session, type Doc, type User } from './api'

let socket: HocuspocusProviderWebsocket | null = null

/** The page's one WebSocket; every open document multiplexes over it. */
function sharedSocket (): HocuspocusProviderWebsocket {
  if (!socket) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
    socket = new HocuspocusProviderWebsocket({ url: `${scheme}//${location.host}/ws` })
    // 4401: the server ended the session (sign-out elsewhere, revocation) or the
    // token expired un-renewed. A refresh tells which: a new token (the reconnect
    // uses it) or a 401, which signs this page out (session.onSignedOut).
    socket.on('close', ({ event }: { event?: { code?: number } }) => {
      if (event?.code === 4401 && session.signedIn) void refresh()
    })
  }
  return socket
}

/** Closes the socket (sign-out): the next document opens a new one. */
export function closeSocket (): void {
  socket?.destroy()
  socket = null
}

export type SaveState = 'connecting' | 'saving' | 'saved' | 'offline' | 'denied' | 'signedout'

const opened = new Set<string>()
const dbPrefix = (userId: string): string => `quire:${userId}:`

/**
 * Deletes the user's offline copies (y-indexeddb databases `quire:{user}:{doc}`)
 * on sign-out, so a shared computer keeps none. Every such database of this
 * browser profile, found by `indexedDB.databases()`; where that is missing, the
 * ones this page opened. A copy still open in another tab is closed there by the
 * deletion (`versionchange`) and then removed; this resolves without waiting for it.
 */
export async function clearOfflineCopies (userId: string): Promise<void> {
  const prefix = dbPrefix(userId)
  const names = new Set([...opened].filter((n) => n.startsWith(prefix)))
  try {
    for (const { name } of await indexedDB.databases()) if (name?.startsWith(prefix)) names.add(name)
  } catch { /* no databases(): the ones opened here */ }
  await Promise.all([...names].map(async (name) => new Promise<void>((resolve) => {
    const req = indexedDB.deleteDatabase(name)
    req.onsuccess = req.onerror = req.onblocked = () => resolve()
    opened.delete(name)
  })))
}

// Caret colours must be #rrggbb (the caret extension drops anything else).
const PALETTE = ['#d23f31', '#2f7dd1', '#2e9d57', '#b8580f', '#8a3fc4', '#c2337a', '#167a86', '#6b6f12']

export function colorFor (id: string): string {
  let h = 2166136261
  for (const c of id) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0
  return PALETTE[h % PALETTE.length]
}

/** What the offline list shows of a copy: kept in its database's `custom` store beside the content. */
export interface LocalCopy { id: string, title: string, role: Doc['role'], openedAt: number }

/**
 * The user's offline copy of one document, or null if this device has none.
 * Opened without a version: a database that does not exist is not created
 * (the upgrade is aborted), so asking leaves no empty copy behind.
 */
export async function localCopy (userId: string, docId: string): Promise<LocalCopy | null> {
  const db = await new Promise<IDBDatabase | null>((resolve) => {
    const req = indexedDB.open(`${dbPrefix(userId)}${docId}`)
    req.onupgradeneeded = () => { req.transaction?.abort() }
    req.onsuccess = () => resolve(req.result)
    req.onerror = req.onblocked = () => resolve(null)
  })
  if (!db) return null
  try {
    if (!db.objectStoreNames.contains('custom')) return null
    const store = db.transaction('custom').objectStore('custom')
    const read = async (key: string): Promise<unknown> => new Promise((resolve) => {
      const r = store.get(key)
      r.onsuccess = () => resolve(r.result)
      r.onerror = () => resolve(undefined)
    })
    const [title, role, openedAt] = await Promise.all([read('title'), read('role'), read('opened_at')])
    return {
      id: docId,
      title: typeof title === 'string' && title !== '' ? title : 'Untitled',
      // A copy that does not say (or says something else) opens read-only.
      role: role === 'owner' || role === 'editor' ? role : 'viewer',
      openedAt: typeof openedAt === 'number' ? openedAt : 0
    }
  } finally {
    db.close()
  }
}

/** The user's offline copies on this device, most recently opened first (`indexedDB.databases()`). */
export async function localCopies (userId: string): Promise<LocalCopy[]> {
  const prefix = dbPrefix(userId)
  let names: string[] = []
  try {
    names = (await indexedDB.databases()).map((d) => d.name ?? '').filter((n) => n.startsWith(prefix))
  } catch { /* no databases(): no list */ }
  const copies = await Promise.all(names.map(async (n) => localCopy(userId, n.slice(prefix.length))))
  return copies.filter((c): c is LocalCopy => c !== null).sort((a, b) => b.openedAt - a.openedAt)
}

export interface OpenDoc {
  editor: Editor
  destroy: () => void
  /** The session ended: read-only, no more offline copy; the text stays in view. */
  suspend: () => void
  /** The whole document state (Yjs update), to carry into the next view. */
  snapshot: () => Uint8Array
  /** Sets the title kept in the document (`meta.title`); everyone's `onTitle` follows. */
  setTitle: (title: string) => void
}

export interface OpenOptions {
  id: string
  user: User
  role: Doc['role']
  /** No socket: the offline mode (api.ts), editing the IndexedDB copy alone. */
  offline: boolean
  element: HTMLElement
  onState: (state: SaveState) => void
  onPeople: (people: Array<{ name: string, color: string, self: boolean }>) => void
  onScope: (readOnly: boolean) => void
  /** The title in the document changed (another user's edit, or the seed). */
  onTitle: (title: string) => void
  /** The API's title: seeds `meta.title` once synced if the document has none (writers only). */
  title: string
  /**
   * Once synced, a writer's document title differs from the API's (renamed
   * offline, or by someone whose rename did not reach the API): rename there too.
   */
  onTitleDrift: (title: string) => void
  /** Mod-K in the editor (the link form). */
  onLinkKey: () => void
  /** Yjs state to merge in first: the unsaved text of a view whose session ended. */
  carry?: Uint8Array
}

export function openDocument (o: OpenOptions): OpenDoc {
  const ydoc = new Y.Doc()
  if (o.carry) Y.applyUpdate(ydoc, o.carry)
  // Offline copy, per user and document (document content only, never tokens).
  const dbName = `${dbPrefix(o.user.id)}${o.id}`
  opened.add(dbName)
  const local = new IndexeddbPersistence(dbName, ydoc)
  // Another tab deleting the copy (its sign-out) closes the database (lib0 does
  // on versionchange); stop writing to it too, or the next edit would throw.
  void (local as unknown as { _db: Promise<IDBDatabase> })._db.then((db) => {
    db.addEventListener('versionchange', () => { void local.destroy() })
  }).catch(() => {})
  // Beside the content, what the offline list shows (localCopy).
  const keep = (key: string, value: string | number): void => { local.set(key, value).catch(() => {}) }
  keep('opened_at', Date.now())
  keep('role', o.role)
  const provider = o.offline
    ? null
    : new HocuspocusProvider({
      websocketProvider: sharedSocket(),
      name: o.id,
      document: ydoc,
      token: () => session.token()
    })
  provider?.attach()
  const name = o.user.display_name || o.user.username
  const linkKey = Extension.create({
    name: 'quireLinkKey',
    addKeyboardShortcuts: () => ({ 'Mod-k': () => { o.onLinkKey(); return true } })
  })
  let readOnly = o.role === 'viewer'
  const editor = new Editor({
    element: o.element,
    editable: !readOnly,
    extensions: [
      StarterKit.configure({ undoRedo: false, link: { openOnClick: false, autolink: true } }),
      Collaboration.configure({ document: ydoc }),
      linkKey,
      ...(provider ? [CollaborationCaret.configure({ provider, user: { name, color: colorFor(o.user.id) } })] : [])
    ],
    editorProps: { attributes: { class: 'prose', spellcheck: 'true', 'aria-label': 'Document', 'aria-multiline': 'true', role: 'textbox' } }
  })

  let connected = false
  let denied = false
  let suspended = false

  // The title lives in the document (`meta.title`), so a rename syncs live.
  const meta = ydoc.getMap<string>('meta')
  const onMeta = (e: Y.YMapEvent<string>): void => {
    const t = meta.get('title')
    if (!e.keysChanged.has('title') || typeof t !== 'string') return
    keep('title', t)
    if (!e.transaction.local) o.onTitle(t)
  }
  meta.observe(onMeta)
  const initial = meta.get('title')
  if (typeof initial === 'string') queueMicrotask(() => { o.onTitle(initial) })
  keep('title', initial ?? o.title)
  let driftReported = false
  const afterSync = (): void => {
    // After the first sync, so the server's title (if any) wins over the API's.
    if (readOnly || suspended || !provider?.isSynced) return
    const t = meta.get('title')
    if (t === undefined) meta.set('title', o.title)
    else if (t !== o.title && !driftReported) { driftReported = true; o.onTitleDrift(t) }
  }
  provider?.on('synced', afterSync)
  const report = (): void => {
    if (suspended) return o.onState('signedout')
    if (denied) return o.onState('denied')
    if (!provider || !connected) return o.onState('offline')
    if (!provider.isSynced) return o.onState('connecting')
    o.onState(provider.unsyncedChanges > 0 ? 'saving' : 'saved')
  }
  const onStatus = ({ status }: { status: WebSocketStatus }): void => {
    connected = status === WebSocketStatus.Connected
    report()
  }
  provider?.on('status', onStatus)
  provider?.on('synced', report)
  provider?.on('unsyncedChanges', report)
  provider?.on('authenticated', ({ scope }: { scope: string }) => {
    if (suspended) return
    const ro = scope === 'readonly'
    if (ro) keep('role', 'viewer')
    else if (readOnly) keep('role', 'editor')
    readOnly = ro
    editor.setEditable(!ro)
    o.onScope(ro)
    afterSync()
  })
  provider?.on('authenticationFailed', () => { denied = true; report() })
  connected = provider !== null && sharedSocket().status === WebSocketStatus.Connected
  report()

  const people = (): void => {
    const seen: Array<{ name: string, color: string, self: boolean }> = []
    provider?.awareness?.getStates().forEach((state, clientId) => {
      const u = state.user as { name?: string, color?: string } | undefined
      if (u?.name) seen.push({ name: u.name, color: u.color ?? '#888', self: clientId === ydoc.clientID })
    })
    if (!provider) seen.push({ name, color: colorFor(o.user.id), self: true })
    o.onPeople(seen)
  }
  provider?.on('awarenessChange', people)
  people()

  // A refreshed access token goes to the server in-band before the old one expires.
  const offToken = session.onToken(() => { provider?.sendToken().catch(() => {}) })

  return {
    editor,
    suspend () {
      if (suspended) return
      suspended = true
      offToken()
      editor.setEditable(false)
      o.onScope(true)
      void local.destroy().catch(() => {})
      report()
    },
    snapshot: () => Y.encodeStateAsUpdate(ydoc),
    setTitle (title: string) {
      if (readOnly || suspended || meta.get('title') === title) return
      meta.set('title', title)
    },
    destroy () {
      offToken()
      meta.unobserve(onMeta)
      provider?.off('synced', afterSync)
      provider?.off('status', onStatus)
      editor.destroy()
      provider?.destroy()
      void local.destroy().catch(() => {})
      ydoc.destroy()
    }
  }
}
