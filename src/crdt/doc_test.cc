#include "crdt/doc.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "crdt/doc_internal.h"
#include "crdt/framing.h"
#include "crdt/test_support.h"

namespace quire::crdt {
namespace {

using testing::hex;

std::string json(const Any& v) {
  std::string s;
  stringify_json(v, s);
  return s;
}

std::string state_hex(const Doc& d) {
  auto s = d.encode_state_as_update();
  EXPECT_TRUE(s.ok());
  return s.ok() ? to_hex(*s) : "";
}

TEST(Doc, AppliesAndReencodesSpecVectors) {
  // text_delete: "abc" then delete "b" → "ac", state split into three items.
  Doc d;
  ASSERT_TRUE(d.apply_update(hex("01010100040101740361626300")).ok());
  ASSERT_TRUE(d.apply_update(hex("000101010101")).ok());
  EXPECT_EQ(d.text("t"), "ac");
  EXPECT_EQ(state_hex(d), "010301000401017401618101000184010101630101010101");
  EXPECT_EQ(to_hex(d.encode_state_vector()), "010103");
  EXPECT_EQ(d.state_of(1), 3u);
  EXPECT_EQ(d.state_of(2), 0u);
}

// Expected answers from Yjs 13.6.33's snapshotContainsUpdate(snapshot(doc), u)
// for the same document and updates: client 1 typed "hello" then deleted "el".
TEST(Doc, ContainsUpdateAsYjsSnapshotContainsUpdate) {
  const Bytes typed = hex("01010100040101740568656c6c6f00");  // "hello"
  const Bytes deleted = hex("000101010102");                  // delete [1, 3)
  Doc d;
  ASSERT_TRUE(d.apply_update(typed).ok());
  ASSERT_TRUE(d.apply_update(deleted).ok());
  const auto contains = [&](const Bytes& u) {
    auto r = d.contains_update(u);
    EXPECT_TRUE(r.ok());
    return r.ok() && *r;
  };
  EXPECT_TRUE(contains(typed));
  EXPECT_TRUE(contains(deleted));
  EXPECT_TRUE(contains(*d.encode_state_as_update()));
  EXPECT_TRUE(contains(hex("0000")));

  Doc fork(DocOptions{.client_id = 2});
  ASSERT_TRUE(fork.apply_update(*d.encode_state_as_update()).ok());
  EXPECT_FALSE(contains(*fork.insert_text("t", 0, "x")));  // another client's struct
  EXPECT_FALSE(contains(hex("01010106000100")));           // 1:6 after a gap: still new
  EXPECT_FALSE(contains(*fork.delete_text("t", 1, 1)));    // "l" right after the deleted run
  EXPECT_FALSE(contains(hex("000101010001")));             // "h", before it
  EXPECT_FALSE(contains(hex("000101010109")));             // past the state
  EXPECT_FALSE(contains(hex("000107010001")));             // a client never seen
  EXPECT_TRUE(contains(hex("000101010201")));              // inside the run
  // Zero-length ranges: contained where the run's ranges would absorb them.
  const bool zero_expected[] = {false, true, true, true, false, false};
  for (std::uint8_t clock = 0; clock < 6; ++clock) {
    EXPECT_EQ(contains(Bytes{0, 1, 1, 1, clock, 0}), zero_expected[clock]) << "zero-length at " << int{clock};
  }

  EXPECT_FALSE(d.contains_update(hex("0101")).ok());      // cut short
  EXPECT_FALSE(d.contains_update(hex("00010101")).ok());  // delete set cut short
  EXPECT_TRUE(*d.contains_update(*d.encode_state_as_update({}, UpdateFormat::kV2), UpdateFormat::kV2));
}

// A transaction deleting "a" and "c" of "abcdef" whose "b" an earlier one
// deleted: its two delete ranges are collected and merged range by range, and
// the three deleted structs still end up one, as Yjs 13.6.33 leaves them
// (which collects the whole delete set before merging any of it).
TEST(Doc, DeletedRunsMergeAcrossTheGapsBetweenATransactionsRanges) {
  const std::string yjs_state = "010201000101017403840102036465660101010003";
  Doc remote;
  for (const char* u : {"01010100040101740661626364656600", "000101010101", "0001010200010201"}) {
    ASSERT_TRUE(remote.apply_update(hex(u)).ok());
  }
  EXPECT_EQ(state_hex(remote), yjs_state);
  Doc local(DocOptions{.client_id = 1});
  ASSERT_TRUE(local.insert_text("t", 0, "abcdef").ok());
  ASSERT_TRUE(local.delete_text("t", 1, 1).ok());
  auto both = local.transact([&]() -> Status {
    if (auto r = local.delete_text("t", 0, 1); !r.ok()) return r.error();
    if (auto r = local.delete_text("t", 0, 1); !r.ok()) return r.error();
    return {};
  });
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(to_hex(*both), "0001010200010201");
  EXPECT_EQ(local.text("t"), "def");
  EXPECT_EQ(state_hex(local), yjs_state);
}

TEST(Doc, ReadsFormattingAndXml) {
  Doc d;
  ASSERT_TRUE(d.apply_update(hex("010403000601017404626f6c64047472756584030002686986030204626f6c64046e756c6c84"
                                 "03030620746865726500"))
                  .ok());
  EXPECT_EQ(json(d.text_delta("t")), R"([{"insert":"hi","attributes":{"bold":true}},{"insert":" there"}])");
  Doc x;
  ASSERT_TRUE(x.apply_update(hex("0107040007010b70726f73656d6972726f720309706172616772617068280004000974657874"
                                 "416c69676e0177046c6566740700040006040004020648656c6c6f2086040804626f6c64027b"
                                 "7d84040905776f726c6486040e04626f6c64046e756c6c00"))
                  .ok());
  EXPECT_EQ(x.root_kind("prosemirror"), RootKind::kXmlFragment);
  EXPECT_EQ(json(x.to_json()),
            R"({"prosemirror":"<paragraph textAlign=\"left\">Hello <bold>world</bold></paragraph>"})");
}

// Bytes and expected JSON from Yjs 13.6.33 + y-prosemirror 1.3.7: a heading whose
// text carries marks named as y-prosemirror hashes overlapping marks
// ("bold--AbCd1234"), one with a line break before the hash, one too short to be a hash.
TEST(Doc, ReadsXmlAsProseMirrorJson) {
  Doc d;
  ASSERT_TRUE(d.apply_update(hex("010a0700070102706d030768656164696e670700070006060007010e626f6c642d2d416243643132"
                                 "333404747275658607020d610a622d2d6162632b2f3d31320c7b2268726566223a2278227d8607"
                                 "0309656d2d2d73686f7274032273228407040248698607060e626f6c642d2d4162436431323334"
                                 "046e756c6c8607070d610a622d2d6162632b2f3d3132046e756c6c86070809656d2d2d73686f72"
                                 "74046e756c6c28000700056c6576656c017d0200"))
                  .ok());
  const auto pm = d.prosemirror_json("pm");
  ASSERT_TRUE(pm.ok()) << pm.error().message;
  EXPECT_EQ(json(*pm),
            R"({"type":"doc","content":[{"type":"heading","attrs":{"level":2},"content":[{"type":"text","text":"Hi",)"
            R"("marks":[{"type":"bold","attrs":true},{"type":"b","attrs":{"href":"x"}},)"
            R"({"type":"em--short","attrs":"s"}]}]}]})");
  const auto missing = d.prosemirror_json("absent");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(json(*missing), R"({"type":"doc","content":[]})");

  // Nested types print as their toJSON() (JSON.stringify calls it): a Y.Map as an
  // attribute, a Y.Text embedded in a top-level XmlText (kept as a nested array).
  Doc n;
  ASSERT_TRUE(n.apply_update(hex("01080900070102706d03017827000900016b0128000901016e017d0187090006060009030169047472"
                                 "7565870904020400090501618609050169046e756c6c00"))
                  .ok());
  const auto nested = n.prosemirror_json("pm");
  ASSERT_TRUE(nested.ok()) << nested.error().message;
  EXPECT_EQ(json(*nested), R"({"type":"doc","content":[{"type":"x","attrs":{"k":{"n":1}}},)"
                           R"([{"type":"text","text":"a","marks":[{"type":"i","attrs":true}]}]]})");

  // y-prosemirror throws on an XmlHook; Quire refuses it with an error.
  Doc h;
  ASSERT_TRUE(h.apply_update(hex("01010800070102706d0504686f6f6b00")).ok());
  EXPECT_FALSE(h.prosemirror_json("pm").ok());
}

TEST(Doc, ConcurrentInsertsConvergeInEitherOrder) {
  const Bytes u1 =
      hex("01010100040101740141"
          "00");
  const Bytes u2 =
      hex("01010200040101740142"
          "00");
  Doc a;
  Doc b;
  ASSERT_TRUE(a.apply_update(u1).ok());
  ASSERT_TRUE(a.apply_update(u2).ok());
  ASSERT_TRUE(b.apply_update(u2).ok());
  ASSERT_TRUE(b.apply_update(u1).ok());
  EXPECT_EQ(a.text("t"), "AB");
  EXPECT_EQ(b.text("t"), "AB");
  EXPECT_EQ(state_hex(a), state_hex(b));
}

TEST(Doc, PendingStructsWaitForTheirDependencies) {
  // Client 9 typed "ab", "cd", "ef" as three updates (check_merge_pending.mjs).
  const Bytes a = hex("010109000401017402616200");
  const Bytes b = hex("0101090284090102636400");
  const Bytes c = hex("0101090484090302656600");
  Doc d;
  ASSERT_TRUE(d.apply_update(c).ok());
  EXPECT_TRUE(d.has_pending_structs());
  EXPECT_EQ(d.text("t"), "");
  ASSERT_TRUE(d.apply_update(a).ok());
  EXPECT_EQ(d.text("t"), "ab");
  EXPECT_TRUE(d.has_pending_structs());
  // The state carries the pending structs: "ab", a gap, then "ef".
  EXPECT_EQ(state_hex(d), "01030900040101740261620a0284090302656600");
  ASSERT_TRUE(d.apply_update(b).ok());
  EXPECT_FALSE(d.has_pending_structs());
  EXPECT_EQ(d.text("t"), "abcdef");
}

TEST(Doc, PendingDeletesAreForwarded) {
  Doc d;
  ASSERT_TRUE(d.apply_update(hex("00010901"
                                 "0001"))
                  .ok());  // delete (9,0) before it exists
  EXPECT_TRUE(d.has_pending_delete_set());
  EXPECT_EQ(state_hex(d), "000109010001");
  ASSERT_TRUE(d.apply_update(hex("010109000401017402616200")).ok());
  EXPECT_FALSE(d.has_pending_delete_set());
  EXPECT_EQ(d.text("t"), "b");
}

TEST(Doc, SurrogateSplitBecomesReplacementCharacters) {
  Doc d;
  ASSERT_TRUE(d.apply_update(hex("01030a000401017403efbfbd840a0003efbfbdc40a000a01017800")).ok());
  EXPECT_EQ(d.text("t"), "\xEF\xBF\xBDx\xEF\xBF\xBD");
}

TEST(Doc, GarbageCollectsDeletedNestedTypes) {
  // Root array "a" holds a nested array [1, 2] (client 8); the nested array is deleted.
  Doc d;
  ASSERT_TRUE(d.apply_update(hex("01020800010101610100020108010003")).ok());
  EXPECT_EQ(state_hex(d), "01020800010101610100020108010003");
  Doc keep({.gc = false});
  ASSERT_TRUE(keep.apply_update(hex("01020800010101610100020108010003")).ok());
  EXPECT_EQ(json(keep.to_json()), "{}");
}

TEST(Doc, BadUpdatesLeaveTheDocumentUntouched) {
  Doc d;
  ASSERT_TRUE(d.apply_update(hex("01010100040101740361626300")).ok());
  const std::string before = state_hex(d);
  const Bytes truncated = hex("0101010304010174036465");
  EXPECT_FALSE(d.apply_update(truncated).ok());
  EXPECT_FALSE(d.apply_update(hex("ff")).ok());
  EXPECT_EQ(state_hex(d), before);
}

// Applying reads a v1 update's structs with its own reader (straight into
// items): it refuses what the codec's reader refuses, as malformed, and leaves
// the document as it was.
TEST(Doc, V1ReaderRefusesWhatTheCodecRefuses) {
  Doc d;
  ASSERT_TRUE(d.apply_update(hex("01010100040101740361626300")).ok());
  const std::string before = state_hex(d);
  const char* const refused[] = {
      "0201010004010174016101010104010174016200",  // two groups of client 1
      "0200010001010004010174016100",              // an empty group of client 1, then one with structs
      "01010100840100016100",                      // "a" whose origin is its own id
      "01010300c1010003050200",                    // a deleted run whose right origin lies ahead of it
      "010103008105000000",                        // a deleted run of length 0
      "01010300840500056100",                      // a string cut short
      "010103000b05000000",                        // content ref 11
  };
  for (const char* update : refused) {
    SCOPED_TRACE(update);
    EXPECT_FALSE(decode_update(hex(update)).ok());
    const Status st = d.apply_update(hex(update));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, static_cast<int>(CrdtErrc::kMalformed));
  }
  EXPECT_EQ(state_hex(d), before);
  // Two strings of client 5 after "c", read by the same path, apply.
  ASSERT_TRUE(d.apply_update(hex("010205008401020161840500016200")).ok());
  EXPECT_EQ(d.text("t"), "abcab");
}

