// The Quire web app: sign-in/register, the document list, the editor at /d/{id}.
// Plain DOM, no framework; routes are real URLs (the server answers them with
// index.html, the service worker with its cached copy when offline), so a
// document opens by its address. Without the server at start-up the app opens
// in the offline mode (api.ts) on this device's copies.
import './style.css'
import { Editor } from '@tiptap/core'
import { ApiError, docs, login, logout, register, session, startSession, type Doc, type User } from './api'
import { clearOfflineCopies, closeSocket, colorFor, localCopies, localCopy, openDocument, type OpenDoc, type SaveState } from './editor'

const app = document.getElementById('app')!
let current: OpenDoc | null = null
let currentId: string | null = null
/** What the open sign-in form does once signed in — also when another tab signs in. */
let awaitingSignIn: (() => void) | null = null

type Attrs = Record<string, string | boolean | ((e: Event) => void)>
function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Attrs = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.slice(2), v)
    else if (v === true) el.setAttribute(k, '')
    else if (v !== false) el.setAttribute(k, v)
  }
  el.append(...children)
  return el
}

function message (err: unknown): string {
  if (err instanceof ApiError) return err.message
  return 'Cannot reach the server.'
}

export function navigate (path: string, replace = false): void {
  if (replace) history.replaceState(null, '', path)
  else history.pushState(null, '', path)
  void route()
}

function link (path: string, text: string, cls = ''): HTMLAnchorElement {
  return h('a', { href: path, class: cls, onclick: (e: Event) => { e.preventDefault(); navigate(path) } }, text)
}

function header (...extra: Node[]): HTMLElement {
  const user = session.user
  return h('header', { class: 'topbar' },
    link('/', 'Quire', 'brand'),
    ...extra,
    h('span', { class: 'spacer' }),
    ...(user
      ? [h('span', { class: 'me', 'data-testid': 'me' }, user.display_name || user.username),
          h('button', { type: 'button', class: 'ghost', 'data-testid': 'sign-out', onclick: () => { void signOut() } }, 'Sign out')]
      : []))
}

async function signOut (): Promise<void> {
  current?.destroy()
  current = null
  currentId = null
  closeSocket()
  await logout().catch(() => {})
  navigate('/login', true)
}

function show (...nodes: Node[]): void {
  if (current) { current.destroy(); current = null; currentId = null }
  for (const d of document.querySelectorAll('dialog.reauth')) d.remove()
  awaitingSignIn = null
  app.replaceChildren(...nodes)
}

// ---- sign in / register -------------------------------------------------------

/** The sign-in / register form; `done` runs after a successful sign-in. */
function authForm (initial: 'login' | 'register', done: () => void, lead?: Node): { form: HTMLFormElement, focus: () => void } {
  let mode = initial
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'auth-error' })
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, 'aria-label': 'Username' })
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'email', 'aria-label': 'Email' })
  const password = h('input', { name: 'password', type: 'password', required: true, minlength: '8', 'aria-label': 'Password' })
  const submit = h('button', { type: 'submit', 'data-testid': 'auth-submit' })
  const emailRow = h('label', {}, 'Email', email)
  const title = h('h1')
  const toggle = h('button', { type: 'button', class: 'linklike', 'data-testid': 'auth-toggle', onclick: () => { mode = mode === 'login' ? 'register' : 'login'; paint() } })
  const paint = (): void => {
    title.textContent = mode === 'login' ? 'Sign in to Quire' : 'Create your Quire account'
    submit.textContent = mode === 'login' ? 'Sign in' : 'Create account'
    toggle.textContent = mode === 'login' ? 'No account? Create one' : 'Have an account? Sign in'
    emailRow.hidden = mode === 'login'
    email.required = mode === 'register'
    username.placeholder = mode === 'login' ? 'username or email' : 'letters, digits, . _ -'
    password.autocomplete = mode === 'login' ? 'current-password' : 'new-password'
    error.textContent = ''
  }
  const form = h('form', {
    class: 'card auth',
    onsubmit: async (e: Event) => {
      e.preventDefault()
      submit.disabled = true
      error.textContent = ''
      try {
        if (mode === 'login') await login(username.value.trim(), password.value)
        else await register(username.value.trim(), email.value.trim(), password.value)
        done()
      } catch (err) {
        error.textContent = message(err)
      } finally {
        submit.disabled = false
      }
    }
  }, title, ...(lead ? [lead] : []), h('label', {}, 'Username', username), emailRow, h('label', {}, 'Password', password), error, submit, toggle)
  paint()
  return { form, focus: () => username.focus() }
}

