// Renders the results collected by scripts/bench-engine.sh as Markdown tables.
//   node report.mjs RESULTS_FILE
// RESULTS_FILE: one record per line, "lib<TAB>task<TAB>trace<TAB>json", where
// json is the line printed by bench.mjs / crdt_doc_bench, or
// {"error": "..."} / {"unsupported": "..."} written by the script.
import fs from 'node:fs';

const LIBS = [
  ['quire', 'Quire'],
  ['yjs', 'Yjs'],
  ['ywasm', 'ywasm'],
  ['automerge', 'Automerge'],
  ['dt', 'diamond-types'],
];
const TASKS = [
  ['apply', '(a) apply — the per-edit Yjs update stream applied to a fresh document'],
  ['replay', '(b) replay — the editing trace through the local text API, one transaction per txn'],
  ['load', '(c) load — the final encoded document into a fresh document'],
  ['encode', '(d) encode — full-state encoding of the loaded document'],
  ['memory', '(e) memory — held by one loaded document'],
];

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node report.mjs RESULTS_FILE\n');
  process.exit(2);
}
const results = new Map();
const traces = [];
for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const [lib, task, trace, ...rest] = line.split('\t');
  let r;
  try {
    r = JSON.parse(rest.join('\t'));
  } catch {
    r = { error: `unparsable output: ${rest.join('\t').slice(0, 200)}` };
  }
  results.set(`${lib}/${task}/${trace}`, r);
  if (!traces.includes(trace)) traces.push(trace);
}
const get = (lib, task, trace) => results.get(`${lib}/${task}/${trace}`);
const notes = [];

function ms(x) {
  if (x >= 100) return Math.round(x).toLocaleString('en-US');
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toFixed(3);
}
function times(a, b) {
  const r = a / b;
  return r >= 10 ? `${Math.round(r)}×` : `${r.toFixed(r >= 1 ? 1 : 2)}×`;
}
function bytes(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}
const ok = (r) => r && !r.error && !r.skipped && !r.unsupported;

function timeCell(r, lib, task, trace) {
  if (!r) return '—';
  if (r.unsupported) return '—';
  if (r.skipped) return 'n/a';
  if (r.error) {
    notes.push(`${lib} ${task} ${trace}: FAILED — ${r.error}`);
    return 'FAIL';
  }
  let s = ms(r.median_ms);
  if (r.slow) s += ` (n=${r.runs})`;
  if (r.text_note) {
    notes.push(`${lib} ${task} ${trace}: ${r.text_note}`);
    s += ' ‡';
  }
  return s;
}

