// RedisBus: the Bus over one Redis server (docs/cluster.md). Updates go into
// one Redis Stream per document, appended by a Lua script that records the id
// of the previous entry so a reader knows when trimming took entries it had
// not read; awareness and revocations go over pub/sub; sessions are hashes
// with a TTL.
//
// Threads, each with its own connection: the writer drains a bounded queue
// (publishes, session calls, revocations) with pipelining; the reader runs one
// XREAD BLOCK over every subscribed document's stream plus this node's wake
// stream, which the writer appends to when a subscription is added so the
// blocked read returns at once; the pub/sub thread polls its socket and an
// eventfd to (un)subscribe awareness channels. Update entries and on_gap come
// from the reader, awareness entries and others' revocations from the pub/sub
// thread, get_session answers and this node's own revocations from the writer.
//
// Failures: construction and start() never fail on an unreachable Redis; each
// thread reconnects with capped, jittered backoff and waits without spinning.
// While the writer is down publish() drops and counts. After the reader
// reconnects, every subscription gets on_gap.
// Limitations: one Redis server (Redis Cluster is not supported: one XREAD
// spans many documents' keys); one XREAD argument list over every open
// document; at-least-once delivery.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "cluster/bus.h"
#include "cluster/dispatch.h"
#include "cluster/redis_config.h"
#include "cluster/redis_connection.h"

namespace quire::cluster {

class RedisBus final : public Bus {
 public:
  // Never throws on an unreachable Redis; start() begins connecting.
  explicit RedisBus(RedisConfig config);
  ~RedisBus() override;
  RedisBus(const RedisBus&) = delete;
  RedisBus& operator=(const RedisBus&) = delete;

  void start() override;
  void stop() override;
  [[nodiscard]] std::string node_id() const override { return node_id_; }
  void publish(std::string_view doc, Kind kind, Bytes payload) override;
  std::uint64_t subscribe(std::string doc, std::string from, Handlers handlers) override;
  void unsubscribe(std::uint64_t subscription) override;
  void put_session(SessionRecord record, std::chrono::seconds ttl) override;
  void get_session(std::string key, std::function<void(std::optional<SessionRecord>)> done) override;
  void delete_session(std::string key) override;
  void publish_revocation(Revocation revocation) override;
  void on_revocation(std::function<void(const Revocation&)> handler) override;
  [[nodiscard]] bool connected() const override;
  [[nodiscard]] BusStats stats() const override { return counters_->snapshot(); }

 private:
  struct Sub;
  struct Op;
  using SubList = std::vector<std::shared_ptr<Sub>>;

  void enqueue(Op op, bool bounded);
  void note_lost(const std::string& stream);
  void request_wake();
  void wake_pubsub();
  [[nodiscard]] SubList snapshot() const;
  [[nodiscard]] std::string client_name(std::string_view role) const;

  // Writer thread.
  void writer_loop();
  bool connect_writer(bool& was_down);
  void send_batch(std::vector<Op>& batch, bool& was_down);
  void append_op(const Op& op);
  void complete_op(Op& op, std::vector<Reply>& replies);
  void fail_op(Op& op);

  // Reader thread.
  void reader_loop();
  bool reader_connected(bool gap_all);
  bool read_round();
  void deliver_stream_entry(const SubList& subs, const redisReply* entry);
  bool wait_stop(std::chrono::milliseconds delay);

  // Pub/sub thread.
  void pubsub_loop();
  bool sync_channels();
  void handle_pubsub(const redisReply* reply);
  void mark_awareness_ready();

  const RedisConfig config_;
  const std::string node_id_;
  const std::string wake_key_;
  const std::string revocation_channel_;
  const std::shared_ptr<detail::Counters> counters_ = std::make_shared<detail::Counters>();
  const std::shared_ptr<detail::RevocationSink> sink_ = std::make_shared<detail::RevocationSink>();

  // Subscriptions, shared by the callers and the reader and pub/sub threads.
  mutable std::mutex subs_mu_;
  std::map<std::uint64_t, std::shared_ptr<Sub>> subs_;
  std::uint64_t next_sub_ = 1;

  // The writer's queue.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Op> queue_;
  std::size_t queued_entries_ = 0;  // publishes only: control calls are small and never dropped
  std::size_t queued_bytes_ = 0;
  bool wake_requested_ = false;
  bool stopping_ = false;  // under queue_mu_, for the writer

  std::atomic<bool> stopping_flag_{false};  // for the reader and pub/sub threads
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;

  std::atomic<bool> writer_up_{false};
  std::atomic<bool> writer_down_{false};  // publish() drops at once (false while first connecting)
  // Streams whose updates were dropped: a gap marker goes to each when the writer is back.
  std::mutex lost_mu_;
  std::set<std::string> lost_streams_;
  std::atomic<bool> reader_up_{false};
  std::atomic<bool> pubsub_up_{false};  // connected and the revocation channel subscribed

  RedisConnection writer_;
  RedisConnection reader_;
  RedisConnection pubsub_;
  int wake_fd_ = -1;  // eventfd: wakes the pub/sub thread's poll()

  // Pub/sub thread only: channels asked for (channel → document, "" for the
  // revocation channel) and those Redis confirmed.
  std::map<std::string, std::string> channels_sent_;
  std::set<std::string> channels_confirmed_;
  // Reader thread only: how far this node's wake stream was read.
  detail::StreamId wake_last_;

  std::mutex lifecycle_mu_;
  bool started_ = false;
  bool stopped_ = false;
  std::thread writer_thread_;
  std::thread reader_thread_;
  std::thread pubsub_thread_;
};

}  // namespace quire::cluster
