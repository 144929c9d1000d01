// RedisBus (redis_bus.h); key and message formats in redis_format.h.
#include "cluster/redis_bus.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <random>
#include <stdexcept>

#include "base/log.h"
#include "cluster/redis_format.h"

namespace quire::cluster {

using detail::BusThread;
using detail::StreamId;
using detail::Subscription;
namespace fmt = redis_format;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxBatchOps = 256;
constexpr std::size_t kMaxBatchBytes = 8u << 20;

// A write to a socket Redis closed raises SIGPIPE, which would end the
// process; blocked on the bus's threads it only makes the write fail.
void block_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Reconnect delays: doubling from min to max, each with ±25 % jitter so that
// many nodes do not reconnect in step.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
      : min_(std::max<std::chrono::milliseconds>(min, std::chrono::milliseconds(1))),
        max_(std::max(max, min_)),
        next_(min_),
        rng_(std::random_device{}()) {}
  std::chrono::milliseconds next() {
    const auto base = next_;
    next_ = std::min(next_ * 2, max_);
    std::uniform_int_distribution<long long> jitter(base.count() * 3 / 4, base.count() * 5 / 4);
    return std::chrono::milliseconds(jitter(rng_));
  }
  void reset() { next_ = min_; }

 private:
  const std::chrono::milliseconds min_;
  const std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
  std::minstd_rand rng_;
};

// Logs a connection's change of state once per outage, not once per attempt.
void note_down(bool& was_down, std::string_view role, const Error& error) {
  if (!was_down) log::warn("cluster_redis_down", {{"conn", role}, {"error", error.message}});
  was_down = true;
}
void note_up(bool was_down, std::string_view role, detail::Counters& counters) {
  if (!was_down) return;
  counters.reconnects.fetch_add(1, std::memory_order_relaxed);
  log::info("cluster_redis_up", {{"conn", role}});
}

// The id of a stream entry reply [id, [fields...]].
std::optional<StreamId> entry_id(const redisReply* entry) {
  if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 1) return std::nullopt;
  return StreamId::parse(reply_text(entry->element[0]));
}

// The id of the newest entry of a list of entries (XREVRANGE ... COUNT 1
// gives one, XREAD them in ascending order); 0-0 when the list is empty.
std::optional<StreamId> newest_id(const redisReply* entries, bool ascending) {
  if (entries->type != REDIS_REPLY_ARRAY) return std::nullopt;
  if (entries->elements == 0) return StreamId{};
  return entry_id(entries->element[ascending ? entries->elements - 1 : 0]);
}

}  // namespace

struct RedisBus::Sub {
  std::string doc;
  std::string key;      // the document's stream
  std::string channel;  // the document's awareness channel
  std::string from;
  std::shared_ptr<Subscription> subscription;
  // Reader thread only.
  bool resolved = false;
  StreamId last;
  // Pub/sub thread only.
  bool awareness_ready = false;
};

struct RedisBus::Op {
  enum class Type : std::uint8_t { kUpdate, kAwareness, kPutSession, kGetSession, kDeleteSession, kRevocation, kWake };
  Type type = Type::kUpdate;
  std::string target;  // stream key, channel or session key
  std::string body;    // update payload or pub/sub frame
  SessionRecord record;
  std::chrono::seconds ttl{0};
  std::function<void(std::optional<SessionRecord>)> done;
  Revocation revocation;
  bool gap_marker = false;  // kUpdate: an empty update that makes every reader re-read the log

  [[nodiscard]] bool is_publish() const { return type == Type::kUpdate || type == Type::kAwareness; }
  // How many replies append_op's commands get.
  [[nodiscard]] std::size_t replies() const { return type == Type::kPutSession ? 4 : type == Type::kWake ? 2 : 1; }
};

RedisBus::RedisBus(RedisConfig config)
    : config_(std::move(config)),
      node_id_(config_.node_id.empty() ? make_node_id() : config_.node_id),
      wake_key_(fmt::wake_key(config_.key_prefix, node_id_)),
      revocation_channel_(fmt::revocation_channel(config_.key_prefix)) {
  if (config_.maxlen == 0) throw std::invalid_argument("cluster: maxlen must be at least 1");
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw std::runtime_error("cluster: eventfd failed");
}

RedisBus::~RedisBus() {
  stop();
  ::close(wake_fd_);
}

