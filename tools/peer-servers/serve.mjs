#!/usr/bin/env node
// Starts one of Quire's peers for `make bench-server`, on 127.0.0.1, without
// authentication (any token, or none, is accepted):
//
//   node tools/peer-servers/serve.mjs hocuspocus  [--port 0] --data-dir DIR
//   node tools/peer-servers/serve.mjs y-websocket [--port 0]
//
// hocuspocus:  @hocuspocus/server with @hocuspocus/extension-sqlite (DIR/hocuspocus.db),
//              its defaults otherwise (store debounced 2 s, at most 10 s); any path.
// y-websocket: the reference server of @y/websocket-server (its utils' setupWSConnection,
//              no persistence: what its bin runs); the document is the path after /ws/y/,
//              as on Quire (its own bin takes the whole path).
//
// Prints `peer: listening on http://127.0.0.1:PORT` once it accepts connections (the
// same shape as Quire's ready line) and exits on SIGTERM/SIGINT.
import http from 'node:http'
import { createRequire } from 'node:module'
import path from 'node:path'

function usage (msg) {
  if (msg) process.stderr.write(`serve.mjs: ${msg}\n`)
  process.stderr.write('usage: node serve.mjs hocuspocus|y-websocket [--port N] [--data-dir DIR]\n')
  process.exit(2)
}

function parseArgs (argv) {
  const opts = { kind: argv[0], port: 0, dataDir: null }
  for (let i = 1; i < argv.length; i++) {
    const v = argv[i + 1]
    if (argv[i] === '--port' && v !== undefined) { opts.port = Number(v); i++ } else if (argv[i] === '--data-dir' && v !== undefined) { opts.dataDir = v; i++ } else usage(`unexpected argument ${argv[i]}`)
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('--port: 0..65535')
  return opts
}

function ready (port) {
  process.stdout.write(`peer: listening on http://127.0.0.1:${port}\n`)
}

async function startHocuspocus (opts) {
  if (!opts.dataDir) usage('hocuspocus needs --data-dir')
  const { Server } = await import('@hocuspocus/server')
  const { SQLite } = await import('@hocuspocus/extension-sqlite')
  const server = new Server({
    address: '127.0.0.1',
    port: opts.port,
    quiet: true,
    stopOnSignals: true,
    extensions: [new SQLite({ database: path.join(opts.dataDir, 'hocuspocus.db') })]
  })
  await server.listen()
  ready(server.address.port)
}

async function startYWebsocket (opts) {
  // The ws that @y/websocket-server depends on (6.x, nested in its folder), as its bin uses it.
  const WebSocket = createRequire(import.meta.resolve('@y/websocket-server/package.json'))('ws')
  const { setupWSConnection } = await import('@y/websocket-server/utils')
  const prefix = '/ws/y/'
  const wss = new WebSocket.Server({ noServer: true })
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' })
    res.end('okay')
  })
  server.on('upgrade', (req, socket, head) => {
    const url = req.url || ''
    if (!url.startsWith(prefix)) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n')
      return
    }
    const docName = decodeURIComponent(url.slice(prefix.length).split('?')[0])
    wss.handleUpgrade(req, socket, head, (ws) => setupWSConnection(ws, req, { docName }))
  })
  await new Promise((resolve) => server.listen(opts.port, '127.0.0.1', resolve))
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(0))
  ready(server.address().port)
}

const opts = parseArgs(process.argv.slice(2))
if (opts.kind === 'hocuspocus') await startHocuspocus(opts)
else if (opts.kind === 'y-websocket') await startYWebsocket(opts)
else usage('the first argument is hocuspocus or y-websocket')
