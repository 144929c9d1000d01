// CommitQueue (commit_queue.h).
#include "storage/commit_queue.h"

#include <chrono>
#include <vector>

namespace quire::storage {

CommitQueue::CommitQueue(Store& store, std::size_t max_batch, CommitObserver observer, std::chrono::microseconds window)
    : store_(store), max_batch_(max_batch), observer_(std::move(observer)), window_(window), thread_([this] {
        loop();
      }) {}

CommitQueue::~CommitQueue() {
  stop();
}

void CommitQueue::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::size_t CommitQueue::queued() const {
  std::lock_guard lock(mu_);
  return ops_.size();
}

void CommitQueue::push(Op op) {
  {
    std::lock_guard lock(mu_);
    ops_.push_back(std::move(op));
  }
  cv_.notify_one();
}

void CommitQueue::load(DocKey doc, std::function<void(Result<StoredDocument>)> done) {
  run([doc = std::move(doc), done = std::move(done)](Store& s) { done(s.load(doc)); });
}

void CommitQueue::load_since(DocKey doc, std::uint64_t after_seq, std::function<void(Result<StoredDocument>)> done) {
  run([doc = std::move(doc), after_seq, done = std::move(done)](Store& s) { done(s.load_since(doc, after_seq)); });
}

void CommitQueue::append(AppendEntry entry, std::function<void(Result<std::uint64_t>)> done) {
  queued_bytes_ += entry.bytes.size();
  push(Append{std::move(entry), std::move(done)});
}

void CommitQueue::barrier(std::function<void()> done) {
  run([done = std::move(done)](Store&) { done(); });
}

void CommitQueue::compact(DocKey doc, Bytes snapshot, Bytes state_vector, std::uint64_t upto_seq,
                          std::function<void(Result<std::uint64_t>)> done) {
  run([doc = std::move(doc), snapshot = std::move(snapshot), sv = std::move(state_vector), upto_seq,
       done = std::move(done)](Store& s) { done(s.compact(doc, snapshot, sv, upto_seq)); });
}

void CommitQueue::run(std::function<void(Store&)> work) {
  push(std::move(work));
}

void CommitQueue::loop() {
  std::vector<Append> batch;
  std::vector<AppendEntry> entries;
  auto last_commit_end = std::chrono::steady_clock::time_point{};
  for (;;) {
    std::function<void(Store&)> work;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !ops_.empty(); });
      if (ops_.empty()) return;  // stopping, and everything ran
      // Consecutive appends at the front commit together; anything else runs alone.
      auto take_appends = [&] {
        while (!ops_.empty() && batch.size() < max_batch_ && std::holds_alternative<Append>(ops_.front())) {
          batch.push_back(std::move(std::get<Append>(ops_.front())));
          ops_.pop_front();
        }
      };
      take_appends();
      const auto now = std::chrono::steady_clock::now();
      if (!batch.empty() && ops_.empty() && batch.size() < max_batch_ && !stopping_ &&
          now - last_commit_end < window_) {
        // Appends are arriving back to back: give the commit a window to gather more.
        cv_.wait_until(lock, now + window_, [&] { return stopping_ || ops_.size() >= max_batch_ - batch.size(); });
        take_appends();
      }
      if (batch.empty()) {
        work = std::move(std::get<1>(ops_.front()));
        ops_.pop_front();
      }
    }
    if (work) {
      work(store_);
      continue;
    }
    entries.clear();
    std::size_t bytes = 0;
    for (Append& a : batch) {
      bytes += a.entry.bytes.size();
      entries.push_back(std::move(a.entry));
    }
    const auto start = std::chrono::steady_clock::now();
    auto seqs = store_.append(entries);
    if (observer_) {
      observer_(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), entries.size());
    }
    queued_bytes_ -= bytes;
    last_commit_end = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (seqs) {
        batch[i].done((*seqs)[i]);
      } else {
        batch[i].done(seqs.error());
      }
    }
    batch.clear();
  }
}

}  // namespace quire::storage
