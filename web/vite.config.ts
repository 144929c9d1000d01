// Vite build of the web app: web/dist with content-hashed files under assets/
// (served immutable by `quire serve --static-dir`) and a no-cache index.html.
// No inline scripts or modulepreload polyfill: the server's CSP forbids them.
import { defineConfig } from 'vite'

export default defineConfig({
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