void RedisBus::start() {
  std::lock_guard lock(lifecycle_mu_);
  if (started_ || stopped_) return;
  started_ = true;
  writer_thread_ = std::thread([this] { writer_loop(); });
  reader_thread_ = std::thread([this] { reader_loop(); });
  pubsub_thread_ = std::thread([this] { pubsub_loop(); });
}

void RedisBus::stop() {
  {
    std::lock_guard lock(lifecycle_mu_);
    if (stopped_) return;
    stopped_ = true;
    if (!started_) return;
  }
  stopping_flag_ = true;
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  { std::lock_guard lock(stop_mu_); }
  stop_cv_.notify_all();
  reader_.interrupt();
  wake_pubsub();
  reader_thread_.join();
  pubsub_thread_.join();
  writer_thread_.join();  // after sending what was queued
  writer_up_ = reader_up_ = pubsub_up_ = false;
}

bool RedisBus::connected() const {
  return writer_up_.load() && reader_up_.load() && pubsub_up_.load();
}

std::string RedisBus::client_name(std::string_view role) const {
  return "quire-" + node_id_ + "-" + std::string(role);
}

RedisBus::SubList RedisBus::snapshot() const {
  std::lock_guard lock(subs_mu_);
  SubList subs;
  subs.reserve(subs_.size());
  for (const auto& [id, sub] : subs_) subs.push_back(sub);
  return subs;
}

// --- calls from any thread ---------------------------------------------------

void RedisBus::enqueue(Op op, bool bounded) {
  const std::size_t bytes = op.body.size();
  {
    std::lock_guard lock(queue_mu_);
    if (stopping_) return;
    if (bounded) {
      if (queued_entries_ >= config_.queue_entries || queued_bytes_ + bytes > config_.queue_bytes) {
        counters_->dropped.fetch_add(1, std::memory_order_relaxed);
        if (op.type == Op::Type::kUpdate) note_lost(op.target);
        return;
      }
      ++queued_entries_;
      queued_bytes_ += bytes;
    }
    queue_.push_back(std::move(op));
  }
  queue_cv_.notify_one();
}

void RedisBus::publish(std::string_view doc, Kind kind, Bytes payload) {
  if (writer_down_.load(std::memory_order_relaxed)) {
    counters_->dropped.fetch_add(1, std::memory_order_relaxed);
    if (kind == Kind::kUpdate) note_lost(fmt::stream_key(config_.key_prefix, doc));
    return;
  }
  Op op;
  if (kind == Kind::kUpdate) {
    op.type = Op::Type::kUpdate;
    op.target = fmt::stream_key(config_.key_prefix, doc);
    op.body = std::string(as_chars(payload));
  } else {
    op.type = Op::Type::kAwareness;
    op.target = fmt::awareness_channel(config_.key_prefix, doc);
    op.body = fmt::encode_awareness(node_id_, as_chars(payload));
  }
  enqueue(std::move(op), true);
}

std::uint64_t RedisBus::subscribe(std::string doc, std::string from, Handlers handlers) {
  auto sub = std::make_shared<Sub>();
  sub->key = fmt::stream_key(config_.key_prefix, doc);
  sub->channel = fmt::awareness_channel(config_.key_prefix, doc);
  sub->from = std::move(from);
  sub->subscription = std::make_shared<Subscription>(doc, std::move(handlers), counters_);
  sub->doc = std::move(doc);
  std::uint64_t id = 0;
  {
    std::lock_guard lock(subs_mu_);
    id = next_sub_++;
    subs_.emplace(id, std::move(sub));
  }
  request_wake();
  wake_pubsub();
  return id;
}

void RedisBus::unsubscribe(std::uint64_t subscription) {
  std::shared_ptr<Sub> sub;
  {
    std::lock_guard lock(subs_mu_);
    const auto it = subs_.find(subscription);
    if (it == subs_.end()) return;
    sub = std::move(it->second);
    subs_.erase(it);
  }
  sub->subscription->close(!BusThread::is(this));
  wake_pubsub();
}

void RedisBus::put_session(SessionRecord record, std::chrono::seconds ttl) {
  if (writer_down_.load(std::memory_order_relaxed)) return;
  Op op;
  op.type = Op::Type::kPutSession;
  op.target = fmt::session_key(config_.key_prefix, record.key);
  op.record = std::move(record);
  op.ttl = std::max(ttl, std::chrono::seconds(1));
  enqueue(std::move(op), false);
}