function signInView (): void {
  const params = new URLSearchParams(location.search)
  const next = params.get('next') ?? '/'
  const done = (): void => navigate(next.startsWith('/') && !next.startsWith('//') ? next : '/', true)
  const { form, focus } = authForm(params.get('register') !== null ? 'register' : 'login', done)
  show(header(), h('main', { class: 'center' }, form))
  awaitingSignIn = done
  focus()
}

/**
 * Signed in again after the session ended under an open document (signed out,
 * revoked, or expired while offline): the same user gets the document back with
 * the text of the page merged in, so edits not yet sent are sent now.
 */
function resume (was: User): void {
  const id = currentId
  const carry = session.user?.id === was.id && current ? current.snapshot() : undefined
  // Whoever was typing keeps the caret: the new view starts from the same content.
  const editor = current?.editor
  const caret = editor?.isFocused ? { from: editor.state.selection.from, to: editor.state.selection.to } : undefined
  if (id && carry && location.pathname === `/d/${id}`) void editorView(id, carry, caret)
  else void route()
}

/**
 * The session ended while a document was open (signed out in another tab, or
 * revoked): the editor turns read-only and keeps its text in view (it can still
 * be selected and copied), and a sign-in form opens over it. Signing in again as
 * the same user reopens the document with that text merged in, so edits not yet
 * acknowledged are sent then; another user gets a fresh view without them.
 */
function signInAgain (was: User, why: string): void {
  const note = h('p', { class: 'note', 'data-testid': 'signed-out-note' }, why)
  const dialog = h('dialog', { class: 'reauth', 'data-testid': 'signin-dialog' })
  const done = (): void => {
    dialog.remove()
    awaitingSignIn = null
    resume(was)
  }
  const { form, focus } = authForm('login', done, note)
  dialog.append(form)
  document.body.append(dialog)
  dialog.show() // not modal: the text behind it stays selectable
  awaitingSignIn = done
  focus()
}

// ---- document list ----------------------------------------------------------

const relativeTime = new Intl.RelativeTimeFormat('en', { numeric: 'auto' })

/** "just now", "5 minutes ago", "yesterday", "on 3 Mar 2026". */
function ago (ms: number): string {
  const s = Math.round((ms - Date.now()) / 1000)
  const a = Math.abs(s)
  if (a < 45) return 'just now'
  if (a < 45 * 60) return relativeTime.format(Math.round(s / 60), 'minute')
  if (a < 22 * 3600) return relativeTime.format(Math.round(s / 3600), 'hour')
  if (a < 6 * 86400) return relativeTime.format(Math.round(s / 86400), 'day')
  return 'on ' + new Date(ms).toLocaleDateString('en', { day: 'numeric', month: 'short', year: 'numeric' })
}

/** "Edited 5 minutes ago by Bob" (the last stored edit), else "Updated …" (the document's metadata). */
function lastEdited (d: Doc): HTMLElement {
  const at = d.last_edited_at ?? d.updated_at
  if (at === undefined) return h('span', { class: 'when' })
  const by = d.last_edited_by
  const who = by ? (by.id === session.user?.id ? 'you' : by.display_name || by.username) : ''
  const text = `${d.last_edited_at != null ? 'Edited' : 'Updated'} ${ago(at)}${who ? ` by ${who}` : ''}`
  return h('time', { class: 'when', 'data-testid': 'last-edited', datetime: new Date(at).toISOString(), title: new Date(at).toLocaleString() }, text)
}

