// The steps scenarios are made of (run.h).
#include "loadgen/run.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <queue>

namespace quire::loadgen {

double to_ms(std::int64_t ns) {
  return std::round(static_cast<double>(ns) / 1e3) / 1e3;
}

json::object latency_json(const Histogram& h) {
  return json::object{{"n", h.count()},
                      {"p50", to_ms(h.percentile(0.50))},
                      {"p90", to_ms(h.percentile(0.90))},
                      {"p99", to_ms(h.percentile(0.99))},
                      {"p999", to_ms(h.percentile(0.999))},
                      {"max", to_ms(h.max())},
                      {"mean", to_ms(static_cast<std::int64_t>(h.mean()))}};
}

json::object Window::to_json() const {
  const double s = seconds();
  const double self_cpu = self_end.cpu_seconds - self_start.cpu_seconds;
  const double machine = machine_end - machine_start;
  json::object o{{"seconds", std::round(s * 1000) / 1000},
                 {"generator_cpu_percent", std::round(self_cpu / s * 1000) / 10},
                 {"generator_rss", self_end.rss}};
  if (has_server) {
    const double server = server_cpu_seconds();
    o["server_cpu_percent"] = std::round(server / s * 1000) / 10;
    o["server_rss_start"] = server_start.rss;
    o["server_rss_end"] = server_end.rss;
    o["server_hwm"] = server_end.hwm;
    o["server_threads"] = server_end.threads;
    o["server_write_bytes"] = server_end.write_bytes - server_start.write_bytes;
    // What neither the server nor the generator used: other processes on the machine.
    o["other_cpu_percent"] = std::round(std::max(0.0, machine - server - self_cpu) / s * 1000) / 10;
  }
  return o;
}

Run::Run(asio::io_context& io_context, ServerAddress address, std::vector<protocol::Protocol> protocols, int server_pid,
         std::uint64_t seed, std::map<std::string, std::string, std::less<>> params)
    : io(io_context),
      server(std::move(address)),
      protocols_(std::move(protocols)),
      server_pid_(server_pid),
      seed_(seed),
      rng_(seed),
      params_(std::move(params)) {}

double Run::num(std::string_view key) const {
  return std::strtod(str(key).c_str(), nullptr);
}

std::string Run::str(std::string_view key) const {
  auto it = params_.find(key);
  return it == params_.end() ? std::string() : it->second;
}

std::vector<double> Run::list(std::string_view key) const {
  std::vector<double> out;
  const std::string s = str(key);
  for (std::size_t start = 0; start <= s.size();) {
    std::size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(std::strtod(s.substr(start, comma - start).c_str(), nullptr));
    start = comma + 1;
  }
  return out;
}

std::string Run::protocol_name() const {
  if (protocols_.size() > 1) return "mixed";
  return protocols_[0] == protocol::Protocol::kHocuspocus ? "hocuspocus" : "y-websocket";
}

std::string Run::doc_name(std::string_view base) const {
  std::string name = "s";  // appended piecewise: GCC 12's -Wrestrict misfires on operator+ chains at -O3
  name += std::to_string(seed_);
  name += '-';
  name += base;
  return name;
}

std::shared_ptr<Connection> Run::connection(std::string doc, protocol::Protocol protocol, ConnectionListener& listener,
                                            std::size_t tag) {
  auto c = std::make_shared<Connection>(io, server, protocol, std::move(doc), listener);
  c->tag = tag;
  made_.push_back(c);
  return c;
}

asio::awaitable<void> Run::sleep(double seconds) {
  asio::steady_timer t(io);
  t.expires_after(std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9)));
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<bool> Run::wait_for(const std::function<bool()>& done, double timeout) {
  const std::int64_t deadline = now_ns() + static_cast<std::int64_t>(timeout * 1e9);
  asio::steady_timer t(io);
  while (!done()) {
    if (now_ns() >= deadline) co_return false;
    t.expires_after(std::chrono::milliseconds(2));
    co_await t.async_wait(asio::use_awaitable);
  }
  co_return true;
}

asio::awaitable<void> Run::connect_all(const std::vector<std::shared_ptr<Connection>>& conns, std::size_t concurrency,
                                       double timeout, std::string_view name) {
  const std::int64_t deadline = now_ns() + static_cast<std::int64_t>(timeout * 1e9);
  std::size_t next = 0;
  std::size_t settled = 0;  // among the first `next`, counted lazily from `scan`
  std::size_t scan = 0;
  asio::steady_timer t(io);
  for (;;) {
    while (scan < next && conns[scan]->settled()) {
      ++scan;
      ++settled;
    }
    // In flight: started and not yet settled (those past `scan` may have settled out of order).
    std::size_t in_flight = 0;
    for (std::size_t i = scan; i < next; ++i) in_flight += conns[i]->settled() ? 0 : 1;
    while (next < conns.size() && in_flight < concurrency) {
      conns[next++]->start();
      ++in_flight;
    }
    if (settled == conns.size() || now_ns() >= deadline) break;
    t.expires_after(std::chrono::milliseconds(2));
    co_await t.async_wait(asio::use_awaitable);
  }
  results[name] = connections_json(conns);
}

