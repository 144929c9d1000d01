// Peer side of `make bench` (scripts/bench-engine.sh): times Yjs, ywasm (yrs),
// Automerge and diamond-types on the shared editing traces and prints one JSON
// line, in the same shape as Quire's crdt_doc_bench.
//
//   node --expose-gc bench.mjs --lib yjs|ywasm|automerge|dt --trace NAME
//        --task apply|replay|load|encode|memory [--runs N] [--traces DIR]
//        [--cache DIR] [--copies K] [--slow-ms MS] [--slow-runs M]
//
// Tasks
//   apply   apply traces/yjs/NAME.updates.bin (one Yjs v1 update per frame) to a
//           fresh document. Yjs and ywasm only.
//   replay  replay the editing trace through the library's local text API, one
//           transaction per txn (traces/editing-traces/NAME.json.gz; for the
//           concurrent traces friendsforever/clownschool, their _flat variant).
//   load    load the final document: NAME.yjs.bin for Yjs/ywasm; for Automerge
//           and diamond-types the document built once with that library (see
//           "build source" below) and saved in its own format.
//   encode  encode the loaded document (Yjs/ywasm: encodeStateAsUpdate v1,
//           Automerge: save, diamond-types: Doc.toBytes).
//   memory  bytes held by one loaded document (see measureMemory below).
//
// Build source for Automerge/diamond-types documents (load/encode/memory):
// automerge-paper, seph-blog1: the replay above. friendsforever, clownschool: the
// concurrent trace itself (parents, agents), built as a concurrent history (see
// buildConcurrent), so that it is the same 2-/3-agent history Yjs loads.
// node_nodecc, git-makefile: no editing trace, so their edits are recovered by
// applying the Yjs update stream to Yjs and turning each transaction's text
// delta into splice patches (a linearisation of the concurrent history: one
// agent, same final text). Built once, kept in --cache DIR between processes.
//
// Timing: one process per (lib, task, trace); warm, steady-state figures. The
// first run is checked for correctness (text equals traces/yjs/*.txt) and not
// timed; after one gc(), warm-up runs follow until 1 s and 5 runs have passed
// (1 run if a run takes > 1 s); then RUNS timed runs back to back, each on a
// fresh document (wasm documents are freed after each run, untimed). No gc() is
// forced between timed runs: garbage collection is part of a JS library's cost,
// and a forced gc() shrinks V8's young generation, making the following runs of
// Yjs up to 10x slower than in steady state. If the first run takes > SLOW_MS
// (10 s), SLOW_RUNS (3) runs are made in all, the first included, and
// "slow": true is printed.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

// ---- arguments --------------------------------------------------------------

const here = path.dirname(fileURLToPath(import.meta.url));
const args = { runs: 5, traces: '/work/shared/traces', copies: 10, 'slow-ms': 10000, 'slow-runs': 3 };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--')) die(`unexpected argument ${a}`);
  const v = process.argv[++i];
  if (v === undefined) die(`missing value for ${a}`);
  args[a.slice(2)] = v;
}
const LIBS = ['yjs', 'ywasm', 'automerge', 'dt'];
const TASKS = ['apply', 'replay', 'load', 'encode', 'memory'];
const { lib, trace, task } = args;
if (!LIBS.includes(lib)) die(`--lib must be one of ${LIBS.join('|')}`);
if (!TASKS.includes(task)) die(`--task must be one of ${TASKS.join('|')}`);
if (!trace) die('--trace NAME is required');
const RUNS = Number(args.runs);
const COPIES = Number(args.copies);
const SLOW_MS = Number(args['slow-ms']);
const SLOW_RUNS = Number(args['slow-runs']);
const TRACES = args.traces;
if (typeof globalThis.gc !== 'function') die('run node with --expose-gc');

function die(msg) {
  process.stderr.write(`bench.mjs: ${msg}\n`);
  process.exit(2);
}
function out(obj) {
  process.stdout.write(JSON.stringify({ lib, task, trace, ...obj }) + '\n');
}

// ---- wasm memory: capture every instance the library creates ------------------

const wasmInstances = [];
{
  const Orig = WebAssembly.Instance;
  WebAssembly.Instance = new Proxy(Orig, {
    construct(target, argsList, newTarget) {
      const inst = Reflect.construct(target, argsList, newTarget);
      wasmInstances.push(inst);
      return inst;
    },
  });
  const origInstantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = async function (...a) {
    const r = await origInstantiate.apply(this, a);
    wasmInstances.push(r.instance ?? r);
    return r;
  };
}
function wasmBytes() {
  let n = 0;
  for (const inst of wasmInstances) {
    for (const v of Object.values(inst.exports)) if (v instanceof WebAssembly.Memory) n += v.buffer.byteLength;
  }
  return n;
}

