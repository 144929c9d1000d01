// The typing scenarios — typing (1), writers (2), fanout (3), docs (8) and the
// smoke test — over one engine, TypingLoad: documents with typists (each a
// connection and a Typist) and observers, sends paced open loop (a rate per
// typist from a random phase, late sends leave at once) or closed loop (W
// updates in flight per typist), every receipt timed by the Tracker, and a
// Window of /proc figures over each measured phase.
#include <boost/json/array.hpp>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "crdt/doc.h"
#include "loadgen/scenarios.h"
#include "loadgen/tracker.h"
#include "loadgen/typist.h"

namespace quire::loadgen {
namespace {

constexpr std::size_t kObserver = std::numeric_limits<std::size_t>::max();

struct DocPlan {
  std::string name;
  std::size_t writers = 0;
  std::size_t observers = 0;
};

// A typist's client id: distinct within a run, 32 bits like Yjs's own.
std::uint64_t client_id_for(const Run& run, std::size_t i) {
  return 1 + (run.seed() % 2000) * 1'000'000 + i;
}

class TypingLoad : public ConnectionListener {
 public:
  TypingLoad(Run& run, const std::vector<DocPlan>& docs, std::size_t phases)
      : run_(run), tracker_(phases), acks_(phases), lag_(phases), bounds_(phases) {
    std::size_t conn = 0;
    for (const DocPlan& d : docs) {
      const auto receivers = static_cast<std::uint32_t>(d.writers + d.observers - 1);
      for (std::size_t i = 0; i < d.writers; ++i, ++conn) {
        const std::size_t w = writers_.size();
        writers_.push_back(Writer{run.connection(d.name, run.protocol_for(conn), *this, w),
                                  Typist(client_id_for(run, w), run.seed() * 7919 + w), receivers});
        by_client_[writers_.back().typist.client_id()] = w;
        all_.push_back(writers_.back().conn);
      }
      for (std::size_t i = 0; i < d.observers; ++i, ++conn) {
        all_.push_back(run.connection(d.name, run.protocol_for(conn), *this, kObserver));
      }
    }
    tracker_.on_complete = [this](std::uint64_t client) {
      if (!closed_loop_) return;
      auto it = by_client_.find(client);
      if (it != by_client_.end()) type_one(writers_[it->second]);
    };
  }

  asio::awaitable<void> connect(double timeout) {
    co_await run_.connect_all(all_, static_cast<std::size_t>(run_.num("connect-concurrency")), timeout, "connections");
  }

  // Every typist types `rate` updates per second (open loop) for warmup + seconds;
  // what is sent after the warm-up counts in `phase`, whose window `w` gets.
  asio::awaitable<void> type_open(double rate, double warmup, double seconds, int phase, Window& w) {
    co_await run_.pace(
        writers_.size(), rate, warmup, seconds,
        [this](std::size_t i, std::int64_t lateness) {
          if (phase_ >= 0) lag_[static_cast<std::size_t>(phase_)].record(lateness);
          type_one(writers_[i]);
        },
        [&] { begin_phase(phase, w); });
    end_phase(phase, w);
  }

  // Each typist keeps `window` updates in flight — sent and not yet received by
  // every other connection of its document — for warmup + seconds.
  asio::awaitable<void> type_closed(std::size_t window, double warmup, double seconds, int phase, Window& w) {
    closed_loop_ = true;
    for (Writer& wr : writers_) {
      for (std::size_t i = 0; i < window; ++i) type_one(wr);
    }
    co_await run_.sleep(warmup);
    begin_phase(phase, w);
    co_await run_.sleep(seconds);
    end_phase(phase, w);
    closed_loop_ = false;
  }

  // Waits until every update sent has reached every receiver (and every ack
  // arrived), at most `timeout` seconds.
  asio::awaitable<bool> drain(double timeout) {
    co_return co_await run_.wait_for([this] { return tracker_.outstanding() == 0 && acks_waiting() == 0; }, timeout);
  }

  [[nodiscard]] std::size_t acks_waiting() const {
    std::size_t n = 0;
    for (const Writer& w : writers_) n += w.conn->acks_waiting();
    return n;
  }

  // The figures of one measured phase.
  json::object phase_json(int phase, const Window& w, double offered_per_second) {
    PhaseFigures& p = tracker_.phase(phase);
    const double s = w.seconds();
    json::object o{{"sent", p.sent},
                   {"sent_per_s", std::round(static_cast<double>(p.sent) / s)},
                   {"completed_per_s", std::round(static_cast<double>(p.completed) / s)},
                   {"not_completed", p.sent - p.completed},
                   {"receipts_per_s", std::round(static_cast<double>(p.latency.count()) / s)},
                   {"latency_ms", latency_json(p.latency)},
                   {"completion_ms", latency_json(p.completion)},
                   {"ack_ms", latency_json(acks_[static_cast<std::size_t>(phase)])},
                   {"send_lag_ms", latency_json(lag_[static_cast<std::size_t>(phase)])},
                   {"window", w.to_json()}};
    if (offered_per_second > 0) o["offered_per_s"] = offered_per_second;
    return o;
  }

