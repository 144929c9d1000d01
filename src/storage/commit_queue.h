// CommitQueue: runs every Store call on one background thread, in the order
// the calls were made, and turns consecutive appends into one transaction
// (group commit: many updates, one fsync). Under load — an append arriving
// less than one commit window after the previous commit ended — it waits up to
// that window for more appends before committing (PostgreSQL's commit_delay,
// but only when it pays: a lone append commits at once). Rooms never wait on
// it; each call reports through its callback.
//
// Thread-safety: the methods may be called from any thread. Callbacks run on
// the queue's thread, in submission order; they must hand work back to their
// owner (post to its strand) and return quickly.
// Limitations: one thread, so a large load delays the commits queued behind it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <variant>

#include "storage/store.h"

namespace quire::storage {

class CommitQueue {
 public:
  // Called after each append transaction: its duration and how many entries it held.
  using CommitObserver = std::function<void(double seconds, std::size_t entries)>;

  CommitQueue(Store& store, std::size_t max_batch = 1024, CommitObserver observer = {},
              std::chrono::microseconds window = std::chrono::microseconds(0));
  ~CommitQueue();  // runs what is queued, then stops
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  void load(DocKey doc, std::function<void(Result<StoredDocument>)> done);
  void load_since(DocKey doc, std::uint64_t after_seq, std::function<void(Result<StoredDocument>)> done);
  void append(AppendEntry entry, std::function<void(Result<std::uint64_t>)> done);
  // `done` runs once everything submitted before it has finished.
  void barrier(std::function<void()> done);
  void compact(DocKey doc, Bytes snapshot, Bytes state_vector, std::uint64_t upto_seq,
               std::function<void(Result<std::uint64_t>)> done);
  // Any Store call, in order with the rest (admin and inspection).
  void run(std::function<void(Store&)> work);

  // Finishes everything queued, then joins the thread. Idempotent.
  void stop();
  [[nodiscard]] std::size_t queued() const;
  // Bytes of appends waiting for their commit: connections stop reading while
  // this is high, so a stalled disk slows clients down instead of filling memory.
  [[nodiscard]] std::size_t queued_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }

 private:
  struct Append {
    AppendEntry entry;
    std::function<void(Result<std::uint64_t>)> done;
  };
  using Op = std::variant<Append, std::function<void(Store&)>>;
  void push(Op op);
  void loop();

  Store& store_;
  std::size_t max_batch_;
  CommitObserver observer_;
  std::chrono::microseconds window_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> ops_;
  bool stopping_ = false;
  std::atomic<std::size_t> queued_bytes_{0};
  std::thread thread_;
};

}  // namespace quire::storage
