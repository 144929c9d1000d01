#include "crdt/update.h"

#include <gtest/gtest.h>

#include <array>
#include <random>

#include "crdt/framing.h"
#include "crdt/test_support.h"

namespace quire::crdt {
namespace {

using testing::hex;

// "abc" inserted by client 1 into root text "t".
const Bytes kAbc = hex("01010100040101740361626300");
// "ab" / "ef" by client 9 (clocks 0-1 and 4-5) from the merge_with_gap_skip vector.
const Bytes kAb = hex("010109000401017402616200");

TEST(Update, DiffSlicesTheFirstStructAtTheStateVector) {
  const Bytes sv = hex("010102");  // {1: 2}
  auto d = diff_update(kAbc, sv);
  ASSERT_TRUE(d.ok());
  // One struct from clock 2: origin (1,1), "c".
  EXPECT_EQ(to_hex(*d), "01010102840101016300");
}

TEST(Update, DiffInsideASurrogatePairWritesAReplacementCharacter) {
  // "a😀b" by client 5 in root "t"; the receiver has the first two units.
  const Bytes u = hex("01010500040101740661f09f98806200");
  auto d = diff_update(u, hex("010502"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(to_hex(*d),
            "01010502840501"
            "04efbfbd62"
            "00");
}

TEST(Update, MergeOfNothingIsTheEmptyUpdate) {
  auto m = merge_updates({});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(to_hex(*m), "0000");
}

TEST(Update, SingleInputIsReturnedUnchangedButChecked) {
  const std::array<ByteView, 1> one = {kAbc};
  auto m = merge_updates(one);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, kAbc);
  const Bytes broken(kAbc.begin(), kAbc.end() - 3);
  const std::array<ByteView, 1> bad = {broken};
  EXPECT_FALSE(merge_updates(bad).ok());
}

TEST(Update, MergeIsIdempotentOnDuplicates) {
  const std::array<ByteView, 3> same = {kAbc, kAbc, kAb};
  const std::array<ByteView, 2> once = {kAbc, kAb};
  auto a = merge_updates(same);
  auto b = merge_updates(once);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
}

TEST(Update, StateVectorStopsAtAGap) {
  auto sv = state_vector_from_update(hex("01030900040101740261620a0284090302656600"));
  ASSERT_TRUE(sv.ok());
  EXPECT_EQ(to_hex(*sv), "010902");
}

TEST(Update, ConvertRoundTrips) {
  auto v2 = convert_update(kAbc, UpdateFormat::kV1, UpdateFormat::kV2);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(to_hex(*v2), "000001010000010407047461626301030101000001010000");
  auto v1 = convert_update(*v2, UpdateFormat::kV2, UpdateFormat::kV1);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(*v1, kAbc);
}

TEST(Update, ZeroLengthDeleteRangeCannotBeWrittenAsV2) {
  const Bytes ds_zero = hex("000101010200");  // DS: client 1, range (2, 0)
  EXPECT_TRUE(convert_update(ds_zero, UpdateFormat::kV1, UpdateFormat::kV1).ok());
  auto v2 = convert_update(ds_zero, UpdateFormat::kV1, UpdateFormat::kV2);
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.error().code, static_cast<int>(CrdtErrc::kUnencodable));
}

// Every prefix and every single-byte corruption of real updates either decodes or
// fails cleanly; nothing crashes, reads out of bounds (ASan build) or hangs.
TEST(Hostile, TruncatedAndCorruptedUpdatesFailCleanly) {
  const Bytes trace = testing::read_file(testing::shared_path("traces/yjs/node_nodecc.updates.bin"));
  auto frames = split_frames(trace);
  ASSERT_TRUE(frames.ok());
  std::mt19937 rng(7);
  int rejected = 0;
  for (std::size_t f = 0; f < frames->size(); f += 97) {
    const ByteView u = (*frames)[f];
    for (std::size_t cut = 0; cut < u.size(); cut += 1 + u.size() / 50) {
      const Bytes prefix(u.begin(), u.begin() + static_cast<std::ptrdiff_t>(cut));
      if (!decode_update(prefix).ok()) ++rejected;
      (void)state_vector_from_update(prefix);
      (void)convert_update(prefix, UpdateFormat::kV1, UpdateFormat::kV2);
      (void)decode_update(prefix, UpdateFormat::kV2);
    }
    for (int k = 0; k < 30; ++k) {
      Bytes bad(u.begin(), u.end());
      bad[rng() % bad.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
      const std::array<ByteView, 2> pair = {bad, u};
      (void)merge_updates(pair);
      (void)diff_update(bad, hex("00"));
      (void)convert_update(bad, UpdateFormat::kV2, UpdateFormat::kV1);
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST(Hostile, V2RunLengthCannotInflatePastTheStructLimit) {
  // A v2 update whose single group claims 2^40 GC structs: the info and len
  // columns repeat forever, so only the limit stops it.
  Bytes u = {0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01};
  u.push_back(0x01);                                                                    // rest: 1 group
  for (Bytes enc = {0x80, 0x80, 0x80, 0x80, 0x80, 0x20}; auto b : enc) u.push_back(b);  // 2^40 structs
  u.push_back(0x00);                                                                    // first clock
  auto d = decode_update(u, UpdateFormat::kV2, Limits{.max_structs = 1000, .max_depth = 64});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().domain, kCrdtDomain);
}

TEST(Hostile, CountsLargerThanTheInputAreRefused) {
  EXPECT_FALSE(decode_update(hex("01ffffffff0f0100")).ok());            // 2^32 structs in a few bytes
  EXPECT_FALSE(decode_update(hex("0001ffffffff0f")).ok());              // delete set client count
  EXPECT_FALSE(decode_update(hex("0101010008010174ffffff0f00")).ok());  // ContentAny element count
  EXPECT_FALSE(decode_update(hex("01010100000000")).ok());              // zero-length GC
  EXPECT_FALSE(decode_update(hex("0101010015")).ok());                  // content ref 21
  // Two groups of client 1 (Yjs writers never do this; readers disagree on it).
  EXPECT_FALSE(decode_update(hex("02"
                                 "010100040101740161"
                                 "010105040101740162"
                                 "00"))
                   .ok());
  // An item whose origin is its own client's future.
  EXPECT_FALSE(decode_update(hex("0101010084010501610"
                                 "0"))
                   .ok());
}

}  // namespace
}  // namespace quire::crdt

namespace quire::crdt {
namespace {

TEST(DeleteSets, DecodeEncodeAndNormalise) {
  // v1: client 5 with ranges (4,2) (1,1) (2,2); client 9 with (0,1).
  const Bytes v1 = hex("02050304020101020209010001");
  auto ds = decode_delete_set(v1);
  ASSERT_TRUE(ds.ok());
  ASSERT_EQ(ds->clients().size(), 2u);
  // Written clients descending, ranges as given.
  auto again = encode_delete_set(*ds);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(to_hex(*again), "02090100010503040201010202");
  // Unsorted ranges cannot be delta-coded as v2 …
  EXPECT_FALSE(encode_delete_set(*ds, UpdateFormat::kV2).ok());
  // … normalised they can: (1,1)+(2,2)+(4,2) touch and coalesce into (1,5).
  ds->sort_and_merge();
  EXPECT_EQ(ds->clients()[0].ranges, (std::vector<DeleteRange>{{1, 5}}));
  auto v2 = encode_delete_set(*ds, UpdateFormat::kV2);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(to_hex(*v2), "020901000005010104");
  auto back = decode_delete_set(*v2, UpdateFormat::kV2);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(to_hex(*encode_delete_set(*back)), "020901000105010105");
  EXPECT_FALSE(decode_delete_set(hex("0205")).ok());
}

TEST(StateVectors, DecodeMergeEncode) {
  auto a = decode_state_vector(hex("020103ff0105"));  // {1:3, 255:5}
  auto b = decode_state_vector(hex("0201070901"));    // {1:7, 9:1}
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  a->merge(*b);
  EXPECT_EQ(to_hex(encode_state_vector(*a)), "03ff010509010107");
  EXPECT_FALSE(decode_state_vector(hex("03ff01")).ok());
}

}  // namespace
}  // namespace quire::crdt