  json::object totals_json() const {
    return json::object{{"receipts", tracker_.receipts()},
                        {"unmatched_structs", tracker_.unmatched()},
                        {"duplicates", tracker_.duplicates()},
                        {"echoes", tracker_.echoes()},
                        {"undecodable_updates", tracker_.undecodable()},
                        {"outstanding", tracker_.outstanding()},
                        {"acks_waiting", acks_waiting()},
                        {"frames", counters_json(sum_counters(all_))}};
  }

  [[nodiscard]] const std::vector<std::shared_ptr<Connection>>& connections() const { return all_; }
  [[nodiscard]] std::size_t writer_count() const { return writers_.size(); }
  [[nodiscard]] std::uint64_t characters_typed() const {
    std::uint64_t n = 0;
    for (const Writer& w : writers_) n += w.typist.clock();
    return n;
  }
  [[nodiscard]] Tracker& tracker() { return tracker_; }
  // Updates sent over the Hocuspocus protocol, and SyncStatus 1 received for them.
  [[nodiscard]] std::uint64_t acked_updates_sent() const { return acked_updates_sent_; }
  [[nodiscard]] std::uint64_t acks_applied() const { return acks_applied_; }

  void on_update(Connection& c, ByteView update, std::int64_t now) override {
    tracker_.received(update, c.tag == kObserver ? 0 : writers_[c.tag].typist.client_id(), now);
  }

  void on_ack(Connection& /*c*/, bool applied, std::int64_t sent_ns, std::int64_t now) override {
    if (!applied || sent_ns == 0) return;
    ++acks_applied_;
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
      if (sent_ns >= bounds_[i].first && sent_ns < bounds_[i].second) acks_[i].record(now - sent_ns);
    }
  }

 private:
  struct Writer {
    std::shared_ptr<Connection> conn;
    Typist typist;
    std::uint32_t receivers = 0;
  };

  void type_one(Writer& w) {
    if (!w.conn->synced()) return;
    const std::uint64_t clock = w.typist.clock();
    auto update = w.typist.type_char();
    if (!update.ok()) {
      run_.failures.push_back("the engine refused a keystroke: " + update.error().message);
      return;
    }
    const std::int64_t now = now_ns();
    tracker_.sent(w.typist.client_id(), clock, 1, now, w.receivers, phase_);
    w.conn->send_update(*update, now);
    if (w.conn->protocol() == protocol::Protocol::kHocuspocus) ++acked_updates_sent_;
  }

  void begin_phase(int phase, Window& w) {
    w = run_.begin_window();
    phase_ = phase;
    bounds_[static_cast<std::size_t>(phase)] = {now_ns(), std::numeric_limits<std::int64_t>::max()};
  }
  void end_phase(int phase, Window& w) {
    run_.end_window(w);
    phase_ = -1;
    bounds_[static_cast<std::size_t>(phase)].second = now_ns();
  }

  Run& run_;
  std::vector<Writer> writers_;
  std::unordered_map<std::uint64_t, std::size_t> by_client_;
  std::vector<std::shared_ptr<Connection>> all_;
  Tracker tracker_;
  std::vector<Histogram> acks_;                                // send → SyncStatus (Hocuspocus protocol), by phase
  std::vector<Histogram> lag_;                                 // how late the pacer sent, by phase
  std::vector<std::pair<std::int64_t, std::int64_t>> bounds_;  // each phase's [start, end)
  int phase_ = -1;
  bool closed_loop_ = false;
  std::uint64_t acked_updates_sent_ = 0;
  std::uint64_t acks_applied_ = 0;
};

// One document with `writers` typists and `observers`, one measured phase at `rate`
// per typist (open loop) or with `window` in flight (closed loop, rate 0).
asio::awaitable<void> single_phase(Run& run, DocPlan doc, double rate, std::size_t window) {
  TypingLoad load(run, {doc}, 1);
  co_await load.connect(run.num("connect-timeout"));
  Window w;
  if (rate > 0) {
    co_await load.type_open(rate, run.num("warmup"), run.num("seconds"), 0, w);
  } else {
    co_await load.type_closed(window, run.num("warmup"), run.num("seconds"), 0, w);
  }
  const bool drained = co_await load.drain(run.num("drain"));
  run.results["phase"] = load.phase_json(0, w, rate * static_cast<double>(doc.writers));
  run.results["drained"] = drained;
  run.results["totals"] = load.totals_json();
}

}  // namespace

asio::awaitable<void> run_typing(Run& run) {
  DocPlan doc{run.doc_name("typing-0"), 1, static_cast<std::size_t>(run.num("observers"))};
  co_await single_phase(run, doc, 0, static_cast<std::size_t>(run.num("window")));
}

asio::awaitable<void> run_writers(Run& run) {
  DocPlan doc{run.doc_name("writers-0"), static_cast<std::size_t>(run.num("writers")), 0};
  co_await single_phase(run, doc, run.num("rate"), 0);
}

