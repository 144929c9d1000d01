// The web editor end to end: real browsers (headless Chromium) against a real
// `quire serve`. Two users typing at once converge and see each other's carets;
// no token reaches browser storage, the service worker's cache or a readable
// cookie; a reload keeps the session; a viewer cannot change the document, not
// even with hand-made frames; "Saved" follows the server's ack; every toolbar
// button and shortcut reaches the other editor; focus order and labels; a title
// rename syncs live; a reload without the network reopens the document from the
// service worker and IndexedDB, and its edits sync once online; the list says
// who edited last; sign-out in one tab ends the other's session at once
// (BroadcastChannel), a revoked session through the server, and clears the
// offline copies and the remembered user; the timed refresh renews the open
// socket's token.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { SCREENSHOTS, editorText, launchBrowser, newUser, registerViaUi, signInViaUi, startServer, until, watchErrors } from './harness.mjs'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const status = (page) => page.getByTestId('status').textContent()
const OFFLINE = 'Offline — your edits will sync'
const editorOf = (page) => page.locator('[data-testid=editor] .ProseMirror')
const tool = (page, name) => page.getByRole('toolbar', { name: 'Formatting' }).getByRole('button', { name, exact: true })

/** A member's role as the share dialog shows it. */
const memberRole = (page, username) => page.getByTestId('share-dialog').locator(`li[data-member="${username}"]`).getByTestId('member-role')

/** Shares the open document through the share dialog with `who` (a username or an email) as `username`. */
async function share (page, who, role, { username = who, screenshot } = {}) {
  await page.getByTestId('share').click()
  await page.getByTestId('share-user').fill(who)
  await page.getByTestId('share-role').selectOption(role)
  await page.getByTestId('share-submit').click()
  await until(`${username} is ${role}`, async () => (await memberRole(page, username).inputValue().catch(() => null)) === role)
    .catch(async (e) => { throw new Error(`${e.message}: ${await page.getByTestId('share-dialog').innerText()}`) })
  if (screenshot) await page.screenshot({ path: path.join(SCREENSHOTS, screenshot) })
  await page.getByTestId('share-dialog').getByRole('button', { name: 'Done' }).click()
}

/** Creates a document from the list and waits until it is connected; resolves with its path. */
async function createDoc (page, title) {
  await page.goto('/')
  await page.getByTestId('new-title').fill(title)
  await page.getByTestId('new-doc').click()
  await page.waitForURL(/\/d\/[A-Za-z0-9_-]+$/)
  await until('connected', async () => (await status(page)) === 'Saved')
  return new URL(page.url()).pathname
}

/** The editor's selected text as ProseMirror has it (Tiptap keeps its editor on the DOM node). */
const selectedText = (page) => editorOf(page).evaluate((el) => {
  const { from, to } = el.editor.state.selection
  return el.editor.state.doc.textBetween(from, to)
})

/** What has the focus: its accessible name (aria-label), else its text. */
const focused = (page) => page.evaluate(() => {
  const el = document.activeElement
  return el?.getAttribute('aria-label') || el?.textContent?.trim() || el?.tagName
})

/** Network failures the browser logs while it is offline (expected then, and only then). */
const offlineNoise = (errors) => errors.filter((e) => !/Failed to load resource: net::ERR_(INTERNET_DISCONNECTED|FAILED)/.test(e))

/** The names of this browser profile's offline copies (y-indexeddb databases `quire:…`). */
const offlineCopies = (page) => page.evaluate(async () =>
  (await indexedDB.databases()).map((d) => d.name).filter((n) => n.startsWith('quire:')))

/**
 * From the page's own script (as a user could from the console): a fresh access
 * token from POST /api/auth/refresh (the page's cookie), a raw WebSocket to /ws,
 * a Hocuspocus Auth frame and then an Update frame built by hand as bytes: one
 * Yjs item, the string `text` in the root type `default`. Resolves with the
 * server's answers (hex) to each, and the close code if it closed.
 */