function docRow (id: string, title: string, role: Doc['role'], ...rest: Node[]): HTMLLIElement {
  return h('li', { 'data-doc': id }, link(`/d/${id}`, title || 'Untitled', 'doctitle'), h('span', { class: 'role' }, role), ...rest)
}

async function listView (): Promise<void> {
  if (session.offline) return offlineListView()
  const list = h('ul', { class: 'doclist', 'data-testid': 'doc-list' })
  const error = h('p', { class: 'error', role: 'alert' })
  const title = h('input', { placeholder: 'Untitled', 'aria-label': 'New document title', 'data-testid': 'new-title' })
  const form = h('form', {
    class: 'newdoc',
    onsubmit: async (e: Event) => {
      e.preventDefault()
      try {
        const doc = await docs.create(title.value.trim() || 'Untitled')
        navigate(`/d/${doc.id}`)
      } catch (err) { error.textContent = message(err) }
    }
  }, title, h('button', { type: 'submit', 'data-testid': 'new-doc' }, 'New document'))
  show(header(), h('main', { class: 'page' }, h('h1', {}, 'Documents'), form, error, list))
  const paint = (items: Doc[]): void => {
    if (items.length === 0) { list.replaceChildren(h('li', { class: 'empty' }, 'No documents yet.')); return }
    list.replaceChildren(...items.map((d) => docRow(d.id, d.title, d.role, lastEdited(d),
      ...(d.role === 'owner'
        ? [h('button', {
            type: 'button',
            class: 'ghost danger',
            'aria-label': `Delete ${d.title}`,
            onclick: async () => {
              if (!confirm(`Delete “${d.title || 'Untitled'}”?`)) return
              try { await docs.remove(d.id); paint(await docs.list()) } catch (err) { error.textContent = message(err) }
            }
          }, 'Delete')]
        : []))))
  }
  try { paint(await docs.list()) } catch (err) { error.textContent = message(err) }
}

/** The offline mode's list: the documents with a copy on this device (no server to ask). */
async function offlineListView (): Promise<void> {
  const list = h('ul', { class: 'doclist', 'data-testid': 'doc-list' })
  show(header(), h('main', { class: 'page' }, h('h1', {}, 'Documents'),
    h('p', { class: 'offline-note', role: 'status', 'data-testid': 'offline-note' },
      'Offline — the server cannot be reached. These are the documents kept on this device; your edits will sync when it is back.'),
    list))
  const copies = await localCopies(session.user!.id)
  if (copies.length === 0) { list.replaceChildren(h('li', { class: 'empty' }, 'No documents on this device.')); return }
  list.replaceChildren(...copies.map((c) => docRow(c.id, c.title, c.role, h('span', { class: 'when' }, 'On this device'))))
}

// ---- editor -------------------------------------------------------------------

const STATUS: Record<SaveState, string> = {
  connecting: 'Connecting…',
  saving: 'Saving…',
  saved: 'Saved',
  offline: 'Offline — your edits will sync',
  denied: 'You no longer have access to this document',
  signedout: 'Signed out — sign in to keep editing'
}

function notFound (heading: string, text: string): void {
  show(header(), h('main', { class: 'page' }, h('h1', {}, heading), h('p', {}, text), link('/', 'Back to your documents')))
}

