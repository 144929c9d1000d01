// Re-runs every op of a case file with the reference Yjs and asserts that the
// recorded expected bytes are reproduced exactly (proves the file is
// self-consistent and that the reader agrees with the writer).
//
//   node selfcheck.mjs FILE
//
// Prints `ok <ops>` on success; on the first mismatch prints the case, op and
// both byte strings and exits with status 1.

import * as fs from 'node:fs'
import { OP_NAME, readRecords, runOp } from './case-file.mjs'

const file = process.argv[2]
if (!file) {
  console.error('usage: node selfcheck.mjs FILE')
  process.exit(2)
}

const hex = b => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

const buf = fs.readFileSync(file)
let ops = 0
for (const { caseIndex, opcode, args, expected } of readRecords(buf)) {
  let actual
  try {
    actual = runOp(opcode, args)
  } catch (e) {
    console.error(`case ${caseIndex} op #${ops} ${OP_NAME[opcode]}: Yjs threw ${e && e.message}`)
    process.exit(1)
  }
  if (Buffer.compare(actual, expected) !== 0) {
    console.error(`case ${caseIndex} op #${ops} ${OP_NAME[opcode]}: mismatch\n  expected ${hex(expected)}\n  actual   ${hex(actual)}`)
    process.exit(1)
  }
  ops++
}
console.log(`ok ${ops}`)
