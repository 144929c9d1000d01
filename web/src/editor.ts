// One open document: a Y.Doc kept in IndexedDB (y-indexeddb, offline edits),
// synced over the page's single Hocuspocus socket, rendered by Tiptap with
// collaborative carets. The status line follows the provider: "Saving…" while
// updates are unacknowledged (the server acks only after commit), "Saved" when
// none are, "Offline — your edits will sync" while the socket is down.
import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { HocuspocusProvider, HocuspocusProviderWebsocket, WebSocketStatus } from '@hocuspocus/provider'
import { IndexeddbPersistence } from 'y-indexeddb'
import * as Y from 'yjs'
import { session, type User } from './api'

let socket: HocuspocusProviderWebsocket | null = null

/** The page's one WebSocket; every open document multiplexes over it. */
function sharedSocket (): HocuspocusProviderWebsocket {
  if (!socket) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
    socket = new HocuspocusProviderWebsocket({ url: `${scheme}//${location.host}/ws` })
  }
  return socket
}

/** Closes the socket (sign-out): the next document opens a new one. */
export function closeSocket (): void {
  socket?.destroy()
  socket = null
}

export type SaveState = 'connecting' | 'saving' | 'saved' | 'offline' | 'denied'

// Caret colours must be #rrggbb (the caret extension drops anything else).
const PALETTE = ['#d23f31', '#2f7dd1', '#2e9d57', '#b8580f', '#8a3fc4', '#c2337a', '#167a86', '#6b6f12']

export function colorFor (id: string): string {
  let h = 2166136261
  for (const c of id) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0
  return PALETTE[h % PALETTE.length]
}

export interface OpenDoc {
  editor: Editor
  provider: HocuspocusProvider
  destroy: () => void
}

export interface OpenOptions {
  id: string
  user: User
  readOnly: boolean
  element: HTMLElement
  onState: (state: SaveState) => void
  onPeople: (people: Array<{ name: string, color: string, self: boolean }>) => void
  onScope: (readOnly: boolean) => void
}

export function openDocument (o: OpenOptions): OpenDoc {
  const ydoc = new Y.Doc()
  // Offline copy, per user and document (document content only, never tokens).
  const local = new IndexeddbPersistence(`quire:${o.user.id}:${o.id}`, ydoc)
  const provider = new HocuspocusProvider({
    websocketProvider: sharedSocket(),
    name: o.id,
    document: ydoc,
    token: () => session.token()
  })
  provider.attach()
  const name = o.user.display_name || o.user.username
  const editor = new Editor({
    element: o.element,
    editable: !o.readOnly,
    extensions: [
      StarterKit.configure({ undoRedo: false, link: { openOnClick: false, autolink: true } }),
      Collaboration.configure({ document: ydoc }),
      CollaborationCaret.configure({ provider, user: { name, color: colorFor(o.user.id) } })
    ],
    editorProps: { attributes: { class: 'prose', spellcheck: 'true', 'aria-label': 'Document' } }
  })

  let connected = false
  let denied = false
  const report = (): void => {
    if (denied) return o.onState('denied')
    if (!connected) return o.onState('offline')
    if (!provider.isSynced) return o.onState('connecting')
    o.onState(provider.unsyncedChanges > 0 ? 'saving' : 'saved')
  }
  const onStatus = ({ status }: { status: WebSocketStatus }): void => {
    connected = status === WebSocketStatus.Connected
    report()
  }
  provider.on('status', onStatus)
  provider.on('synced', report)
  provider.on('unsyncedChanges', report)
  provider.on('authenticated', ({ scope }: { scope: string }) => {
    const ro = scope === 'readonly'
    editor.setEditable(!ro)
    o.onScope(ro)
  })
  provider.on('authenticationFailed', () => { denied = true; report() })
  connected = sharedSocket().status === WebSocketStatus.Connected
  report()

  const people = (): void => {
    const seen: Array<{ name: string, color: string, self: boolean }> = []
    provider.awareness?.getStates().forEach((state, clientId) => {
      const u = state.user as { name?: string, color?: string } | undefined
      if (u?.name) seen.push({ name: u.name, color: u.color ?? '#888', self: clientId === ydoc.clientID })
    })
    o.onPeople(seen)
  }
  provider.on('awarenessChange', people)
  people()

  // A refreshed access token goes to the server in-band before the old one expires.
  const offToken = session.onToken(() => { provider.sendToken().catch(() => {}) })

  return {
    editor,
    provider,
    destroy () {
      offToken()
      provider.off('status', onStatus)
      editor.destroy()
      provider.destroy()
      void local.destroy().catch(() => {})
      ydoc.destroy()
    }
  }
}
