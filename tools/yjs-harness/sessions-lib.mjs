// Shared random-editing primitives for the session generators.
//
// The PRNG, per-case seed hash, value pools, Any generator, client-ID picker,
// type walker and surrogate-split finder, used by gen-cases.mjs,
// gen-sessions.mjs and gen-edits.mjs. Changing any of them changes what every
// seed generates.

import * as Y from 'yjs'

// ---------------------------------------------------------------------------
// PRNG (mulberry32). Never Math.random: output must be a function of the seed.

class Rng {
  /** @param {number} seed 32-bit */
  constructor (seed) { this.s = seed >>> 0 }
  u32 () {
    let t = (this.s = (this.s + 0x6D2B79F5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** float in [0, 1) */
  next () { return this.u32() / 4294967296 }
  /** integer in [lo, hi] (inclusive) */
  int (lo, hi) { return lo + Math.floor(this.next() * (hi - lo + 1)) }
  bool (p = 0.5) { return this.next() < p }
  /** @template T @param {T[]} arr @returns {T} */
  pick (arr) { return arr[Math.floor(this.next() * arr.length)] }
  /** uniform-ish integer in [0, 2^53) */
  u53 () { return (this.u32() & 0x1fffff) * 4294967296 + this.u32() }
  /** @template T @param {[number, T][]} table weighted choice @returns {T} */
  weighted (table) {
    let total = 0
    for (const [w] of table) total += w
    let r = this.next() * total
    for (const [w, v] of table) {
      if ((r -= w) < 0) return v
    }
    return table[table.length - 1][1]
  }

  /** in-place Fisher-Yates @template T @param {T[]} arr @returns {T[]} */
  shuffle (arr) {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1))
      const t = arr[i]; arr[i] = arr[j]; arr[j] = t
    }
    return arr
  }
}

/** Per-case seed: a hash of (seed, caseIndex) so cases are independent. */
const caseSeed = (seed, caseIndex) => {
  let h = Math.imul((seed >>> 0) ^ 0x9E3779B9, 0x85EBCA6B) ^ Math.imul((caseIndex >>> 0) + 0x632BE5AB, 0xC2B2AE35)
  h ^= h >>> 16; h = Math.imul(h, 0x7FEB352D)
  h ^= h >>> 15; h = Math.imul(h, 0x846CA68B)
  h ^= h >>> 16
  // fold in the high bits of large seeds
  return (h ^ Math.floor(seed / 4294967296)) >>> 0
}

// ---------------------------------------------------------------------------
// Value pools

/** Text fragments: ASCII, surrogate pairs (emoji, ZWJ sequences, flags, math
 * alphanumerics), CJK/Hangul, combining marks, RTL, zero-width chars. */
const TEXT_PIECES = [
  'a', 'hello', 'Quire', ' ', '\n', '\t', 'x\u200By',
  '😀', '👍🏽', '👨‍👩‍👧', '🇩🇪', '𝔘𝔫𝔦',
  '漢字', '日本語', '한국어',
  'e\u0301', 'a\u0308\u0323', 'n\u0303',
  'مرحبا', 'שלום', 'Ω≈ç'
]

const randomText = rng => {
  let s = rng.bool(0.08) ? '\uFEFF' : '' // leading BOM sometimes
  const n = rng.int(1, 4)
  for (let i = 0; i < n; i++) s += rng.pick(TEXT_PIECES)
  return s
}

const INTS = [0, 1, 7, 63, 64, 127, 128, 1000, -1, -64, -65, -1000,
  2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1)]
const FLOATS = [0.5, 0.1, -0, NaN, Infinity, -Infinity, 1.5, -2.25, 0.30000000000000004,
  3.4028234663852886e38, 1e300, 5e-324]
const BIGINTS = [0n, 10n, -5n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n]
const STRINGS = ['', 'x', 'undefined', 'null', '10', '😀', '漢字', 'e\u0301']
/** Object keys: integer-like keys exercise JS own-key ordering (array indices
 * ascending first, then insertion order; 4294967295 is NOT an array index). */
