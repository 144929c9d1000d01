// Writes the fuzzer's seed corpus: every update in the spec vectors (as v1 and
// v2 inputs for each operation) and a sample of trace frames.
// usage: node tools/fuzz-seeds.mjs SHARED_DIR OUT_DIR
import fs from 'node:fs'
import path from 'node:path'

const [shared, out] = process.argv.slice(2)
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
