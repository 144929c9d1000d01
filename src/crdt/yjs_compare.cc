// crdt_yjs_compare: compares the crdt update algebra with bytes produced by the
// reference Yjs (tools/yjs-harness).
//
//   crdt_yjs_compare cases FILE            every op record of a gen-cases.mjs file
//   crdt_yjs_compare trace UPDATES MERGED  merge of a framed trace vs Yjs's merge
//   crdt_yjs_compare sessions FILE         a gen-sessions.mjs file: each receiver's update
//                                          stream applied to a Doc vs Yjs's receiver
//                                          (state, SV, JSON, deltas, ProseMirror JSON)
//   crdt_yjs_compare edits FILE OUT        a gen-edits.mjs file: local edits through the Doc
//                                          API; writes Quire's updates to OUT for
//                                          check-edits.mjs, compares content here
//
// Prints one line per mismatch (at most 20) and a closing "N passed, N failed".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "crdt/doc.h"
#include "crdt/framing.h"
#include "crdt/test_support.h"
#include "crdt/update.h"

using namespace quire;
using namespace quire::crdt;

namespace {

constexpr const char* kOpNames[] = {"?",        "MERGE_V1", "DIFF_V1", "SV_FROM_UPDATE_V1", "V1_TO_V2",
                                    "V2_TO_V1", "MERGE_V2", "DIFF_V2", "SV_FROM_UPDATE_V2"};

struct Cursor {
  ByteView data;
  std::size_t pos = 0;
  bool u32(std::uint32_t& v) {
    if (data.size() - pos < 4) return false;
    v = static_cast<std::uint32_t>(data[pos]) | static_cast<std::uint32_t>(data[pos + 1]) << 8 |
        static_cast<std::uint32_t>(data[pos + 2]) << 16 | static_cast<std::uint32_t>(data[pos + 3]) << 24;
    pos += 4;
    return true;
  }
  bool blob(ByteView& b) {
    std::uint32_t n = 0;
    if (!u32(n) || data.size() - pos < n) return false;
    b = data.subspan(pos, n);
    pos += n;
    return true;
  }
};

// Large limits: the inputs are trusted fixtures, some bigger than one network message.
const Limits kFixtureLimits{.max_structs = 1u << 26, .max_depth = 64};

Result<Bytes> run_op(std::uint32_t op, const std::vector<ByteView>& args) {
  switch (op) {
    case 1:
      return merge_updates(args, UpdateFormat::kV1, kFixtureLimits);
    case 2:
      return diff_update(args.at(0), args.at(1), UpdateFormat::kV1, kFixtureLimits);
    case 3:
      return state_vector_from_update(args.at(0), UpdateFormat::kV1, kFixtureLimits);
    case 4:
      return convert_update(args.at(0), UpdateFormat::kV1, UpdateFormat::kV2, kFixtureLimits);
    case 5:
      return convert_update(args.at(0), UpdateFormat::kV2, UpdateFormat::kV1, kFixtureLimits);
    case 6:
      return merge_updates(args, UpdateFormat::kV2, kFixtureLimits);
    case 7:
      return diff_update(args.at(0), args.at(1), UpdateFormat::kV2, kFixtureLimits);
    case 8:
      return state_vector_from_update(args.at(0), UpdateFormat::kV2, kFixtureLimits);
    default:
      return Error{"test", 1, "unknown opcode " + std::to_string(op)};
  }
}

int compare_cases(const std::string& path) {
  const Bytes file = testing::read_file(path);
  Cursor c{file};
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
  std::uint64_t per_op[9] = {};
  while (c.pos < file.size()) {
    std::uint32_t case_index = 0;
    std::uint32_t op = 0;
    std::uint32_t nargs = 0;
    if (!c.u32(case_index) || !c.u32(op) || !c.u32(nargs) || op == 0 || op > 8) {
      std::fprintf(stderr, "corrupt case file at byte %zu\n", c.pos);
      return 2;
    }
    std::vector<ByteView> args(nargs);
    ByteView expected;
    for (auto& a : args) {
      if (!c.blob(a)) return 2;
    }
    if (!c.blob(expected)) return 2;
    auto got = run_op(op, args);
    if (got.ok() && got->size() == expected.size() && std::memcmp(got->data(), expected.data(), expected.size()) == 0) {
      ++passed;
      ++per_op[op];
      continue;
    }
    if (++failed <= 20) {
      std::printf("MISMATCH case %u op %s: %s\n  expected %s\n  got      %s\n", case_index, kOpNames[op],
                  got.ok() ? "different bytes" : got.error().to_string().c_str(), to_hex(expected).c_str(),
                  got.ok() ? to_hex(*got).c_str() : "-");
    }
  }
  for (int op = 1; op <= 8; ++op)
    std::printf("%-18s %llu\n", kOpNames[op], static_cast<unsigned long long>(per_op[op]));
  std::printf("%llu passed, %llu failed\n", static_cast<unsigned long long>(passed),
              static_cast<unsigned long long>(failed));
  return failed == 0 && passed > 0 ? 0 : 1;
}

int compare_trace(const std::string& updates_path, const std::string& merged_path) {
  const Bytes file = testing::read_file(updates_path);
  const Bytes expected = testing::read_file(merged_path);
  auto frames = split_frames(file);
  if (!frames) {
    std::printf("%s\n", frames.error().to_string().c_str());
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  auto merged = merge_updates(*frames, UpdateFormat::kV1, kFixtureLimits);
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!merged) {
    std::printf("merge failed: %s\n0 passed, 1 failed\n", merged.error().to_string().c_str());
    return 1;
  }
  const bool same = *merged == expected;
  std::printf("%s: %zu updates merged in %.1f ms, %zu bytes, %s Yjs's merge (%zu bytes)\n", updates_path.c_str(),
              frames->size(), ms, merged->size(), same ? "identical to" : "DIFFERENT from", expected.size());
  if (!same) {
    std::size_t i = 0;
    while (i < merged->size() && i < expected.size() && (*merged)[i] == expected[i]) ++i;
    std::printf("first difference at byte %zu\n", i);
  }
  std::printf("%d passed, %d failed\n", same ? 1 : 0, same ? 0 : 1);
  return same ? 0 : 1;
}

// JSON for comparison: BigInts as plain integers (the harness writes them so,
// JSON.stringify refusing them).
std::string compare_json(Any v) {
  struct Fix {
    static void run(Any& a) {
      if (a.kind == Any::Kind::kBigInt) a = Any::from_number(static_cast<double>(a.bigint));
      for (Any& e : a.array) run(e);
      for (AnyMember& m : a.object) run(m.second);
    }
  };
  Fix::run(v);
  std::string out;
  stringify_json(v, out);
  return out;
}

RootKind kind_from_name(const std::string& k) {
  if (k == "Text") return RootKind::kText;
  if (k == "Map") return RootKind::kMap;
  if (k == "Array") return RootKind::kArray;
  if (k == "XmlFragment") return RootKind::kXmlFragment;
  return RootKind::kUnknown;
}

// XmlFragment roots read as ProseMirror JSON: equal to y-prosemirror's, or
// refused where y-prosemirror throws (counted for the summary line).
std::uint64_t g_prosemirror_ok = 0;
std::uint64_t g_prosemirror_errors = 0;

// Returns an empty string when the session matches, else what differs.
std::string check_session(std::uint32_t flags, const std::vector<ByteView>& updates, ByteView state, ByteView sv,
                          ByteView json_bytes) {
  Doc doc({.gc = (flags & 1) == 0, .client_id = 4242424242, .limits = kFixtureLimits});
  for (std::size_t i = 0; i < updates.size(); ++i) {
    const Status st = doc.apply_update(updates[i]);
    if (!st.ok()) return "update " + std::to_string(i) + " refused: " + st.error().to_string();
  }
  auto got = doc.encode_state_as_update();
  if (!got) return "encode failed: " + got.error().to_string();
  if (!std::equal(got->begin(), got->end(), state.begin(), state.end())) {
    return "state differs\n  expected " + to_hex(state) + "\n  got      " + to_hex(*got);
  }
  const Bytes got_sv = doc.encode_state_vector();
  if (!std::equal(got_sv.begin(), got_sv.end(), sv.begin(), sv.end())) return "state vector differs";
  if (doc.has_pending_structs() != ((flags & 2) != 0)) return "pending structs differ";
  if (doc.has_pending_delete_set() != ((flags & 4) != 0)) return "pending delete set differs";
  // Map keys and roots take the order a document first met them; the harness
  // reads a fresh document loaded from the state, so read one the same way.
  Doc fresh({.gc = (flags & 1) == 0, .client_id = 4242424242, .limits = kFixtureLimits});
  if (!fresh.apply_update(state).ok()) return "cannot load the expected state";
  Any expected;
  if (!parse_json(as_chars(json_bytes), expected, 256)) return "cannot parse expected json";
  // `quire doc json` infers each root's kind from its content: where it can tell,
  // it must agree with the kind the session gave the root and print the same JSON.
  const Any inferred = fresh.to_json();
  for (const AnyMember& k : expected.get("kinds")->object) {
    const RootKind declared = kind_from_name(k.second.str);
    const RootKind guess = fresh.root_kind(k.first);
    const Any* printed = inferred.get(k.first);
    if (guess == RootKind::kUnknown) {
      if (printed != nullptr) return "root '" + k.first + "' printed although its kind is unknown";
      continue;
    }
    // Where the content cannot tell (yjs-behaviours.md's precedence), the guess may
    // differ: XML children make a fragment even in an Array or a Text holding
    // nothing else (a Text whose only content is an embedded XmlElement, XmlText
    // or XmlHook), and a Text holding only other embedded types reads as an Array.
    if (guess == RootKind::kXmlFragment && (declared == RootKind::kArray || declared == RootKind::kText)) continue;
    if (guess == RootKind::kArray && declared == RootKind::kText) continue;
    if (guess != declared) {
      return "root '" + k.first + "' inferred as " + std::to_string(static_cast<int>(guess)) + ", not " + k.second.str;
    }
    if (printed == nullptr || compare_json(*printed) != compare_json(*expected.get("json")->get(k.first))) {
      return "doc json of root '" + k.first + "' differs";
    }
  }
  for (const AnyMember& k : expected.get("kinds")->object) {
    const RootKind kind = kind_from_name(k.second.str);
    const std::string want = compare_json(*expected.get("json")->get(k.first));
    const std::string have = compare_json(fresh.root_json(k.first, kind));
    if (want != have)
      return "root '" + k.first + "' as " + k.second.str + ":\n  expected " + want + "\n  got      " + have;
    if (kind == RootKind::kText) {
      const std::string want_delta = compare_json(*expected.get("delta")->get(k.first));
      const std::string have_delta = compare_json(fresh.text_delta(k.first));
      if (want_delta != have_delta) {
        return "delta of '" + k.first + "':\n  expected " + want_delta + "\n  got      " + have_delta;
      }
    }
    if (kind == RootKind::kXmlFragment) {
      const Any* want_pm = expected.get("prosemirror")->get(k.first);
      const auto have_pm = fresh.prosemirror_json(k.first);
      if (want_pm->kind == Any::Kind::kNull) {
        if (have_pm.ok()) return "prosemirror of '" + k.first + "': y-prosemirror throws, Quire printed it";
        ++g_prosemirror_errors;
      } else if (!have_pm.ok()) {
        return "prosemirror of '" + k.first + "': " + have_pm.error().message;
      } else if (compare_json(*want_pm) != compare_json(*have_pm)) {
        return "prosemirror of '" + k.first + "':\n  expected " + compare_json(*want_pm) + "\n  got      " +
               compare_json(*have_pm);
      } else {
        ++g_prosemirror_ok;
      }
    }
  }
  return {};
}

// gen-edits.mjs tags values JSON cannot hold: {"$bigint":"…"}, {"$bytes":"hex"}, {"$undefined":true}.
Any untag(const Any& v) {
  if (v.kind == Any::Kind::kObject && v.object.size() == 1 && !v.object[0].first.empty() &&
      v.object[0].first[0] == '$') {
    const std::string& tag = v.object[0].first;
    const Any& payload = v.object[0].second;
    if (tag == "$bigint") {
      Any b = Any::make(Any::Kind::kBigInt);
      b.bigint = std::stoll(payload.str);
      return b;
    }
    if (tag == "$bytes") {
      Bytes raw;
      from_hex(payload.str, raw);
      Any b = Any::make(Any::Kind::kBytes);
      b.str.assign(raw.begin(), raw.end());
      return b;
    }
    if (tag == "$undefined") return Any::undefined();
    if (tag == "$float") {
      const std::string& f = payload.str;
      if (f == "NaN") return Any::from_number(std::numeric_limits<double>::quiet_NaN());
      if (f == "Infinity") return Any::from_number(std::numeric_limits<double>::infinity());
      if (f == "-Infinity") return Any::from_number(-std::numeric_limits<double>::infinity());
      if (f == "-0") return Any::from_number(-0.0);
    }
  }
  Any out = v;
  for (Any& e : out.array) e = untag(e);
  for (AnyMember& m : out.object) m.second = untag(m.second);
  return out;
}

// BigInts as gen-edits.mjs writes them: {"$bigint":"123"}.
Any tag_bigints(Any v) {
  if (v.kind == Any::Kind::kBigInt) {
    Any tagged = Any::make(Any::Kind::kObject);
    tagged.object.emplace_back("$bigint", Any::from_string(std::to_string(v.bigint)));
    return tagged;
  }
  for (Any& e : v.array) e = tag_bigints(std::move(e));
  for (AnyMember& m : v.object) m.second = tag_bigints(std::move(m.second));
  return v;
}

// The same content gen-edits.mjs records: deltas of `text`, and text/map/xml as JSON.
std::string edit_content(const Doc& d) {
  Any delta = Any::make(Any::Kind::kObject);
  delta.object.emplace_back("text", d.text_delta("text"));
  Any json = Any::make(Any::Kind::kObject);
  json.object.emplace_back("text", Any::from_string(d.text("text")));
  json.object.emplace_back("map", tag_bigints(d.root_json("map", RootKind::kMap)));
  json.object.emplace_back("xml", d.root_json("xml", RootKind::kXmlFragment));
  Any all = Any::make(Any::Kind::kObject);
  all.object.emplace_back("delta", delta);
  all.object.emplace_back("json", json);
  return compare_json(all);
}

Result<Bytes> run_edit(Doc& d, const Any& op) {
  const std::string kind = op.get("op")->str;
  const std::string root = op.get("root") != nullptr ? op.get("root")->str : "";
  auto num = [&](const char* k) { return static_cast<std::uint64_t>(op.get(k)->number); };
  if (kind == "insert") {
    const Any* attrs = op.get("attributes");
    const Any plain = attrs != nullptr ? untag(*attrs) : Any();
    return d.insert_text(root, num("index"), op.get("text")->str, attrs != nullptr ? &plain : nullptr);
  }
  if (kind == "delete") return d.delete_text(root, num("index"), num("length"));
  if (kind == "format") return d.format_text(root, num("index"), num("length"), untag(*op.get("attributes")));
  if (kind == "mapSet") return d.map_set(root, op.get("key")->str, untag(*op.get("value")));
  if (kind == "appendParagraph") return d.append_paragraph(root, op.get("text")->str);
  if (kind == "remote") {
    Bytes update;
    from_hex(op.get("update")->str, update);
    // Everything the document emitted (the remote transaction, and the formatting
    // cleanup's when there is one), merged as the harness merges Yjs's.
    std::vector<Bytes> emitted;
    d.set_update_handler([&](ByteView u) { emitted.emplace_back(u.begin(), u.end()); });
    const Status st = d.apply_update(update);
    d.set_update_handler(nullptr);
    if (!st.ok()) return st.error();
    if (emitted.size() <= 1) return emitted.empty() ? Bytes{} : emitted[0];
    std::vector<ByteView> views(emitted.begin(), emitted.end());
    return merge_updates(views);
  }
  return Error{"test", 1, "unknown op " + kind};
}

void put_u32(Bytes& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_blob(Bytes& out, ByteView b) {
  put_u32(out, static_cast<std::uint32_t>(b.size()));
  out.insert(out.end(), b.begin(), b.end());
}

int compare_edits(const std::string& path, const std::string& out_path) {
  const Bytes file = testing::read_file(path);
  Cursor c{file};
  Bytes out;
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
  std::uint64_t ops = 0;
  std::uint64_t identical = 0;
  while (c.pos < file.size()) {
    std::uint32_t session = 0;
    std::uint32_t lo = 0;
    std::uint32_t hi = 0;
    std::uint32_t nops = 0;
    ByteView base;
    if (!c.u32(session) || !c.u32(lo) || !c.u32(hi) || !c.blob(base) || !c.u32(nops)) return 2;
    const std::uint64_t client = static_cast<std::uint64_t>(hi) << 32 | lo;
    put_u32(out, session);
    put_u32(out, lo);
    put_u32(out, hi);
    put_blob(out, base);
    put_u32(out, nops);
    Doc d({.gc = true, .client_id = client, .limits = kFixtureLimits});
    // The Yjs editor declares its roots before loading the base state.
    d.declare("text", RootKind::kText);
    d.declare("map", RootKind::kMap);
    d.declare("xml", RootKind::kXmlFragment);
    std::string problem;
    if (!d.apply_update(base).ok()) problem = "base state refused";
    for (std::uint32_t i = 0; i < nops; ++i) {
      ByteView op_json;
      ByteView expected_update;
      ByteView expected_content;
      if (!c.blob(op_json) || !c.blob(expected_update) || !c.blob(expected_content)) return 2;
      ++ops;
      Any op;
      Bytes emitted;
      if (problem.empty()) {
        if (!parse_json(as_chars(op_json), op, 64)) {
          problem = "bad op json";
        } else if (auto r = run_edit(d, op); !r) {
          problem =
              "op " + std::to_string(i) + " " + std::string(as_chars(op_json)) + " failed: " + r.error().to_string();
        } else {
          emitted = std::move(*r);
          if (std::equal(emitted.begin(), emitted.end(), expected_update.begin(), expected_update.end())) ++identical;
          const std::string have = edit_content(d);
          Any want_any;
          parse_json(as_chars(expected_content), want_any, 256);
          const std::string want = compare_json(want_any);
          if (have != want) {
            problem = "op " + std::to_string(i) + " " + std::string(as_chars(op_json)) + ":\n  expected " + want +
                      "\n  got      " + have;
          }
        }
      }
      put_blob(out, op_json);
      put_blob(out, emitted);
      put_blob(out, expected_content);
    }
    ByteView final_state;
    if (!c.blob(final_state)) return 2;
    auto state = d.encode_state_as_update();
    put_blob(out, state ? ByteView(*state) : ByteView());
    if (problem.empty()) {
      ++passed;
    } else if (++failed <= 10) {
      std::printf("MISMATCH session %u: %s\n", session, problem.c_str());
    }
  }
  std::FILE* f = std::fopen(out_path.c_str(), "wb");
  if (f == nullptr || std::fwrite(out.data(), 1, out.size(), f) != out.size()) return 2;
  std::fclose(f);
  std::printf("%llu ops, %llu updates byte-identical to Yjs's\n", static_cast<unsigned long long>(ops),
              static_cast<unsigned long long>(identical));
  std::printf("%llu passed, %llu failed\n", static_cast<unsigned long long>(passed),
              static_cast<unsigned long long>(failed));
  return failed == 0 && passed > 0 ? 0 : 1;
}

int compare_sessions(const std::string& path) {
  const Bytes file = testing::read_file(path);
  Cursor c{file};
  std::uint64_t passed = 0;
  std::uint64_t failed = 0;
  std::uint64_t updates_total = 0;
  const auto start = std::chrono::steady_clock::now();
  while (c.pos < file.size()) {
    std::uint32_t index = 0;
    std::uint32_t flags = 0;
    std::uint32_t n = 0;
    if (!c.u32(index) || !c.u32(flags) || !c.u32(n)) return 2;
    std::vector<ByteView> updates(n);
    for (auto& u : updates) {
      if (!c.blob(u)) return 2;
    }
    ByteView state;
    ByteView sv;
    ByteView json;
    if (!c.blob(state) || !c.blob(sv) || !c.blob(json)) return 2;
    updates_total += n;
    const std::string problem = check_session(flags, updates, state, sv, json);
    if (problem.empty()) {
      ++passed;
    } else if (++failed <= 10) {
      std::printf("MISMATCH session %u (flags %u): %s\n", index, flags, problem.c_str());
    }
  }
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu updates applied in %.0f ms\n", static_cast<unsigned long long>(updates_total), ms);
  std::printf("prosemirror: %llu fragments equal to y-prosemirror's, %llu refused as y-prosemirror throws\n",
              static_cast<unsigned long long>(g_prosemirror_ok), static_cast<unsigned long long>(g_prosemirror_errors));
  std::printf("%llu passed, %llu failed\n", static_cast<unsigned long long>(passed),
              static_cast<unsigned long long>(failed));
  return failed == 0 && passed > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "cases") == 0) return compare_cases(argv[2]);
  if (argc == 4 && std::strcmp(argv[1], "trace") == 0) return compare_trace(argv[2], argv[3]);
  if (argc == 3 && std::strcmp(argv[1], "sessions") == 0) return compare_sessions(argv[2]);
  if (argc == 4 && std::strcmp(argv[1], "edits") == 0) return compare_edits(argv[2], argv[3]);
  std::fprintf(stderr,
               "usage: crdt_yjs_compare cases FILE | trace UPDATES.bin MERGED.bin | sessions FILE | edits FILE OUT\n");
  return 2;
}