async function editorView (id: string, carry?: Uint8Array, caret?: { from: number, to: number }): Promise<void> {
  let doc: Doc
  const offline = session.offline
  if (offline) {
    const copy = await localCopy(session.user!.id, id)
    if (!copy) return notFound('Not available offline', 'This document has no copy on this device. It opens when the server can be reached.')
    doc = { id, title: copy.title, role: copy.role }
  } else {
    try {
      doc = await docs.get(id)
    } catch (err) {
      return notFound('Document not found', err instanceof ApiError && err.status === 404 ? 'It does not exist, or it was not shared with you.' : message(err))
    }
  }
  const status = h('span', { class: 'status', 'data-testid': 'status', 'aria-live': 'polite' })
  const people = h('span', { class: 'people', 'data-testid': 'people' })
  const titleInput = h('input', { class: 'title', value: doc.title, 'aria-label': 'Title', 'data-testid': 'doc-title' })
  titleInput.readOnly = doc.role === 'viewer'
  // The title is part of the document (meta.title): typing sets it (debounced) and
  // everyone's field follows; the change (Enter, blur) also renames through the API
  // so the document list shows it.
  let titleTimer: ReturnType<typeof setTimeout> | undefined
  const pushTitle = (): void => {
    clearTimeout(titleTimer)
    titleTimer = undefined
    if (!titleInput.readOnly) opened.setTitle(titleInput.value)
  }
  titleInput.addEventListener('input', () => {
    clearTimeout(titleTimer)
    titleTimer = setTimeout(pushTitle, 250)
  })
  titleInput.addEventListener('change', async () => {
    if (titleInput.readOnly) return
    const title = titleInput.value.trim() || 'Untitled'
    titleInput.value = title
    pushTitle()
    try { doc = await docs.rename(id, title) } catch { /* the document keeps the title; the list catches up on the next rename */ }
  })
  const showTitle = (title: string): void => {
    // A local edit not yet sent wins (it is sent next); keep the caret while focused.
    if (titleTimer !== undefined || titleInput.value === title) return
    if (document.activeElement !== titleInput) { titleInput.value = title; return }
    const { selectionStart: start, selectionEnd: end } = titleInput
    titleInput.value = title
    if (start !== null && end !== null) titleInput.setSelectionRange(Math.min(start, title.length), Math.min(end, title.length))
  }
  const badge = h('span', { class: 'badge', 'data-testid': 'readonly-badge' }, 'View only')
  badge.hidden = doc.role !== 'viewer'
  const shareButton = h('button', { type: 'button', class: 'ghost', 'data-testid': 'share', onclick: () => { void shareDialog(doc) } }, 'Share')
  shareButton.hidden = doc.role !== 'owner' || offline
  const toolbar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Formatting', 'aria-controls': 'document' })
  const linkForm = h('form', { class: 'linkbar', hidden: true, novalidate: true, 'aria-label': 'Link', 'data-testid': 'link-form' })
  const surface = h('div', { class: 'surface', id: 'document', 'data-testid': 'editor' })
  show(header(titleInput, badge), h('main', { class: 'editor-page' },
    h('div', { class: 'docbar' }, toolbar, linkForm, h('span', { class: 'spacer' }), people, status, shareButton), surface))

  let openLink = (): void => {}
  const opened = openDocument({
    id,
    user: session.user!,
    role: doc.role,
    offline,
    element: surface,
    onState: (s) => { status.textContent = STATUS[s]; status.dataset.state = s },
    onPeople: (list) => {
      people.replaceChildren(...list.map((p) => {
        const initials = p.name.slice(0, 2).toUpperCase()
        return h('span', { class: 'avatar', title: p.self ? `${p.name} (you)` : p.name, style: `background:${p.color}` }, initials)
      }))
    },
    onScope: (ro) => { badge.hidden = !ro; toolbar.hidden = ro; titleInput.readOnly = ro },
    onTitle: showTitle,
    title: doc.title,
    onTitleDrift: (title) => { docs.rename(id, title).then((d) => { doc = d }, () => {}) },
    onLinkKey: () => openLink(),
    carry
  })
  current = opened
  currentId = id
  toolbar.hidden = doc.role === 'viewer'
  openLink = buildToolbar(toolbar, linkForm, opened.editor)
  if (caret) {
    const { editor } = opened
    editor.on('create', () => {
      const end = editor.state.doc.content.size
      editor.chain().setTextSelection({ from: Math.min(caret.from, end), to: Math.min(caret.to, end) }).focus().run()
    })
  }
}

