// Publish-to-deliver latency between two RedisBus nodes on loopback, through
// a private redis-server: one update at a time (the latency a typist sees
// across nodes), awareness the same way (pub/sub), and a burst (throughput,
// and latency under queueing). Prints p50/p99/max; never asserts.
//   cluster_bench [--count N] [--burst N] [--size BYTES]   (defaults 2000, 5000, 100)
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/redis_bus.h"
#include "cluster/redis_test_server.h"

namespace {

using quire::Bytes;
using quire::cluster::Entry;
using quire::cluster::Kind;
using quire::cluster::RedisBus;
using Clock = std::chrono::steady_clock;

struct Receiver {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> latencies_us;
  bool live = false;

  void on_entry(const Entry& entry) {
    const auto now = Clock::now().time_since_epoch().count();
    long long sent = 0;
    std::memcpy(&sent, entry.payload.data(), sizeof sent);
    std::lock_guard lock(mu);
    latencies_us.push_back(static_cast<double>(now - sent) / 1000.0);
    if (latencies_us.size() >= target) cv.notify_all();  // not per entry: waking the waiter costs more than a delivery
  }
  bool wait_for(std::size_t count) {
    std::unique_lock lock(mu);
    target = count;
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return latencies_us.size() >= count; });
  }
  std::size_t target = 0;
};

Bytes stamped(std::size_t size) {
  Bytes payload(std::max(size, sizeof(long long)), 'x');
  const long long now = Clock::now().time_since_epoch().count();
  std::memcpy(payload.data(), &now, sizeof now);
  return payload;
}

void report(const char* name, std::vector<double> us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  const auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))]; };
  std::printf("%-28s n=%-6zu p50=%8.1f us  p99=%8.1f us  max=%8.1f us\n", name, us.size(), at(0.50), at(0.99),
              us.back());
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 2000, burst = 5000, size = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::size_t value = std::stoul(argv[i + 1]);
    if (flag == "--count") count = value;
    if (flag == "--burst") burst = value;
    if (flag == "--size") size = value;
  }
  quire::cluster::testing::RedisTestServer server;
  if (!server.ok()) {
    std::fprintf(stderr, "cluster_bench: %s\n", server.error().c_str());
    return 1;
  }
  RedisBus a(server.config("a"));
  RedisBus b(server.config("b"));
  a.start();
  b.start();
  Receiver updates, awareness;
  for (auto* receiver : {&updates, &awareness}) {
    RedisBus::Handlers h;
    h.on_entry = [receiver](const Entry& e) { receiver->on_entry(e); };
    h.on_live = [receiver] {
      std::lock_guard lock(receiver->mu);
      receiver->live = true;
      receiver->cv.notify_all();
    };
    b.subscribe(receiver == &updates ? "bench-u" : "bench-a", "", h);
    std::unique_lock lock(receiver->mu);
    if (!receiver->cv.wait_for(lock, std::chrono::seconds(10), [&] { return receiver->live; })) {
      std::fprintf(stderr, "cluster_bench: subscription never went live\n");
      return 1;
    }
  }
  std::printf("cluster_bench: redis-server %d, payload %zu bytes, loopback\n", server.port(), size);

  for (std::size_t i = 0; i < count; ++i) {
    a.publish("bench-u", Kind::kUpdate, stamped(size));
    if (!updates.wait_for(i + 1)) return 1;
  }
  report("update, one at a time", updates.latencies_us);

  for (std::size_t i = 0; i < count; ++i) {
    a.publish("bench-a", Kind::kAwareness, stamped(size));
    if (!awareness.wait_for(i + 1)) return 1;
  }
  report("awareness, one at a time", awareness.latencies_us);

  {
    std::lock_guard lock(updates.mu);
    updates.latencies_us.clear();
  }
  // A burst beyond the publish queue's bound (10,000) is partly dropped by
  // design; what was queued must all arrive.
  const auto start = Clock::now();
  for (std::size_t i = 0; i < burst; ++i) a.publish("bench-u", Kind::kUpdate, stamped(size));
  const std::size_t dropped = a.stats().dropped;
  while (a.stats().published + dropped < burst) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const double written = std::chrono::duration<double>(Clock::now() - start).count();
  const bool all = updates.wait_for(burst - dropped);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report("update, burst", updates.latencies_us);
  std::printf(
      "%-28s %zu of %zu: all in Redis after %.3f s, all delivered after %.3f s = %.0f updates/s"
      " (dropped at the queue: %zu)\n",
      "burst throughput", updates.latencies_us.size(), burst, written, seconds,
      static_cast<double>(updates.latencies_us.size()) / seconds, dropped);
  b.stop();
  a.stop();
  return all ? 0 : 1;
}
