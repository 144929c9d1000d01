// The browser-test harness: a real `quire serve` (temp data dir, ephemeral port,
// --static-dir web/dist) and headless Debian Chromium through playwright-core.
// Everything started here is stopped and removed when the test ends, and on exit.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = path.dirname(fileURLToPath(import.meta.url))
export const WEB = path.resolve(here, '..')
// Screenshots are taken on every run; they replace docs/screenshots/ only when
// asked (QUIRE_SCREENSHOTS_DIR=docs/screenshots, as `make screenshots` does), so
// a test run leaves the source tree as it was.
export const SCREENSHOTS = path.resolve(process.env.QUIRE_SCREENSHOTS_DIR || path.join(os.tmpdir(), 'quire-e2e-screenshots'))
fs.mkdirSync(SCREENSHOTS, { recursive: true })
const READY_RE = /quire: listening on (http:\/\/127\.0\.0\.1:\d+)/

const children = new Set()
const dirs = new Set()
process.on('exit', () => {
  for (const c of children) { try { c.kill('SIGKILL') } catch {} }
  for (const d of dirs) { try { fs.rmSync(d, { recursive: true, force: true }) } catch {} }
})
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.once(sig, () => process.exit(128 + os.constants.signals[sig]))

/**
 * Starts quire serve in accounts mode; resolves with {url, stop, restart, kill, stderr()}.
 * Sockets are re-checked every 500 ms (`--recheck-ms`), so revocations show quickly;
 * `extraArgs` are added to the command line (and kept across `restart`).
 * `kill` stops the process but keeps its data; `restart` starts it again on the same
 * port and data directory (the browsers' reconnects find it where it was).
 */
export async function startServer (extraArgs = []) {
  const binary = process.env.QUIRE_BINARY || path.resolve(WEB, '..', 'build/release/src/app/quire')
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quire-e2e-'))
  dirs.add(dataDir)
  let stderr = ''
  let proc = null
  const spawnServer = async (listen) => {
    proc = spawn(binary, ['serve', '--listen', listen, '--data-dir', dataDir, '--static-dir', path.join(WEB, 'dist'),
      '--recheck-ms', '500', ...extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(proc)
    const p = proc
    p.stderr.on('data', (d) => { stderr = (stderr + d).slice(-32768); if (process.env.QUIRE_TEST_VERBOSE) process.stderr.write(d) })
    return new Promise((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error('quire serve did not start in 15 s:\n' + stderr)), 15000)
      p.stdout.on('data', (d) => {
        out += d
        const m = READY_RE.exec(out)
        if (m) { clearTimeout(timer); resolve(m[1]) }
      })
      p.on('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`quire serve exited (${code ?? signal}):\n${stderr}`)) })
    })
  }
  const kill = async () => {
    const p = proc
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r))
      p.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
      if (p.exitCode === null && p.signalCode === null) { p.kill('SIGKILL'); await exited }
    }
    if (p) children.delete(p)
  }
  const url = await spawnServer('127.0.0.1:0')
  return {
    url,
    stderr: () => stderr,
    kill,
    async restart () {
      await kill()
      await spawnServer(new URL(url).host)
    },
    async stop () {
      await kill()
      fs.rmSync(dataDir, { recursive: true, force: true })
      dirs.delete(dataDir)
    }
  }
}

/** Headless Debian Chromium with the flags this machine needs (no background networking). */
export async function launchBrowser () {
  return chromium.launch({
    executablePath: process.env.QUIRE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    timeout: 30000
  })
}

/** A fresh browser context (its own cookies and storage) and page that fail loudly on page errors. */
export async function newUser (browser, baseURL, viewport = { width: 1200, height: 760 }) {
  const context = await browser.newContext({ baseURL, viewport })
  const page = await context.newPage()
  watchErrors(page)
  return { context, page, errors: page.errors }
}

/** Collects a page's errors in `page.errors` (a 401 asking for a session is expected). */
export function watchErrors (page) {
  page.setDefaultTimeout(15000)
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  // A 401 is expected when the page asks for a session without one (the browser logs it).
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(m.text()) })
  page.errors = errors
  return page
}

/** Signs in through the sign-in page (or an open sign-in form) as a user registered by registerViaUi. */
export async function signInViaUi (page, username, scope = page) {
  await scope.getByLabel('Username').fill(username)
  await scope.getByLabel('Password').fill(`pw-${username}-correct-horse`)
  await scope.getByTestId('auth-submit').click()
}

/** Registers through the sign-in page and waits for the document list. */
export async function registerViaUi (page, username, { screenshot } = {}) {
  await page.goto('/login?register')
  await page.getByLabel('Username').fill(username)
  await page.getByLabel('Email').fill(`${username}@example.test`)
  await page.getByLabel('Password').fill(`pw-${username}-correct-horse`)
  if (screenshot) await page.screenshot({ path: path.join(SCREENSHOTS, screenshot) })
  await page.getByTestId('auth-submit').click()
  await page.getByTestId('doc-list').waitFor()
}

/** The editor's plain text. */
export function editorText (page) {
  // Block by block, without the other users' caret labels (widgets in the DOM).
  return page.locator('[data-testid=editor] .ProseMirror').evaluate((el) => {
    const copy = el.cloneNode(true)
    for (const c of copy.querySelectorAll('.collaboration-carets__caret')) c.remove()
    return Array.from(copy.children, (b) => b.textContent).join('\n')
  })
}

export async function until (what, fn, ms = 15000) {
  const end = Date.now() + ms
  let last
  while (Date.now() < end) {
    try { if (await fn()) return } catch (e) { last = e }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}${last ? ': ' + last : ''}`)
}
