// Tracker: when each typed update was sent and how many connections still have
// to receive it, so that every receipt becomes a latency sample (send → that
// client's receipt) and the last one a fan-out completion. Received updates are
// matched by their structs' ids (client, clock), not by their bytes: servers
// re-encode what they broadcast and may merge several updates into one.
//
// Samples go to the histogram of the phase the update was sent in (a sweep step,
// a measurement window; -1 = not measured).
// Thread-safety: none (the generator's one thread).
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "base/bytes.h"
#include "crdt/update.h"
#include "loadgen/histogram.h"

namespace quire::loadgen {

struct PhaseFigures {
  Histogram latency;     // send → each receiver's receipt
  Histogram completion;  // send → the last receiver's receipt
  std::uint64_t sent = 0;
  std::uint64_t completed = 0;  // received by every receiver
};

class Tracker {
 public:
  explicit Tracker(std::size_t phases) : phases_(phases) {}

  // An update of `length` characters from `client` at `clock`, sent at `at`, that
  // `receivers` other connections should receive.
  void sent(std::uint64_t client, std::uint64_t clock, std::uint64_t length, std::int64_t at, std::uint32_t receivers,
            int phase);
  // An update received by a connection whose own typist is `receiver_client` (0: an observer).
  void received(ByteView update, std::uint64_t receiver_client, std::int64_t now);

  // Called when every receiver has an update: the writer may send another (closed loop).
  std::function<void(std::uint64_t client)> on_complete;

  [[nodiscard]] PhaseFigures& phase(int i) { return phases_.at(static_cast<std::size_t>(i)); }
  [[nodiscard]] std::uint64_t outstanding() const { return outstanding_; }
  [[nodiscard]] std::uint64_t receipts() const { return receipts_; }
  [[nodiscard]] std::uint64_t unmatched() const { return unmatched_; }
  [[nodiscard]] std::uint64_t duplicates() const { return duplicates_; }
  [[nodiscard]] std::uint64_t echoes() const { return echoes_; }
  [[nodiscard]] std::uint64_t undecodable() const { return undecodable_; }

 private:
  struct Record {
    std::int64_t sent_ns = 0;  // 0: no tracked update starts at this clock
    std::uint32_t remaining = 0;
    std::int32_t phase = -1;
  };
  struct Log {
    std::uint64_t first_clock = 0;
    std::vector<Record> records;  // by clock − first_clock
  };

  std::unordered_map<std::uint64_t, Log> logs_;
  std::vector<PhaseFigures> phases_;
  crdt::DecodedUpdate decoded_;
  std::uint64_t outstanding_ = 0;
  std::uint64_t receipts_ = 0;
  std::uint64_t unmatched_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t echoes_ = 0;
  std::uint64_t undecodable_ = 0;
};

}  // namespace quire::loadgen
