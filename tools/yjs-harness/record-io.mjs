// Binary record I/O shared by the harness's file formats (case-file.mjs,
// session-file.mjs, edit-file.mjs). Each format is a flat sequence of
// records, no header, built from two primitives:
//
//   u32  := 4 bytes, unsigned little-endian
//   blob := u32 byteLength, bytes
//
// RecordWriter appends them to a file through an in-memory buffer; a format's
// writer subclasses it, writes one record with u32() / blob() and then calls
// maybeFlush(). recordReader reads them back, in order, from a whole file
// held in memory, throwing on truncation; blobs are zero-copy views.

import * as fs from 'node:fs'

/** maybeFlush() writes the buffer out once more than this many bytes wait. */
const FLUSH_THRESHOLD = 1 << 20

/** Buffered, append-only writer of u32s and blobs to a (new) file. */
export class RecordWriter {
  /** @param {string} path created or truncated */
  constructor (path) {
    this.fd = fs.openSync(path, 'w')
    /** @type {Uint8Array[]} pending chunks not yet written */
    this.chunks = []
    this.pending = 0
    /** bytes written to the file so far (all of them after close()) */
    this.bytes = 0
  }

  /** @param {number} v integer in [0, 2^32); out of range throws */
  u32 (v) {
    const b = Buffer.allocUnsafe(4)
    b.writeUInt32LE(v, 0)
    this.push(b)
  }

  /** @param {Uint8Array} bytes written as u32 byteLength, bytes (not copied: must not change before the next flush) */
  blob (bytes) {
    this.u32(bytes.length)
    this.push(bytes)
  }

  /** @param {Uint8Array} chunk raw bytes, no length prefix */
  push (chunk) {
    this.chunks.push(chunk)
    this.pending += chunk.length
  }

  /** Flushes if enough is pending; call between records. */
  maybeFlush () {
    if (this.pending > FLUSH_THRESHOLD) this.flush()
  }

  flush () {
    if (this.chunks.length === 0) return
    const buf = Buffer.concat(this.chunks, this.pending)
    fs.writeSync(this.fd, buf)
    this.bytes += buf.length
    this.chunks = []
    this.pending = 0
  }

  close () {
    this.flush()
    fs.closeSync(this.fd)
  }
}

/**
 * Sequential reader over a file held in memory.
 * @param {Uint8Array} buf
 * @param {string} what the format's name in error messages ("truncated <what> file at byte N")
 * @returns {{ u32: () => number, blob: () => Uint8Array, atEnd: () => boolean }}
 */
export const recordReader = (buf, what) => {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  let pos = 0
  const u32 = () => {
    if (pos + 4 > buf.length) throw new Error(`truncated ${what} file at byte ${pos}`)
    const v = view.getUint32(pos, true)
    pos += 4
    return v
  }
  const blob = () => {
    const len = u32()
    if (pos + len > buf.length) throw new Error(`truncated blob at byte ${pos}`)
    const b = buf.subarray(pos, pos + len)
    pos += len
    return b
  }
  const atEnd = () => pos >= buf.length
  return { u32, blob, atEnd }
}
