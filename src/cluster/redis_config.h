// RedisBus settings and the `redis://` URL that gives the connection part.
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"

namespace quire::cluster {

struct RedisConfig {
  // Connection (parse_redis_url fills these).
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string username;  // Redis 6 ACL user; "" = the default user
  std::string password;  // "" = no AUTH

  std::string node_id;                  // "" = make_node_id()
  std::string key_prefix = "quire:";    // every key and channel starts with it
  std::size_t maxlen = 10000;           // XADD MAXLEN ~ per document stream
  std::size_t queue_entries = 10000;    // publishes waiting for the writer, then dropped
  std::size_t queue_bytes = 64u << 20;  // payload bytes waiting for the writer, then dropped
  std::size_t read_count = 512;         // XREAD COUNT per stream and round

  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{2000};  // a reply slower than this breaks the connection
  std::chrono::milliseconds block{5000};            // XREAD BLOCK: how often an idle reader proves the link alive
  std::chrono::milliseconds ping_interval{5000};    // pub/sub: PING after this much silence, drop after twice
  std::chrono::milliseconds backoff_min{50};        // reconnect delay, doubling up to backoff_max, with jitter
  std::chrono::milliseconds backoff_max{2000};
};

// `redis://[[user]:password@]host[:port][/db]`; user and password may be
// percent-encoded, an IPv6 host is in brackets. Only the connection fields of
// `base` change. TLS (`rediss://`) and Unix sockets are not supported.
Result<RedisConfig> parse_redis_url(std::string_view url, RedisConfig base = {});

}  // namespace quire::cluster