void RedisBus::get_session(std::string key, std::function<void(std::optional<SessionRecord>)> done) {
  Op op;
  op.type = Op::Type::kGetSession;
  op.target = fmt::session_key(config_.key_prefix, key);
  op.record.key = std::move(key);
  op.done = std::move(done);
  enqueue(std::move(op), false);
}

void RedisBus::delete_session(std::string key) {
  if (writer_down_.load(std::memory_order_relaxed)) return;
  Op op;
  op.type = Op::Type::kDeleteSession;
  op.target = fmt::session_key(config_.key_prefix, key);
  enqueue(std::move(op), false);
}

void RedisBus::publish_revocation(Revocation revocation) {
  Op op;
  op.type = Op::Type::kRevocation;
  op.target = revocation_channel_;
  op.body = fmt::encode_revocation(node_id_, revocation);
  op.revocation = std::move(revocation);
  enqueue(std::move(op), false);
}

void RedisBus::on_revocation(std::function<void(const Revocation&)> handler) {
  sink_->set(std::move(handler));
}

void RedisBus::request_wake() {
  {
    std::lock_guard lock(queue_mu_);
    wake_requested_ = true;
  }
  queue_cv_.notify_one();
}

void RedisBus::wake_pubsub() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);  // full counter: already woken
}

// --- writer thread -----------------------------------------------------------

bool RedisBus::connect_writer(bool& was_down) {
  const Status status = writer_.connect(config_, config_.command_timeout, client_name("writer"));
  if (!status) {
    note_down(was_down, "writer", status.error());
    writer_up_ = false;
    writer_down_ = true;
    return false;
  }
  note_up(was_down, "writer", *counters_);
  was_down = false;
  writer_up_ = true;
  writer_down_ = false;
  // Updates dropped while the writer was away are in the database but in no
  // stream: tell every reader of those documents to read the log again.
  std::set<std::string> lost;
  {
    std::lock_guard lock(lost_mu_);
    lost.swap(lost_streams_);
  }
  for (const std::string& stream : lost) {
    Op op;
    op.type = Op::Type::kUpdate;
    op.target = stream;
    op.body = std::string("\0\0", 2);  // an empty Yjs update: applying it changes nothing
    op.gap_marker = true;
    enqueue(std::move(op), true);  // counted like any publish (dropped, it is noted lost again)
  }
  return true;
}

void RedisBus::writer_loop() {
  BusThread marker(this);
  block_sigpipe();
  Backoff backoff(config_.backoff_min, config_.backoff_max);
  bool was_down = false;
  auto next_attempt = Clock::now();
  for (;;) {
    std::vector<Op> batch;
    bool stopping = false;
    {
      std::unique_lock lock(queue_mu_);
      const auto ready = [&] { return stopping_ || !queue_.empty() || wake_requested_; };
      if (writer_.connected()) {
        queue_cv_.wait(lock, ready);
      } else {
        queue_cv_.wait_until(lock, next_attempt, ready);
      }
      stopping = stopping_;
      if (stopping && queue_.empty()) break;
      std::size_t bytes = 0;
      while (!queue_.empty() && batch.size() < kMaxBatchOps && bytes < kMaxBatchBytes) {
        Op& op = queue_.front();
        bytes += op.body.size();
        if (op.is_publish()) {
          --queued_entries_;
          queued_bytes_ -= op.body.size();
        }
        batch.push_back(std::move(op));
        queue_.pop_front();
      }
      if (std::exchange(wake_requested_, false) && !stopping) {
        Op wake;
        wake.type = Op::Type::kWake;
        wake.target = wake_key_;
        batch.push_back(std::move(wake));
      }
    }
    // This node hears its own revocations at once, Redis or not.
    for (const Op& op : batch) {
      if (op.type == Op::Type::kRevocation) sink_->deliver(op.revocation);
    }
    if (!writer_.connected() && !stopping && Clock::now() >= next_attempt) {
      if (connect_writer(was_down)) {
        backoff.reset();
      } else {
        next_attempt = Clock::now() + backoff.next();
      }
    }
    if (writer_.connected()) {
      send_batch(batch, was_down);
      if (!writer_.connected()) next_attempt = Clock::now() + backoff.next();
    } else {
      for (Op& op : batch) fail_op(op);
    }
  }
  writer_.close();
  writer_up_ = false;
}