for (const [task, title] of TASKS) {
  console.log(`### ${title}\n`);
  if (task === 'memory') {
    console.log('| trace | ' + LIBS.map(([, n]) => n).join(' | ') + ' | Yjs ÷ Quire | ywasm ÷ Quire |');
    console.log('|---|' + LIBS.map(() => '---:').join('|') + '|---:|---:|');
  } else {
    console.log('| trace | ' + LIBS.map(([, n]) => `${n} ms`).join(' | ') + ' | Quire vs Yjs | Quire vs ywasm |');
    console.log('|---|' + LIBS.map(() => '---:').join('|') + '|---:|---:|');
  }
  for (const trace of traces) {
    const cells = [];
    for (const [lib] of LIBS) {
      const r = get(lib, task, trace);
      if (task === 'memory') {
        if (ok(r)) cells.push(`${bytes(r.heap_bytes)} (${r.ratio.toFixed(1)}× of ${bytes(r.encoded_bytes)})`);
        else cells.push(timeCell(r, lib, task, trace));
      } else cells.push(timeCell(r, lib, task, trace));
    }
    const q = get('quire', task, trace);
    const vs = (peer) => {
      const p = get(peer, task, trace);
      if (!ok(q) || !ok(p)) return '—';
      return task === 'memory' ? times(p.heap_bytes, q.heap_bytes) : times(p.median_ms, q.median_ms);
    };
    let label = trace;
    const src = ['yjs', 'automerge', 'dt'].map((l) => get(l, task, trace)).find((r) => ok(r) && r.source)?.source;
    if (task === 'replay' && src && src !== trace) label += ` (as ${src})`;
    console.log(`| ${label} | ${cells.join(' | ')} | ${vs('yjs')} | ${vs('ywasm')} |`);
  }
  console.log();
  // per-task footnotes
  const extra = [];
  if (task === 'apply') {
    const counts = traces.map((t) => [t, get('yjs', 'apply', t)?.updates ?? get('quire', 'apply', t)?.updates]).filter(([, n]) => n);
    extra.push(`updates per trace: ${counts.map(([t, n]) => `${t} ${n.toLocaleString('en-US')}`).join(', ')}.`);
    const diff = traces.filter((t) => get('ywasm', 'apply', t)?.same_bytes_as_yjs === false);
    if (diff.length) extra.push(`ywasm's re-encoding after apply is not byte-identical to Yjs's on: ${diff.join(', ')} (same length and content — Yjs decodes it back to the same state; the order differs inside the delete set).`);
  }
  if (task === 'replay') {
    const tx = traces.map((t) => [t, get('yjs', 'replay', t)]).filter(([, r]) => ok(r));
    extra.push(`txns replayed: ${tx.map(([t, r]) => `${r.source} ${r.txns.toLocaleString('en-US')}`).join(', ')}.`);
    extra.push('friendsforever/clownschool are replayed from their `_flat` (sequential) variants; Quire is given the `_flat` name too.');
    extra.push('diamond-types has no transactions: each patch is one `ins`/`del` call.');
  }
  if (task === 'load') {
    // The documents loaded, encoded and measured in (c)–(e).
    console.log('Documents loaded (each library\'s own full-state encoding):\n');
    console.log('| trace | Yjs / ywasm / Quire (.yjs.bin) | Automerge (save) | diamond-types (toBytes) | Automerge / diamond-types history |');
    console.log('|---|---:|---:|---:|---|');
    for (const t of traces) {
      const size = (l) => {
        const r = get(l, 'load', t) ?? get(l, 'memory', t);
        return ok(r) ? bytes(r.bytes ?? r.encoded_bytes) : '—';
      };
      const src = ['automerge', 'dt'].map((l) => get(l, 'load', t)).find(ok)?.source ?? '—';
      console.log(`| ${t} | ${size('yjs')} | ${size('automerge')} | ${size('dt')} | ${src} |`);
    }
    console.log();
  }
  if (task === 'encode') extra.push('the documents are those of (c); each library encodes its own format.');
  if (task === 'memory') extra.push('cells: bytes held by one loaded document (that size ÷ the library\'s own encoded size of it); "÷ Quire": the peer\'s bytes divided by Quire\'s.');
  if (task === 'encode') {
    const same = traces.filter((t) => get('ywasm', 'encode', t)?.same_bytes_as_yjs === false);
    if (same.length) extra.push(`ywasm's encoding differs byte-wise from the .yjs.bin it loaded on: ${same.join(', ')}.`);
  }
  const slow = [];
  for (const [lib, name] of LIBS) for (const t of traces) {
    const r = get(lib, task, t);
    if (ok(r) && r.slow) slow.push(`${name} ${t} (n=${r.runs})`);
  }
  if (slow.length) extra.push(`first run over the slow threshold (BENCH_SLOW_MS), so fewer runs in all, the first included: ${slow.join(', ')}.`);
  for (const e of extra) console.log(`- ${e}`);
  if (extra.length) console.log();
}

for (const [key, r] of results) {
  if (r.retried) notes.push(`${key.replaceAll('/', ' ')}: ${r.retried} — the figure is from the second process`);
}
if (notes.length) {
  console.log('### Problems\n');
  for (const n of notes) console.log(`- ${n}`);
  console.log();
}
process.exitCode = notes.some((n) => n.includes('FAILED')) ? 1 : 0;