// ---- trace inputs ---------------------------------------------------------------

const CONCURRENT = new Set(['friendsforever', 'clownschool']);
const NO_EDIT_TRACE = new Set(['node_nodecc', 'git-makefile']);
const yjsDir = path.join(TRACES, 'yjs');
const readYjs = (name, ext) => fs.readFileSync(path.join(yjsDir, `${name}.${ext}`));
const expectedText = (name) => readYjs(name, 'txt').toString('utf8');

function readFrames(name) {
  const buf = readYjs(name, 'updates.bin');
  const u8 = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const frames = [];
  for (let p = 0; p < buf.length; ) {
    const len = buf.readUInt32LE(p);
    frames.push(u8.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return frames;
}

// The edit source used to replay (task replay) or to build a library's own
// document (load/encode/memory for Automerge and diamond-types).
// Returns { source, txns: [[ [pos, del, ins], ... ], ...], linearised }.
async function editSource(name, forBuild) {
  if (NO_EDIT_TRACE.has(name)) {
    if (!forBuild) return null;
    return { source: `${name} (Yjs updates linearised)`, txns: await linearise(name), linearised: true, textName: name };
  }
  if (forBuild && CONCURRENT.has(name)) {
    const j = readEditTrace(name);
    return { source: `${name} (concurrent, ${j.numAgents} agents)`, concurrent: j, textName: name };
  }
  const src = CONCURRENT.has(name) ? `${name}_flat` : name;
  const j = readEditTrace(src);
  if (j.startContent) throw new Error(`${src}: non-empty startContent is not supported`);
  return { source: src, txns: j.txns.map((t) => t.patches), linearised: false, textName: src };
}

function readEditTrace(name) {
  return JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(TRACES, 'editing-traces', `${name}.json.gz`))));
}

async function linearise(name) {
  const Y = await import('yjs');
  const doc = new Y.Doc();
  const text = doc.getText('text');
  const txns = [];
  let cur = null;
  text.observe((e) => {
    let pos = 0;
    for (const op of e.delta) {
      if (op.retain !== undefined) pos += op.retain;
      else if (op.insert !== undefined) {
        if (typeof op.insert !== 'string') throw new Error('non-string insert in text delta');
        cur.push([pos, 0, op.insert]);
        pos += op.insert.length;
      } else if (op.delete !== undefined) cur.push([pos, op.delete, '']);
    }
  });
  for (const f of readFrames(name)) {
    cur = [];
    Y.applyUpdate(doc, f);
    if (cur.length) txns.push(cur);
  }
  if (text.toString() !== expectedText(name)) throw new Error(`${name}: linearisation does not reproduce the text`);
  return txns;
}

// ---- library adapters -------------------------------------------------------------