const OBJ_KEYS = ['10', '2', 'a', 'b', '0', 'z', '01', '-1', '1.5', '4294967294', '4294967295', '', 'k y', 'ключ', '😀']

const randomBytes = rng => {
  const b = new Uint8Array(rng.int(0, 6))
  for (let i = 0; i < b.length; i++) b[i] = rng.int(0, 255)
  return b
}

/**
 * A random lib0 "Any" value (every kind ContentAny can hold).
 * @param {Rng} rng
 * @param {number} depth nesting depth so far
 */
const anyValue = (rng, depth = 0) => {
  const kind = rng.weighted([
    [4, 'string'], [4, 'int'], [3, 'float'], [2, 'bool'], [1, 'null'], [1, 'undefined'],
    [2, 'bigint'], [2, 'bytes'], [depth < 2 ? 3 : 0, 'object'], [depth < 2 ? 2 : 0, 'array']
  ])
  switch (kind) {
    case 'string': return rng.bool(0.5) ? rng.pick(STRINGS) : randomText(rng)
    case 'int': return rng.pick(INTS)
    case 'float': return rng.pick(FLOATS)
    case 'bool': return rng.bool()
    case 'null': return null
    case 'undefined': return undefined
    case 'bigint': return rng.pick(BIGINTS)
    case 'bytes': return randomBytes(rng)
    case 'object': {
      const o = {}
      const n = rng.int(0, 4)
      for (let i = 0; i < n; i++) o[rng.pick(OBJ_KEYS)] = anyValue(rng, depth + 1)
      return o
    }
    default: {
      const n = rng.int(0, 4)
      const a = []
      for (let i = 0; i < n; i++) a.push(anyValue(rng, depth + 1))
      return a
    }
  }
}

/** Any value that Y.Array.insert accepts at top level: undefined and BigInt
 * are rejected there, so they get wrapped (which still puts them into a
 * ContentAny). A top-level Uint8Array becomes ContentBinary. */
const arrayElement = rng => {
  const v = anyValue(rng)
  if (v === undefined || typeof v === 'bigint') return rng.bool() ? [v] : { v }
  return v
}

const FORMAT_ATTRS = [
  { bold: true }, { bold: null }, { italic: true }, { link: { href: 'x' } }, { color: null },
  { color: '#f00' }, { size: 12 }, { bold: true, italic: null }, { font: { '10': 'a', '2': 'b', name: 'x' } }
]

const EMBEDS = [
  { image: 'x.png' }, { formula: 'e=mc^2' }, { '10': 1, '2': [0.5, null], a: 'b' }, { video: { src: 'v', w: 1.5 } },
  ['not', 'an', 'object'], 'plain-string-embed'
]

const XML_NAMES = ['p', 'div', 'h1', 'span', 'custom-el']
const ATTR_NAMES = ['class', 'id', 'href', 'data-x', '10', '2']

const SUBDOC_OPTS = [{}, { gc: false }, { autoLoad: true }, { meta: { a: 1 } },
  { gc: false, autoLoad: true, meta: { '10': 'x', '2': [1, 2.5], a: null } }]

// ---------------------------------------------------------------------------
// Client IDs

const MAX_SAFE = 2 ** 53 - 1

/** Pairs chosen so that their descending order (Yjs writes higher clients
 * first) is easy to get wrong: signed/unsigned 32-bit boundaries, u32
 * truncation that inverts the order, and the 2^53-1 ceiling yrs uses. */
const TRICKY_CLIENT_PAIRS = [
  [0x7fffffff, 0x80000000], [0xffffffff, 0x100000000], [2 ** 32 + 1, 2], [2 ** 32 + 7, 5],
  [MAX_SAFE, MAX_SAFE - 1], [0, 1], [2 ** 31 + 3, 3], [2 ** 52, 2 ** 52 + 1], [MAX_SAFE, 0xffffffff]
]

