// The Quire web app: sign-in/register, the document list, the editor at /d/{id}.
// Plain DOM, no framework; routes are real URLs (the server answers them with
// index.html), so a document opens by its address.
import './style.css'
import { ApiError, docs, login, logout, refresh, register, session, type Doc, type User } from './api'
import { clearOfflineCopies, closeSocket, colorFor, openDocument, type OpenDoc, type SaveState } from './editor'

const app = document.getElementById('app')!
let current: OpenDoc | null = null
let currentId: string | null = null

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
  const { form, focus } = authForm(params.get('register') !== null ? 'register' : 'login',
    () => navigate(next.startsWith('/') && !next.startsWith('//') ? next : '/', true))
  show(header(), h('main', { class: 'center' }, form))
  focus()
}

/**
 * The session ended while a document was open (signed out in another tab, or
 * revoked): the editor turns read-only and keeps its text in view (it can still
 * be selected and copied), and a sign-in form opens over it. Signing in again as
 * the same user reopens the document with that text merged in, so edits not yet
 * acknowledged are sent then; another user gets a fresh view without them.
 */
function signInAgain (was: User): void {
  const id = currentId
  const note = h('p', { class: 'note', 'data-testid': 'signed-out-note' },
    'You were signed out, here or in another tab. Your text stays on this page until you leave it; sign in to keep editing.')
  const dialog = h('dialog', { class: 'reauth', 'data-testid': 'signin-dialog' })
  const { form, focus } = authForm('login', () => {
    const carry = session.user?.id === was.id && current ? current.snapshot() : undefined
    dialog.remove()
    if (id && carry && location.pathname === `/d/${id}`) void editorView(id, carry)
    else void route()
  }, note)
  dialog.append(form)
  document.body.append(dialog)
  dialog.show() // not modal: the text behind it stays selectable
  focus()
}

// ---- document list ----------------------------------------------------------