async function adapter(which) {
  if (which === 'yjs') {
    const Y = await import('yjs');
    return {
      version: pkgVersion('yjs'),
      apply(frames) {
        const d = new Y.Doc();
        d.getText('text');
        for (const f of frames) Y.applyUpdate(d, f);
        return d;
      },
      replay(txns) {
        const d = new Y.Doc();
        d.clientID = 1;
        const t = d.getText('text');
        for (const patches of txns) {
          d.transact(() => {
            for (const [pos, del, ins] of patches) {
              if (del) t.delete(pos, del);
              if (ins) t.insert(pos, ins);
            }
          });
        }
        return d;
      },
      load(bytes) {
        const d = new Y.Doc();
        d.getText('text');
        Y.applyUpdate(d, bytes);
        return d;
      },
      encode: (d) => Y.encodeStateAsUpdate(d),
      text: (d) => d.getText('text').toString(),
      free: (d) => d.destroy(),
    };
  }
  if (which === 'ywasm') {
    const Yw = await import('ywasm');
    // Every handle (YText, YTransaction) keeps the document alive until it is
    // freed; finalizers never run inside a synchronous loop, so free them all.
    return {
      version: pkgVersion('ywasm'),
      apply(frames) {
        const d = new Yw.YDoc({});
        for (const f of frames) Yw.applyUpdate(d, f, undefined);
        return d;
      },
      replay(txns) {
        const d = new Yw.YDoc({ clientID: 1 });
        const t = d.getText('text');
        for (const patches of txns) {
          const tx = d.beginTransaction(undefined);
          for (const [pos, del, ins] of patches) {
            if (del) t.delete(pos, del, tx);
            if (ins) t.insert(pos, ins, undefined, tx);
          }
          tx.commit();
          tx.free();
        }
        t.free();
        return d;
      },
      load(bytes) {
        const d = new Yw.YDoc({});
        Yw.applyUpdate(d, bytes, undefined);
        return d;
      },
      encode: (d) => Yw.encodeStateAsUpdate(d, undefined),
      text(d) {
        const t = d.getText('text');
        const s = t.toString(undefined);
        t.free();
        return s;
      },
      free: (d) => d.free(),
    };
  }
  if (which === 'automerge') {
    const A = await import('@automerge/automerge');
    return {
      version: pkgVersion('@automerge/automerge'),
      replay(txns) {
        let d = A.change(A.init(), (x) => {
          x.text = '';
        });
        for (const patches of txns) {
          d = A.change(d, (x) => {
            for (const [pos, del, ins] of patches) A.splice(x, ['text'], pos, del, ins);
          });
        }
        return d;
      },
      // The concurrent trace as a concurrent Automerge history: one document
      // (and actor) per agent; before each txn the agent's document receives
      // exactly the missing ancestors of the txn's parents, then the txn is
      // made with changeAt(parents' heads).
      buildConcurrent(j) {
        const hex = (n) => n.toString(16).padStart(32, '0');
        const init = A.change(A.init(hex(0xffff)), (x) => {
          x.text = '';
        });
        const h0 = A.getHeads(init);
        const initChange = A.getLastLocalChange(init);
        const n = j.txns.length;
        const change = new Array(n).fill(null);
        const heads = new Array(n);
        const docs = [];
        const have = [];
        j.txns.forEach((tx, i) => {
          const k = tx.agent;
          if (!docs[k]) {
            [docs[k]] = A.applyChanges(A.init(hex(k + 1)), [initChange]);
            have[k] = new Uint8Array(n);
          }
          const hv = have[k];
          const need = [];
          const stack = [...tx.parents];
          while (stack.length) {
            const p = stack.pop();
            if (hv[p]) continue;
            hv[p] = 1;
            need.push(p);
            stack.push(...j.txns[p].parents);
          }
          need.sort((a, b) => a - b);
          const chs = need.map((p) => change[p]).filter(Boolean);
          let d = docs[k];
          if (chs.length) [d] = A.applyChanges(d, chs);
          const H = tx.parents.length ? [...new Set(tx.parents.flatMap((p) => heads[p]))] : h0;
          const r = A.changeAt(d, H, (x) => {
            for (const [pos, del, ins] of tx.patches) A.splice(x, ['text'], pos, del, ins);
          });
          docs[k] = r.newDoc;
          hv[i] = 1;
          if (r.newHeads) {
            heads[i] = r.newHeads;
            change[i] = A.getLastLocalChange(r.newDoc);
          } else heads[i] = H;
        });
        const [all] = A.applyChanges(A.init(hex(0xfffe)), [initChange, ...change.filter(Boolean)]);
        const bytes = A.save(all);
        for (const d of [...docs, all, init]) if (d) A.free(d);
        return bytes;
      },
      load: (bytes) => A.load(bytes),
      encode: (d) => A.save(d),
      text: (d) => d.text,
      free: (d) => A.free(d),
    };
  }
  if (which === 'dt') {
    const DT = await import('diamond-types-node');
    const Doc = DT.Doc ?? DT.default.Doc;
    return {
      version: pkgVersion('diamond-types-node'),
      replay(txns) {
        const d = new Doc('bench');
        for (const patches of txns) {
          for (const [pos, del, ins] of patches) {
            if (del) d.del(pos, del);
            if (ins) d.ins(pos, ins);
          }
        }
        return d;
      },
      // The concurrent trace as a diamond-types OpLog: each op is added at the
      // version of its txn's parents (then of the txn's previous op), by its agent.
      buildConcurrent(j) {
        const OpLog = DT.OpLog ?? DT.default.OpLog;
        const ol = new OpLog();
        const ends = [];
        j.txns.forEach((tx, i) => {
          ol.setAgent(`agent${tx.agent}`);
          let parents = [...new Set(tx.parents.flatMap((p) => ends[p]))];
          for (const [pos, del, ins] of tx.patches) {
            if (del) parents = [ol.del(pos, del, Uint32Array.from(parents))];
            if (ins) parents = [ol.ins(pos, ins, Uint32Array.from(parents))];
          }
          ends[i] = parents;
        });
        const bytes = ol.toBytes();
        ol.free();
        return bytes;
      },
      load: (bytes) => Doc.fromBytes(bytes, 'bench'),
      encode: (d) => d.toBytes(),
      text: (d) => d.get(),
      free: (d) => d.free(),
    };
  }
  throw new Error(`unknown lib ${which}`);
}

