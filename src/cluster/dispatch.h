// What LocalBus and RedisBus share beneath the Bus interface: stream ids,
// counters, the marker that says a thread belongs to a bus, and the guard
// around a subscription's handlers that lets unsubscribe() wait for a running
// handler without deadlocking when a handler unsubscribes itself.
// Thread-safety: StreamId is a value type; the others are safe from any thread.
#pragma once

#include <atomic>
#include <compare>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "cluster/bus.h"

namespace quire::cluster::detail {

// A Redis stream id "<ms>-<seq>", ordered as Redis orders them.
struct StreamId {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=> over integers
  friend auto operator<=>(const StreamId&, const StreamId&) = default;
  // "123-4" or "123" (= "123-0"); nullopt for anything else.
  static std::optional<StreamId> parse(std::string_view text);
  // A subscription's `from`: after the entry "123-4"; "123" = from millisecond
  // 123 on, entries at 123 included (after 122-<max>).
  static std::optional<StreamId> parse_position(std::string_view text);
  [[nodiscard]] std::string str() const;
  // The id Redis gives an entry added at `now_ms` after `last` (XADD *).
  static StreamId next_after(StreamId last, std::uint64_t now_ms);
};

class Counters {
 public:
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> gaps{0};
  std::atomic<std::uint64_t> reconnects{0};
  [[nodiscard]] BusStats snapshot() const;
};

// Marks the current thread as one of `owner`'s for the object's lifetime.
class BusThread {
 public:
  explicit BusThread(const void* owner);
  ~BusThread();
  BusThread(const BusThread&) = delete;
  BusThread& operator=(const BusThread&) = delete;
  [[nodiscard]] static bool is(const void* owner);

 private:
  const void* previous_;
};

// Runs a callback only while open. close(wait = true) returns once no call is
// running; close(wait = false) is for bus threads, which may be inside a
// call of this very guard.
class CallGuard {
 public:
  template <class F>
  void run(F&& f) {
    std::lock_guard lock(mu_);
    if (open_.load(std::memory_order_acquire)) f();
  }
  void close(bool wait);
  [[nodiscard]] bool open() const { return open_.load(std::memory_order_acquire); }

 private:
  std::mutex mu_;
  std::atomic<bool> open_{true};
};

// One subscription's handlers. on_live fires once every readiness part is in
// (RedisBus: the stream position is fixed and the awareness channel is
// subscribed); LocalBus is ready at once.
class Subscription {
 public:
  static constexpr unsigned kStreamReady = 1;
  static constexpr unsigned kAwarenessReady = 2;
  static constexpr unsigned kAllReady = kStreamReady | kAwarenessReady;

  Subscription(std::string doc, Bus::Handlers handlers, std::shared_ptr<Counters> counters);

  [[nodiscard]] const std::string& doc() const { return doc_; }
  void deliver(const Entry& entry);
  void gap();
  void ready(unsigned parts);
  void close(bool wait) { guard_.close(wait); }
  [[nodiscard]] bool open() const { return guard_.open(); }

 private:
  const std::string doc_;
  const Bus::Handlers handlers_;
  const std::shared_ptr<Counters> counters_;
  std::atomic<unsigned> ready_{0};
  CallGuard guard_;
};

// The node's revocation handler behind a guard.
class RevocationSink {
 public:
  void set(std::function<void(const Revocation&)> handler);
  void deliver(const Revocation& revocation);
  void close(bool wait) { guard_.close(wait); }

 private:
  std::mutex set_mu_;
  std::shared_ptr<const std::function<void(const Revocation&)>> handler_;
  CallGuard guard_;
};

// Milliseconds since the Unix epoch (what Redis puts in stream ids).
std::uint64_t unix_ms();

}  // namespace quire::cluster::detail
