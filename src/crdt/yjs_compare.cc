// crdt_yjs_compare: compares the crdt update algebra with bytes produced by the
// reference Yjs (tools/yjs-harness).
//
//   crdt_yjs_compare cases FILE            every op record of a gen-cases.mjs file
//   crdt_yjs_compare trace UPDATES MERGED  merge of a framed trace vs Yjs's merge
//   crdt_yjs_compare sessions FILE         a gen-sessions.mjs file: each receiver's update
//                                          stream applied to a Doc vs Yjs's receiver
//
// Prints one line per mismatch (at most 20) and a closing "N passed, N failed".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
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
  for (int op = 1; op <= 8; ++op) std::printf("%-18s %llu\n", kOpNames[op], static_cast<unsigned long long>(per_op[op]));
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
  for (const AnyMember& k : expected.get("kinds")->object) {
    const RootKind kind = kind_from_name(k.second.str);
    const std::string want = compare_json(*expected.get("json")->get(k.first));
    const std::string have = compare_json(fresh.root_json(k.first, kind));
    if (want != have) return "root '" + k.first + "' as " + k.second.str + ":\n  expected " + want + "\n  got      " + have;
    if (kind == RootKind::kText) {
      const std::string want_delta = compare_json(*expected.get("delta")->get(k.first));
      const std::string have_delta = compare_json(fresh.text_delta(k.first));
      if (want_delta != have_delta) {
        return "delta of '" + k.first + "':\n  expected " + want_delta + "\n  got      " + have_delta;
      }
    }
  }
  return {};
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
  std::printf("%llu passed, %llu failed\n", static_cast<unsigned long long>(passed),
              static_cast<unsigned long long>(failed));
  return failed == 0 && passed > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "cases") == 0) return compare_cases(argv[2]);
  if (argc == 4 && std::strcmp(argv[1], "trace") == 0) return compare_trace(argv[2], argv[3]);
  if (argc == 3 && std::strcmp(argv[1], "sessions") == 0) return compare_sessions(argv[2]);
  std::fprintf(stderr, "usage: crdt_yjs_compare cases FILE | trace UPDATES.bin MERGED.bin | sessions FILE\n");
  return 2;
}
