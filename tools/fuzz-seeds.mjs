// Writes a fuzzer's seed corpus.
//   updates (default): every update in the spec vectors (as v1 and v2 inputs
//     for each operation of update_fuzz.cc) and a sample of trace frames;
//   frames: y-websocket and Hocuspocus frames of every kind (frame_fuzz.cc).
// usage: node tools/fuzz-seeds.mjs SHARED_DIR OUT_DIR [updates|frames]
import fs from 'node:fs'
import path from 'node:path'

const [shared, out, kind = 'updates'] = process.argv.slice(2)
if (kind === 'frames') {
  const vectors = JSON.parse(fs.readFileSync(path.join(shared, 'spec/vectors.json'), 'utf8')).vectors
  const frames = []
  for (const name of ['sync_messages', 'awareness_update']) {
    for (const o of vectors.find((v) => v.name === name).outputs) frames.push(Buffer.from(o.hex.replace(/ /g, ''), 'hex'))
  }
  // The same frames behind a Hocuspocus document name, plus auth, stateless, close and pong.
  const name = Buffer.from([3, 0x61, 0x62, 0x63]) // varString "abc"
  const hocuspocus = frames.map((f) => Buffer.concat([name, f]))
  hocuspocus.push(Buffer.concat([name, Buffer.from([2, 0, 3, 0x74, 0x6f, 0x6b, 5, 0x34, 0x2e, 0x38, 0x2e, 0x30])]))
  hocuspocus.push(Buffer.concat([name, Buffer.from([5, 2, 0x68, 0x69])]), Buffer.concat([name, Buffer.from([7, 0])]))
  hocuspocus.push(Buffer.from([0x0a]))
  ;[...frames, ...hocuspocus].forEach((f, i) => fs.writeFileSync(path.join(out, `frame-${i}`), f))
  console.log(`fuzz-seeds: ${frames.length + hocuspocus.length} frame seeds in ${out}`)
  process.exit(0)
}
const vectors = JSON.parse(fs.readFileSync(path.join(shared, 'spec/vectors.json'), 'utf8')).vectors
let n = 0
const write = (op, bytes) => {
  // First byte: bit 0 = format (0 v1, 1 v2), bits 1.. = operation (see update_fuzz.cc).
  fs.writeFileSync(path.join(out, `seed-${n++}`), Buffer.concat([Buffer.from([op]), bytes]))
}
for (const v of vectors) {
  for (const o of v.outputs) {
    if (!o.hex) continue
    const bytes = Buffer.from(o.hex.replace(/ /g, ''), 'hex')
    const v2 = /v2/.test(o.label) ? 1 : 0
    for (let op = 0; op < 7; op++) write((op << 1) | v2, bytes)
  }
}
for (const trace of ['friendsforever', 'node_nodecc']) {
  const buf = fs.readFileSync(path.join(shared, 'traces/yjs', `${trace}.updates.bin`))
  let count = 0
  for (let p = 0; p < buf.length && count < 200; count++) {
    const len = buf.readUInt32LE(p)
    const frame = buf.subarray(p + 4, p + 4 + len)
    p += 4 + len
    if (count % 10 === 0) write((count % 7) << 1, frame)
  }
}
console.log(`fuzz-seeds: ${n} seeds in ${out}`)