function rawUpdate (page, docId, text) {
  return page.evaluate(async ({ docId, text }) => {
    const res = await fetch('/api/auth/refresh', { method: 'POST', credentials: 'same-origin', headers: { 'X-Quire-CSRF': '1' } })
    if (!res.ok) throw new Error(`refresh: ${res.status}`)
    const token = (await res.json()).access_token
    const utf8 = new TextEncoder()
    const varUint = (n) => { const out = []; while (n > 127) { out.push(0x80 | (n & 0x7f)); n = Math.floor(n / 128) } out.push(n); return out }
    const varString = (s) => { const b = utf8.encode(s); return [...varUint(b.length), ...b] }
    const name = varString(docId)
    // Hocuspocus: name, Auth (2), Token (0), the token.
    const auth = new Uint8Array([...name, 2, 0, ...varString(token)])
    // Yjs update v1: 1 client, 1 struct, client 424242 clock 0, info 4 (ContentString,
    // no origins), parent by root name 'default', the string; then an empty delete set.
    const update = [1, 1, ...varUint(424242), 0, 4, 1, ...varString('default'), ...varString(text), 0]
    // Hocuspocus: name, Sync (0), Update (2), the update as varUint8Array.
    const frame = new Uint8Array([...name, 0, 2, ...varUint(update.length), ...update])
    const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ')
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`)
    ws.binaryType = 'arraybuffer'
    const frames = []
    let closed = null
    let wake = () => {}
    ws.onmessage = (e) => { frames.push(new Uint8Array(e.data)); wake() }
    ws.onclose = (e) => { closed = e.code; wake() }
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('socket error')) })
    // The first frame after `name` whose type byte is `type`.
    const next = async (type, ms = 5000) => {
      const end = Date.now() + ms
      for (;;) {
        const i = frames.findIndex((f) => f.length > name.length && f[name.length] === type)
        if (i >= 0) return hex(frames.splice(i, 1)[0])
        if (closed !== null || Date.now() > end) return null
        await new Promise((r) => { wake = r; setTimeout(r, 100) })
      }
    }
    ws.send(auth)
    const authenticated = await next(2)
    ws.send(frame)
    const syncStatus = await next(8)
    ws.close()
    return { authenticated, syncStatus, closed, prefix: hex(new Uint8Array(name)) }
  }, { docId, text })
}

test('web editor', { timeout: 240000 }, async (t) => {
  const server = await startServer()
  t.after(() => server.stop())
  const browser = await launchBrowser()
  t.after(() => browser.close())

  const alice = await newUser(browser, server.url)
  const bob = await newUser(browser, server.url)
  const carol = await newUser(browser, server.url)
  let docPath
  let formatPath

  await t.test('two users type at once: identical text, each sees the other\'s caret', async () => {
    await registerViaUi(alice.page, 'alice', { screenshot: 'sign-in.png' })
    await registerViaUi(bob.page, 'bob')
    await registerViaUi(carol.page, 'carol')

    // Alice creates a document from the list and lands in the editor at /d/{id}.
    await alice.page.getByTestId('new-title').fill('Meeting notes')
    await alice.page.getByTestId('new-doc').click()
    await alice.page.waitForURL(/\/d\/[A-Za-z0-9_-]+$/)
    docPath = new URL(alice.page.url()).pathname
    await until('alice is connected', async () => (await alice.page.getByTestId('status').textContent()) === 'Saved')

    // She shares it with Bob (editor) and Carol (viewer) in the share dialog.
    await share(alice.page, 'bob', 'editor')
    await share(alice.page, 'carol', 'viewer', { screenshot: 'share-dialog.png' })

    // Bob's list shows it; he opens it by URL.
    await bob.page.reload()
    await bob.page.getByTestId('doc-list').getByText('Meeting notes').waitFor()
    await bob.page.goto(docPath)
    await until('bob is connected', async () => (await bob.page.getByTestId('status').textContent()) === 'Saved')

    const aEditor = alice.page.locator('[data-testid=editor] .ProseMirror')
    const bEditor = bob.page.locator('[data-testid=editor] .ProseMirror')
    await aEditor.click()
    await bEditor.click()
    await Promise.all([
      alice.page.keyboard.type('Alice writes the agenda. ', { delay: 15 }),
      bob.page.keyboard.type('Bob adds the minutes. ', { delay: 15 })
    ])
    let texts
    await until('both texts converge', async () => {
      texts = [await editorText(alice.page), await editorText(bob.page)]
      return texts[0] === texts[1] && texts[0].includes('Alice writes the agenda.') && texts[0].includes('Bob adds the minutes.')
    }).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(texts)}; statuses ${alice.errors} ${bob.errors}`) })
    assert.equal(await editorText(alice.page), await editorText(bob.page))

    // Each sees the other's caret, labelled with the other's name.
    await alice.page.locator('.collaboration-carets__label', { hasText: 'bob' }).waitFor()
    await bob.page.locator('.collaboration-carets__label', { hasText: 'alice' }).waitFor()
    // And both avatars.
    assert.equal(await alice.page.getByTestId('people').locator('.avatar').count(), 2)

    // A heading, bold text and a list through the toolbar, seen by the other side.
    await alice.page.keyboard.press('Enter')
    await alice.page.getByRole('button', { name: 'Heading 2' }).click()
    await alice.page.keyboard.type('Decisions')
    const heading = (page) => page.locator('[data-testid=editor] h2').evaluate((el) => {
      const copy = el.cloneNode(true)
      for (const c of copy.querySelectorAll('.collaboration-carets__caret')) c.remove()
      return copy.textContent
    }).catch(() => null)
    await until('bob sees alice\'s heading', async () => (await heading(bob.page)) === 'Decisions')

    await until('both saved', async () =>
      (await alice.page.getByTestId('status').textContent()) === 'Saved' && (await bob.page.getByTestId('status').textContent()) === 'Saved')
    await alice.page.screenshot({ path: path.join(SCREENSHOTS, 'editor-two-carets.png') })
    assert.deepEqual(alice.errors, [], 'no page errors for alice')
    assert.deepEqual(bob.errors, [], 'no page errors for bob')
  })

  await t.test('no token in localStorage, sessionStorage, IndexedDB or the cache; the refresh cookie is HttpOnly', async () => {
    for (const { page, context } of [alice, bob]) {
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => true))
      const found = await page.evaluate(async () => {
        const values = []
        for (const s of [localStorage, sessionStorage]) {
          for (let i = 0; i < s.length; i++) values.push(s.key(i), s.getItem(s.key(i)))
        }
        const latin1 = new TextDecoder('latin1')
        const flatten = (v) => {
          if (v instanceof Uint8Array || v instanceof ArrayBuffer) return latin1.decode(v)
          if (typeof v === 'string') return v
          try { return JSON.stringify(v) } catch { return String(v) }
        }
        const dbs = await indexedDB.databases()
        for (const { name } of dbs) {
          const db = await new Promise((resolve, reject) => { const r = indexedDB.open(name); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error) })
          for (const store of db.objectStoreNames) {
            const all = await new Promise((resolve, reject) => {
              const r = db.transaction(store).objectStore(store).getAll(); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error)
            })
            const keys = await new Promise((resolve, reject) => {
              const r = db.transaction(store).objectStore(store).getAllKeys(); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error)
            })
            values.push(name, store, ...all.map(flatten), ...keys.map(flatten))
          }
          db.close()
        }
        // The service worker's cache: the app shell only, never an API answer.
        const cached = []
        for (const key of await caches.keys()) {
          for (const req of await (await caches.open(key)).keys()) {
            cached.push(new URL(req.url).pathname)
            values.push(await (await (await caches.open(key)).match(req)).text())
          }
        }
        const remembered = JSON.parse(localStorage.getItem('quire:user'))
        return {
          dbs: dbs.map((d) => d.name),
          hits: values.filter((v) => v && /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/.test(v)),
          cookie: document.cookie,
          cached,
          storageKeys: Object.keys(localStorage).concat(Object.keys(sessionStorage)),
          remembered: remembered && Object.keys(remembered).sort()
        }
      })
      assert.ok(found.dbs.some((n) => n.startsWith('quire:')), `the offline copy is in IndexedDB (${found.dbs})`)
      assert.deepEqual(found.hits, [], 'no JWT anywhere in web storage, IndexedDB or the cache')
      assert.deepEqual(found.storageKeys, ['quire:user'], 'web storage holds the remembered user only')
      assert.deepEqual(found.remembered, ['display_name', 'id', 'username'], 'the remembered user is an id and names')
      assert.ok(found.cached.includes('/') && found.cached.some((p) => p.startsWith('/assets/')), `the app shell is cached: ${found.cached}`)
      assert.deepEqual(found.cached.filter((p) => p.startsWith('/api') || p.startsWith('/ws')), [], 'no API answer is cached')
      assert.ok(!found.cookie.includes('quire_rt'), 'document.cookie cannot read the refresh cookie')
      const rt = (await context.cookies()).find((c) => c.name === '__Host-quire_rt')
      assert.ok(rt, 'the browser holds the refresh cookie')
      assert.equal(rt.httpOnly, true)
      assert.equal(rt.sameSite, 'Strict')
    }
  })

  await t.test('a reload keeps the user signed in and reopens the document', async () => {
    const before = await editorText(alice.page)
    await alice.page.reload()
    await alice.page.getByTestId('me').filter({ hasText: 'alice' }).waitFor()
    assert.equal(new URL(alice.page.url()).pathname, docPath)
    await until('the document is back', async () => (await editorText(alice.page)) === before)
    // A new tab of the same browser profile, opened by URL, is signed in too.
    const tab = await alice.context.newPage()
    await tab.goto('/')
    await tab.getByTestId('doc-list').getByText('Meeting notes').waitFor()
    await tab.close()
  })

  await t.test('a viewer cannot change the document', async () => {
    await carol.page.goto(docPath)
    await carol.page.getByTestId('readonly-badge').waitFor()
    const editor = carol.page.locator('[data-testid=editor] .ProseMirror')
    await until('carol sees the text', async () => (await editorText(carol.page)) === (await editorText(alice.page)))
    // She sees who is in the document (the avatars), though she cannot write.
    await until('carol sees alice\'s avatar', async () => (await carol.page.getByTestId('people').locator('.avatar[title="alice"]').count()) > 0)
    assert.equal(await editor.getAttribute('contenteditable'), 'false')
    const before = await editorText(alice.page)
    await editor.click()
    await carol.page.keyboard.type('VIEWER WAS HERE')
    await carol.page.keyboard.press('Enter')
    await new Promise((r) => setTimeout(r, 1000))
    assert.ok(!(await editorText(carol.page)).includes('VIEWER'), 'the viewer\'s editor did not change')
    assert.equal(await editorText(alice.page), before, 'the owner sees no change')
    assert.equal(await carol.page.getByRole('toolbar').isHidden(), true, 'no formatting toolbar for a viewer')
  })

  await t.test('a viewer\'s hand-made frames from the console change nothing', async () => {
    const docId = docPath.slice('/d/'.length)
    // The same frame from an editor, on a scratch document of Bob's, is taken: it is well formed.
    const scratch = await bob.page.evaluate(async () => {
      const r = await fetch('/api/auth/refresh', { method: 'POST', credentials: 'same-origin', headers: { 'X-Quire-CSRF': '1' } })
      const token = (await r.json()).access_token
      const d = await fetch('/api/docs', { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ title: 'Scratch' }), credentials: 'omit' })
      return (await d.json()).id
    })
    const control = await rawUpdate(bob.page, scratch, 'EDITOR FRAME')
    assert.ok(control.authenticated?.endsWith(Buffer.from('read-write').toString('hex').match(/../g).join(' ')), `editor authenticated read-write: ${JSON.stringify(control)}`)
    assert.equal(control.syncStatus, `${control.prefix} 08 01`, 'the editor\'s update is acknowledged (SyncStatus 1)')

    const before = await editorText(alice.page)
    const sent = await rawUpdate(carol.page, docId, 'VIEWER FRAME')
    assert.ok(sent.authenticated?.endsWith(Buffer.from('readonly').toString('hex').match(/../g).join(' ')), `viewer authenticated readonly: ${JSON.stringify(sent)}`)
    assert.equal(sent.syncStatus, `${sent.prefix} 08 00`, `the server refuses the viewer's update (SyncStatus 0): ${JSON.stringify(sent)}`)
    await sleep(1000)
    assert.equal(await editorText(alice.page), before, 'the owner\'s text is unchanged')
    assert.ok(!(await editorText(carol.page)).includes('VIEWER FRAME'))
    assert.deepEqual(carol.errors, [], 'no page errors for carol')
  })

  await t.test('offline edits merge when the server is back; "Saved" only after its ack', async () => {
    await alice.page.goto(docPath)
    await bob.page.goto(docPath)
    for (const u of [alice, bob]) await until('connected', async () => (await u.page.getByTestId('status').textContent()) === 'Saved')
    await server.kill()
    for (const u of [alice, bob]) {
      await until('offline shown', async () => (await u.page.getByTestId('status').textContent()) === 'Offline — your edits will sync')
    }
    // Both edit while the server is down: at the end of the document, and at its start.
    await alice.page.locator('[data-testid=editor] .ProseMirror').click()
    await alice.page.keyboard.press('Control+End')
    await alice.page.keyboard.type(' Offline from Alice.')
    await bob.page.locator('[data-testid=editor] .ProseMirror').click()
    await bob.page.keyboard.press('Control+Home')
    await bob.page.keyboard.type('Offline from Bob. ')
    await new Promise((r) => setTimeout(r, 500))
    for (const u of [alice, bob]) {
      assert.equal(await u.page.getByTestId('status').textContent(), 'Offline — your edits will sync', 'never "Saved" without the server')
    }
    await server.restart()
    await until('both converge after reconnecting', async () => {
      const [a, b] = [await editorText(alice.page), await editorText(bob.page)]
      return a === b && a.includes('Offline from Alice.') && a.includes('Offline from Bob.')
    }, 60000)
    for (const u of [alice, bob]) await until('saved again', async () => (await u.page.getByTestId('status').textContent()) === 'Saved', 30000)
    // What was acknowledged is on the server's disk: a fresh page (no IndexedDB of alice's) shows it.
    await carol.page.goto(docPath)
    await until('carol gets the merged text from the server', async () => (await editorText(carol.page)) === (await editorText(alice.page)), 30000)
  })

  await t.test('the document list: who edited last, and when (screenshot)', async () => {
    // Bob edits the shared document last.
    await until('bob is connected', async () => (await status(bob.page)) === 'Saved')
    await editorOf(bob.page).click()
    await bob.page.keyboard.press('Control+End')
    await bob.page.keyboard.type(' Bob was here last.')
    await until('bob saved', async () => (await status(bob.page)) === 'Saved')
    await createDoc(alice.page, 'Roadmap 2027')
    const row = (title) => alice.page.getByTestId('doc-list').locator('li', { hasText: title }).getByTestId('last-edited')
    // The server records the editor after the commit, off the socket's path: the list catches up.
    let text
    await until('the list names bob as the last editor', async () => {
      await alice.page.goto('/')
      await row('Roadmap 2027').waitFor()
      return /^Edited (just now|\d+ minutes? ago) by bob$/.test(text = await row('Meeting notes').textContent())
    }).catch((e) => { throw new Error(`${e.message}: ${text}`) })
    assert.match(await row('Roadmap 2027').textContent(), /^(Edited|Updated) (just now|\d+ minutes? ago)( by you)?$/)
    await alice.page.screenshot({ path: path.join(SCREENSHOTS, 'documents.png') })
  })

  await t.test('undo and redo touch only one\'s own edits; bold crosses over', async () => {
    await alice.page.goto(docPath)
    await bob.page.goto(docPath)
    for (const u of [alice, bob]) await until('connected', async () => (await u.page.getByTestId('status').textContent()) === 'Saved')
    await bob.page.locator('[data-testid=editor] .ProseMirror').click()
    await bob.page.keyboard.press('Control+Home')
    await bob.page.keyboard.type('BOBTEXT ')
    await alice.page.locator('[data-testid=editor] .ProseMirror').click()
    await alice.page.keyboard.press('Control+End')
    await alice.page.keyboard.type(' ALICETEXT')
    const both = async (pred) => pred(await editorText(alice.page)) && pred(await editorText(bob.page))
    await until('both edits everywhere', () => both((x) => x.includes('BOBTEXT') && x.includes('ALICETEXT')))
    await alice.page.getByRole('button', { name: 'Undo' }).click()
    await until('alice\'s edit undone everywhere, bob\'s kept', () => both((x) => x.includes('BOBTEXT') && !x.includes('ALICETEXT')))
    await alice.page.getByRole('button', { name: 'Redo' }).click()
    await until('redone everywhere', () => both((x) => x.includes('BOBTEXT') && x.includes('ALICETEXT')))
    // Bold on a selection, seen by the other side.
    await alice.page.keyboard.press('Control+End')
    for (let i = 0; i < 'ALICETEXT'.length; i++) await alice.page.keyboard.press('Shift+ArrowLeft')
    await alice.page.getByRole('button', { name: 'Bold' }).click()
    // The bold text, without caret widgets (a remote selection may split the element).
    const boldText = (page) => page.locator('[data-testid=editor] .ProseMirror').evaluate((el) => {
      const copy = el.cloneNode(true)
      for (const c of copy.querySelectorAll('.collaboration-carets__caret')) c.remove()
      return Array.from(copy.querySelectorAll('strong'), (b) => b.textContent).join('')
    })
    await until('bob sees it bold', async () => (await boldText(alice.page)) === 'ALICETEXT' && (await boldText(bob.page)) === 'ALICETEXT')
      .catch(async (e) => { throw new Error(`${e.message}: alice ${await alice.page.locator('[data-testid=editor]').innerHTML()} bob ${await bob.page.locator('[data-testid=editor]').innerHTML()}`) })
  })

  await t.test('every toolbar button and its keyboard shortcut: the node or mark reaches the other editor', async () => {
    const errorsBefore = alice.errors.length
    formatPath = await createDoc(alice.page, 'Formatting')
    await share(alice.page, 'bob', 'editor')
    await bob.page.goto(formatPath)
    await until('bob is connected', async () => (await status(bob.page)) === 'Saved')
    // One paragraph per check, each formatted afterwards: the toolbar (tb-…), then the keyboard (kb-…).
    const checks = [
      ['h1', 'Heading 1', 'Control+Alt+1', 'h1'],
      ['h2', 'Heading 2', 'Control+Alt+2', 'h2'],
      ['bold', 'Bold', 'Control+B', 'strong'],
      ['italic', 'Italic', 'Control+I', 'em'],
      ['underline', 'Underline', 'Control+U', 'u'],
      ['strike', 'Strikethrough', 'Control+Shift+S', 's'],
      ['bullet', 'Bullet list', 'Control+Shift+8', 'ul > li'],
      ['numbered', 'Numbered list', 'Control+Shift+7', 'ol > li'],
      ['quote', 'Quote', 'Control+Shift+B', 'blockquote'],
      ['code', 'Code block', 'Control+Alt+C', 'pre > code'],
      ['link', 'Link', 'Control+K', 'a[href="https://example.test/LINK"]']
    ]
    const words = checks.flatMap(([w]) => [`tb${w}word`, `kb${w}word`])
    await editorOf(alice.page).click()
    await alice.page.keyboard.type(words.join('\n') + '\nlast line', { delay: 5 })
    for (const [w, button, keys] of checks) {
      for (const via of ['tb', 'kb']) {
        const word = `${via}${w}word`
        // The whole paragraph, selected from its start.
        await editorOf(alice.page).locator('p', { hasText: new RegExp(`^${word}$`) }).click()
        await alice.page.keyboard.press('Home')
        await alice.page.keyboard.press('Shift+End')
        // ProseMirror takes the DOM selection on the browser's (asynchronous) selectionchange.
        await until(`${word} selected`, async () => (await selectedText(alice.page)) === word, 5000)
        if (via === 'tb') await tool(alice.page, button).click()
        else await alice.page.keyboard.press(keys)
        if (w === 'link') {
          await alice.page.getByTestId('link-url').fill('https://example.test/LINK')
          await alice.page.getByTestId('link-url').press('Enter')
          await alice.page.getByTestId('link-form').waitFor({ state: 'hidden' })
        }
      }
    }
    // On Bob's side (his own Y.Doc, rendered): each word inside its node or mark.
    const missing = (page) => editorOf(page).evaluate((el, checks) => {
      const copy = el.cloneNode(true)
      for (const c of copy.querySelectorAll('.collaboration-carets__caret')) c.remove()
      const out = []
      for (const [w, , , selector] of checks) {
        for (const via of ['tb', 'kb']) {
          const found = Array.from(copy.querySelectorAll(selector), (n) => n.textContent)
          if (!found.includes(`${via}${w}word`)) out.push(`${via}${w}word in ${selector}`)
        }
      }
      return out
    }, checks)
    let left
    await until('bob sees every node and mark', async () => (left = await missing(bob.page)).length === 0)
      .catch((e) => { throw new Error(`${e.message}: ${left}`) })
    assert.deepEqual(await missing(alice.page), [])
    // The toggles say what the selection has; undo and redo by keyboard, one's own edit only.
    await editorOf(alice.page).locator('strong', { hasText: 'tbboldword' }).click()
    await until('Bold is pressed', async () => (await tool(alice.page, 'Bold').getAttribute('aria-pressed')) === 'true')
    assert.equal(await tool(alice.page, 'Italic').getAttribute('aria-pressed'), 'false')
    await editorOf(alice.page).locator('p', { hasText: /^last line$/ }).click()
    await alice.page.keyboard.press('End')
    await alice.page.keyboard.type(' UNDOME')
    await until('bob sees it', async () => (await editorText(bob.page)).includes('UNDOME'))
    await alice.page.keyboard.press('Control+Z')
    await until('undone on both sides', async () => !(await editorText(bob.page)).includes('UNDOME') && !(await editorText(alice.page)).includes('UNDOME'))
    await alice.page.keyboard.press('Control+Shift+Z')
    await until('redone on both sides', async () => (await editorText(bob.page)).includes('UNDOME'))
    await until('saved', async () => (await status(alice.page)) === 'Saved')
    assert.deepEqual(alice.errors.slice(errorsBefore), [], 'no page errors for alice')
  })

  await t.test('the share dialog: by email, a role changed in place, a member removed (live)', async () => {
    await alice.page.goto(formatPath)
    await until('connected', async () => (await status(alice.page)) === 'Saved')
    await share(alice.page, 'carol@example.test', 'viewer', { username: 'carol' })
    await carol.page.goto(formatPath)
    await carol.page.getByTestId('readonly-badge').waitFor()
    // Viewer → editor in the member's row: carol's next visit is editable.
    await alice.page.getByTestId('share').click()
    await memberRole(alice.page, 'carol').selectOption('editor')
    await until('the change is stored', async () => {
      await alice.page.getByTestId('share-dialog').getByRole('button', { name: 'Done' }).click()
      await alice.page.getByTestId('share').click()
      return (await memberRole(alice.page, 'carol').inputValue()) === 'editor'
    })
    await carol.page.reload()
    await until('carol can edit', async () => (await editorOf(carol.page).getAttribute('contenteditable')) === 'true')
    assert.equal(await carol.page.getByTestId('readonly-badge').isHidden(), true)
    // Removed: her open editor says so at the server's next re-check; a reload finds nothing.
    await alice.page.getByTestId('share-dialog').getByRole('button', { name: 'Remove carol' }).click()
    await alice.page.getByTestId('share-dialog').locator('li[data-member="carol"]').waitFor({ state: 'detached' })
    await alice.page.getByTestId('share-dialog').getByRole('button', { name: 'Done' }).click()
    await until('carol is told', async () => (await status(carol.page)) === 'You no longer have access to this document')
    await carol.page.reload()
    await carol.page.getByRole('heading', { name: 'Document not found' }).waitFor()
  })

  await t.test('focus order and labels: the sign-in form, the header, the one-stop toolbar, the editor', async () => {
    const guest = await newUser(browser, server.url)
    t.after(() => guest.context.close())
    await guest.page.goto('/login')
    await guest.page.getByTestId('auth-submit').waitFor()
    const walk = async (page, key, n) => { const seen = []; for (let i = 0; i < n; i++) { await page.keyboard.press(key); seen.push(await focused(page)) } return seen }
    assert.equal(await focused(guest.page), 'Username', 'the form opens with the username focused')
    assert.deepEqual(await walk(guest.page, 'Tab', 3), ['Password', 'Sign in', 'No account? Create one'])
    assert.deepEqual(await walk(guest.page, 'Shift+Tab', 4), ['Sign in', 'Password', 'Username', 'Quire'])
    await guest.page.getByTestId('auth-toggle').click()
    await guest.page.getByLabel('Username').focus()
    assert.deepEqual(await walk(guest.page, 'Tab', 4), ['Email', 'Password', 'Create account', 'Have an account? Sign in'])
    // Every field has a label a screen reader reads.
    for (const name of ['Username', 'Email', 'Password']) assert.equal(await guest.page.getByLabel(name, { exact: true }).count(), 1, name)

    // The editor page of an owner: title, sign-out, the toolbar as one tab stop, share, the text.
    await alice.page.goto(docPath)
    await until('connected', async () => (await status(alice.page)) === 'Saved')
    await alice.page.getByTestId('doc-title').focus()
    assert.deepEqual(await walk(alice.page, 'Tab', 4), ['Sign out', 'Bold', 'Share', 'Document'])
    assert.deepEqual(await walk(alice.page, 'Shift+Tab', 2), ['Share', 'Bold'])
    assert.deepEqual(await walk(alice.page, 'ArrowRight', 2), ['Italic', 'Underline'])
    assert.deepEqual(await walk(alice.page, 'End', 1), ['Redo'])
    assert.deepEqual(await walk(alice.page, 'ArrowRight', 1), ['Bold'], 'the arrows wrap around')
    assert.deepEqual(await walk(alice.page, 'ArrowLeft', 1), ['Redo'])
    assert.deepEqual(await walk(alice.page, 'Tab', 1), ['Share'])
    assert.deepEqual(await walk(alice.page, 'Shift+Tab', 1), ['Redo'], 'the toolbar keeps the button last focused')
    assert.equal(await tool(alice.page, 'Bold').getAttribute('aria-keyshortcuts'), 'Control+B')
    // Ctrl+K in the text opens the link form on its address field; Escape returns to the text.
    await editorOf(alice.page).click()
    await alice.page.keyboard.press('Control+K')
    assert.equal(await focused(alice.page), 'Link address')
    await alice.page.keyboard.press('Escape')
    await alice.page.getByTestId('link-form').waitFor({ state: 'hidden' })
    await until('the text has the focus again', async () => (await focused(alice.page)) === 'Document', 5000)
    assert.deepEqual(guest.errors, [], 'no page errors for the guest')
  })

  await t.test('a rename in the title field syncs live to the others; the list shows it', async () => {
    const field = (u) => u.page.getByTestId('doc-title')
    for (const u of [alice, bob]) {
      await u.page.goto(docPath)
      await until('connected', async () => (await status(u.page)) === 'Saved')
    }
    for (const u of [alice, bob]) await until('title shown', async () => (await field(u).inputValue()) === 'Meeting notes')
    await field(alice).click()
    await alice.page.keyboard.press('End')
    await alice.page.keyboard.type(', weekly', { delay: 20 })
    // Bob sees it while Alice is still in the field (no blur, no reload).
    await until('bob sees the new title live', async () => (await field(bob).inputValue()) === 'Meeting notes, weekly', 5000)
    assert.equal(await field(alice).inputValue(), 'Meeting notes, weekly', 'alice\'s own field kept her text')
    await field(alice).press('Enter')
    await field(alice).blur()
    await carol.page.goto(docPath)
    await until('the viewer sees it too', async () => (await field(carol).inputValue()) === 'Meeting notes, weekly', 10000)
    assert.equal(await field(carol).evaluate((el) => el.readOnly), true, 'the viewer\'s title is read-only')
    // The list (the API's title, renamed on change) shows it after navigating back.
    await until('bob\'s list shows the new title', async () => {
      await bob.page.goto('/')
      return bob.page.getByTestId('doc-list').getByText('Meeting notes, weekly').waitFor({ timeout: 2000 }).then(() => true, () => false)
    }, 10000)
  })

  await t.test('reopened without the network: the service worker serves the page, IndexedDB the text; edits sync once online', async () => {
    await alice.page.goto(docPath)
    await bob.page.goto(docPath)
    for (const u of [alice, bob]) await until('connected', async () => (await status(u.page)) === 'Saved')
    await editorOf(alice.page).click()
    await alice.page.keyboard.press('Control+End')
    await alice.page.keyboard.type(' Before the network went.')
    await until('saved', async () => (await status(alice.page)) === 'Saved')
    await until('the service worker controls the page', () => alice.page.evaluate(() => navigator.serviceWorker.controller !== null))
    const before = await editorText(alice.page)
    const errorsBefore = alice.errors.length

    await alice.context.setOffline(true)
    const res = await alice.page.reload()
    assert.ok(res.fromServiceWorker(), 'the page came from the service worker')
    await until('the last text is back', async () => (await editorText(alice.page)) === before)
    assert.equal(await status(alice.page), OFFLINE)
    assert.equal(await editorOf(alice.page).getAttribute('contenteditable'), 'true', 'editable offline')
    await editorOf(alice.page).click()
    await alice.page.keyboard.press('Control+End')
    await alice.page.keyboard.type(' Written while offline.')
    // A rename offline: the document keeps it, the API gets it once online.
    await alice.page.getByTestId('doc-title').fill('Meeting notes, offline')
    await alice.page.getByTestId('doc-title').press('Enter')
    await alice.page.getByTestId('doc-title').blur()
    // The list shows this device's copies; the document opens from there too.
    await alice.page.getByRole('link', { name: 'Quire' }).click()
    await alice.page.getByTestId('offline-note').waitFor()
    const entry = alice.page.getByTestId('doc-list').getByRole('link', { name: 'Meeting notes, offline' })
    await entry.waitFor()
    await alice.page.screenshot({ path: path.join(SCREENSHOTS, 'offline.png') })
    await entry.click()
    await until('the offline edit is there', async () => (await editorText(alice.page)).includes('Written while offline.'))
    assert.equal(await status(alice.page), OFFLINE)
    assert.ok(!(await editorText(bob.page)).includes('Written while offline.'), 'nothing reached bob yet')
    await editorOf(alice.page).click()
    await alice.page.keyboard.press('Control+End')

    await alice.context.setOffline(false)
    await until('alice is connected and saved', async () => (await status(alice.page)) === 'Saved', 30000)
    // The view reopened connected; the caret is where it was, so typing goes on there.
    await alice.page.keyboard.type(' And online again.')
    await until('saved', async () => (await status(alice.page)) === 'Saved')
    assert.ok((await editorText(alice.page)).endsWith('Written while offline. And online again.'), await editorText(alice.page))
    await until('bob sees the offline edits', async () => (await editorText(bob.page)).includes('Written while offline. And online again.'))
    await until('bob sees the new title', async () => (await bob.page.getByTestId('doc-title').inputValue()) === 'Meeting notes, offline')
    assert.equal(await editorText(alice.page), await editorText(bob.page))
    // The API title followed (the list is the API's).
    await until('the list shows the offline rename', async () => {
      await bob.page.goto('/')
      return bob.page.getByTestId('doc-list').getByText('Meeting notes, offline').waitFor({ timeout: 2000 }).then(() => true, () => false)
    }, 10000)
    assert.deepEqual(offlineNoise(alice.errors.slice(errorsBefore)), [], 'no page errors but the offline fetches')
  })

  await t.test('rename, delete, sign out', async () => {
    // Rename "Roadmap 2027" from its editor; delete it from the list.
    await alice.page.goto('/')
    await alice.page.getByTestId('doc-list').getByText('Roadmap 2027').click()
    await alice.page.waitForURL(/\/d\//)
    const title = alice.page.getByTestId('doc-title')
    await title.fill('Roadmap 2028')
    await title.press('Enter')
    await title.blur()
    await alice.page.goto('/')
    const row = alice.page.getByTestId('doc-list').locator('li', { hasText: 'Roadmap 2028' })
    await row.waitFor()
    alice.page.once('dialog', (d) => d.accept())
    await row.getByRole('button', { name: /Delete/ }).click()
    await row.waitFor({ state: 'detached' })
    await alice.page.getByTestId('doc-list').getByText('Meeting notes').waitFor()
    // Sign out: back to the sign-in page, the cookie is gone, a reload stays signed out,
    // and the offline copies of her documents are deleted from IndexedDB.
    const copies = await offlineCopies(alice.page)
    assert.ok(copies.length >= 2, `alice has offline copies before signing out: ${copies}`)
    await alice.page.getByTestId('sign-out').click()
    await alice.page.waitForURL(/\/login/)
    assert.equal((await alice.context.cookies()).some((c) => c.name === '__Host-quire_rt'), false, 'the refresh cookie is cleared')
    let left
    await until('no offline copy left', async () => (left = await offlineCopies(alice.page)).length === 0, 5000)
      .catch((e) => { throw new Error(`${e.message}: ${left}`) })
    assert.equal(await alice.page.evaluate(() => localStorage.length), 0, 'the remembered user is forgotten')
    // Without the network, a reload now opens the sign-in page, not the offline mode.
    await alice.context.setOffline(true)
    await alice.page.goto(docPath)
    await alice.page.waitForURL(/\/login\?next=/)
    await alice.page.getByTestId('auth-submit').waitFor()
    assert.equal(await alice.page.getByTestId('offline-note').count(), 0)
    await alice.context.setOffline(false)
    await alice.page.goto(docPath)
    await alice.page.waitForURL(/\/login\?next=/)
    // Signing in again returns to the document asked for.
    await alice.page.getByLabel('Username').fill('alice')
    await alice.page.getByLabel('Password').fill('pw-alice-correct-horse')
    await alice.page.getByTestId('auth-submit').click()
    await alice.page.waitForURL((u) => u.pathname === docPath)
    await until('the document is back', async () => (await editorText(alice.page)).includes('Offline from Alice.'))
  })

  await t.test('sign-out in one tab signs the other out at once; its text stays in view; sign-in there brings it back', async () => {
    const tab1 = bob.page
    await tab1.goto(docPath)
    const tab2 = watchErrors(await bob.context.newPage())
    await tab2.goto(docPath)
    for (const p of [tab1, tab2]) await until('connected', async () => (await status(p)) === 'Saved')
    assert.ok((await offlineCopies(tab1)).length > 0, 'bob has offline copies')
    // Tab 2 types; tab 1 signs out at once, before tab 2's text need be acknowledged.
    await editorOf(tab2).click()
    await tab2.keyboard.press('Control+End')
    await tab2.keyboard.type(' Bob in tab two.')
    await tab1.getByTestId('sign-out').click()
    await tab1.waitForURL(/\/login/)
    // Tab 1 tells tab 2 (BroadcastChannel): no waiting for the server's re-check.
    await tab2.getByTestId('signin-dialog').waitFor({ timeout: 5000 })
    assert.equal(await status(tab2), 'Signed out — sign in to keep editing')
    assert.ok((await editorText(tab2)).includes('Bob in tab two.'), 'the text stays in view')
    assert.equal(await editorOf(tab2).getAttribute('contenteditable'), 'false')
    // Neither tab keeps bob's offline copies or his name.
    await until('no offline copy left', async () => (await offlineCopies(tab1)).length === 0, 5000)
    assert.equal(await tab2.evaluate(() => localStorage.length), 0)
    // Signing in again in tab 1 reopens tab 2's document with its text, which reaches the server.
    await signInViaUi(tab1, 'bob')
    await tab1.getByTestId('doc-list').waitFor()
    await tab2.getByTestId('signin-dialog').waitFor({ state: 'detached' })
    await until('tab 2 saved again', async () => (await status(tab2)) === 'Saved')
    assert.ok((await editorText(tab2)).includes('Bob in tab two.'))
    await until('alice sees bob\'s text', async () => (await editorText(alice.page)).includes('Bob in tab two.'))
    assert.deepEqual(tab2.errors, [], 'no page errors in tab 2')
    await tab2.close()
  })

  await t.test('a session ended elsewhere (the same cookie signed out from another browser) closes the socket', async () => {
    await bob.page.goto(docPath)
    await until('connected', async () => (await status(bob.page)) === 'Saved')
    await editorOf(bob.page).click()
    await bob.page.keyboard.press('Control+End')
    await bob.page.keyboard.type(' Bob before the revocation.')
    // Another browser with bob's cookie signs out: no BroadcastChannel reaches this one.
    const other = await browser.newContext({ baseURL: server.url })
    t.after(() => other.close())
    await other.addCookies(await bob.context.cookies())
    const page = await other.newPage()
    await page.goto('/favicon.svg') // the origin, without the app (its start-up would rotate the cookie)
    assert.equal(await page.evaluate(async () => (await fetch('/api/auth/logout', { method: 'POST', headers: { 'X-Quire-CSRF': '1' } })).status), 204)
    // The server closes bob's socket (4401) at its next re-check (500 ms) and the refresh that
    // follows gets a 401 — long before the access token (15 min) would have ended it.
    await bob.page.getByTestId('signin-dialog').waitFor({ timeout: 5000 })
    assert.ok((await editorText(bob.page)).includes('Bob before the revocation.'), 'the text stays in view')
    await signInViaUi(bob.page, 'bob', bob.page.getByTestId('signin-dialog'))
    await bob.page.getByTestId('signin-dialog').waitFor({ state: 'detached' })
    await until('saved again', async () => (await status(bob.page)) === 'Saved')
    await until('alice sees bob\'s text', async () => (await editorText(alice.page)).includes('Bob before the revocation.'))
  })

  await t.test('the editor at phone width: no horizontal scroll (screenshot)', async () => {
    const phone = await newUser(browser, server.url, { width: 390, height: 844 })
    t.after(() => phone.context.close())
    await phone.page.goto('/login')
    await signInViaUi(phone.page, 'alice')
    await phone.page.getByTestId('doc-list').waitFor()
    const noScroll = () => phone.page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: innerWidth }))
    let m = await noScroll()
    assert.ok(m.scroll <= m.inner, `the document list fits: ${JSON.stringify(m)}`)
    await phone.page.goto(docPath)
    await until('connected', async () => (await status(phone.page)) === 'Saved')
    await until('the text is there', async () => (await editorText(phone.page)).includes('Bob in tab two.'))
    m = await noScroll()
    assert.ok(m.scroll <= m.inner, `the editor fits: ${JSON.stringify(m)}`)
    await phone.page.screenshot({ path: path.join(SCREENSHOTS, 'editor-phone.png') })
    assert.deepEqual(phone.errors, [], 'no page errors on the phone')
  })
})