// Pipelines the batch. A connection that breaks is re-made once at once (a
// CLIENT KILL, a Redis restart already over) and the unanswered rest sent
// again: at least once, which every command here tolerates.
void RedisBus::send_batch(std::vector<Op>& batch, bool& was_down) {
  std::size_t next = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (std::size_t i = next; i < batch.size(); ++i) append_op(batch[i]);
    std::vector<Reply> replies;
    for (; next < batch.size(); ++next) {
      replies.clear();
      const std::size_t wanted = batch[next].replies();
      while (replies.size() < wanted) {
        auto reply = writer_.read_reply();
        if (!reply) break;
        replies.push_back(std::move(*reply));
      }
      if (replies.size() < wanted) break;
      complete_op(batch[next], replies);
    }
    if (next == batch.size()) return;
    writer_up_ = false;
    note_down(was_down, "writer", cluster_error(kConnect, "connection lost"));
    if (attempt == 1 || stopping_flag_ || !connect_writer(was_down)) break;
  }
  for (; next < batch.size(); ++next) fail_op(batch[next]);
}

void RedisBus::append_op(const Op& op) {
  switch (op.type) {
    case Op::Type::kUpdate: {
      constexpr std::string_view kKindUpdate = "1";  // Kind::kUpdate
      const std::string maxlen = std::to_string(config_.maxlen);
      if (op.gap_marker) {
        writer_.append({"EVAL", fmt::kAppendScript, "1", op.target, maxlen, node_id_, kKindUpdate, op.body,
                        "18446744073709551615-18446744073709551615"});
      } else {
        writer_.append({"EVAL", fmt::kAppendScript, "1", op.target, maxlen, node_id_, kKindUpdate, op.body});
      }
      return;
    }
    case Op::Type::kAwareness:
    case Op::Type::kRevocation:
      writer_.append({"PUBLISH", op.target, op.body});
      return;
    case Op::Type::kPutSession: {
      const auto fields = fmt::session_fields(op.record);
      std::vector<std::string_view> hset{"HSET", op.target};
      for (const auto& [name, value] : fields) {
        hset.push_back(name);
        hset.push_back(value);
      }
      const std::string ttl = std::to_string(op.ttl.count());
      writer_.append({"MULTI"});
      writer_.append(hset);
      writer_.append({"EXPIRE", op.target, ttl});
      writer_.append({"EXEC"});
      return;
    }
    case Op::Type::kGetSession:
      writer_.append({"HGETALL", op.target});
      return;
    case Op::Type::kDeleteSession:
      writer_.append({"DEL", op.target});
      return;
    case Op::Type::kWake:
      // Tiny and short-lived: it only has to make this node's blocked XREAD return.
      writer_.append({"XADD", op.target, "MAXLEN", "1", "*", "w", "1"});
      writer_.append({"PEXPIRE", op.target, "600000"});
      return;
  }
}

void RedisBus::complete_op(Op& op, std::vector<Reply>& replies) {
  const redisReply* last = replies.back().get();
  const bool failed = is_error(last) ||
                      (last->type == REDIS_REPLY_ARRAY && std::any_of(last->element, last->element + last->elements,
                                                                      [](const redisReply* r) { return is_error(r); }));
  if (failed) {
    log::warn("cluster_redis_error", {{"target", op.target}, {"error", reply_text(last)}});
    fail_op(op);
    return;
  }
  switch (op.type) {
    case Op::Type::kUpdate:
    case Op::Type::kAwareness:
      counters_->published.fetch_add(1, std::memory_order_relaxed);
      return;
    case Op::Type::kGetSession: {
      std::optional<SessionRecord> record;
      if (const auto fields = reply_fields(last); fields && !fields->empty()) {
        auto decoded = fmt::session_from_fields(std::move(op.record.key), *fields);
        if (decoded) {
          record = std::move(*decoded);
        } else {
          log::warn("cluster_bad_session", {{"key", op.target}, {"error", decoded.error().message}});
        }
      }
      op.done(std::move(record));
      return;
    }
    case Op::Type::kPutSession:
    case Op::Type::kDeleteSession:
    case Op::Type::kRevocation:
    case Op::Type::kWake:
      return;
  }
}

void RedisBus::note_lost(const std::string& stream) {
  std::lock_guard lock(lost_mu_);
  lost_streams_.insert(stream);
}

void RedisBus::fail_op(Op& op) {
  if (op.is_publish()) counters_->dropped.fetch_add(1, std::memory_order_relaxed);
  if (op.type == Op::Type::kUpdate) note_lost(op.target);
  if (op.type == Op::Type::kGetSession) op.done(std::nullopt);
}