/** @param {Rng} rng @param {number} n @returns {number[]} n distinct client IDs */
const pickClientIds = (rng, n) => {
  const ids = []
  const add = id => { if (!ids.includes(id) && ids.length < n) ids.push(id) }
  if (rng.bool(0.15)) for (const id of rng.pick(TRICKY_CLIENT_PAIRS)) add(id)
  if (rng.bool(0.1)) { const x = rng.u32(); add(x); add((x + 1) % 4294967296) } // adjacent IDs
  while (ids.length < n) {
    add(rng.weighted([
      [70, () => rng.u32()],
      [15, () => rng.int(0, 20)],
      [15, () => rng.bool(0.2) ? MAX_SAFE : rng.u53()]
    ])())
  }
  return rng.shuffle(ids)
}

// ---------------------------------------------------------------------------
// Type walkers

/** Visits every live shared type of a doc: roots and nested ContentType values. */
const collectTypes = doc => {
  /** @type {Y.AbstractType<any>[]} */
  const out = []
  const visit = (type, depth) => {
    out.push(type)
    if (depth > 6) return
    for (let item = type._start; item !== null; item = item.right) {
      if (!item.deleted && item.content instanceof Y.ContentType) visit(item.content.type, depth + 1)
    }
    for (const item of type._map.values()) {
      if (!item.deleted && item.content instanceof Y.ContentType) visit(item.content.type, depth + 1)
    }
  }
  for (const type of doc.share.values()) visit(type, 0)
  return out
}

/** UTF-16 indices of low surrogates inside ContentString items of a Y.Text,
 * i.e. positions where delete(index, 1) splits a surrogate pair. */
const splitPairIndices = ytext => {
  const res = []
  let index = 0
  for (let item = ytext._start; item !== null; item = item.right) {
    if (item.deleted || !item.countable) continue
    if (item.content instanceof Y.ContentString) {
      const s = item.content.str
      for (let i = 1; i < s.length; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0xDC00 && c <= 0xDFFF) res.push(index + i)
      }
    }
    index += item.length
  }
  return res
}

// ---------------------------------------------------------------------------
// Command line shared by the generators: --seed S --count N --start K --out FILE
// plus boolean switches, e.g. { verbose: ['--verbose', true], verify: ['--no-verify', false] }.

const parseGeneratorArgs = (argv, { count, switches = {}, usage }) => {
  const opts = { seed: 1, count, start: 0, out: null }
  for (const [name, [, , initial]] of Object.entries(switches)) opts[name] = initial
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`)
      return argv[++i]
    }
    const sw = Object.entries(switches).find(([, [flag]]) => flag === a)
    if (a === '--seed') opts.seed = Number(val())
    else if (a === '--count') opts.count = Number(val())
    else if (a === '--start') opts.start = Number(val())
    else if (a === '--out') opts.out = val()
    else if (sw) opts[sw[0]] = sw[1][1]
    else throw new Error(`unknown argument ${a}`)
  }
  for (const k of ['seed', 'count', 'start']) {
    if (!Number.isSafeInteger(opts[k]) || opts[k] < 0) throw new Error(`--${k} must be a non-negative integer`)
  }
  if (!opts.out) throw new Error(`usage: ${usage}`)
  return opts
}

// ---------------------------------------------------------------------------
// exports

export {
  Rng, caseSeed,
  TEXT_PIECES, randomText, INTS, FLOATS, BIGINTS, STRINGS, OBJ_KEYS, randomBytes, anyValue, arrayElement,
  FORMAT_ATTRS, EMBEDS, XML_NAMES, ATTR_NAMES, SUBDOC_OPTS,
  MAX_SAFE, TRICKY_CLIENT_PAIRS, pickClientIds,
  collectTypes, splitPairIndices,
  parseGeneratorArgs
}