asio::awaitable<void> run_fanout(Run& run) {
  DocPlan doc{run.doc_name("fanout-0"), 1, static_cast<std::size_t>(run.num("observers"))};
  co_await single_phase(run, doc, run.num("rate"), 0);
}

asio::awaitable<void> run_docs(Run& run) {
  // `clients` people each typing into `docs-per-client` documents (one socket per
  // document, as a provider per document opens), each document also open in
  // `observers` other clients; the offered total rate rises step by step.
  const auto clients = static_cast<std::size_t>(run.num("clients"));
  const auto per_client = static_cast<std::size_t>(run.num("docs-per-client"));
  const auto observers = static_cast<std::size_t>(run.num("observers"));
  std::vector<DocPlan> docs;
  for (std::size_t i = 0; i < clients * per_client; ++i)
    docs.push_back({run.doc_name("docs-" + std::to_string(i)), 1, observers});
  const std::vector<double> rates = run.list("rates");
  TypingLoad load(run, docs, rates.size());
  co_await load.connect(run.num("connect-timeout"));
  co_await run.sleep(run.num("settle"));  // whatever the server does after 2,000 joins is not the first step's
  json::array steps;
  for (std::size_t i = 0; i < rates.size(); ++i) {
    Window w;
    const double per_typist = rates[i] / static_cast<double>(load.writer_count());
    co_await load.type_open(per_typist, run.num("warmup"), run.num("seconds"), static_cast<int>(i), w);
    const bool drained = co_await load.drain(run.num("drain"));
    json::object step = load.phase_json(static_cast<int>(i), w, rates[i]);
    step["drained"] = drained;
    const PhaseFigures& p = load.tracker().phase(static_cast<int>(i));
    const double achieved = static_cast<double>(p.completed) / w.seconds() / rates[i];
    const double p99_ms = to_ms(p.latency.percentile(0.99));
    steps.push_back(std::move(step));
    // Past saturation every further step only measures a growing queue.
    if (!drained || achieved < run.num("min-achieved") || p99_ms > run.num("max-p99-ms")) break;
  }
  run.results["steps"] = std::move(steps);
  run.results["totals"] = load.totals_json();
}

asio::awaitable<void> run_smoke(Run& run) {
  // Every client types and receives everyone else's updates (both protocols in
  // one room with --protocol mixed); then the assertions.
  DocPlan doc{run.doc_name("smoke-0"), static_cast<std::size_t>(run.num("clients")), 0};
  TypingLoad load(run, {doc}, 1);
  co_await load.connect(run.num("connect-timeout"));
  Window w;
  co_await load.type_open(run.num("rate"), 0.2, run.num("seconds"), 0, w);
  const bool drained = co_await load.drain(run.num("drain"));
  run.results["phase"] = load.phase_json(0, w, run.num("rate") * static_cast<double>(doc.writers));
  run.results["totals"] = load.totals_json();

  const auto expect = [&run](bool ok, const std::string& what) {
    if (!ok) run.failures.push_back(what);
  };
  const Tracker& t = load.tracker();
  const ConnectionCounters sum = sum_counters(load.connections());
  const PhaseFigures& p = load.tracker().phase(0);
  std::size_t synced = 0;
  for (const auto& c : load.connections()) synced += c->synced() ? 1 : 0;
  expect(synced == load.connections().size(), "not every client stayed connected and synced");
  expect(p.sent > 0, "nothing was typed");
  expect(drained && t.outstanding() == 0, "some updates did not reach every other client");
  expect(p.completed == p.sent, "updates sent in the window that not every other client received");
  expect(t.receipts() >= p.sent * (doc.writers - 1), "fewer receipts than updates × other clients");
  expect(load.acks_waiting() == 0 && load.acks_applied() == load.acked_updates_sent(),
         "Hocuspocus updates without their SyncStatus 1 acknowledgement");
  run.results["hocuspocus_updates_acknowledged"] = load.acks_applied();
  expect(sum.rejected == 0 && sum.denied == 0, "updates refused by the server");
  expect(sum.undecodable == 0 && t.undecodable() == 0, "frames or updates that did not decode");
  expect(p.latency.count() > 0, "no latency samples");

  // A fresh client receives the whole document: every character typed, once.
  struct Fresh : ConnectionListener {
    crdt::Doc doc;
    bool applied = false;
    void on_synced(Connection& /*c*/, ByteView state) override { applied = doc.apply_update(state).ok(); }
  } fresh;
  auto late = run.connection(doc.name, run.protocol_for(0), fresh, kObserver);
  const std::vector<std::shared_ptr<Connection>> one = {late};  // GCC 12: no braced list across co_await
  co_await run.connect_all(one, 1, run.num("connect-timeout"), "fresh_connection");
  expect(fresh.applied, "a fresh client could not apply the document it was sent");
  const std::uint64_t length = fresh.doc.text(kTextRoot).size();
  run.results["fresh_client_characters"] = length;
  run.results["characters_typed"] = load.characters_typed();
  expect(length == load.characters_typed(), "the fresh client's text is not every character typed");
}

}  // namespace quire::loadgen