// Every trace: applying its per-edit updates gives Yjs's exact bytes and the text.
TEST(Doc, TracesReproduceYjsStateAndText) {
  for (const char* name : {"automerge-paper", "seph-blog1", "friendsforever_flat", "clownschool_flat", "friendsforever",
                           "clownschool", "node_nodecc", "git-makefile"}) {
    SCOPED_TRACE(name);
    const std::string base = testing::shared_path(std::string("traces/yjs/") + name);
    const Bytes framed = testing::read_file(base + ".updates.bin");
    const Bytes expected = testing::read_file(base + ".yjs.bin");
    const Bytes text = testing::read_file(base + ".txt");
    auto frames = split_frames(framed);
    ASSERT_TRUE(frames.ok());
    Doc d;
    for (ByteView u : *frames) ASSERT_TRUE(d.apply_update(u).ok());
    auto state = d.encode_state_as_update();
    ASSERT_TRUE(state.ok());
    EXPECT_TRUE(*state == expected);
    EXPECT_EQ(d.text("text"), std::string(text.begin(), text.end()));
    // Loading the final state gives the same document again.
    Doc loaded;
    ASSERT_TRUE(loaded.apply_update(expected).ok());
    EXPECT_TRUE(*loaded.encode_state_as_update() == expected);
  }
}

}  // namespace
}  // namespace quire::crdt

