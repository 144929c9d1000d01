// Metrics: the server's counters and gauges, rendered as Prometheus text on
// /metrics. Names in docs/operations.md.
// Thread-safety: every member may be updated from any thread (atomics; the
// labelled counters take a mutex).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "cluster/bus.h"

namespace quire::server {

// The bus's counters and connection state, in the same text format.
std::string render_bus_metrics(const cluster::Bus& bus);

class Metrics {
 public:
  std::atomic<std::int64_t> connections{0};
  std::atomic<std::int64_t> rooms{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> documents_loaded_total{0};
  std::atomic<std::uint64_t> document_load_failures_total{0};
  std::atomic<std::uint64_t> messages_in_total{0};
  std::atomic<std::uint64_t> messages_out_total{0};
  std::atomic<std::uint64_t> bytes_in_total{0};
  std::atomic<std::uint64_t> bytes_out_total{0};
  std::atomic<std::uint64_t> updates_in_total{0};
  std::atomic<std::uint64_t> updates_stored_total{0};
  std::atomic<std::uint64_t> update_bytes_stored_total{0};
  std::atomic<std::uint64_t> compactions_total{0};
  std::atomic<std::uint64_t> compaction_failures_total{0};
  std::atomic<std::uint64_t> commit_failures_total{0};
  // Cluster.
  std::atomic<std::uint64_t> remote_updates_total{0};
  std::atomic<std::uint64_t> remote_rejected_total{0};
  std::atomic<std::uint64_t> cluster_gaps_total{0};
  std::atomic<std::uint64_t> catch_ups_total{0};
  std::atomic<std::uint64_t> revocations_total{0};
  std::atomic<std::uint64_t> relayed_stored_total{0};
  std::atomic<std::uint64_t> sessions_resumed_total{0};
  std::atomic<std::uint64_t> session_catch_ups_total{0};

  // One log transaction (group commit) took `seconds` for `entries` updates.
  void observe_commit(double seconds, std::size_t entries);
  // A message refused or a connection closed for `reason` (a fixed label).
  void reject(std::string_view reason);
  void close(int code);

  [[nodiscard]] std::string render() const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                                      0.05,   0.1,   0.2,   0.5,   1,    2.5};
  std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> commit_buckets_{};
  std::atomic<std::uint64_t> commit_count_{0};
  std::atomic<std::uint64_t> commit_entries_{0};
  std::atomic<std::uint64_t> commit_micros_{0};
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t, std::less<>> rejected_;
  std::map<int, std::uint64_t> closes_;
};

}  // namespace quire::server