const MAC = /Mac|iPhone|iPad/.test(navigator.platform)

interface Tool {
  label: string
  name: string
  /** Its keyboard shortcut, `Mod` being Ctrl (Cmd on a Mac): Tiptap's own, or Mod+K for the link form. */
  keys: string
  run: () => unknown
  /** For toggles: whether the selection has it (aria-pressed). */
  active?: () => boolean
}

/**
 * The formatting toolbar: one tab stop (arrow keys, Home and End move between
 * its buttons, WAI-ARIA toolbar pattern), toggles with `aria-pressed`, each
 * button naming its shortcut (`aria-keyshortcuts`, tooltip). The link form is
 * inline, below it. Returns the function that opens the link form.
 */
function buildToolbar (bar: HTMLElement, linkForm: HTMLFormElement, editor: Editor): () => void {
  const chain = (): ReturnType<Editor['chain']> => editor.chain().focus()
  const openLink = linkTool(linkForm, editor)
  const tools: Tool[] = [
    { label: 'B', name: 'Bold', keys: 'Mod+B', run: () => chain().toggleBold().run(), active: () => editor.isActive('bold') },
    { label: 'I', name: 'Italic', keys: 'Mod+I', run: () => chain().toggleItalic().run(), active: () => editor.isActive('italic') },
    { label: 'U', name: 'Underline', keys: 'Mod+U', run: () => chain().toggleUnderline().run(), active: () => editor.isActive('underline') },
    { label: 'S', name: 'Strikethrough', keys: 'Mod+Shift+S', run: () => chain().toggleStrike().run(), active: () => editor.isActive('strike') },
    { label: 'H1', name: 'Heading 1', keys: 'Mod+Alt+1', run: () => chain().toggleHeading({ level: 1 }).run(), active: () => editor.isActive('heading', { level: 1 }) },
    { label: 'H2', name: 'Heading 2', keys: 'Mod+Alt+2', run: () => chain().toggleHeading({ level: 2 }).run(), active: () => editor.isActive('heading', { level: 2 }) },
    { label: '•', name: 'Bullet list', keys: 'Mod+Shift+8', run: () => chain().toggleBulletList().run(), active: () => editor.isActive('bulletList') },
    { label: '1.', name: 'Numbered list', keys: 'Mod+Shift+7', run: () => chain().toggleOrderedList().run(), active: () => editor.isActive('orderedList') },
    { label: '❝', name: 'Quote', keys: 'Mod+Shift+B', run: () => chain().toggleBlockquote().run(), active: () => editor.isActive('blockquote') },
    { label: '</>', name: 'Code block', keys: 'Mod+Alt+C', run: () => chain().toggleCodeBlock().run(), active: () => editor.isActive('codeBlock') },
    { label: 'Link', name: 'Link', keys: 'Mod+K', run: openLink, active: () => editor.isActive('link') },
    { label: '↶', name: 'Undo', keys: 'Mod+Z', run: () => chain().undo().run() },
    { label: '↷', name: 'Redo', keys: 'Mod+Shift+Z', run: () => chain().redo().run() }
  ]
  const els = tools.map((t, i) => h('button', {
    type: 'button',
    tabindex: i === 0 ? '0' : '-1',
    title: `${t.name} (${t.keys.replace('Mod', MAC ? 'Cmd' : 'Ctrl')})`,
    'aria-label': t.name,
    'aria-keyshortcuts': t.keys.replace('Mod', MAC ? 'Meta' : 'Control'),
    // A mouse click keeps the editor's focus and selection; the keyboard focuses the button.
    onmousedown: (e: Event) => e.preventDefault(),
    onclick: () => { t.run() }
  }, t.label))
  const rove = (to: number): void => els.forEach((el, i) => { el.tabIndex = i === to ? 0 : -1 })
  els.forEach((el, i) => el.addEventListener('focus', () => rove(i)))
  bar.addEventListener('keydown', (e: KeyboardEvent) => {
    const i = els.indexOf(document.activeElement as HTMLButtonElement)
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: els.length - 1 }[e.key]
    if (i < 0 || to === undefined) return
    e.preventDefault()
    els[(to + els.length) % els.length].focus()
  })
  bar.replaceChildren(...els)
  const refreshActive = (): void => els.forEach((el, i) => {
    const active = tools[i].active
    if (!active) return
    const on = active()
    el.classList.toggle('active', on)
    el.setAttribute('aria-pressed', String(on))
  })
  editor.on('transaction', refreshActive)
  refreshActive()
  return openLink
}

