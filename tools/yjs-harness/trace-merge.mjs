// Merges a recorded trace of v1 updates with the reference Yjs, producing the
// expected output for Quire's trace-merge comparison.
//
//   node trace-merge.mjs --in FILE.updates.bin --out FILE [--batch N]
//
// Input: repeated frames {u32 LE length, bytes}, each a v1 update.
// Output: Y.mergeUpdates(all frames), raw bytes.
// --batch N: Yjs's flat merge is quadratic in the number of inputs, so for
// 100k+ frame traces merge hierarchically: merge consecutive chunks of N
// frames (in order), then repeat on the chunk results until one remains.
// Prints `frames=<n> ms=<t> bytes=<len>` (t = merge time only).

import * as fs from 'node:fs'
import * as Y from 'yjs'

const parseArgs = argv => {
  const opts = { in: null, out: null, batch: 0 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`)
      return argv[++i]
    }
    if (a === '--in') opts.in = val()
    else if (a === '--out') opts.out = val()
    else if (a === '--batch') opts.batch = Number(val())
    else throw new Error(`unknown argument ${a}`)
  }
  if (!opts.in || !opts.out) throw new Error('usage: node trace-merge.mjs --in FILE.updates.bin --out FILE [--batch N]')
  if (opts.batch !== 0 && (!Number.isSafeInteger(opts.batch) || opts.batch < 2)) throw new Error('--batch must be an integer >= 2')
  return opts
}

/** Splits the framed input into zero-copy views. */
const readFrames = buf => {
  const frames = []
  let pos = 0
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw new Error(`truncated frame header at byte ${pos}`)
    const len = buf.readUInt32LE(pos)
    pos += 4
    if (pos + len > buf.length) throw new Error(`truncated frame at byte ${pos}`)
    frames.push(buf.subarray(pos, pos + len))
    pos += len
  }
  return frames
}

/** Hierarchical merge: chunks of `batch` in order, repeated until one left. */
const mergeBatched = (updates, batch) => {
  if (updates.length === 0) return Y.mergeUpdates([])
  let level = updates
  while (level.length > 1) {
    const next = []
    for (let i = 0; i < level.length; i += batch) next.push(Y.mergeUpdates(level.slice(i, i + batch)))
    level = next
  }
  return level[0]
}

const opts = parseArgs(process.argv.slice(2))
const frames = readFrames(fs.readFileSync(opts.in))
const t0 = performance.now()
const merged = opts.batch ? mergeBatched(frames, opts.batch) : Y.mergeUpdates(frames)
const ms = Math.round(performance.now() - t0)
fs.writeFileSync(opts.out, merged)
console.log(`frames=${frames.length} ms=${ms} bytes=${merged.length}`)