asio::awaitable<void> Run::pace(std::size_t n, double rate, double warmup, double seconds,
                                const std::function<void(std::size_t, std::int64_t)>& fire,
                                const std::function<void()>& measure) {
  const auto interval = static_cast<std::int64_t>(1e9 / rate);
  const std::int64_t start = now_ns();
  const std::int64_t measure_from = start + static_cast<std::int64_t>(warmup * 1e9);
  const std::int64_t end = measure_from + static_cast<std::int64_t>(seconds * 1e9);
  using Due = std::pair<std::int64_t, std::size_t>;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> heap;
  std::uniform_int_distribution<std::int64_t> offset(0, std::max<std::int64_t>(1, interval) - 1);
  for (std::size_t i = 0; i < n; ++i) heap.emplace(start + offset(rng_), i);
  asio::steady_timer timer(io);
  bool measuring = false;
  for (;;) {
    const std::int64_t now = now_ns();
    if (!measuring && now >= measure_from) {
      measuring = true;
      measure();
    }
    if (now >= end) break;
    while (!heap.empty() && heap.top().first <= now) {
      auto [due, i] = heap.top();
      heap.pop();
      fire(i, now - due);
      heap.emplace(due + interval, i);
    }
    std::int64_t wake = std::min(end, heap.empty() ? end : heap.top().first);
    if (!measuring) wake = std::min(wake, measure_from);
    timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(wake)));
    co_await timer.async_wait(asio::use_awaitable);
  }
}

Window Run::begin_window() {
  Window w;
  w.self_start = read_self();
  w.machine_start = machine_busy_seconds();
  if (server_pid_ > 0) {
    if (auto s = read_process(server_pid_); s.ok()) {
      w.server_start = *s;
      w.has_server = true;
    }
  }
  return w;
}

void Run::end_window(Window& w) {
  w.self_end = read_self();
  w.machine_end = machine_busy_seconds();
  if (w.has_server) {
    if (auto s = read_process(server_pid_); s.ok()) {
      w.server_end = *s;
    } else {
      w.has_server = false;
      failures.push_back("the server's /proc figures could not be read: " + s.error().message);
    }
  }
}

ProcSample Run::server_now() const {
  if (server_pid_ <= 0) return {};
  auto s = read_process(server_pid_);
  return s.ok() ? *s : ProcSample{};
}

void Run::reset_peak() {
  peak_rss_ = 0;
  if (server_pid_ > 0) {
    if (auto r = read_rss(server_pid_); r.ok()) peak_rss_ = *r;
  }
}

void Run::start_peak_sampler() {
  if (server_pid_ <= 0) return;
  reset_peak();
  asio::co_spawn(io, sample_peak(), asio::detached);
}

asio::awaitable<void> Run::sample_peak() {
  asio::steady_timer t(io);
  for (;;) {
    auto r = read_rss(server_pid_);
    if (!r.ok()) co_return;
    peak_rss_ = std::max(peak_rss_, *r);
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(asio::use_awaitable);
  }
}

void Run::abort_all() {
  for (auto& w : made_) {
    if (auto c = w.lock()) c->abort();
  }
}

json::object connections_json(const std::vector<std::shared_ptr<Connection>>& conns) {
  Histogram setup;
  std::size_t synced = 0;
  std::size_t closed = 0;
  std::map<std::string, std::uint64_t> errors;
  for (const auto& c : conns) {
    if (c->synced_ns() > 0) {
      ++synced;
      setup.record(c->synced_ns() - c->started_ns());
    }
    if (c->state() == Connection::State::kClosed && c->error() != "aborted") {
      ++closed;
      ++errors[c->error()];
    }
  }
  json::object err;
  for (const auto& [k, v] : errors) err[k] = v;
  return json::object{{"requested", conns.size()},
                      {"synced", synced},
                      {"closed", closed},
                      {"setup_ms", latency_json(setup)},
                      {"errors", std::move(err)}};
}

ConnectionCounters sum_counters(const std::vector<std::shared_ptr<Connection>>& conns) {
  ConnectionCounters s;
  for (const auto& c : conns) {
    const ConnectionCounters& x = c->counters();
    s.frames_in += x.frames_in;
    s.bytes_in += x.bytes_in;
    s.frames_out += x.frames_out;
    s.bytes_out += x.bytes_out;
    s.undecodable += x.undecodable;
    s.extra_acks += x.extra_acks;
    s.rejected += x.rejected;
    s.denied += x.denied;
    s.large += x.large;
  }
  return s;
}

json::object counters_json(const ConnectionCounters& c) {
  return json::object{{"frames_in", c.frames_in}, {"bytes_in", c.bytes_in},       {"frames_out", c.frames_out},
                      {"bytes_out", c.bytes_out}, {"undecodable", c.undecodable}, {"extra_acks", c.extra_acks},
                      {"rejected", c.rejected},   {"denied", c.denied},           {"large", c.large}};
}

}  // namespace quire::loadgen