// --- reader thread -----------------------------------------------------------

bool RedisBus::wait_stop(std::chrono::milliseconds delay) {
  std::unique_lock lock(stop_mu_);
  return !stop_cv_.wait_for(lock, delay, [&] { return stopping_flag_.load(); });
}

void RedisBus::reader_loop() {
  BusThread marker(this);
  block_sigpipe();
  Backoff backoff(config_.backoff_min, config_.backoff_max);
  bool was_down = false;
  while (!stopping_flag_) {
    if (!reader_.connected()) {
      const Status status = reader_.connect(config_, config_.block + config_.command_timeout, client_name("reader"));
      if (!status) {
        note_down(was_down, "reader", status.error());
        if (!wait_stop(backoff.next())) break;
        continue;
      }
      backoff.reset();
      wake_last_ = StreamId{};  // a restarted Redis may have a clock behind the old ids: costs one spare round
      const bool gap_all = was_down;
      note_up(was_down, "reader", *counters_);
      was_down = false;
      if (!reader_connected(gap_all)) {
        note_down(was_down, "reader", cluster_error(kConnect, "connection lost"));
        continue;
      }
      reader_up_ = true;
    }
    if (!read_round()) {
      reader_up_ = false;
      if (!stopping_flag_) note_down(was_down, "reader", cluster_error(kConnect, "connection lost"));
    }
  }
  reader_.close();
  reader_up_ = false;
}

// After a reconnect: a stream whose last id is now below a subscription's
// position was lost with Redis (restarted without persistence) and restarted
// from a smaller clock, so read it from the start; then every subscription
// hears on_gap, since anything published while this node was cut off is gone.
bool RedisBus::reader_connected(bool gap_all) {
  const SubList subs = snapshot();
  std::map<std::string, std::vector<Sub*>> by_key;
  for (const auto& sub : subs) {
    if (sub->resolved) by_key[sub->key].push_back(sub.get());
  }
  for (const auto& [key, list] : by_key) reader_.append({"XREVRANGE", key, "+", "-", "COUNT", "1"});
  for (const auto& [key, list] : by_key) {
    auto reply = reader_.read_reply();
    if (!reply) return false;
    const std::optional<StreamId> last = newest_id(reply->get(), false);
    for (Sub* sub : list) {
      if (!last || *last < sub->last) sub->last = StreamId{};
    }
  }
  if (gap_all) {
    for (const auto& sub : subs) sub->subscription->gap();
  }
  return true;
}

bool RedisBus::read_round() {
  const SubList subs = snapshot();
  // New subscriptions: fix their start. "" is the stream's current last id.
  for (const auto& sub : subs) {
    if (sub->resolved) continue;
    std::optional<StreamId> start = StreamId::parse_position(sub->from);
    const bool bad = !sub->from.empty() && !start;
    if (!start) {
      auto reply = reader_.command({"XREVRANGE", sub->key, "+", "-", "COUNT", "1"});
      if (!reply) return false;
      start = newest_id(reply->get(), false).value_or(StreamId{});
    }
    sub->last = *start;
    sub->resolved = true;
    sub->subscription->ready(Subscription::kStreamReady);
    if (bad) sub->subscription->gap();
  }

  // One XREAD over every subscribed stream, from the oldest position among
  // its subscriptions, plus the wake stream.
  std::map<std::string_view, std::pair<StreamId, SubList>> streams;
  for (const auto& sub : subs) {
    if (!sub->subscription->open()) continue;
    auto [it, inserted] = streams.try_emplace(sub->key, sub->last, SubList{});
    it->second.first = std::min(it->second.first, sub->last);
    it->second.second.push_back(sub);
  }
  const std::string count = std::to_string(config_.read_count);
  const std::string block = std::to_string(config_.block.count());
  std::vector<std::string> ids;
  ids.reserve(streams.size() + 1);
  for (const auto& [key, stream] : streams) ids.push_back(stream.first.str());
  ids.push_back(wake_last_.str());
  std::vector<std::string_view> args{"XREAD", "COUNT", count, "BLOCK", block, "STREAMS"};
  for (const auto& [key, stream] : streams) args.push_back(key);
  args.push_back(wake_key_);
  args.insert(args.end(), ids.begin(), ids.end());

  auto reply = reader_.command(args);
  if (!reply) return false;
  const redisReply* r = reply->get();
  if (r->type == REDIS_REPLY_NIL) return true;
  if (r->type != REDIS_REPLY_ARRAY) {
    // WRONGTYPE (a foreign key under our prefix) and the like: say so and
    // retry later rather than spin.
    log::error("cluster_redis_read_failed", {{"error", reply_text(r)}});
    wait_stop(config_.backoff_max);
    return true;
  }
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* stream = r->element[i];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) continue;
    const redisReply* entries = stream->element[1];
    if (entries->type != REDIS_REPLY_ARRAY) continue;
    const std::string_view key = reply_text(stream->element[0]);
    if (key == wake_key_) {
      if (const auto last = newest_id(entries, true)) wake_last_ = std::max(wake_last_, *last);
      continue;
    }
    const auto it = streams.find(key);
    if (it == streams.end()) continue;
    for (std::size_t e = 0; e < entries->elements; ++e) deliver_stream_entry(it->second.second, entries->element[e]);
  }
  return true;
}

