// The web editor end to end: real browsers (headless Chromium) against a real
// `quire serve`. Two users typing at once converge and see each other's carets;
// no token reaches browser storage or a readable cookie; a reload keeps the
// session; a viewer cannot change the document; "Saved" follows the server's ack.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { SCREENSHOTS, editorText, launchBrowser, newUser, registerViaUi, startServer, until } from './harness.mjs'

test('web editor', { timeout: 240000 }, async (t) => {
  fs.mkdirSync(SCREENSHOTS, { recursive: true })
  const server = await startServer()
  t.after(() => server.stop())
  const browser = await launchBrowser()
  t.after(() => browser.close())

  const alice = await newUser(browser, server.url)
  const bob = await newUser(browser, server.url)
  const carol = await newUser(browser, server.url)
  let docPath

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
    for (const [who, role] of [['bob', 'editor'], ['carol', 'viewer']]) {
      await alice.page.getByTestId('share').click()
      await alice.page.getByTestId('share-user').fill(who)
      await alice.page.getByTestId('share-role').selectOption(role)
      await alice.page.getByTestId('share-submit').click()
      await alice.page.getByTestId('share-dialog').getByText(role, { exact: true }).waitFor()
      await alice.page.getByTestId('share-dialog').getByRole('button', { name: 'Done' }).click()
    }

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

  await t.test('no token in localStorage, sessionStorage or IndexedDB; the refresh cookie is HttpOnly', async () => {
    for (const { page, context } of [alice, bob]) {
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
        return { dbs: dbs.map((d) => d.name), hits: values.filter((v) => v && v.includes('eyJ')), cookie: document.cookie }
      })
      assert.ok(found.dbs.some((n) => n.startsWith('quire:')), `the offline copy is in IndexedDB (${found.dbs})`)
      assert.deepEqual(found.hits, [], 'no JWT anywhere in web storage or IndexedDB')
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

  await t.test('the document list (screenshot)', async () => {
    await alice.page.goto('/')
    await alice.page.getByTestId('new-title').fill('Roadmap 2027')
    await alice.page.getByTestId('new-doc').click()
    await alice.page.waitForURL(/\/d\//)
    await alice.page.goto('/')
    await alice.page.getByTestId('doc-list').getByText('Roadmap 2027').waitFor()
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
    // Sign out: back to the sign-in page, the cookie is gone, a reload stays signed out.
    await alice.page.getByTestId('sign-out').click()
    await alice.page.waitForURL(/\/login/)
    assert.equal((await alice.context.cookies()).some((c) => c.name === '__Host-quire_rt'), false, 'the refresh cookie is cleared')
    await alice.page.goto(docPath)
    await alice.page.waitForURL(/\/login\?next=/)
    // Signing in again returns to the document asked for.
    await alice.page.getByLabel('Username').fill('alice')
    await alice.page.getByLabel('Password').fill('pw-alice-correct-horse')
    await alice.page.getByTestId('auth-submit').click()
    await alice.page.waitForURL((u) => u.pathname === docPath)
    await until('the document is back', async () => (await editorText(alice.page)).includes('Offline from Alice.'))
  })
})