async function listView (): Promise<void> {
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
    list.replaceChildren(...items.map((d) => h('li', { 'data-doc': d.id },
      link(`/d/${d.id}`, d.title || 'Untitled', 'doctitle'),
      h('span', { class: 'role' }, d.role),
      h('span', { class: 'when' }, d.updated_at ? new Date(d.updated_at).toLocaleString() : ''),
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

// ---- editor -------------------------------------------------------------------

const STATUS: Record<SaveState, string> = {
  connecting: 'Connecting…',
  saving: 'Saving…',
  saved: 'Saved',
  offline: 'Offline — your edits will sync',
  denied: 'You no longer have access to this document',
  signedout: 'Signed out — sign in to keep editing'
}

async function editorView (id: string, carry?: Uint8Array): Promise<void> {
  let doc: Doc
  try {
    doc = await docs.get(id)
  } catch (err) {
    show(header(), h('main', { class: 'page' }, h('h1', {}, 'Document not found'),
      h('p', {}, err instanceof ApiError && err.status === 404 ? 'It does not exist, or it was not shared with you.' : message(err)),
      link('/', 'Back to your documents')))
    return
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
  shareButton.hidden = doc.role !== 'owner'
  const toolbar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Formatting' })
  const surface = h('div', { class: 'surface', 'data-testid': 'editor' })
  show(header(titleInput, badge), h('main', { class: 'editor-page' },
    h('div', { class: 'docbar' }, toolbar, h('span', { class: 'spacer' }), people, status, shareButton), surface))

  const opened = openDocument({
    id,
    user: session.user!,
    readOnly: doc.role === 'viewer',
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
    carry
  })
  current = opened
  currentId = id
  toolbar.hidden = doc.role === 'viewer'
  buildToolbar(toolbar, opened)
}

function buildToolbar (bar: HTMLElement, { editor }: OpenDoc): void {
  const buttons: Array<[string, string, () => boolean, () => boolean]> = [
    ['B', 'Bold', () => editor.chain().focus().toggleBold().run(), () => editor.isActive('bold')],
    ['I', 'Italic', () => editor.chain().focus().toggleItalic().run(), () => editor.isActive('italic')],
    ['U', 'Underline', () => editor.chain().focus().toggleUnderline().run(), () => editor.isActive('underline')],
    ['S', 'Strikethrough', () => editor.chain().focus().toggleStrike().run(), () => editor.isActive('strike')],
    ['H1', 'Heading 1', () => editor.chain().focus().toggleHeading({ level: 1 }).run(), () => editor.isActive('heading', { level: 1 })],
    ['H2', 'Heading 2', () => editor.chain().focus().toggleHeading({ level: 2 }).run(), () => editor.isActive('heading', { level: 2 })],
    ['•', 'Bullet list', () => editor.chain().focus().toggleBulletList().run(), () => editor.isActive('bulletList')],
    ['1.', 'Numbered list', () => editor.chain().focus().toggleOrderedList().run(), () => editor.isActive('orderedList')],
    ['❝', 'Quote', () => editor.chain().focus().toggleBlockquote().run(), () => editor.isActive('blockquote')],
    ['</>', 'Code block', () => editor.chain().focus().toggleCodeBlock().run(), () => editor.isActive('codeBlock')],
    ['Link', 'Link', () => {
      const prev = editor.getAttributes('link').href as string | undefined
      const url = prompt('Link address', prev ?? 'https://')
      if (url === null) return false
      if (url === '') return editor.chain().focus().unsetLink().run()
      if (!/^(https?:|mailto:)/i.test(url)) return false
      return editor.chain().focus().extendMarkRange('link').setLink({ href: url }).run()
    }, () => editor.isActive('link')],
    ['↶', 'Undo', () => editor.chain().focus().undo().run(), () => false],
    ['↷', 'Redo', () => editor.chain().focus().redo().run(), () => false]
  ]
  const els = buttons.map(([label, name, run]) =>
    h('button', { type: 'button', title: name, 'aria-label': name, onmousedown: (e: Event) => e.preventDefault(), onclick: () => { run() } }, label))
  bar.replaceChildren(...els)
  const refreshActive = (): void => els.forEach((el, i) => el.classList.toggle('active', buttons[i][3]()))
  editor.on('transaction', refreshActive)
  refreshActive()
}

async function shareDialog (doc: Doc): Promise<void> {
  const list = h('ul', { class: 'members' })
  const error = h('p', { class: 'error', role: 'alert' })
  const who = h('input', { placeholder: 'username or email', 'aria-label': 'Share with', 'data-testid': 'share-user' })
  const role = h('select', { 'aria-label': 'Role', 'data-testid': 'share-role' },
    h('option', { value: 'editor' }, 'Can edit'), h('option', { value: 'viewer' }, 'Can view'), h('option', { value: 'owner' }, 'Owner'))
  const dialog = h('dialog', { class: 'card share', 'data-testid': 'share-dialog' })
  const paint = async (): Promise<void> => {
    try {
      const members = await docs.members(doc.id)
      list.replaceChildren(...members.map((m) => h('li', {},
        h('span', { class: 'avatar', style: `background:${colorFor(m.user.id)}` }, (m.user.display_name || m.user.username).slice(0, 2).toUpperCase()),
        h('span', { class: 'grow' }, m.user.display_name || m.user.username),
        h('span', { class: 'role' }, m.role),
        ...(m.user.id !== session.user?.id
          ? [h('button', { type: 'button', class: 'ghost danger', onclick: async () => { try { await docs.unshare(doc.id, m.user.id); await paint() } catch (err) { error.textContent = message(err) } } }, 'Remove')]
          : []))))
    } catch (err) { error.textContent = message(err) }
  }
  dialog.append(
    h('h2', {}, `Share “${doc.title || 'Untitled'}”`),
    h('form', {
      class: 'row',
      onsubmit: async (e: Event) => {
        e.preventDefault()
        error.textContent = ''
        try { await docs.share(doc.id, who.value.trim(), role.value as Doc['role']); who.value = ''; await paint() } catch (err) { error.textContent = message(err) }
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
  if (path === '/login') {
    if (session.signedIn) return navigate('/', true)
    return signInView()
  }
  if (!session.signedIn) {
    return navigate(`/login${path === '/' ? '' : '?next=' + encodeURIComponent(path)}`, true)
  }
  const m = /^\/d\/([A-Za-z0-9_-]{1,128})$/.exec(path)
  if (m) return editorView(m[1])
  if (path === '/') return listView()
  show(header(), h('main', { class: 'page' }, h('h1', {}, 'Not found'), link('/', 'Back to your documents')))
}

window.addEventListener('popstate', () => { void route() })
session.onSignedOut((user) => {
  // A shared computer keeps no document copies of a signed-out user.
  void clearOfflineCopies(user.id)
  if (current) {
    current.suspend()
    closeSocket()
    signInAgain(user)
    return
  }
  closeSocket()
  if (location.pathname !== '/login') navigate(`/login?next=${encodeURIComponent(location.pathname)}`, true)
})

// A reload or a new tab: the refresh cookie (HttpOnly) brings the session back.
void refresh().then(() => route())
