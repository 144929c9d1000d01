#include "base/bytes.h"

#include <gtest/gtest.h>

#include "base/result.h"

namespace quire {
namespace {

TEST(Bytes, HexRoundTrip) {
  const Bytes b = {0x00, 0x0a, 0xff, 0x7f};
  EXPECT_EQ(to_hex(b), "000aff7f");
  Bytes back;
  ASSERT_TRUE(from_hex("000AFF7f", back));
  EXPECT_EQ(back, b);
}

TEST(Bytes, HexRejectsBadInput) {
  Bytes out;
  EXPECT_FALSE(from_hex("abc", out));
  EXPECT_FALSE(from_hex("zz", out));
}

TEST(Result, CarriesValueOrError) {
  Result<int> good = 7;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  Result<int> bad = Error{"test", 3, "broken"};
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 3);
  EXPECT_EQ(bad.error().to_string(), "test: broken");
  Status s;
  EXPECT_TRUE(s.ok());
  Status f = Error{"test", 1, "no"};
  EXPECT_FALSE(f.ok());
}

}  // namespace
}  // namespace quire
