// Writes a fuzzer's seed corpus.
//   updates (default): every update in the spec vectors (as v1 and v2 inputs
//     for each operation of update_fuzz.cc) and a sample of trace frames;
//   frames: y-websocket and Hocuspocus frames of every kind (frame_fuzz.cc);
//   jwt: access tokens for src/auth/jwt_fuzz.cc, signed with its fixed key
//     (SHARED_DIR is not read).
// usage: node tools/fuzz-seeds.mjs SHARED_DIR OUT_DIR [updates|frames|jwt]
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const [shared, out, kind = 'updates'] = process.argv.slice(2)
if (kind === 'jwt') {
  // Must equal kSeed and kKid in src/auth/jwt_fuzz.cc. First seed byte = the fuzzer's mode.
  const SEED = Buffer.from('quire-auth-jwt-fuzz-trusted-key!')
  const KID = 'fuzz-key-1'
  const NOW = 1700000000
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), SEED])
  const key = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
  const b64 = (text) => Buffer.from(text).toString('base64url')
  const sign = (header, payload) => {
    const input = `${b64(header)}.${b64(payload)}`
    return `${input}.${crypto.sign(null, Buffer.from(input), key).toString('base64url')}`
  }
  const header = (extra = '', alg = 'EdDSA', typ = 'at+jwt') => `{"alg":"${alg}","typ":"${typ}","kid":"${KID}"${extra}}`
  const claims = (over = {}) =>
    JSON.stringify({ iss: 'https://quire.test', aud: 'quire-api', sub: 'user-1', sid: 'family-1', iat: NOW - 60,
      nbf: NOW - 60, exp: NOW + 600, jti: 'jti-1', ...over })
  const pairs = [
    [header(), claims()],
    [header(), claims({ aud: ['other', 'quire-api'] })],
    [header(',"jwk":{"kty":"OKP","crv":"Ed25519","x":"AAAA"},"jku":"http://127.0.0.1:9/k"'), claims()],
    [header(), claims({ exp: NOW - 61 })],
    [header(), claims({ nbf: NOW + 120 })],
    [header(), claims({ exp: NOW - 60 + 16 * 60 })],
    [header(), claims({ iss: 'https://evil.test', role: 'owner' })],
    [header('', 'EdDSA', 'JWT'), claims()],
    [header('', 'none'), claims()],
    [header('', 'HS256'), claims()],
    [header(',"crit":["exp"]'), claims()],
    [header(), '{"sub":"a","sub":"b"}'],
  ]
  const seeds = []
  for (const [h, p] of pairs) {
    seeds.push(Buffer.concat([Buffer.from([0]), Buffer.from(sign(h, p))])) // a signed token
    seeds.push(Buffer.concat([Buffer.from([1]), Buffer.from(h), Buffer.from([0]), Buffer.from(p)])) // header \0 payload
  }
  seeds.push(Buffer.concat([Buffer.from([0]), Buffer.from(`${b64(header('', 'none'))}.${b64(claims())}.`)]))
  seeds.push(Buffer.concat([Buffer.from([3]), Buffer.from(sign(header(), claims()))]))
  seeds.forEach((s, i) => fs.writeFileSync(path.join(out, `jwt-${i}`), s))
  console.log(`fuzz-seeds: ${seeds.length} jwt seeds in ${out}`)
  process.exit(0)
}
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