/**
 * The link form: the address for the selection (http, https or mailto; a bare
 * host gets https://), or the address as linked text where nothing is selected.
 * Escape or Cancel returns to the text; an empty address removes the link.
 */
function linkTool (form: HTMLFormElement, editor: Editor): () => void {
  const input = h('input', { type: 'url', 'aria-label': 'Link address', placeholder: 'https://…', 'data-testid': 'link-url' })
  const error = h('span', { class: 'error', role: 'alert' })
  const close = (): void => { form.hidden = true; editor.commands.focus() }
  const unlink = (): void => { editor.chain().focus().extendMarkRange('link').unsetLink().run(); form.hidden = true }
  const remove = h('button', { type: 'button', class: 'ghost', onclick: unlink }, 'Remove link')
  form.replaceChildren(input, h('button', { type: 'submit' }, 'Apply'), remove, h('button', { type: 'button', class: 'ghost', onclick: close }, 'Cancel'), error)
  form.onsubmit = (e: Event) => {
    e.preventDefault()
    let url = input.value.trim()
    if (url === '') return unlink()
    if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) url = `https://${url}`
    if (!/^(https?|mailto):/i.test(url)) { error.textContent = 'Use an http, https or mailto address.'; return }
    const chain = editor.chain().focus()
    if (editor.state.selection.empty && !editor.isActive('link')) {
      chain.insertContent({ type: 'text', text: url, marks: [{ type: 'link', attrs: { href: url } }] }).run()
    } else {
      chain.extendMarkRange('link').setLink({ href: url }).run()
    }
    form.hidden = true
  }
  form.onkeydown = (e: KeyboardEvent) => { if (e.key === 'Escape') { e.preventDefault(); close() } }
  return () => {
    if (!editor.isEditable) return
    input.value = (editor.getAttributes('link').href as string | undefined) ?? ''
    remove.hidden = !editor.isActive('link')
    error.textContent = ''
    form.hidden = false
    input.focus()
    input.select()
  }
}

const ROLES: Array<[Doc['role'], string]> = [['editor', 'Can edit'], ['viewer', 'Can view'], ['owner', 'Owner']]
const roleOptions = (selected?: Doc['role']): HTMLOptionElement[] =>
  ROLES.map(([value, text]) => h('option', { value, selected: value === selected }, text))

