// Shared definition of the differential case-file format (writer + reader).
//
// The file is a flat sequence of op records, no header; all integers are
// u32 little-endian:
//
//   record := u32 caseIndex, u32 opcode, u32 nargs, blob{nargs}, blob expected
//   blob   := u32 byteLength, bytes
//
// `expected` is exactly the Uint8Array the reference Yjs returned for
// `opcode` applied to the args. The C++ test reads the same layout.

import * as Y from 'yjs'
import { RecordWriter, recordReader } from './record-io.mjs'

/** Opcodes: one comparison each on the C++ side. */
export const OP = Object.freeze({
  MERGE_V1: 1, // args: v1 updates          -> Y.mergeUpdates
  DIFF_V1: 2, // args: v1 update, sv        -> Y.diffUpdate
  SV_FROM_UPDATE_V1: 3, // args: v1 update  -> Y.encodeStateVectorFromUpdate
  V1_TO_V2: 4, // args: v1 update           -> Y.convertUpdateFormatV1ToV2
  V2_TO_V1: 5, // args: v2 update           -> Y.convertUpdateFormatV2ToV1
  MERGE_V2: 6, // args: v2 updates          -> Y.mergeUpdatesV2
  DIFF_V2: 7, // args: v2 update, sv        -> Y.diffUpdateV2
  SV_FROM_UPDATE_V2: 8 // args: v2 update   -> Y.encodeStateVectorFromUpdateV2
})

export const OP_NAME = Object.fromEntries(Object.entries(OP).map(([k, v]) => [v, k]))

/**
 * Runs an op with the reference Yjs. Used by the generator (to produce the
 * expected bytes) and by selfcheck (to re-verify them), so both agree on
 * exactly which Yjs function an opcode means.
 * @param {number} opcode
 * @param {Uint8Array[]} args
 * @returns {Uint8Array}
 */
export const runOp = (opcode, args) => {
  switch (opcode) {
    case OP.MERGE_V1: return Y.mergeUpdates(args)
    case OP.DIFF_V1: return Y.diffUpdate(args[0], args[1])
    case OP.SV_FROM_UPDATE_V1: return Y.encodeStateVectorFromUpdate(args[0])
    case OP.V1_TO_V2: return Y.convertUpdateFormatV1ToV2(args[0])
    case OP.V2_TO_V1: return Y.convertUpdateFormatV2ToV1(args[0])
    case OP.MERGE_V2: return Y.mergeUpdatesV2(args)
    case OP.DIFF_V2: return Y.diffUpdateV2(args[0], args[1])
    case OP.SV_FROM_UPDATE_V2: return Y.encodeStateVectorFromUpdateV2(args[0])
    default: throw new Error(`unknown opcode ${opcode}`)
  }
}

/**
 * Which encoding each argument / the result of an op is in: 'v1', 'v2' or
 * 'sv' (an encoded state vector). Used by stats.mjs to decode blobs.
 * @param {number} opcode
 * @param {number} nargs
 * @returns {{ args: string[], expected: string }}
 */
export const blobKinds = (opcode, nargs) => {
  const all = k => new Array(nargs).fill(k)
  switch (opcode) {
    case OP.MERGE_V1: return { args: all('v1'), expected: 'v1' }
    case OP.DIFF_V1: return { args: ['v1', 'sv'], expected: 'v1' }
    case OP.SV_FROM_UPDATE_V1: return { args: ['v1'], expected: 'sv' }
    case OP.V1_TO_V2: return { args: ['v1'], expected: 'v2' }
    case OP.V2_TO_V1: return { args: ['v2'], expected: 'v1' }
    case OP.MERGE_V2: return { args: all('v2'), expected: 'v2' }
    case OP.DIFF_V2: return { args: ['v2', 'sv'], expected: 'v2' }
    case OP.SV_FROM_UPDATE_V2: return { args: ['v2'], expected: 'sv' }
    default: throw new Error(`unknown opcode ${opcode}`)
  }
}

/** Buffered, append-only writer of op records to a file. */
export class CaseWriter extends RecordWriter {
  /** @param {string} path */
  constructor (path) {
    super(path)
    this.ops = 0
    /** @type {Map<number, number>} op count per opcode */
    this.perOpcode = new Map()
  }

  /**
   * @param {number} caseIndex
   * @param {number} opcode
   * @param {Uint8Array[]} args
   * @param {Uint8Array} expected
   */
  record (caseIndex, opcode, args, expected) {
    this.u32(caseIndex)
    this.u32(opcode)
    this.u32(args.length)
    for (const a of args) this.blob(a)
    this.blob(expected)
    this.ops++
    this.perOpcode.set(opcode, (this.perOpcode.get(opcode) || 0) + 1)
    this.maybeFlush()
  }
}

/**
 * Iterates the records of a case file held in memory. Blobs are zero-copy
 * views into `buf`.
 * @param {Uint8Array} buf
 * @returns {Generator<{ caseIndex: number, opcode: number, args: Uint8Array[], expected: Uint8Array }>}
 */
export function * readRecords (buf) {
  const { u32, blob, atEnd } = recordReader(buf, 'case')
  while (!atEnd()) {
    const caseIndex = u32()
    const opcode = u32()
    const nargs = u32()
    const args = []
    for (let i = 0; i < nargs; i++) args.push(blob())
    const expected = blob()
    yield { caseIndex, opcode, args, expected }
  }
}