function pkgVersion(name) {
  return JSON.parse(fs.readFileSync(path.join(here, 'node_modules', name, 'package.json'), 'utf8')).version;
}

// ---- helpers ---------------------------------------------------------------------

const sameBytes = (a, b) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x) => Math.round(x * 1000) / 1000;

// Checks a result text. A concurrent history (git-makefile, and the concurrent
// builds of friendsforever/clownschool) may legitimately end in another text
// for a non-Yjs CRDT (concurrent inserts at one position are ordered by each
// CRDT's own tie-break): reported as text_note, not fatal.
function checkText(got, name, extra) {
  const want = expectedText(name);
  if (got === want) return true;
  const msg = `${lib} ${task} ${name}: text differs from traces/yjs/${name}.txt (${got.length} vs ${want.length} chars)`;
  if ((name === 'git-makefile' || CONCURRENT.has(name)) && lib !== 'yjs' && lib !== 'ywasm') {
    extra.text_note = msg;
    return false;
  }
  throw new Error(msg);
}

// runTimed(once): once() performs one run and returns { ms, value }. The first
// run is passed to verify(value). Each run's value is passed to dispose().
function runTimed(once, verify, dispose) {
  const first = once();
  verify(first.value);
  dispose(first.value);
  const ms = [];
  let warmup = 1;
  let slow = false;
  let runs = RUNS;
  if (first.ms > SLOW_MS) {
    slow = true;
    runs = Math.max(1, SLOW_RUNS);
    ms.push(first.ms);
    warmup = 0;
  } else {
    // Collect the set-up garbage now; the warm-up that follows lets the heap
    // settle again (a forced gc() shrinks V8's young generation, and the next
    // runs of an allocation-heavy library are then several times slower).
    gc();
    let spent = 0;
    const minRuns = first.ms > 1000 ? 1 : 5;
    while ((warmup < minRuns || spent < 1000) && warmup < 500) {
      const r = once();
      dispose(r.value);
      spent += r.ms;
      warmup++;
    }
  }
  while (ms.length < runs) {
    const r = once();
    ms.push(r.ms);
    dispose(r.value);
  }
  return { runs: ms.length, warmup_runs: warmup, ...(slow ? { slow: true } : {}), ms };
}

function report(res, extra) {
  const sorted = [...res.ms].sort((a, b) => a - b);
  const wasm = wasmBytes();
  out({ runs: res.runs, warmup_runs: res.warmup_runs, ...(res.slow ? { slow: true } : {}), ms: sorted.map(round), median_ms: round(median(sorted)), ...extra, ...(wasm ? { wasm_memory_at_end: wasm } : {}) });
}

// The document a load/encode/memory task starts from, in the library's own format.
async function ownEncoding(L) {
  if (lib === 'yjs' || lib === 'ywasm') return { bytes: new Uint8Array(readYjs(trace, 'yjs.bin')), source: `${trace}.yjs.bin`, textName: trace };
  const cacheFile = cachePath();
  if (cacheFile && fs.existsSync(cacheFile)) {
    const source = NO_EDIT_TRACE.has(trace)
      ? `${trace} (Yjs updates linearised)`
      : CONCURRENT.has(trace)
        ? `${trace} (concurrent, ${readEditTrace(trace).numAgents} agents)`
        : trace;
    return { bytes: new Uint8Array(fs.readFileSync(cacheFile)), source, textName: trace, cached: true };
  }
  const src = await editSource(trace, true);
  let bytes;
  if (src.concurrent) {
    bytes = L.buildConcurrent(src.concurrent);
  } else {
    const d = L.replay(src.txns);
    checkText(L.text(d), src.textName, {});
    bytes = L.encode(d);
    L.free(d);
  }
  saveCache(bytes);
  return { bytes, source: src.source, textName: src.textName };
}

function cachePath() {
  return args.cache ? path.join(args.cache, `${lib}-${trace}.bin`) : null;
}
function saveCache(bytes) {
  const file = cachePath();
  if (!file || fs.existsSync(file)) return;
  fs.mkdirSync(args.cache, { recursive: true });
  fs.writeFileSync(`${file}.tmp${process.pid}`, bytes);
  fs.renameSync(`${file}.tmp${process.pid}`, file);
}

// ---- tasks -----------------------------------------------------------------------

