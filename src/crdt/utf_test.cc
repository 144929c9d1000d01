#include "crdt/utf.h"

#include <gtest/gtest.h>

namespace quire::crdt {
namespace {

TEST(Utf, Utf16LengthCountsSurrogatePairsTwice) {
  EXPECT_EQ(utf16_length("abc"), 3u);
  EXPECT_EQ(utf16_length("a\xF0\x9F\x98\x80"
                         "b"),
            4u);  // "a😀b"
  EXPECT_EQ(utf16_length("\xC3\xA9"), 1u);
  EXPECT_EQ(utf16_length("\xED\xA0\x80"), 1u);  // lone surrogate
}

TEST(Utf, OffsetInsidePairIsReported) {
  const std::string s =
      "a\xF0\x9F\x98\x80"
      "b";
  bool inside = false;
  EXPECT_EQ(utf16_to_byte_offset(s, 1, inside), 1u);
  EXPECT_FALSE(inside);
  EXPECT_EQ(utf16_to_byte_offset(s, 2, inside), 1u);
  EXPECT_TRUE(inside);
  EXPECT_EQ(utf16_to_byte_offset(s, 3, inside), 5u);
  EXPECT_FALSE(inside);
}

TEST(Utf, Validation) {
  EXPECT_TRUE(is_valid_utf8("plain ascii text that is long enough for the fast path"));
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\x80"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xC3"));              // truncated
}

TEST(Utf, WtfToUtf8JoinsPairsAndReplacesLoneSurrogates) {
  std::string out;
  append_utf8_from_wtf8(out, "\xED\xA0\xBD\xED\xB8\x80");  // U+D83D U+DE00 → 😀
  EXPECT_EQ(out, "\xF0\x9F\x98\x80");
  out.clear();
  append_utf8_from_wtf8(out, "x\xED\xB8\x80y");
  EXPECT_EQ(out, "x\xEF\xBF\xBDy");
}

}  // namespace
}  // namespace quire::crdt
