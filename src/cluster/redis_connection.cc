// RedisConnection (redis_connection.h).
#include "cluster/redis_connection.h"

#include <sys/socket.h>
#include <sys/time.h>

namespace quire::cluster {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

}  // namespace

std::string_view reply_text(const redisReply* reply) {
  switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return {reply->str, reply->len};
    default:
      return {};
  }
}

std::optional<redis_format::Fields> reply_fields(const redisReply* reply) {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) return std::nullopt;
  redis_format::Fields fields;
  fields.reserve(reply->elements / 2);
  for (std::size_t i = 0; i < reply->elements; i += 2) {
    const redisReply* name = reply->element[i];
    const redisReply* value = reply->element[i + 1];
    if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING) return std::nullopt;
    fields.emplace_back(reply_text(name), reply_text(value));
  }
  return fields;
}

Status RedisConnection::connect(const RedisConfig& config, std::chrono::milliseconds read_timeout,
                                const std::string& client_name) {
  close();
  {
    std::lock_guard lock(fd_mu_);
    if (interrupted_) return cluster_error(kConnect, "stopping");
  }
  redisContext* ctx = redisConnectWithTimeout(config.host.c_str(), config.port, to_timeval(config.connect_timeout));
  if (ctx == nullptr) return cluster_error(kConnect, "out of memory");
  if (ctx->err != 0) {
    Error error = cluster_error(kConnect, ctx->errstr);
    redisFree(ctx);
    return error;
  }
  redisSetTimeout(ctx, to_timeval(read_timeout));
  redisEnableKeepAlive(ctx);
  {
    std::lock_guard lock(fd_mu_);
    if (interrupted_) {
      redisFree(ctx);
      return cluster_error(kConnect, "stopping");
    }
    ctx_ = ctx;
    fd_ = ctx->fd;
  }

  std::vector<std::vector<std::string_view>> setup;
  if (!config.password.empty()) {
    if (config.username.empty()) {
      setup.push_back({"AUTH", config.password});
    } else {
      setup.push_back({"AUTH", config.username, config.password});
    }
  }
  const std::string db = std::to_string(config.db);
  if (config.db != 0) setup.push_back({"SELECT", db});
  for (const auto& args : setup) {
    auto reply = command(args);
    if (!reply) return reply.error();
    if (is_error(reply->get())) {
      Error error = cluster_error(kConnect, std::string(args[0]) + ": " + std::string(reply_text(reply->get())));
      close();
      return error;
    }
  }
  // A name only helps operators (CLIENT LIST); Redis refuses spaces, so a
  // refusal is not a reason to give up the connection.
  auto named = command({"CLIENT", "SETNAME", client_name});
  if (!named) return named.error();
  return {};
}

void RedisConnection::close() {
  if (ctx_ == nullptr) return;
  {
    std::lock_guard lock(fd_mu_);
    fd_ = -1;
  }
  redisFree(ctx_);
  ctx_ = nullptr;
}

void RedisConnection::interrupt() {
  std::lock_guard lock(fd_mu_);
  interrupted_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

Error RedisConnection::broken(std::string_view what) {
  Error error = cluster_error(kConnect, std::string(what) + ": " + (ctx_ && ctx_->err ? ctx_->errstr : "closed"));
  close();
  return error;
}

void RedisConnection::append(const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string_view arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lengths.data());
}

Result<Reply> RedisConnection::read_reply() {
  if (ctx_ == nullptr) return cluster_error(kConnect, "not connected");
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return broken("read");
  return Reply(static_cast<redisReply*>(raw));
}

Result<Reply> RedisConnection::command(const std::vector<std::string_view>& args) {
  if (ctx_ == nullptr) return cluster_error(kConnect, "not connected");
  append(args);
  return read_reply();
}

Status RedisConnection::flush() {
  if (ctx_ == nullptr) return cluster_error(kConnect, "not connected");
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) return broken("write");
  }
  return {};
}

Status RedisConnection::read_available() {
  if (ctx_ == nullptr) return cluster_error(kConnect, "not connected");
  if (redisBufferRead(ctx_) != REDIS_OK) return broken("read");
  return {};
}

Result<Reply> RedisConnection::next_buffered() {
  if (ctx_ == nullptr) return cluster_error(kConnect, "not connected");
  void* raw = nullptr;
  if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK) return broken("protocol");
  return Reply(static_cast<redisReply*>(raw));
}

}  // namespace quire::cluster
