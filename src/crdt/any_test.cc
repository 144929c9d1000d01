#include "crdt/any.h"

#include <gtest/gtest.h>

#include <cmath>

namespace quire::crdt {
namespace {

std::string roundtrip_json(std::string_view text) {
  Any v;
  if (!parse_json(text, v, 64)) return "<parse error>";
  std::string out;
  if (!stringify_json(v, out)) return "<stringify error>";
  return out;
}

TEST(Json, ReformatsAsJavaScriptDoes) {
  EXPECT_EQ(roundtrip_json(" { \"a\" : 1.50 , \"b\":[1e2, -0, true,null] } "), R"({"a":1.5,"b":[100,0,true,null]})");
  EXPECT_EQ(roundtrip_json(R"({"b":1,"10":2,"2":3,"a":4,"01":5,"4294967295":6})"),
            R"({"2":3,"10":2,"b":1,"a":4,"01":5,"4294967295":6})");
  EXPECT_EQ(roundtrip_json(R"({"a":1,"b":2,"a":3})"), R"({"a":3,"b":2})");
  EXPECT_EQ(roundtrip_json(R"("\u0041\/\ud83d\ude00\ud800")"), "\"A/\xF0\x9F\x98\x80\\ud800\"");
  EXPECT_EQ(roundtrip_json("1e400"), "null");
  EXPECT_EQ(roundtrip_json("123456789012345678901234"), "1.2345678901234569e+23");
  EXPECT_EQ(roundtrip_json("\"\\u0001\\n\""), "\"\\u0001\\n\"");
}

TEST(Json, RejectsInvalidText) {
  Any v;
  for (const char* bad : {"", "{", "[1,]", "01", "1.", "'a'", "{\"a\" 1}", "\"\x01\"", "tru", "1 2", "undefined"}) {
    EXPECT_FALSE(parse_json(bad, v, 64)) << bad;
  }
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_FALSE(parse_json(deep, v, 64));
}

TEST(Json, NumbersPrintLikeJavaScript) {
  EXPECT_EQ(js_number_to_string(0.1), "0.1");
  EXPECT_EQ(js_number_to_string(1e21), "1e+21");
  EXPECT_EQ(js_number_to_string(1e20), "100000000000000000000");
  EXPECT_EQ(js_number_to_string(1.5e-7), "1.5e-7");
  EXPECT_EQ(js_number_to_string(0.000001), "0.000001");
  EXPECT_EQ(js_number_to_string(-123.456), "-123.456");
  EXPECT_EQ(js_number_to_string(-0.0), "0");
  EXPECT_EQ(js_number_to_string(NAN), "NaN");
}

TEST(Json, StringifyRefusesWhatJavaScriptRefuses) {
  std::string out;
  Any big = Any::make(Any::Kind::kBigInt);
  EXPECT_FALSE(stringify_json(big, out));
  EXPECT_FALSE(stringify_json(Any::undefined(), out));
  Any arr = Any::make(Any::Kind::kArray);
  arr.array = {Any::undefined(), Any::from_number(NAN)};
  out.clear();
  ASSERT_TRUE(stringify_json(arr, out));
  EXPECT_EQ(out, "[null,null]");
  Any bytes = Any::make(Any::Kind::kBytes);
  bytes.str = std::string("\x01\x02", 2);
  out.clear();
  ASSERT_TRUE(stringify_json(bytes, out));
  EXPECT_EQ(out, R"({"0":1,"1":2})");
}

TEST(AnyCodec, NumbersPickTheSmallestLib0Form) {
  auto enc = [](double d) {
    Writer w;
    write_any(w, Any::from_number(d));
    return to_hex(w.bytes());
  };
  EXPECT_EQ(enc(42), "7d2a");
  EXPECT_EQ(enc(-0.0), "7d40");
  EXPECT_EQ(enc(2147483648.0), "7c4f000000");
  EXPECT_EQ(enc(0.1), "7b3fb999999999999a");
  EXPECT_EQ(enc(INFINITY), "7c7f800000");
  EXPECT_EQ(enc(NAN), "7b7ff8000000000000");
}

TEST(AnyCodec, ReadReordersKeysAndDropsProto) {
  // {"b":1,"1":2,"__proto__":3} as a lib0 object.
  const Bytes b = {0x76, 0x03, 0x01, 'b', 0x7d, 0x01, 0x01, '1', 0x7d, 0x02, 0x09,
                   '_',  '_',  'p',  'r', 'o',  't',  'o',  '_', '_',  0x7d, 0x03};
  Reader r(b);
  Any v;
  ASSERT_TRUE(read_any(r, v, 64));
  ASSERT_EQ(v.object.size(), 2u);
  EXPECT_EQ(v.object[0].first, "1");
  EXPECT_EQ(v.object[1].first, "b");
}

TEST(AnyCodec, HostileInputFails) {
  for (const Bytes& bad : {Bytes{0x00}, Bytes{0x75, 0xff, 0xff, 0x03}, Bytes{0x7c, 0x00}, Bytes{0x77, 0x05, 'a'},
                           Bytes{0x76, 0x01, 0x01, 'a'}}) {
    Reader r(bad);
    Any v;
    EXPECT_FALSE(read_any(r, v, 64));
  }
  Bytes nested(200, 0x75);  // arrays of arrays …
  for (std::size_t i = 0; i < nested.size(); i += 2) nested[i + 1] = 0x01;
  Reader r(nested);
  Any v;
  EXPECT_FALSE(read_any(r, v, 64));
}

}  // namespace
}  // namespace quire::crdt
