#include "crdt/lib0.h"

#include <gtest/gtest.h>

namespace quire::crdt {
namespace {

TEST(Lib0, VarUintRoundTripsAndRejectsOverflow) {
  for (std::uint64_t n : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{127}, std::uint64_t{128},
                          std::uint64_t{300}, std::uint64_t{1} << 32, kMaxSafeInteger}) {
    Writer w;
    w.write_var_uint(n);
    Reader r(w.bytes());
    EXPECT_EQ(r.read_var_uint(), n);
    EXPECT_FALSE(r.failed());
    EXPECT_TRUE(r.empty());
  }
  const Bytes too_big = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};  // 2^56-1
  Reader r(too_big);
  r.read_var_uint();
  EXPECT_TRUE(r.failed());
  const Bytes nine = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  Reader r9(nine);
  r9.read_var_uint();
  EXPECT_TRUE(r9.failed());
}

TEST(Lib0, TruncationIsStickyAndReadsNothing) {
  const Bytes b = {0x80};
  Reader r(b);
  EXPECT_EQ(r.read_var_uint(), 0u);
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.read_u8(), 0);
  EXPECT_TRUE(r.read_var_bytes().empty());
}

TEST(Lib0, VarIntKeepsNegativeZero) {
  Writer w;
  w.write_var_int(true, 0);
  EXPECT_EQ(w.bytes(), Bytes{0x40});
  Reader r(w.bytes());
  const VarInt v = r.read_var_int();
  EXPECT_TRUE(v.negative);
  EXPECT_EQ(v.magnitude, 0u);
  Writer w2;
  w2.write_var_int(-100);
  EXPECT_EQ(w2.bytes(), (Bytes{0xe4, 0x01}));
}

TEST(Lib0, VarStringRejectsInvalidUtf8) {
  for (const Bytes& bad :
       {Bytes{0x01, 0xff}, Bytes{0x02, 0xc0, 0x80}, Bytes{0x03, 0xed, 0xa0, 0x80}, Bytes{0x05, 0x61}}) {
    Reader r(bad);
    r.read_var_string();
    EXPECT_TRUE(r.failed());
  }
  const Bytes bom = {0x03, 0xef, 0xbb, 0xbf};
  Reader r(bom);
  EXPECT_EQ(r.read_var_string(), "\xef\xbb\xbf");  // a leading BOM is kept
}

TEST(Lib0, LoneSurrogatesAreWrittenAsReplacementCharacters) {
  Writer w;
  w.write_var_string("a\xED\xA0\x80");  // 'a' + lone U+D800 (WTF-8)
  EXPECT_EQ(w.bytes(), (Bytes{0x04, 0x61, 0xef, 0xbf, 0xbd}));
}

TEST(Lib0, FloatsAreBigEndian) {
  Writer w;
  w.write_f32(0.5f);
  w.write_f64(0.1);
  EXPECT_EQ(w.bytes(), (Bytes{0x3f, 0x00, 0x00, 0x00, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a}));
  Reader r(w.bytes());
  EXPECT_EQ(r.read_f32(), 0.5);
  EXPECT_EQ(r.read_f64(), 0.1);
}

}  // namespace
}  // namespace quire::crdt