test('the access token is refreshed before it expires and renewed on the open socket', { timeout: 120000 }, async (t) => {
  // 20 s tokens, no leeway: a socket whose token was not renewed in-band is closed at expiry.
  const server = await startServer(['--access-ttl-seconds', '20', '--token-leeway-seconds', '0'])
  t.after(() => server.stop())
  const browser = await launchBrowser()
  t.after(() => browser.close())
  const dave = await newUser(browser, server.url)
  const sockets = []
  dave.page.on('websocket', (ws) => {
    const s = { url: ws.url(), closed: false }
    ws.on('close', () => { s.closed = true })
    sockets.push(s)
  })
  await registerViaUi(dave.page, 'dave')
  await dave.page.getByTestId('new-title').fill('Long session')
  await dave.page.getByTestId('new-doc').click()
  await dave.page.waitForURL(/\/d\//)
  const docPath = new URL(dave.page.url()).pathname
  await until('connected', async () => (await status(dave.page)) === 'Saved')
  await dave.page.locator('[data-testid=editor] .ProseMirror').click()
  // Type past two lifetimes (45 s); every edit is acknowledged on the same socket.
  const start = Date.now()
  let n = 0
  while (Date.now() - start < 45000) {
    await dave.page.keyboard.type(`tick${n++} `)
    await until(`tick${n - 1} saved`, async () => (await status(dave.page)) === 'Saved', 5000)
    await sleep(2000)
  }
  assert.ok(n >= 12, `${n} edits`)
  const ws = sockets.filter((s) => s.url.endsWith('/ws'))
  assert.equal(ws.length, 1, 'one socket for the whole session')
  assert.equal(ws[0].closed, false, 'the server never closed it (the token was renewed in-band)')
  // A bearer route still works, and a reload gets every edit back from the server.
  await dave.page.goto('/')
  await dave.page.getByTestId('doc-list').getByText('Long session').waitFor()
  await dave.page.goto(docPath)
  await until('all edits are on the server', async () => (await editorText(dave.page)).includes(`tick${n - 1}`))
  assert.deepEqual(dave.errors, [], 'no page errors')
})
