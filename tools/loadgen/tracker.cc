// Matching receipts to sends by struct id (tracker.h).
#include "loadgen/tracker.h"

#include <algorithm>

namespace quire::loadgen {

void Tracker::sent(std::uint64_t client, std::uint64_t clock, std::uint64_t length, std::int64_t at,
                   std::uint32_t receivers, int phase) {
  if (phase >= 0) ++phases_.at(static_cast<std::size_t>(phase)).sent;
  if (receivers == 0) return;
  Log& log = logs_[client];
  if (log.records.empty()) log.first_clock = clock;
  if (clock < log.first_clock) return;  // a typist's clocks only grow
  const std::size_t end = static_cast<std::size_t>(clock - log.first_clock + length);
  if (log.records.size() < end) log.records.resize(end);
  Record& r = log.records[static_cast<std::size_t>(clock - log.first_clock)];
  r = Record{at, receivers, phase};
  ++outstanding_;
}

void Tracker::received(ByteView update, std::uint64_t receiver_client, std::int64_t now) {
  if (!crdt::decode_update_into(update, crdt::UpdateFormat::kV1, crdt::Limits{}, decoded_).ok()) {
    ++undecodable_;
    return;
  }
  for (const crdt::Block& b : decoded_.blocks) {
    if (b.kind != crdt::BlockKind::kItem) continue;
    auto it = logs_.find(b.id.client);
    if (it == logs_.end()) {
      ++unmatched_;
      continue;
    }
    if (b.id.client == receiver_client) {
      ++echoes_;  // y-websocket servers send an update back to its sender too
      continue;
    }
    Log& log = it->second;
    const std::uint64_t from = std::max(b.id.clock, log.first_clock);
    const std::uint64_t to = std::min(b.end(), log.first_clock + log.records.size());
    for (std::uint64_t clock = from; clock < to; ++clock) {
      Record& r = log.records[static_cast<std::size_t>(clock - log.first_clock)];
      if (r.sent_ns == 0) continue;
      if (r.remaining == 0) {
        ++duplicates_;
        continue;
      }
      ++receipts_;
      const std::int64_t latency = now - r.sent_ns;
      if (r.phase >= 0) phases_[static_cast<std::size_t>(r.phase)].latency.record(latency);
      if (--r.remaining == 0) {
        --outstanding_;
        if (r.phase >= 0) {
          PhaseFigures& p = phases_[static_cast<std::size_t>(r.phase)];
          p.completion.record(latency);
          ++p.completed;
        }
        if (on_complete) on_complete(b.id.client);
      }
    }
  }
}

}  // namespace quire::loadgen
