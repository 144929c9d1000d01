// One hiredis connection (synchronous API) with timeouts, AUTH and SELECT,
// for RedisBus's threads: plain request/reply, pipelining, and the pieces of a
// poll() loop for pub/sub.
//
// Thread-safety: owned and used by one thread; only interrupt() may be called
// from another (it shuts the socket down so a blocked call returns, and keeps
// later connects from succeeding — it is for stopping).
// Limitations: TCP only; a broken connection is closed and must be reconnected.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "cluster/redis_config.h"
#include "cluster/redis_format.h"

namespace quire::cluster {

struct ReplyFree {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// The text of a string, status or error reply; "" for other types.
std::string_view reply_text(const redisReply* reply);
[[nodiscard]] inline bool is_error(const redisReply* reply) {
  return reply->type == REDIS_REPLY_ERROR;
}
// An array of alternating names and values (HGETALL, a stream entry's
// fields); nullopt if `reply` is not one.
std::optional<redis_format::Fields> reply_fields(const redisReply* reply);

class RedisConnection {
 public:
  RedisConnection() = default;
  ~RedisConnection() { close(); }
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects, authenticates, selects the database and names the client
  // (CLIENT SETNAME, shown by CLIENT LIST). `read_timeout` bounds every wait
  // for a reply afterwards.
  Status connect(const RedisConfig& config, std::chrono::milliseconds read_timeout, const std::string& client_name);
  void close();
  [[nodiscard]] bool connected() const { return ctx_ != nullptr; }

  // One command and its reply. An error reply is a reply (is_error); an Error
  // result means the connection broke and is now closed.
  Result<Reply> command(const std::vector<std::string_view>& args);
  // Pipelining: append commands, then read their replies in order.
  void append(const std::vector<std::string_view>& args);
  Result<Reply> read_reply();

  // For a poll() loop: the socket, writing what append() buffered, reading
  // what has arrived (only when poll() says readable), and taking a complete
  // reply from it (nullptr when none is complete yet).
  [[nodiscard]] int fd() const { return ctx_ ? ctx_->fd : -1; }
  Status flush();
  Status read_available();
  Result<Reply> next_buffered();

  void interrupt();

 private:
  Error broken(std::string_view what);

  redisContext* ctx_ = nullptr;
  std::mutex fd_mu_;  // fd_ and interrupted_, shared with interrupt()
  int fd_ = -1;
  bool interrupted_ = false;
};

}  // namespace quire::cluster