// Checks that nothing between each subscription's position and this entry
// was trimmed (the entry names its predecessor), then delivers it unless this
// node wrote it.
void RedisBus::deliver_stream_entry(const SubList& subs, const redisReply* entry) {
  if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) return;
  const std::optional<StreamId> id = entry_id(entry);
  if (!id) return;
  const auto fields = reply_fields(entry->element[1]);
  Result<fmt::StreamFields> decoded =
      fields ? fmt::decode_stream_fields(*fields) : Result<fmt::StreamFields>(cluster_error(kBadFrame, "no fields"));
  std::optional<StreamId> prev;
  if (decoded) {
    prev = StreamId::parse(decoded->prev);
  } else {
    log::warn("cluster_bad_entry", {{"id", id->str()}, {"error", decoded.error().message}});
  }
  std::optional<Entry> built;
  for (const auto& sub : subs) {
    if (*id <= sub->last) continue;
    if (!prev || *prev > sub->last) sub->subscription->gap();
    sub->last = *id;
    if (!decoded || decoded->origin == node_id_) continue;
    if (!built) {
      const ByteView payload = as_bytes(decoded->payload);
      built = Entry{id->str(), decoded->kind, std::string(decoded->origin), Bytes(payload.begin(), payload.end())};
    }
    sub->subscription->deliver(*built);
  }
}

// --- pub/sub thread ----------------------------------------------------------

void RedisBus::pubsub_loop() {
  BusThread marker(this);
  block_sigpipe();
  Backoff backoff(config_.backoff_min, config_.backoff_max);
  bool was_down = false;
  auto next_attempt = Clock::now();
  auto last_heard = Clock::now();
  std::optional<Clock::time_point> ping_sent;
  const auto lost = [&](const Error& error) {
    pubsub_.close();
    pubsub_up_ = false;
    if (!stopping_flag_) note_down(was_down, "pubsub", error);
    next_attempt = Clock::now();  // once at once, then with backoff
  };
  while (!stopping_flag_) {
    if (!pubsub_.connected() && Clock::now() >= next_attempt) {
      const Status status = pubsub_.connect(config_, config_.command_timeout, client_name("pubsub"));
      if (!status) {
        note_down(was_down, "pubsub", status.error());
        next_attempt = Clock::now() + backoff.next();
      } else {
        backoff.reset();
        note_up(was_down, "pubsub", *counters_);
        was_down = false;
        channels_sent_.clear();
        channels_confirmed_.clear();
        last_heard = Clock::now();
        ping_sent.reset();
        if (!sync_channels()) lost(cluster_error(kConnect, "connection lost"));
      }
    }
    // Sleep until a wake-up, data, the next PING or answer deadline, or the
    // next connection attempt.
    const auto now = Clock::now();
    const Clock::time_point deadline = !pubsub_.connected() ? next_attempt
                                       : ping_sent          ? *ping_sent + config_.ping_interval
                                                            : last_heard + config_.ping_interval;
    const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {pubsub_.fd(), POLLIN, 0}};
    const int n = ::poll(fds, pubsub_.connected() ? 2 : 1, static_cast<int>(std::max<long long>(timeout, 0)));
    if (n < 0 && errno != EINTR) {
      lost(cluster_error(kConnect, "poll failed"));
      continue;
    }
    if (n > 0 && (fds[0].revents & POLLIN)) {
      std::uint64_t count = 0;
      [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &count, sizeof count);
      if (stopping_flag_) break;
      if (pubsub_.connected() && !sync_channels()) lost(cluster_error(kConnect, "connection lost"));
    }
    if (!pubsub_.connected()) continue;
    if (n > 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (const Status read = pubsub_.read_available(); !read) {
        lost(read.error());
        continue;
      }
      last_heard = Clock::now();
      ping_sent.reset();
      for (;;) {
        auto reply = pubsub_.next_buffered();
        if (!reply) {
          lost(reply.error());
          break;
        }
        if (!*reply) break;
        handle_pubsub(reply->get());
      }
      if (!pubsub_.connected()) continue;
    }
    // Silence: PING (answered even in subscribed mode); no answer within
    // another interval means the link died without anyone closing it.
    const auto after = Clock::now();
    if (ping_sent && after - *ping_sent >= config_.ping_interval) {
      lost(cluster_error(kConnect, "no answer to PING"));
    } else if (!ping_sent && after - last_heard >= config_.ping_interval) {
      pubsub_.append({"PING"});
      if (const Status sent = pubsub_.flush(); !sent) {
        lost(sent.error());
        continue;
      }
      ping_sent = after;
    }
  }
  pubsub_.close();
  pubsub_up_ = false;
}

