// Golden vectors from the reference Yjs (../shared/spec/vectors.json): every
// update decodes to Yjs's own decoded view and re-encodes byte-identically, and
// the update-level operations reproduce the recorded outputs.
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "crdt/any.h"
#include "crdt/test_support.h"
#include "crdt/update.h"

namespace quire::crdt {
namespace {

constexpr const char* kTypeClass[] = {"YArray", "YMap", "YText", "YXmlElement", "YXmlFragment", "YXmlHook", "YXmlText"};
constexpr const char* kContentClass[] = {"",
                                         "ContentDeleted",
                                         "ContentJSON",
                                         "ContentBinary",
                                         "ContentString",
                                         "ContentEmbed",
                                         "ContentFormat",
                                         "ContentType",
                                         "ContentAny",
                                         "ContentDoc"};

const Any& vectors_json() {
  static const Any root = [] {
    const Bytes raw = testing::read_file(testing::shared_path("spec/vectors.json"));
    Any v;
    EXPECT_TRUE(parse_json(as_chars(raw), v, 64));
    return v;
  }();
  return root;
}

const Any* find_vector(const std::string& name) {
  for (const Any& v : vectors_json().get("vectors")->array) {
    if (v.get("name")->str == name) return &v;
  }
  return nullptr;
}

std::string hex_text(const Any& output) {
  std::string h = output.get("hex")->str;
  std::erase(h, ' ');
  return h;
}

Bytes hex_bytes(const Any& output) {
  Bytes b;
  EXPECT_TRUE(from_hex(hex_text(output), b));
  return b;
}

std::string json(const Any& v) {
  std::string s;
  stringify_json(v, s);
  return s;
}

Any array_of(const std::vector<Any>& values) {
  Any a = Any::make(Any::Kind::kArray);
  a.array = values;
  return a;
}

// Our block, in the shape of gen.mjs's summarize(): compared as JSON text.
Any summarize(const Block& b) {
  Any s = Any::make(Any::Kind::kObject);
  auto put = [&](const char* key, Any v) { s.object.emplace_back(key, std::move(v)); };
  auto id = [](Id v) {
    Any o = Any::make(Any::Kind::kObject);
    o.object.emplace_back("client", Any::from_number(static_cast<double>(v.client)));
    o.object.emplace_back("clock", Any::from_number(static_cast<double>(v.clock)));
    return o;
  };
  put("kind", Any::from_string(b.kind == BlockKind::kGc ? "GC" : b.kind == BlockKind::kSkip ? "Skip" : "Item"));
  put("client", Any::from_number(static_cast<double>(b.id.client)));
  put("clock", Any::from_number(static_cast<double>(b.id.clock)));
  put("length", Any::from_number(static_cast<double>(b.length)));
  if (b.kind != BlockKind::kItem) return s;
  put("origin", b.has_origin ? id(b.origin) : Any::null());
  put("rightOrigin", b.has_right_origin ? id(b.right_origin) : Any::null());
  if (b.parent_kind == ParentKind::kRoot) {
    Any p = Any::make(Any::Kind::kObject);
    p.object.emplace_back("yKey", Any::from_string(std::string(b.parent_name)));
    put("parent", p);
  } else if (b.parent_kind == ParentKind::kId) {
    Any p = Any::make(Any::Kind::kObject);
    p.object.emplace_back("id", id(b.parent_id));
    put("parent", p);
  } else {
    put("parent", Any::null());
  }
  put("parentSub", b.has_parent_sub ? Any::from_string(std::string(b.parent_sub)) : Any::null());
  put("content", Any::from_string(kContentClass[static_cast<int>(b.ref)]));
  switch (b.ref) {
    case ContentRef::kString:
      put("str", Any::from_string(std::string(b.text)));
      break;
    case ContentRef::kAny:
    case ContentRef::kJson:
      put("arr", array_of(b.values));
      break;
    case ContentRef::kFormat:
      put("key", Any::from_string(std::string(b.text)));
      put("value", b.values[0]);
      break;
    case ContentRef::kEmbed:
      put("embed", b.values[0]);
      break;
    case ContentRef::kDeleted:
      put("len", Any::from_number(static_cast<double>(b.length)));
      break;
    case ContentRef::kBinary:
      put("bin", Any::from_string(to_hex(as_bytes(b.text))));
      break;
    case ContentRef::kType:
      put("type", Any::from_string(kTypeClass[b.type_ref]));
      if (b.type_ref == 3) put("nodeName", Any::from_string(std::string(b.text)));
      break;
    case ContentRef::kDoc:
      put("guid", Any::from_string(std::string(b.text)));
      put("opts", b.values[0]);
      break;
    case ContentRef::kNone:
      break;
  }
  return s;
}

Any summarize_ds(const DeleteSet& ds) {
  Any out = Any::make(Any::Kind::kArray);
  for (const auto& c : ds.clients()) {
    Any e = Any::make(Any::Kind::kObject);
    e.object.emplace_back("client", Any::from_number(static_cast<double>(c.client)));
    Any ranges = Any::make(Any::Kind::kArray);
    for (const DeleteRange& r : c.ranges) {
      ranges.array.push_back(
          array_of({Any::from_number(static_cast<double>(r.clock)), Any::from_number(static_cast<double>(r.len))}));
    }
    e.object.emplace_back("ranges", ranges);
    out.array.push_back(e);
  }
  return out;
}

TEST(Vectors, EveryUpdateDecodesLikeYjsAndReencodesIdentically) {
  int checked = 0;
  for (const Any& vec : vectors_json().get("vectors")->array) {
    for (const Any& out : vec.get("outputs")->array) {
      const Any* decoded = out.get("decoded");
      if (decoded == nullptr) continue;
      const std::string name = vec.get("name")->str + " / " + out.get("label")->str;
      SCOPED_TRACE(name);
      const UpdateFormat fmt =
          out.get("label")->str.find("v2") != std::string::npos ? UpdateFormat::kV2 : UpdateFormat::kV1;
      const Bytes bytes = hex_bytes(out);
      auto update = decode_update(bytes, fmt);
      ASSERT_TRUE(update.ok()) << update.error().to_string();

      const auto& expected_structs = decoded->get("structs")->array;
      ASSERT_EQ(update->blocks.size(), expected_structs.size());
      for (std::size_t i = 0; i < expected_structs.size(); ++i) {
        EXPECT_EQ(json(summarize(update->blocks[i])), json(expected_structs[i])) << "struct " << i;
      }
      EXPECT_EQ(json(summarize_ds(update->delete_set)), json(*decoded->get("deleteSet")));

      auto again = encode_update(*update, fmt);
      ASSERT_TRUE(again.ok());
      std::string expected = to_hex(bytes);
      if (vec.get("name")->str == "map_set_values") {
        // Yjs's document encoder sets the parentSub bit on a map overwrite (info a8:
        // origin + key), its lazy reader drops it (no key on the wire), so every
        // re-encoding — Yjs's mergeUpdates and convertUpdateFormat included — writes 88.
        const auto at = expected.find("a80200017701");
        ASSERT_NE(at, std::string::npos);
        expected.replace(at, 2, "88");
      }
      EXPECT_EQ(to_hex(*again), expected);
      ++checked;
    }
  }
  EXPECT_GE(checked, 20);
}

TEST(Vectors, StateVectorsFromUpdates) {
  const Any* v = find_vector("text_insert_abc");
  ASSERT_NE(v, nullptr);
  const Bytes update = hex_bytes(v->get("outputs")->array[0]);
  auto sv = state_vector_from_update(update);
  ASSERT_TRUE(sv.ok());
  EXPECT_EQ(to_hex(*sv), v->get("outputs")->array[1].get("hex")->str);

  const Any* empty = find_vector("empty_doc_update");
  const Bytes e = hex_bytes(empty->get("outputs")->array[0]);
  auto esv = state_vector_from_update(e);
  ASSERT_TRUE(esv.ok());
  EXPECT_EQ(to_hex(*esv), empty->get("outputs")->array[0].get("stateVector")->str);
}

TEST(Vectors, MergeWithGapMakesSkipAndStateVectorStopsAtIt) {
  const Any* v = find_vector("merge_with_gap_skip");
  ASSERT_NE(v, nullptr);
  const auto& outs = v->get("outputs")->array;
  const Bytes a = hex_bytes(outs[0]);
  const Bytes c = hex_bytes(outs[1]);
  const std::array<ByteView, 2> inputs = {a, c};
  auto merged = merge_updates(inputs);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(to_hex(*merged), hex_text(outs[2]));
  auto sv = state_vector_from_update(*merged);
  ASSERT_TRUE(sv.ok());
  EXPECT_EQ(to_hex(*sv), hex_text(outs[3]));
  // The diff vector's input is the full document state; rebuild it by merging A, B, C
  // is not possible here (B is not recorded), so check the diff of the merged update
  // against the same state vector slices the same way Yjs does.
  const Bytes full_diff = hex_bytes(outs[4]);
  auto sv4 = decode_update(full_diff);
  ASSERT_TRUE(sv4.ok());
  ASSERT_EQ(sv4->blocks.size(), 1u);
  EXPECT_EQ(sv4->blocks[0].id.clock, 4u);
}

TEST(Vectors, ConcurrentInsertMergeIsOrderIndependent) {
  const Any* v = find_vector("concurrent_insert_same_position");
  ASSERT_NE(v, nullptr);
  const auto& outs = v->get("outputs")->array;
  const Bytes u1 = hex_bytes(outs[0]);
  const Bytes u2 = hex_bytes(outs[1]);
  const std::array<ByteView, 2> fwd = {u1, u2};
  const std::array<ByteView, 2> rev = {u2, u1};
  auto m1 = merge_updates(fwd);
  auto m2 = merge_updates(rev);
  ASSERT_TRUE(m1.ok());
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(to_hex(*m1), hex_text(outs[2]));
  EXPECT_EQ(to_hex(*m2), hex_text(outs[2]));
}

TEST(Vectors, V1AndV2ConvertIntoEachOther) {
  const Any* v = find_vector("v2_text_with_deletes");
  ASSERT_NE(v, nullptr);
  const auto& outs = v->get("outputs")->array;
  const Bytes v1 = hex_bytes(outs[0]);
  const Bytes v2 = hex_bytes(outs[1]);
  auto to2 = convert_update(v1, UpdateFormat::kV1, UpdateFormat::kV2);
  ASSERT_TRUE(to2.ok());
  EXPECT_EQ(to_hex(*to2), to_hex(v2));
  auto to1 = convert_update(v2, UpdateFormat::kV2, UpdateFormat::kV1);
  ASSERT_TRUE(to1.ok());
  EXPECT_EQ(to_hex(*to1), to_hex(v1));
}

TEST(Vectors, Lib0Primitives) {
  const Any* v = find_vector("lib0_primitives");
  ASSERT_NE(v, nullptr);
  const auto& outs = v->get("outputs")->array;
  Writer w;
  for (std::uint64_t n : {0ull, 1ull, 127ull, 128ull, 300ull, 1ull << 32, (1ull << 53) - 1}) w.write_var_uint(n);
  EXPECT_EQ(to_hex(w.take()), hex_text(outs[0]));
  w.write_var_int(false, 0);
  w.write_var_int(true, 0);
  for (std::int64_t n : {1, -1, 63, 64, -64, -100}) w.write_var_int(n);
  EXPECT_EQ(to_hex(w.take()), hex_text(outs[1]));
  for (const char* s : {"", "\xC3\xA9", "\xF0\x9F\x98\x80"}) w.write_var_string(s);
  EXPECT_EQ(to_hex(w.take()), hex_text(outs[2]));
  for (const Any& a : {Any::undefined(), Any::null(), Any::from_bool(true), Any::from_bool(false)}) write_any(w, a);
  EXPECT_EQ(to_hex(w.take()), hex_text(outs[3]));
  for (double d : {42.0, -42.0, 2147483647.0, 2147483648.0, 0.5, 0.1, -0.0}) write_any(w, Any::from_number(d));
  EXPECT_EQ(to_hex(w.take()), hex_text(outs[4]));
  Any big = Any::make(Any::Kind::kBigInt);
  big.bigint = 10;
  write_any(w, big);
  EXPECT_EQ(to_hex(w.take()), hex_text(outs[5]));
  Any arr = array_of({Any::from_number(1), Any::from_string("a")});
  Any obj = Any::make(Any::Kind::kObject);
  obj.object.emplace_back("k", Any::null());
  Any bytes = Any::make(Any::Kind::kBytes);
  bytes.str = "\x09";
  for (const Any& a : {Any::from_string("hi"), arr, obj, bytes}) write_any(w, a);
  EXPECT_EQ(to_hex(w.take()), hex_text(outs[6]));
}

}  // namespace
}  // namespace quire::crdt