/** Who has the document: add by username or email with a role, change a role in place, remove. */
async function shareDialog (doc: Doc): Promise<void> {
  const list = h('ul', { class: 'members' })
  const error = h('p', { class: 'error', role: 'alert' })
  const who = h('input', { placeholder: 'username or email', 'aria-label': 'Share with', 'data-testid': 'share-user' })
  const role = h('select', { 'aria-label': 'Role', 'data-testid': 'share-role' }, ...roleOptions())
  const dialog = h('dialog', { class: 'card share', 'data-testid': 'share-dialog' })
  // A change, then the list as the server has it (a refused change shows the role unchanged).
  const act = async (change: () => Promise<unknown>): Promise<void> => {
    error.textContent = ''
    try { await change() } catch (err) { error.textContent = message(err) }
    await paint()
  }
  const paint = async (): Promise<void> => {
    try {
      const members = await docs.members(doc.id)
      list.replaceChildren(...members.map((m) => {
        const name = m.user.display_name || m.user.username
        const self = m.user.id === session.user?.id
        return h('li', { 'data-member': m.user.username },
          h('span', { class: 'avatar', style: `background:${colorFor(m.user.id)}` }, name.slice(0, 2).toUpperCase()),
          h('span', { class: 'grow' }, self ? `${name} (you)` : name),
          ...(self
            ? [h('span', { class: 'role' }, ROLES.find(([r]) => r === m.role)?.[1] ?? m.role)]
            : [h('select', {
                'aria-label': `Role of ${name}`,
                'data-testid': 'member-role',
                onchange: (e: Event) => { void act(async () => docs.share(doc.id, m.user.id, (e.target as HTMLSelectElement).value as Doc['role'])) }
              }, ...roleOptions(m.role)),
              h('button', { type: 'button', class: 'ghost danger', 'aria-label': `Remove ${name}`, onclick: () => { void act(async () => docs.unshare(doc.id, m.user.id)) } }, 'Remove')]))
      }))
    } catch (err) { error.textContent = message(err) }
  }
  dialog.append(
    h('h2', {}, `Share “${doc.title || 'Untitled'}”`),
    h('form', {
      class: 'row',
      onsubmit: (e: Event) => {
        e.preventDefault()
        void act(async () => { await docs.share(doc.id, who.value.trim(), role.value as Doc['role']); who.value = '' })
      }
    }, who, role, h('button', { type: 'submit', 'data-testid': 'share-submit' }, 'Share')),
    error, list,
    h('button', { type: 'button', class: 'ghost', onclick: () => dialog.close() }, 'Done'))
  dialog.addEventListener('close', () => dialog.remove())
  document.body.append(dialog)
  dialog.showModal()
  await paint()
}

// ---- routing ------------------------------------------------------------------

async function route (): Promise<void> {
  const path = location.pathname
  const active = session.signedIn || session.offline
  if (path === '/login') {
    if (active) return navigate('/', true)
    return signInView()
  }
  if (!active) {
    return navigate(`/login${path === '/' ? '' : '?next=' + encodeURIComponent(path)}`, true)
  }
  const m = /^\/d\/([A-Za-z0-9_-]{1,128})$/.exec(path)
  if (m) return editorView(m[1])
  if (path === '/') return listView()
  notFound('Not found', '')
}

window.addEventListener('popstate', () => { void route() })
session.onSignedOut((user) => {
  // A shared computer keeps no document copies of a signed-out user.
  void clearOfflineCopies(user.id)
  if (current) {
    current.suspend()
    closeSocket()
    signInAgain(user, 'You were signed out, here or in another tab. Your text stays on this page until you leave it; sign in to keep editing.')
    return
  }
  closeSocket()
  if (location.pathname !== '/login') navigate(`/login?next=${encodeURIComponent(location.pathname)}`, true)
})
session.onOfflineEnd((was) => {
  // Back online with a session: reopen the view connected, the offline edits merged in.
  if (session.signedIn) return resume(was)
  // The session ended meanwhile: the copies stay (they hold the edits not yet sent).
  if (current) {
    current.suspend()
    signInAgain(was, 'Your session ended while you were offline. Your edits are kept on this device; sign in to send them.')
    return
  }
  navigate(`/login?next=${encodeURIComponent(location.pathname)}`, true)
})
session.onSignedInElsewhere(() => {
  const done = awaitingSignIn
  awaitingSignIn = null
  if (done) done()
  else void route()
})

// The app shell for the offline mode (sw.ts); not in the dev server, which has no sw.js.
if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js').catch(() => { /* no offline start-up, nothing else lost */ })
}

// A reload or a new tab: the refresh cookie (HttpOnly) brings the session back;
// without the server, the offline mode for the user last signed in here.
void startSession().then(() => route())
