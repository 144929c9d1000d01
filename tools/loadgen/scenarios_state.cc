// The scenarios about presence and memory: awareness (4), join-storm (5),
// idle (6) and doc-memory (7).
#include <array>
#include <boost/json/array.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <unordered_map>

#include "loadgen/scenarios.h"
#include "loadgen/typist.h"

namespace quire::loadgen {
namespace {

struct Quiet : ConnectionListener {};

Result<Bytes> read_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{kDomain, 2, "cannot read " + path};
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

double mb(std::uint64_t bytes) {
  return std::round(static_cast<double>(bytes) / 1e4) / 100;
}

// Awareness: each client publishes one state — a name, a colour and a cursor —
// and moves its cursor once per period; receipts of a (client, clock) are timed.
class AwarenessLoad : public ConnectionListener {
 public:
  AwarenessLoad(Run& run, std::size_t clients, std::size_t per_doc) : run_(run) {
    for (std::size_t i = 0; i < clients; ++i) {
      const std::string doc = run.doc_name("awareness-" + std::to_string(i / per_doc));
      const std::size_t doc_clients = std::min(per_doc, clients - i / per_doc * per_doc);
      clients_.push_back(Client{run.connection(doc, run.protocol_for(i), *this, i),
                                1 + (run.seed() % 2000) * 1'000'000 + i, doc_clients - 1});
      by_id_[clients_.back().id] = i;
      conns_.push_back(clients_.back().conn);
    }
  }

  asio::awaitable<void> run(double rate, double warmup, double seconds) {
    co_await run_.connect_all(conns_, static_cast<std::size_t>(run_.num("connect-concurrency")),
                              run_.num("connect-timeout"), "connections");
    co_await run_.sleep(run_.num("settle"));
    Window w;
    co_await run_.pace(
        clients_.size(), rate, warmup, seconds,
        [this](std::size_t i, std::int64_t lateness) {
          if (measuring_) lag_.record(lateness);
          move_cursor(clients_[i]);
        },
        [&] {
          w = run_.begin_window();
          measuring_ = true;
        });
    run_.end_window(w);
    measuring_ = false;
    // Receipts of the moves made in the window, however late (a server that falls
    // behind shows it in the percentiles rather than in missing samples).
    const bool drained = co_await run_.wait_for([this] { return latency_.count() >= expected_; }, run_.num("drain"));
    const double s = w.seconds();
    json::object o{{"clients", clients_.size()},
                   {"updates_per_s", std::round(static_cast<double>(sent_) / s)},
                   {"receipts_per_s", std::round(static_cast<double>(latency_.count()) / s)},
                   {"receipts_expected", expected_},
                   {"receipts", latency_.count()},
                   {"drained", drained},
                   {"latency_ms", latency_json(latency_)},
                   {"send_lag_ms", latency_json(lag_)},
                   {"undecodable", undecodable_},
                   {"frames", counters_json(sum_counters(conns_))},
                   {"window", w.to_json()}};
    if (w.has_server) {
      // Microseconds of server CPU per client per second: the cost of one client's presence.
      o["server_cpu_us_per_client_s"] =
          std::round(w.server_cpu_seconds() / s / static_cast<double>(clients_.size()) * 1e7) / 10;
    }
    run_.results["awareness"] = std::move(o);
  }

  void on_awareness(Connection& c, ByteView update, std::int64_t now) override {
    auto entries = protocol::decode_awareness(update, 1u << 16);
    if (!entries.ok()) {
      ++undecodable_;
      return;
    }
    for (const protocol::AwarenessEntry& e : *entries) {
      auto it = by_id_.find(e.client);
      if (it == by_id_.end() || it->second == c.tag) continue;  // unknown, or its own state coming back
      const Client& from = clients_[it->second];
      // A server running behind delivers older clocks: they are timed too while still in the ring.
      if (e.clock == 0 || e.clock > from.clock || from.clock - e.clock >= kRing) continue;
      const Sent& sent = from.sent[e.clock % kRing];
      if (sent.measured) latency_.record(now - sent.ns);
    }
  }

 private:
  static constexpr std::uint64_t kRing = 64;  // the last sends of each client, by clock
  struct Sent {
    std::int64_t ns = 0;
    bool measured = false;
  };
  struct Client {
    std::shared_ptr<Connection> conn;
    std::uint64_t id = 0;
    std::uint64_t peers = 0;  // the other clients of its document
    std::uint64_t clock = 0;
    std::array<Sent, kRing> sent{};
  };

