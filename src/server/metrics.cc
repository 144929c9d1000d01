// Metrics (metrics.h).
#include "server/metrics.h"

#include <cstdio>

namespace quire::server {
namespace {

void line(std::string& out, const char* name, const char* type, const char* help, std::uint64_t value) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
         std::to_string(value) + "\n";
}

}  // namespace

void Metrics::observe_commit(double seconds, std::size_t entries) {
  std::size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  commit_buckets_[i].fetch_add(1, std::memory_order_relaxed);
  commit_count_.fetch_add(1, std::memory_order_relaxed);
  commit_entries_.fetch_add(entries, std::memory_order_relaxed);
  commit_micros_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Metrics::reject(std::string_view reason) {
  std::lock_guard lock(mu_);
  auto it = rejected_.find(reason);
  if (it == rejected_.end()) it = rejected_.emplace(std::string(reason), 0).first;
  ++it->second;
}

void Metrics::close(int code) {
  std::lock_guard lock(mu_);
  ++closes_[code];
}

std::string Metrics::render() const {
  std::string out;
  auto gauge = [&](const char* name, const char* help, std::int64_t v) {
    line(out, name, "gauge", help, static_cast<std::uint64_t>(v < 0 ? 0 : v));
  };
  auto counter = [&](const char* name, const char* help, const std::atomic<std::uint64_t>& v) {
    line(out, name, "counter", help, v.load(std::memory_order_relaxed));
  };
  gauge("quire_connections", "Open WebSocket connections.", connections.load());
  gauge("quire_rooms", "Documents loaded in memory.", rooms.load());
  counter("quire_connections_total", "WebSocket connections accepted.", connections_total);
  counter("quire_documents_loaded_total", "Documents loaded from storage.", documents_loaded_total);
  counter("quire_document_load_failures_total", "Document loads that failed.", document_load_failures_total);
  counter("quire_messages_in_total", "WebSocket messages received.", messages_in_total);
  counter("quire_messages_out_total", "WebSocket messages sent.", messages_out_total);
  counter("quire_bytes_in_total", "WebSocket payload bytes received.", bytes_in_total);
  counter("quire_bytes_out_total", "WebSocket payload bytes sent.", bytes_out_total);
  counter("quire_updates_in_total", "Document updates received from clients.", updates_in_total);
  counter("quire_updates_stored_total", "Updates appended to the log.", updates_stored_total);
  counter("quire_update_bytes_stored_total", "Bytes appended to the log.", update_bytes_stored_total);
  counter("quire_compactions_total", "Snapshots written (log compactions).", compactions_total);
  counter("quire_compaction_failures_total", "Compactions that failed.", compaction_failures_total);
  counter("quire_commit_failures_total", "Log transactions that failed.", commit_failures_total);
  counter("quire_remote_updates_total", "Updates relayed from other nodes.", remote_updates_total);
  counter("quire_remote_rejected_total", "Relayed entries that did not decode.", remote_rejected_total);
  counter("quire_cluster_gaps_total", "Stream gaps (trimmed or reconnected): the log was read again.",
          cluster_gaps_total);
  counter("quire_catch_ups_total", "Log tails read to catch a room up.", catch_ups_total);
  counter("quire_revocations_total", "Revocations received from the bus.", revocations_total);
  counter("quire_sessions_resumed_total",
          "Session records found on a join (the state is shown unless a newer one is known).", sessions_resumed_total);
  counter("quire_session_catch_ups_total",
          "Joins whose session record showed acknowledged updates this node lacked: the log was read at once.",
          session_catch_ups_total);
  counter("quire_relayed_stored_total", "Relayed updates this node stored because their node never committed them.",
          relayed_stored_total);

  out += "# HELP quire_commit_seconds Duration of one log transaction (group commit).\n";
  out += "# TYPE quire_commit_seconds histogram\n";
  std::uint64_t cumulative = 0;
  char le[32];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    cumulative += commit_buckets_[i].load(std::memory_order_relaxed);
    std::snprintf(le, sizeof le, "%g", kBuckets[i]);
    out += std::string("quire_commit_seconds_bucket{le=\"") + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += commit_buckets_[kBuckets.size()].load(std::memory_order_relaxed);
  out += "quire_commit_seconds_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  char sum[32];
  std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(commit_micros_.load()) / 1e6);
  out += std::string("quire_commit_seconds_sum ") + sum + "\n";
  out += "quire_commit_seconds_count " + std::to_string(commit_count_.load()) + "\n";
  line(out, "quire_commit_entries_total", "counter", "Updates committed across all log transactions.",
       commit_entries_.load());

  std::lock_guard lock(mu_);
  out += "# HELP quire_rejected_messages_total Messages refused or connections closed, by reason.\n";
  out += "# TYPE quire_rejected_messages_total counter\n";
  for (const auto& [reason, n] : rejected_) {
    out += "quire_rejected_messages_total{reason=\"" + reason + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP quire_closes_total WebSocket connections closed by the server, by close code.\n";
  out += "# TYPE quire_closes_total counter\n";
  for (const auto& [code, n] : closes_) {
    out += "quire_closes_total{code=\"" + std::to_string(code) + "\"} " + std::to_string(n) + "\n";
  }
  return out;
}

std::string render_bus_metrics(const cluster::Bus& bus) {
  const cluster::BusStats st = bus.stats();
  std::string out;
  line(out, "quire_bus_connected", "gauge", "1 while the cluster bus is connected.", bus.connected() ? 1 : 0);
  line(out, "quire_bus_published_total", "counter", "Entries the bus handed to the transport.", st.published);
  line(out, "quire_bus_delivered_total", "counter", "Entries from other nodes delivered.", st.delivered);
  line(out, "quire_bus_dropped_total", "counter", "Publishes dropped (queue full or transport down).", st.dropped);
  line(out, "quire_bus_gaps_total", "counter", "Gaps signalled by the bus.", st.gaps);
  line(out, "quire_bus_reconnects_total", "counter", "Bus connections re-established.", st.reconnects);
  return out;
}

}  // namespace quire::server