namespace quire::crdt {
namespace {

using testing::hex;

// Local edits emit the updates a Yjs client emits for the same calls (spec vectors).
TEST(DocEdits, TextInsertsMatchYjs) {
  Doc d({.gc = true, .client_id = 1, .limits = {}});
  auto u1 = d.insert_text("t", 0, "ab");
  ASSERT_TRUE(u1.ok());
  EXPECT_EQ(to_hex(*u1), "010101000401017402616200");
  auto u2 = d.insert_text("t", 2, "c");
  ASSERT_TRUE(u2.ok());
  EXPECT_EQ(to_hex(*u2), "01010102840101016300");                                // text_append_with_origin
  EXPECT_EQ(to_hex(*d.encode_state_as_update()), "01010100040101740361626300");  // items merged: "abc"
  auto del = d.delete_text("t", 1, 1);
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(to_hex(*del), "000101010101");  // text_delete
  EXPECT_EQ(d.text("t"), "ac");
}

TEST(DocEdits, FormattedInsertsMatchYjs) {
  // text_formatted: insert(0, 'hi', {bold: true}); insert(2, ' there', {}) by client 3.
  Doc d({.gc = true, .client_id = 3, .limits = {}});
  Any bold = Any::make(Any::Kind::kObject);
  bold.object.emplace_back("bold", Any::from_bool(true));
  ASSERT_TRUE(d.insert_text("t", 0, "hi", &bold).ok());
  const Any none = Any::make(Any::Kind::kObject);
  ASSERT_TRUE(d.insert_text("t", 2, " there", &none).ok());
  EXPECT_EQ(to_hex(*d.encode_state_as_update()),
            "010403000601017404626f6c64047472756584030002686986030204626f6c64046e756c6c8403030620746865726500");
  // Without attributes, inserted text inherits the formats at its position.
  ASSERT_TRUE(d.insert_text("t", 1, "!").ok());
  EXPECT_EQ(d.text("t"), "h!i there");
  std::string delta;
  stringify_json(d.text_delta("t"), delta);
  EXPECT_EQ(delta, R"([{"insert":"h!i","attributes":{"bold":true}},{"insert":" there"}])");
  // format() a range: the markers move with it.
  Any italic = Any::make(Any::Kind::kObject);
  italic.object.emplace_back("italic", Any::from_bool(true));
  ASSERT_TRUE(d.format_text("t", 4, 5, italic).ok());
  delta.clear();
  stringify_json(d.text_delta("t"), delta);
  EXPECT_EQ(
      delta,
      R"([{"insert":"h!i","attributes":{"bold":true}},{"insert":" "},{"insert":"there","attributes":{"italic":true}}])");
  EXPECT_EQ(to_hex(*d.encode_state_as_update()),
            "010903000601017404626f6c6404747275658403000168840301016986030204626f6c64046e756c6c840303012084030405"
            "7468657265c4030103020121c603040305066974616c69630474727565860309066974616c6963046e756c6c00");
}

TEST(DocEdits, MapSetAndParagraphs) {
  Doc d({.gc = true, .client_id = 2, .limits = {}});
  auto u = d.map_set("m", "k", Any::from_string("v"));
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(to_hex(*u), "010102002801016d016b0177017600");  // map_single_set
  auto over = d.map_set("m", "k", Any::from_number(1));
  ASSERT_TRUE(over.ok());
  EXPECT_EQ(to_hex(*over), "01010201a80200017d010102010001");  // origin (2,0), key bit kept, old value deleted
  Doc x({.gc = true, .client_id = 4, .limits = {}});
  ASSERT_TRUE(x.append_paragraph("prosemirror", "Hello").ok());
  ASSERT_TRUE(x.append_paragraph("prosemirror", "").ok());
  std::string json;
  stringify_json(x.to_json(), json);
  EXPECT_EQ(json, R"({"prosemirror":"<paragraph>Hello</paragraph><paragraph></paragraph>"})");
  // Bytes from Yjs for the same calls (see docs/engine.md for the JavaScript).
  EXPECT_EQ(to_hex(*x.encode_state_as_update()),
            "0104040007010b70726f73656d6972726f7203097061726167726170680700040006040004010548656c6c6f87040003097061"
            "7261677261706800");
  // Every emitted update, applied elsewhere, rebuilds the same document.
  Doc y;
  x.set_update_handler(nullptr);
  ASSERT_TRUE(y.apply_update(*x.encode_state_as_update()).ok());
  std::string json2;
  stringify_json(y.to_json(), json2);
  EXPECT_EQ(json, json2);
}

TEST(DocEdits, BadEditsAreRefused) {
  Doc d({.gc = true, .client_id = 5, .limits = {}});
  EXPECT_FALSE(d.insert_text("t", 1, "x").ok());     // past the end
  EXPECT_FALSE(d.insert_text("t", 0, "\xff").ok());  // not UTF-8
  EXPECT_FALSE(d.delete_text("t", 0, 1).ok());
  EXPECT_FALSE(d.format_text("t", 0, 1, Any::null()).ok());  // attributes must be an object
  EXPECT_EQ(d.text("t"), "");
}

// Text lives in a shared arena: splits share bytes, merges reuse adjacent ones,
// and once enough is garbage the live text is compacted. Typing, deleting and
// inserting in the middle far past that point must read like a plain string,
// surrogate pairs (which a split cannot share) included, and a peer applying
// the edits as updates must see the same text.
TEST(Doc, TextSurvivesArenaCompaction) {
  Doc d({.gc = true, .client_id = 1, .limits = {}});
  Doc peer({.gc = true, .client_id = 2, .limits = {}});
  std::u16string expected;  // UTF-16, as Yjs indexes
  std::mt19937_64 rng(11);
  const auto to_utf8 = [](const std::u16string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      std::uint32_t cp = s[i];
      if (cp >= 0xD800 && cp < 0xDC00) cp = 0x10000 + ((cp - 0xD800) << 10) + (s[++i] - 0xDC00);
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
    return out;
  };
  // A position that does not fall between the halves of a surrogate pair.
  const auto boundary = [&](std::size_t i) {
    return i > 0 && i < expected.size() && expected[i] >= 0xDC00 && expected[i] < 0xE000 ? i - 1 : i;
  };
  for (int step = 0; step < 3000; ++step) {
    if (expected.size() < 2000 || rng() % 3 != 0) {
      std::u16string piece;
      const std::size_t n = 1 + rng() % 200;
      for (std::size_t k = 0; k < n; ++k) {
        if (rng() % 16 == 0) {
          piece += u"\U0001F600";
        } else {
          piece += static_cast<char16_t>(u'a' + rng() % 26);
        }
      }
      const std::size_t at = boundary(rng() % (expected.size() + 1));
      auto update = d.insert_text("t", at, to_utf8(piece));
      ASSERT_TRUE(update.ok());
      ASSERT_TRUE(peer.apply_update(*update).ok());
      expected.insert(at, piece);
    } else {
      const std::size_t at = boundary(rng() % expected.size());
      const std::size_t end = boundary(std::min(expected.size(), at + 1 + rng() % 400));
      if (end <= at) continue;
      auto update = d.delete_text("t", at, end - at);
      ASSERT_TRUE(update.ok());
      ASSERT_TRUE(peer.apply_update(*update).ok());
      expected.erase(at, end - at);
    }
    if (step % 100 == 0) {
      ASSERT_EQ(d.text("t"), to_utf8(expected));
      ASSERT_EQ(peer.text("t"), to_utf8(expected));
    }
  }
  ASSERT_EQ(d.text("t"), to_utf8(expected));
  ASSERT_EQ(peer.text("t"), to_utf8(expected));
  EXPECT_EQ(state_hex(d), state_hex(peer));
}

// A document holds clocks below 2^32 (as yrs does): an update taking a client
// past that, or naming an id past it, is refused as over the limits and
// leaves the document as it was.
TEST(Doc, ClocksFrom2To32AreRefused) {
  Doc d;
  ASSERT_TRUE(d.apply_update(hex("01010100040101740361626300")).ok());
  const std::string before = state_hex(d);
  const auto refused_as_limit = [&](const char* update) {
    const Status st = d.apply_update(hex(update));
    return !st.ok() && st.error().code == static_cast<int>(CrdtErrc::kLimit);
  };
  EXPECT_TRUE(refused_as_limit("0101020000808080801000"));        // GC of client 2 over [0, 2^32)
  EXPECT_TRUE(refused_as_limit("0101040084038080808010017800"));  // "x" after (3, 2^32)
  EXPECT_EQ(state_hex(d), before);
  // The last clock a document holds: a GC over [0, 2^32 - 1).
  ASSERT_TRUE(d.apply_update(hex("0101020000ffffffff0f00")).ok());
  EXPECT_EQ(to_hex(d.encode_state_vector()), "0202ffffffff0f0103");
  EXPECT_EQ(d.state_of(2), 0xffffffffu);
}

// A v2 update can split a surrogate pair between two strings (its string
// column holds both halves); the halves merge back into one item, and a v1
// encoding writes the pair, as Yjs's JavaScript string would. (The halves
// follow another client's text, so that the merged item is placed by an
// origin, as nearly every item is.)
TEST(Doc, AdjacentSurrogateHalvesEncodeAsOnePair) {
  const auto text_block = [](Id id, std::optional<Id> origin, std::string_view text) {
    Block b;
    b.kind = BlockKind::kItem;
    b.ref = ContentRef::kString;
    b.id = id;
    b.length = 1;
    if (origin) {
      b.has_origin = true;
      b.origin = *origin;
    } else {
      b.parent_kind = ParentKind::kRoot;
      b.parent_name = "t";
    }
    b.text = text;
    return b;
  };
  DecodedUpdate u;
  u.blocks = {text_block({2, 0}, std::nullopt, "a"), text_block({1, 0}, Id{2, 0}, "\xED\xA0\xBD"),  // WTF-8 for U+D83D
              text_block({1, 1}, Id{1, 0}, "\xED\xB8\x80")};                                        // U+DE00
  u.group_starts = {0, 1};
  const auto v2 = encode_update(u, UpdateFormat::kV2);
  ASSERT_TRUE(v2.ok());
  Doc d;
  ASSERT_TRUE(d.apply_update(*v2, UpdateFormat::kV2).ok());
  Doc typed({.gc = true, .client_id = 1, .limits = {}});
  ASSERT_TRUE(typed.apply_update(hex("0101020004010174016100")).ok());  // client 2's "a"
  ASSERT_TRUE(typed.insert_text("t", 1, "\xF0\x9F\x98\x80").ok());      // U+1F600 in one go
  EXPECT_EQ(state_hex(d), state_hex(typed));
}

// Where an update places its new items and what it deletes, without the ids of
// the items themselves: origins, right origins, lengths and the delete set.
std::string anchors(ByteView update) {
  auto u = decode_update(update);
  EXPECT_TRUE(u.ok());
  if (!u.ok()) return "";
  std::ostringstream out;
  const auto id = [&](bool has, const Id& i) {
    if (has) {
      out << i.client << ':' << i.clock;
    } else {
      out << '-';
    }
  };
  for (const Block& b : u->blocks) {
    out << '[';
    id(b.has_origin, b.origin);
    out << ' ';
    id(b.has_right_origin, b.right_origin);
    out << ' ' << b.length << ']';
  }
  for (const auto& c : u->delete_set.clients()) {
    for (const DeleteRange& r : c.ranges) out << " del " << c.client << ':' << r.clock << '+' << r.len;
  }
  return out.str();
}

// Local edits start their walk at a marker near the edit (Yjs's search
// markers) instead of at the start of the text, and must land where a walk
// from the start lands — which decides the deleted neighbour an insert anchors
// to. Three cursors type and delete; often one deletes the unit before where
// an earlier insert started and types there, right after a deleted unit and
// at the start of a run a marker knows. Each edit's update must anchor like
// the same edit made by a fresh document (no markers) loaded with the state.
TEST(DocEdits, MarkersPlaceEditsLikeAWalkFromTheStart) {
  Doc d({.gc = true, .client_id = 7, .limits = {}});
  std::mt19937_64 rng(5);
  std::uint64_t length = 0;
  std::uint64_t cursors[3] = {0, 0, 0};
  std::vector<std::uint64_t> starts;  // where inserts began, kept up to date like cursors
  const auto edit = [&](bool insert, std::uint64_t at, std::uint64_t n) {
    const auto state = d.encode_state_as_update();
    ASSERT_TRUE(state.ok());
    Doc fresh({.gc = true, .client_id = 9, .limits = {}});
    ASSERT_TRUE(fresh.apply_update(*state).ok());
    const std::string text(n, static_cast<char>('a' + rng() % 26));
    const auto got = insert ? d.insert_text("t", at, text) : d.delete_text("t", at, n);
    const auto want = insert ? fresh.insert_text("t", at, text) : fresh.delete_text("t", at, n);
    ASSERT_TRUE(got.ok() && want.ok());
    ASSERT_EQ(anchors(*got), anchors(*want)) << (insert ? "insert at " : "delete at ") << at;
    const auto shift = [&](std::uint64_t& p) {
      if (insert && p >= at) p += n;
      if (!insert && p >= at + n) p -= n;
      if (!insert && p > at && p < at + n) p = at;
    };
    for (std::uint64_t& c : cursors) shift(c);
    for (std::uint64_t& s : starts) shift(s);
    length = insert ? length + n : length - n;
    if (insert) starts.push_back(at);
    if (starts.size() > 16) starts.erase(starts.begin());
  };
  for (int step = 0; step < 1500 && !HasFatalFailure(); ++step) {
    std::uint64_t& c = cursors[rng() % 3];
    const std::uint64_t op = rng() % 8;
    if (op == 0 && !starts.empty() && starts[rng() % starts.size()] > 0) {
      // Delete the unit before an earlier insert's start, then type at it.
      const std::uint64_t at = starts[rng() % starts.size()];
      if (at == 0) continue;
      edit(false, at - 1, 1);
      edit(true, at - 1, 1 + rng() % 3);
    } else if (op == 1) {
      c = rng() % (length + 1);  // the cursor jumps
    } else if (op == 2 && c > 0) {
      const std::uint64_t n = std::min<std::uint64_t>(c, 1 + rng() % 3);  // backspace
      edit(false, c - n, n);
    } else if (op == 3 && c < length) {
      edit(false, c, std::min<std::uint64_t>(length - c, 1 + rng() % 3));  // delete forwards
    } else {
      const std::uint64_t at = c;
      edit(true, at, 1 + rng() % 3);
    }
  }
}

// The per-client struct array keeps a hole where it was last edited; whatever
// the order of inserts, erases and appends, it must read and bisect like a plain
// sorted vector.
TEST(ClientStructs, ReadsLikeASortedVector) {
  std::mt19937_64 rng(7);
  // Each struct is a distinct reference with its start clock.
  std::vector<std::pair<detail::ItemRef, std::uint32_t>> expected;
  detail::ItemRef next_ref = 1;
  detail::ClientStructs structs;
  const auto clock_at = [&](std::size_t i) { return std::uint64_t{expected[i].second}; };
  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t op = rng() % 8;
    if (op < 5 || expected.size() < 2) {
      // A new struct at a random place, with a start clock between its neighbours'.
      const std::size_t pos = op == 0 || expected.empty() ? expected.size() : rng() % expected.size();
      const std::uint64_t low = pos == 0 ? 0 : clock_at(pos - 1) + 1;
      const std::uint64_t high =
          pos == expected.size() ? std::min<std::uint64_t>(low + (1u << 20), detail::kMaxClock) : clock_at(pos);
      if (low >= high) continue;
      const auto clock = static_cast<std::uint32_t>(low + rng() % (high - low));
      const detail::ItemRef ref = next_ref++;
      expected.insert(expected.begin() + static_cast<std::ptrdiff_t>(pos), {ref, clock});
      if (pos == expected.size() - 1) {
        structs.push_back(ref, clock, std::uint64_t{clock} + 1);
      } else {
        structs.insert(pos, ref, clock);
      }
    } else if (op == 5) {
      const std::size_t first = 1 + rng() % (expected.size() - 1);  // index 0 keeps the lowest clock
      const std::size_t last = std::min(expected.size(), first + 1 + rng() % 3);
      expected.erase(expected.begin() + static_cast<std::ptrdiff_t>(first),
                     expected.begin() + static_cast<std::ptrdiff_t>(last));
      structs.erase(first, last);
    }
    if (op == 6 && step % 64 == 0) structs.shrink_to_fit();
    ASSERT_EQ(structs.size(), expected.size());
    ASSERT_EQ(structs.back(), expected.back().first);
    if (step % 16 == 0) {
      for (std::size_t i = 0; i < expected.size(); ++i) {
        ASSERT_EQ(structs[i], expected[i].first);
        ASSERT_EQ(structs.clock_at(i), expected[i].second);
      }
    }
    for (int probe = 0; probe < 8; ++probe) {
      const std::size_t i = rng() % expected.size();
      const std::uint64_t end = i + 1 < expected.size() ? clock_at(i + 1) : clock_at(i) + 5;
      const auto clock = static_cast<std::uint32_t>(clock_at(i) + rng() % (end - clock_at(i)));
      ASSERT_EQ(structs.find(clock), i);
      ASSERT_EQ(structs.find_near(clock, rng() % (expected.size() + 2)), i);
    }
  }
}

}  // namespace
}  // namespace quire::crdt