  void move_cursor(Client& c) {
    if (!c.conn->synced()) return;
    ++c.clock;  // y-protocols: a state replaces one with a lower clock
    const std::uint64_t at = c.clock * 7 % 1000;
    char state[160];
    std::snprintf(
        state, sizeof state, R"({"user":{"name":"user-%llu","color":"#%06llx"},"cursor":{"anchor":%llu,"head":%llu}})",
        static_cast<unsigned long long>(c.conn->tag), static_cast<unsigned long long>(c.id * 2654435761u % 0xffffff),
        static_cast<unsigned long long>(at), static_cast<unsigned long long>(at));
    c.sent[c.clock % kRing] = Sent{now_ns(), measuring_};
    c.conn->send_awareness(protocol::encode_awareness({{c.id, c.clock, state}}));
    if (measuring_) {
      ++sent_;
      expected_ += c.peers;
    }
  }

  Run& run_;
  std::vector<Client> clients_;
  std::unordered_map<std::uint64_t, std::size_t> by_id_;
  std::vector<std::shared_ptr<Connection>> conns_;
  Histogram latency_;
  Histogram lag_;
  bool measuring_ = false;
  std::uint64_t sent_ = 0;
  std::uint64_t expected_ = 0;
  std::uint64_t undecodable_ = 0;
};

}  // namespace

asio::awaitable<void> run_awareness(Run& run) {
  AwarenessLoad load(run, static_cast<std::size_t>(run.num("clients")), static_cast<std::size_t>(run.num("per-doc")));
  co_await load.run(run.num("rate"), run.num("warmup"), run.num("seconds"));
}

asio::awaitable<void> run_join_storm(Run& run) {
  // A seeder builds the document (large pastes through the engine) while an
  // observer stays on it, so that the server keeps it loaded; then every joiner
  // connects at once. The seeding is done when the observer has received as
  // many bytes as were pasted (servers merge updates they broadcast: Hocuspocus
  // sends fewer, larger ones) and, over Hocuspocus, every paste is acknowledged.
  Quiet quiet;
  const std::string doc = run.doc_name("storm-0");
  auto seeder = run.connection(doc, run.protocol_for(0), quiet, 0);
  auto observer = run.connection(doc, run.protocol_for(1), quiet, 1);
  // (Named, not a braced list: GCC 12 cannot keep an initializer_list across co_await.)
  const std::vector<std::shared_ptr<Connection>> pair = {seeder, observer};
  co_await run.connect_all(pair, 2, run.num("connect-timeout"), "seed_connections");
  if (!seeder->synced() || !observer->synced()) {
    run.failures.push_back("the seeder could not connect: " + seeder->error() + observer->error());
    co_return;
  }
  const auto total = static_cast<std::size_t>(run.num("doc-mb") * 1e6);
  const auto chunk = static_cast<std::size_t>(run.num("chunk-kb") * 1024);
  Typist typist(1 + (run.seed() % 2000) * 1'000'000, run.seed());
  const std::int64_t seed_start = now_ns();
  std::uint64_t chunks = 0;
  for (std::size_t done = 0; done < total; done += chunk, ++chunks) {
    auto update = typist.paste(std::min(chunk, total - done));
    if (!update.ok()) {
      run.failures.push_back("the engine refused a paste: " + update.error().message);
      co_return;
    }
    seeder->send_update(*update, now_ns());
  }
  const bool seeded = co_await run.wait_for(
      [&] {
        return (observer->counters().bytes_in >= total && seeder->acks_waiting() == 0) || !seeder->synced() ||
               !observer->synced();
      },
      run.num("seed-timeout"));
  run.results["seed"] = json::object{{"bytes", total},
                                     {"updates", chunks},
                                     {"seconds", std::round(static_cast<double>(now_ns() - seed_start) / 1e6) / 1e3},
                                     {"complete", seeded && seeder->synced()},
                                     {"observer_bytes", observer->counters().bytes_in},
                                     {"acks_waiting", seeder->acks_waiting()},
                                     {"seeder_error", seeder->error()}};
  if (!seeded || !seeder->synced()) {
    run.failures.push_back("the document was not seeded: " + seeder->error());
    co_return;
  }
  co_await run.sleep(run.num("settle"));  // the peers' debounced stores run 2 s after the last change

  const auto joiners = static_cast<std::size_t>(run.num("joiners"));
  std::vector<std::shared_ptr<Connection>> conns;
  for (std::size_t i = 0; i < joiners; ++i) conns.push_back(run.connection(doc, run.protocol_for(i), quiet, 2 + i));
  run.start_peak_sampler();
  Window w = run.begin_window();
  co_await run.connect_all(conns, joiners, run.num("timeout"), "joiners");
  run.end_window(w);
  std::uint64_t smallest = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t delivered = 0;
  for (const auto& c : conns) {
    smallest = std::min(smallest, c->synced() ? c->sync_bytes() : 0);
    delivered += c->counters().bytes_in;
  }
  run.results["storm"] =
      json::object{{"joiners", joiners},
                   {"smallest_state_received", smallest},
                   {"delivered_mb_per_s", std::round(static_cast<double>(delivered) / w.seconds() / 1e6)},
                   {"server_peak_rss", run.peak_rss()},
                   {"server_peak_rss_mb", mb(run.peak_rss())},
                   {"window", w.to_json()}};
}

asio::awaitable<void> run_idle(Run& run) {
  const auto count = static_cast<std::size_t>(run.num("connections"));
  const auto docs = static_cast<std::size_t>(run.num("docs"));
  Quiet quiet;
  std::vector<std::shared_ptr<Connection>> conns;
  for (std::size_t i = 0; i < count; ++i) {
    conns.push_back(run.connection(run.doc_name("idle-" + std::to_string(i % docs)), run.protocol_for(i), quiet, i));
  }
  const ProcSample before = run.server_now();
  co_await run.connect_all(conns, static_cast<std::size_t>(run.num("connect-concurrency")), run.num("connect-timeout"),
                           "connections");
  co_await run.sleep(run.num("settle"));
  Window w = run.begin_window();
  co_await run.sleep(run.num("hold"));
  run.end_window(w);
  std::size_t open = 0;
  for (const auto& c : conns) open += c->synced() ? 1 : 0;
  json::object o{{"open", open}, {"docs", docs}, {"window", w.to_json()}};
  if (w.has_server) {
    o["server_rss_before"] = before.rss;
    o["server_rss"] = w.server_end.rss;
    o["server_rss_mb"] = mb(w.server_end.rss);
    o["bytes_per_connection"] = open == 0 ? 0
                                          : (static_cast<double>(w.server_end.rss) - static_cast<double>(before.rss)) /
                                                static_cast<double>(open);
  }
  run.results["idle"] = std::move(o);
}

asio::awaitable<void> run_doc_memory(Run& run) {
  // For each trace, `copies` documents are loaded with its final state (one
  // update each) and kept open by a loader and an observer; the server's
  // resident memory before and after, divided by the copies, is one loaded
  // document. Documents stay loaded while the next trace is measured.
  struct Loaded : ConnectionListener {
    std::vector<std::uint64_t> seen;
    void on_update(Connection& c, ByteView /*update*/, std::int64_t /*now*/) override {
      if (c.tag < seen.size()) ++seen[c.tag];
    }
  } loaded;
  const auto copies = static_cast<std::size_t>(run.num("copies"));
  loaded.seen.assign(copies, 0);
  json::array rows;
  std::size_t tag_base = copies;
  const std::string traces = run.str("traces");
  for (std::size_t start = 0; start < traces.size();) {
    std::size_t comma = traces.find(',', start);
    if (comma == std::string::npos) comma = traces.size();
    const std::string trace = traces.substr(start, comma - start);
    start = comma + 1;
    auto state = read_binary(run.str("trace-dir") + "/" + trace + ".yjs.bin");
    if (!state.ok()) {
      run.failures.push_back(state.error().message);
      continue;
    }
    std::vector<std::shared_ptr<Connection>> loaders, observers, all;
    for (std::size_t k = 0; k < copies; ++k) {
      const std::string doc = run.doc_name("mem-" + trace + "-" + std::to_string(k));
      loaders.push_back(run.connection(doc, run.protocol_for(k), loaded, tag_base + k));
      observers.push_back(run.connection(doc, run.protocol_for(k), loaded, k));  // tags 0..copies-1 count receipts
      all.push_back(loaders.back());
      all.push_back(observers.back());
    }
    tag_base += copies;
    std::fill(loaded.seen.begin(), loaded.seen.end(), 0);
    co_await run.connect_all(all, static_cast<std::size_t>(run.num("connect-concurrency")), run.num("connect-timeout"),
                             "connections_" + trace);
    co_await run.sleep(run.num("settle"));
    const ProcSample before = run.server_now();
    for (auto& l : loaders) l->send_update(*state, now_ns());
    const bool complete = co_await run.wait_for(
        [&] { return std::all_of(loaded.seen.begin(), loaded.seen.end(), [](std::uint64_t n) { return n > 0; }); },
        run.num("connect-timeout"));
    co_await run.sleep(run.num("settle"));
    const ProcSample after = run.server_now();
    const double per_doc =
        (static_cast<double>(after.rss) - static_cast<double>(before.rss)) / static_cast<double>(copies);
    rows.push_back(json::object{{"trace", trace},
                                {"encoded_bytes", state->size()},
                                {"copies", copies},
                                {"complete", complete},
                                {"server_rss_before", before.rss},
                                {"server_rss_after", after.rss},
                                {"bytes_per_doc", std::round(per_doc)},
                                {"ratio", std::round(per_doc / static_cast<double>(state->size()) * 100) / 100}});
  }
  run.results["traces"] = std::move(rows);
}

}  // namespace quire::loadgen
