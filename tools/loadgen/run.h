// Run: what one scenario run has to hand — the io_context, the server's address
// and process id, the scenario's parameters, the report being written — and the
// steps every scenario is made of: open connections a bounded number at a time,
// wait for a condition, measure a window (server CPU and memory from /proc, the
// generator's own CPU, the machine's), sample the server's resident memory for
// its peak. Scenarios are coroutines on the one io_context thread.
//
// Thread: the generator's one thread. Limitations: the server is measured only
// when its pid is given (--server-pid); one process per server, no children.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/result.h"
#include "loadgen/connection.h"
#include "loadgen/histogram.h"
#include "loadgen/proc_stats.h"

namespace quire::loadgen {

namespace json = boost::json;

// One parameter of a scenario: --key VALUE, with its default and meaning.
struct Param {
  std::string_view key;
  std::string_view value;
  std::string_view help;
};

// What /proc said at the start and end of a measurement window.
struct Window {
  ProcSample server_start, server_end, self_start, self_end;
  double machine_start = 0, machine_end = 0;
  bool has_server = false;

  [[nodiscard]] double seconds() const { return static_cast<double>(self_end.t_ns - self_start.t_ns) / 1e9; }
  [[nodiscard]] double server_cpu_seconds() const { return server_end.cpu_seconds - server_start.cpu_seconds; }
  [[nodiscard]] json::object to_json() const;
};

class Run {
 public:
  Run(asio::io_context& io, ServerAddress server, std::vector<protocol::Protocol> protocols, int server_pid,
      std::uint64_t seed, std::map<std::string, std::string, std::less<>> params);

  asio::io_context& io;
  const ServerAddress server;
  json::object results;               // the scenario's figures
  std::vector<std::string> failures;  // checks that did not hold (the smoke test's assertions)

  // A parameter of the scenario (its value or default, validated by main).
  [[nodiscard]] double num(std::string_view key) const;
  [[nodiscard]] std::string str(std::string_view key) const;
  [[nodiscard]] std::vector<double> list(std::string_view key) const;

  // The protocol of the i-th connection: the one given, or alternating (--protocol mixed).
  [[nodiscard]] protocol::Protocol protocol_for(std::size_t i) const { return protocols_[i % protocols_.size()]; }
  [[nodiscard]] std::string protocol_name() const;
  [[nodiscard]] std::uint64_t seed() const { return seed_; }
  [[nodiscard]] std::mt19937_64& rng() { return rng_; }
  [[nodiscard]] bool measures_server() const { return server_pid_ > 0; }

  // A document name unique to this run's seed ("s7-typing-0"), so that runs with
  // different seeds against one long-lived server do not share documents.
  [[nodiscard]] std::string doc_name(std::string_view base) const;

  std::shared_ptr<Connection> connection(std::string doc, protocol::Protocol protocol, ConnectionListener& listener,
                                         std::size_t tag);
  // Starts every connection, at most `concurrency` connecting at once, and waits
  // until each is synced or closed (or `timeout` seconds passed). Adds their
  // set-up times and failures to the report under `name`.
  asio::awaitable<void> connect_all(const std::vector<std::shared_ptr<Connection>>& conns, std::size_t concurrency,
                                    double timeout, std::string_view name);
  asio::awaitable<void> sleep(double seconds);
  // Polls `done` every 2 ms; false if `timeout` seconds passed first.
  asio::awaitable<bool> wait_for(const std::function<bool()>& done, double timeout);

  // Calls fire(i, lateness_ns) for each i in [0, n) `rate` times a second, each
  // from a random phase, for warmup + seconds; calls measure() once the warm-up
  // is over. Open loop: sends that fell behind leave at once, however late.
  asio::awaitable<void> pace(std::size_t n, double rate, double warmup, double seconds,
                             const std::function<void(std::size_t, std::int64_t)>& fire,
                             const std::function<void()>& measure);

  Window begin_window();
  void end_window(Window& w);

  // The server's largest VmRSS seen since the last reset (sampled every 20 ms).
  void reset_peak();
  [[nodiscard]] std::uint64_t peak_rss() const { return peak_rss_; }
  void start_peak_sampler();

  // The server's /proc figures now (zeros when not measured).
  [[nodiscard]] ProcSample server_now() const;

  // Closes every connection the run made with a reset, so that nothing lingers.
  void abort_all();

 private:
  asio::awaitable<void> sample_peak();

  std::vector<protocol::Protocol> protocols_;
  int server_pid_;
  std::uint64_t seed_;
  std::mt19937_64 rng_;
  std::map<std::string, std::string, std::less<>> params_;
  std::vector<std::weak_ptr<Connection>> made_;
  std::uint64_t peak_rss_ = 0;
};

// Figures of a latency histogram in milliseconds: n, p50, p90, p99, p99.9, max, mean.
json::object latency_json(const Histogram& h);
double to_ms(std::int64_t ns);

// A connection set's summary: requested, synced, closed, set-up time, close reasons.
json::object connections_json(const std::vector<std::shared_ptr<Connection>>& conns);

// Sums of the connections' counters.
ConnectionCounters sum_counters(const std::vector<std::shared_ptr<Connection>>& conns);
json::object counters_json(const ConnectionCounters& c);

}  // namespace quire::loadgen
