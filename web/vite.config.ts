// Vite build of the web app: web/dist with content-hashed files under assets/
// (served immutable by `quire serve --static-dir`), a no-cache index.html and
// the service worker sw.js (src/sw.ts), which gets this build's file list.
// No inline scripts or modulepreload polyfill: the server's CSP forbids them.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineConfig, type Plugin } from 'vite'

/**
 * Builds src/sw.ts into dist/sw.js (a fixed name: the worker's address must not
 * change) and writes into it the app shell it caches — every emitted file and
 * the files of public/ — with a version derived from them, so each deploy that
 * changes a file installs a new worker and drops the old cache.
 */
function serviceWorker (): Plugin {
  const source = fileURLToPath(new URL('src/sw.ts', import.meta.url))
  const publicDir = fileURLToPath(new URL('public', import.meta.url))
  return {
    name: 'quire-service-worker',
    apply: 'build',
    buildStart () {
      this.emitFile({ type: 'chunk', id: source, fileName: 'sw.js' })
    },
    generateBundle (_options, bundle) {
      const sw = bundle['sw.js']
      if (!sw || sw.type !== 'chunk') throw new Error('sw.js was not built')
      if (sw.imports.length > 0) throw new Error(`sw.js must not import other chunks: ${sw.imports.join(', ')}`)
      const files = [...Object.keys(bundle).filter((f) => f !== 'sw.js' && f !== 'index.html'), ...fs.readdirSync(publicDir)].sort()
      const hash = createHash('sha256')
      for (const f of files) hash.update(f + '\0')
      const index = bundle['index.html']
      if (index?.type === 'asset') hash.update(index.source)
      const shell = JSON.stringify({ version: hash.digest('hex').slice(0, 16), files })
      const placeholder = /(["'`])__QUIRE_SHELL__\1/
      if (!placeholder.test(sw.code)) throw new Error('sw.js has no __QUIRE_SHELL__ placeholder')
      sw.code = sw.code.replace(placeholder, shell)
    }
  }
}

export default defineConfig({
  plugins: [serviceWorker()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    chunkSizeWarningLimit: 1500
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/ws': { target: 'ws://127.0.0.1:8080', ws: true }
    }
  }
})
