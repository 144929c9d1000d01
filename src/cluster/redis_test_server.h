// A private redis-server for the Redis tests and the benchmark: loopback, a
// free ephemeral port, its own temporary directory, no persistence, small
// stream nodes (so that MAXLEN ~ trims in small steps). It can be killed
// (kill -9), shut down and started again on the same port.
// Thread-safety: owned by one test; command() opens its own connection.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cluster/redis_config.h"
#include "cluster/redis_connection.h"

namespace quire::cluster::testing {

class RedisTestServer {
 public:
  // Picks a port and starts; check ok().
  RedisTestServer() : RedisTestServer(true) {}
  // start = false: only picks the port (nothing listens there until start()).
  explicit RedisTestServer(bool start);
  ~RedisTestServer();  // kill -9, and the directory removed
  RedisTestServer(const RedisTestServer&) = delete;
  RedisTestServer& operator=(const RedisTestServer&) = delete;

  [[nodiscard]] bool ok() const { return pid_ > 0; }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] int port() const { return port_; }
  // A config for this server with the given node id.
  [[nodiscard]] RedisConfig config(std::string node_id) const;

  // Starts redis-server on port() and waits until it answers PING. When the
  // port was taken meanwhile and `may_move`, picks another one.
  bool start(bool may_move = false);
  void kill();       // SIGKILL, and waits for the process
  bool wait_exit();  // after SHUTDOWN: waits (≤ 5 s) for the process to end
  // One command on a fresh connection.
  [[nodiscard]] Result<Reply> command(const std::vector<std::string_view>& args) const;

 private:
  bool spawn();
  bool wait_ready();

  std::string dir_;
  std::string redis_server_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

}  // namespace quire::cluster::testing
