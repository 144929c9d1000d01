// ServerConfig: everything `quire serve` can be told, with ARCHITECTURE §5's
// defaults. Filled by app/ from flags, environment and an optional file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "room/room.h"

namespace quire::server {

struct ServerConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string data_dir = "data";
  std::string static_dir;                    // empty: no static files
  std::vector<std::string> allowed_origins;  // empty: same origin as the Host header
  unsigned threads = 0;                      // 0: one per core
  bool hsts = false;                         // behind TLS: send Strict-Transport-Security
  // Reached only through a TLS-terminating proxy: every request but the health
  // routes must carry X-Forwarded-Proto: https, and the client address is the
  // last X-Forwarded-For entry (the one the proxy added).
  bool behind_tls_proxy = false;

  // Limits (ARCHITECTURE §5).
  std::size_t max_message_bytes = 1u << 20;
  std::size_t max_preauth_bytes = 16u << 10;
  std::size_t send_queue_bytes = 8u << 20;
  std::size_t max_store_backlog_bytes = 8u << 20;  // appends waiting for commit before reads pause
  // Group commit under load: a commit following the previous one within this
  // window waits up to it for more appends (one fsync for many). 0: never waits.
  std::int64_t commit_window_us = 1000;
  double rate_messages_per_second = 20;
  double rate_burst = 100;
  double awareness_per_second = 10;
  std::int64_t auth_timeout_ms = 5000;
  std::int64_t recheck_ms = 5000;  // how often an open socket's session and roles are checked again
  std::int64_t ping_interval_ms = 25000;
  std::int64_t idle_timeout_ms = 60000;
  std::int64_t unload_after_ms = 30000;
  std::int64_t awareness_flush_ms = 20;
  std::size_t max_documents_per_connection = 64;
  room::RoomLimits room;

  // Cluster (ARCHITECTURE §2.3): set when other nodes share the store and the
  // bus. Rooms then relay updates and awareness through the bus, catch up from
  // the log on a gap, and compact only what they have seen.
  bool clustered = false;
  // How far back a room that opens reads its document's stream, so updates
  // published while it loaded (not yet committed) are not missed.
  std::int64_t catch_up_window_ms = 30000;
};

}  // namespace quire::server