// Subscribes the revocation channel and the awareness channel of every
// subscribed document, and unsubscribes channels nobody wants any more.
bool RedisBus::sync_channels() {
  std::map<std::string, std::string> wanted{{revocation_channel_, ""}};
  for (const auto& sub : snapshot()) wanted.emplace(sub->channel, sub->doc);
  std::vector<std::string_view> subscribe{"SUBSCRIBE"};
  std::vector<std::string_view> unsubscribe{"UNSUBSCRIBE"};
  for (const auto& [channel, doc] : wanted) {
    if (!channels_sent_.contains(channel)) subscribe.push_back(channel);
  }
  for (const auto& [channel, doc] : channels_sent_) {
    if (!wanted.contains(channel)) unsubscribe.push_back(channel);
  }
  if (subscribe.size() > 1) pubsub_.append(subscribe);
  if (unsubscribe.size() > 1) pubsub_.append(unsubscribe);
  const bool changed = subscribe.size() > 1 || unsubscribe.size() > 1;
  channels_sent_ = std::move(wanted);
  mark_awareness_ready();
  return !changed || pubsub_.flush().ok();
}

void RedisBus::mark_awareness_ready() {
  for (const auto& sub : snapshot()) {
    if (sub->awareness_ready || !channels_confirmed_.contains(sub->channel)) continue;
    sub->awareness_ready = true;
    sub->subscription->ready(Subscription::kAwarenessReady);
  }
}

void RedisBus::handle_pubsub(const redisReply* reply) {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) return;
  const std::string_view type = reply_text(reply->element[0]);
  const std::string channel(reply_text(reply->element[1]));
  if (type == "subscribe") {
    channels_confirmed_.insert(channel);
    if (channel == revocation_channel_) pubsub_up_ = true;
    mark_awareness_ready();
    return;
  }
  if (type == "unsubscribe") {
    channels_confirmed_.erase(channel);
    return;
  }
  if (type != "message" || reply->elements != 3) return;
  const std::string_view body = reply_text(reply->element[2]);
  if (channel == revocation_channel_) {
    const auto fields = fmt::decode_frame(body, 3);
    if (!fields) {
      log::warn("cluster_bad_revocation", {{"error", fields.error().message}});
      return;
    }
    if ((*fields)[0] == node_id_) return;  // delivered locally when published
    sink_->deliver(Revocation{std::string((*fields)[1]), std::string((*fields)[2])});
    return;
  }
  const auto doc = channels_sent_.find(channel);
  if (doc == channels_sent_.end()) return;
  const auto fields = fmt::decode_frame(body, 2);
  if (!fields) {
    log::warn("cluster_bad_awareness", {{"channel", channel}, {"error", fields.error().message}});
    return;
  }
  if ((*fields)[0] == node_id_) return;
  const ByteView payload = as_bytes((*fields)[1]);
  const Entry entry{"", Kind::kAwareness, std::string((*fields)[0]), Bytes(payload.begin(), payload.end())};
  for (const auto& sub : snapshot()) {
    if (sub->doc == doc->second) sub->subscription->deliver(entry);
  }
}

}  // namespace quire::cluster
