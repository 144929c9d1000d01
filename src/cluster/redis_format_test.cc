// The Redis URL, key names, frames, stream entries and session hashes, without
// a Redis: everything read back from Redis decodes or fails cleanly.
#include "cluster/redis_format.h"

#include <gtest/gtest.h>

#include "cluster/dispatch.h"
#include "cluster/redis_config.h"

namespace quire::cluster {
namespace {

using detail::StreamId;
namespace fmt = redis_format;

TEST(RedisUrl, ParsesHostPortDatabaseAndCredentials) {
  auto plain = parse_redis_url("redis://cache.internal");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "cache.internal");
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->db, 0);
  EXPECT_EQ(plain->password, "");

  auto full = parse_redis_url("redis://:s%40cret:x@10.0.0.5:7000/3");
  ASSERT_TRUE(full.ok()) << full.error().message;
  EXPECT_EQ(full->host, "10.0.0.5");
  EXPECT_EQ(full->port, 7000);
  EXPECT_EQ(full->db, 3);
  EXPECT_EQ(full->username, "");
  EXPECT_EQ(full->password, "s@cret:x");

  auto acl = parse_redis_url("redis://quire:pw@[::1]:6380/");
  ASSERT_TRUE(acl.ok()) << acl.error().message;
  EXPECT_EQ(acl->host, "::1");
  EXPECT_EQ(acl->port, 6380);
  EXPECT_EQ(acl->username, "quire");
  EXPECT_EQ(acl->password, "pw");
}

TEST(RedisUrl, KeepsTheOtherSettings) {
  RedisConfig base;
  base.key_prefix = "q2:";
  base.maxlen = 5;
  auto parsed = parse_redis_url("redis://h:1", base);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->key_prefix, "q2:");
  EXPECT_EQ(parsed->maxlen, 5u);
}

TEST(RedisUrl, RefusesWhatItCannotUse) {
  for (const char* url :
       {"", "rediss://h", "http://h", "redis://", "redis://h:0", "redis://h:65536", "redis://h:x", "redis://h/x",
        "redis://h/-1", "redis://user@h", "redis://:%zz@h", "redis://:%4@h", "redis://[::1", "redis://[::1]x"}) {
    auto parsed = parse_redis_url(url);
    ASSERT_FALSE(parsed.ok()) << url;
    EXPECT_EQ(parsed.error().code, kBadUrl) << url;
  }
}

TEST(StreamIds, ParseCompareAndFollowRedis) {
  EXPECT_EQ(StreamId::parse("1732612345678-3"), (StreamId{1732612345678, 3}));
  EXPECT_EQ(StreamId::parse("17"), (StreamId{17, 0}));
  EXPECT_EQ(StreamId::parse("0-0"), StreamId{});
  for (const char* bad : {"", "-", "1-", "-1", "a-1", "1-b", "1-2-3", "99999999999999999999-0", " 1"}) {
    EXPECT_FALSE(StreamId::parse(bad)) << bad;
  }
  EXPECT_EQ(StreamId::parse_position("7-0"), (StreamId{7, 0}));         // after that entry
  EXPECT_EQ(StreamId::parse_position("7"), (StreamId{6, UINT64_MAX}));  // millisecond 7 included
  EXPECT_EQ(StreamId::parse_position("0"), StreamId{});
  EXPECT_FALSE(StreamId::parse_position("x"));
  EXPECT_LT((StreamId{1, 9}), (StreamId{2, 0}));
  EXPECT_LT((StreamId{2, 0}), (StreamId{2, 1}));
  EXPECT_EQ((StreamId{5, 2}).str(), "5-2");
  EXPECT_EQ(StreamId::next_after({5, 2}, 9), (StreamId{9, 0}));
  EXPECT_EQ(StreamId::next_after({5, 2}, 5), (StreamId{5, 3}));
  EXPECT_EQ(StreamId::next_after({5, 2}, 3), (StreamId{5, 3}));  // clock went back
}

TEST(RedisFormat, NamesKeepDocumentsNodesAndSessionsApart) {
  EXPECT_EQ(fmt::stream_key("quire:", "doc"), "quire:d:doc:u");
  EXPECT_EQ(fmt::awareness_channel("quire:", "doc"), "quire:d:doc:a");
  EXPECT_EQ(fmt::wake_key("quire:", "n1"), "quire:n:n1:w");
  EXPECT_EQ(fmt::session_key("quire:", "sid"), "quire:s:sid");
  EXPECT_EQ(fmt::revocation_channel("quire:"), "quire:revoke");
  EXPECT_NE(fmt::stream_key("p:", "a:u"), fmt::stream_key("p:", "a"));
}

TEST(RedisFormat, FramesRoundTripAndRefuseDamage) {
  const std::string binary("a\0b:c", 5);
  const std::string frame = fmt::encode_frame({"node-1", binary, ""});
  EXPECT_EQ(frame, std::string("6:node-15:a\0b:c0:", 17));
  auto fields = fmt::decode_frame(frame, 3);
  ASSERT_TRUE(fields.ok());
  EXPECT_EQ((*fields)[0], "node-1");
  EXPECT_EQ((*fields)[1], binary);
  EXPECT_EQ((*fields)[2], "");
  EXPECT_FALSE(fmt::decode_frame(frame, 2).ok());
  for (std::size_t cut = 0; cut < frame.size(); ++cut) {
    EXPECT_FALSE(fmt::decode_frame(frame.substr(0, cut), 3).ok()) << cut;
  }
  for (const char* bad : {"x:ab", ":ab", "99999999999:a", "5:ab", "-1:", "2:ab3"}) {
    EXPECT_FALSE(fmt::decode_frame(bad, 1).ok()) << bad;
  }
  EXPECT_EQ(fmt::encode_revocation("n", {"user", "u:1"}), "1:n4:user3:u:1");
}

TEST(RedisFormat, StreamEntriesNeedEveryField) {
  fmt::Fields fields{{"o", "n1"}, {"k", "1"}, {"v", "5-0"}, {"p", "bytes"}, {"extra", "ignored"}};
  auto decoded = fmt::decode_stream_fields(fields);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->origin, "n1");
  EXPECT_EQ(decoded->kind, Kind::kUpdate);
  EXPECT_EQ(decoded->prev, "5-0");
  EXPECT_EQ(decoded->payload, "bytes");
  for (std::size_t drop = 0; drop < 4; ++drop) {
    fmt::Fields partial = fields;
    partial.erase(partial.begin() + static_cast<long>(drop));
    EXPECT_FALSE(fmt::decode_stream_fields(partial).ok()) << drop;
  }
  fields[1].second = "7";
  EXPECT_FALSE(fmt::decode_stream_fields(fields).ok());
}

TEST(RedisFormat, SessionHashRoundTripsAndRefusesBadFields) {
  const SessionRecord record{"sid", "user", "doc", 18446744073709551615ull, Bytes{0, 1, 2}, Bytes{0}};
  const auto owned = fmt::session_fields(record);
  fmt::Fields fields(owned.begin(), owned.end());
  auto back = fmt::session_from_fields("sid", fields);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, record);
  fields[2].second = "12x";
  EXPECT_FALSE(fmt::session_from_fields("sid", fields).ok());
  fields[2].second = "";
  EXPECT_FALSE(fmt::session_from_fields("sid", fields).ok());
  fields.pop_back();
  EXPECT_FALSE(fmt::session_from_fields("sid", fields).ok());
}

}  // namespace
}  // namespace quire::cluster