async function main() {
  const L = await adapter(lib);
  const meta = { version: L.version };

  if (task === 'apply') {
    if (!L.apply) return out({ skipped: `${lib} cannot apply Yjs updates` });
    const frames = readFrames(trace);
    const state = readYjs(trace, 'yjs.bin');
    const extra = { updates: frames.length, ...meta };
    const res = runTimed(
      () => {
        const t0 = performance.now();
        const d = L.apply(frames);
        return { ms: performance.now() - t0, value: d };
      },
      (d) => {
        checkText(L.text(d), trace, extra);
        extra.same_bytes_as_yjs = sameBytes(L.encode(d), state);
      },
      L.free,
    );
    return report(res, extra);
  }

  if (task === 'replay') {
    const src = await editSource(trace, false);
    if (!src) return out({ skipped: `no editing trace for ${trace} (only Yjs updates)` });
    const extra = { source: src.source, txns: src.txns.length, ...meta };
    const res = runTimed(
      () => {
        const t0 = performance.now();
        const d = L.replay(src.txns);
        return { ms: performance.now() - t0, value: d };
      },
      (d) => {
        checkText(L.text(d), src.textName, extra);
        // The replayed document is the one load/encode/memory start from.
        if ((lib === 'automerge' || lib === 'dt') && !CONCURRENT.has(trace)) saveCache(L.encode(d));
      },
      L.free,
    );
    return report(res, extra);
  }

  const enc = await ownEncoding(L);
  const extra = { source: enc.source, bytes: enc.bytes.length, ...meta };

  if (task === 'load') {
    const res = runTimed(
      () => {
        const t0 = performance.now();
        const d = L.load(enc.bytes);
        return { ms: performance.now() - t0, value: d };
      },
      (d) => checkText(L.text(d), enc.textName, extra),
      L.free,
    );
    return report(res, extra);
  }

  if (task === 'encode') {
    const d = L.load(enc.bytes);
    checkText(L.text(d), enc.textName, extra);
    const res = runTimed(
      () => {
        const t0 = performance.now();
        const b = L.encode(d);
        return { ms: performance.now() - t0, value: b };
      },
      (b) => {
        extra.encoded_bytes = b.length;
        if (lib === 'yjs' || lib === 'ywasm') extra.same_bytes_as_yjs = sameBytes(b, enc.bytes);
      },
      () => {},
    );
    return report(res, extra);
  }

  if (task === 'memory') return measureMemory(L, enc, extra);
}

// Memory held by one loaded document. K = COPIES documents are loaded and kept
// alive; with gc() before each reading:
//   js_heap_bytes = (heapUsed after K docs - heapUsed after 1 doc) / (K - 1)
//   wasm_bytes    = (wasm linear memory after K - after 1) / (K - 1)
//   heap_bytes    = js_heap_bytes + wasm_bytes   (js_heap_bytes floored at 0)
// Differencing from the first document leaves out one-time costs (code, caches,
// free space the allocator already held) and amortises transient decode
// buffers; wasm memory only grows, in 64 KiB pages, so wasm_bytes counts
// allocator slack too. Single-document deltas are printed as well.
function measureMemory(L, enc, extra) {
  const K = Math.max(2, COPIES);
  const docs = [];
  const snap = () => {
    gc();
    gc();
    const m = process.memoryUsage();
    return { heap: m.heapUsed, wasm: wasmBytes(), ab: m.arrayBuffers, ext: m.external };
  };
  // Warm the code paths first with a document that is then dropped.
  {
    const d = L.load(enc.bytes);
    checkText(L.text(d), enc.textName, extra);
    L.free(d);
  }
  const s0 = snap();
  docs.push(L.load(enc.bytes));
  const s1 = snap();
  for (let i = 1; i < K; i++) docs.push(L.load(enc.bytes));
  const sK = snap();
  // For the wasm libraries the JS side is a few wrapper objects, and heapUsed
  // noise can make the difference slightly negative: counted as 0.
  const js = Math.max(0, (sK.heap - s1.heap) / (K - 1));
  const wasm = (sK.wasm - s1.wasm) / (K - 1);
  const held = Math.round(js + wasm);
  out({
    heap_bytes: held,
    encoded_bytes: enc.bytes.length,
    ratio: Math.round((held / enc.bytes.length) * 100) / 100,
    js_heap_bytes: Math.round(js),
    wasm_bytes: Math.round(wasm),
    array_buffers_bytes: Math.round((sK.ab - s1.ab) / (K - 1)),
    copies: K,
    first_doc_js_heap_bytes: s1.heap - s0.heap,
    first_doc_wasm_bytes: s1.wasm - s0.wasm,
    source: extra.source,
    version: extra.version,
    ...(extra.text_note ? { text_note: extra.text_note } : {}),
  });
  // keep the documents reachable until after the last reading
  if (docs.length !== K) throw new Error('unreachable');
}

main().catch((e) => {
  process.stderr.write(`bench.mjs: ${lib} ${task} ${trace}: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
