// PgStore against a private PostgreSQL on loopback (fsync on,
// synchronous_commit on): the latency of one append transaction (the commit
// queue's group commit) by batch size, and of a load and a compaction of a
// document with a long log. Prints p50/p99/max; never asserts.
//   pg_store_bench [--count N] [--size BYTES]   (defaults 300, 100)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "storage/pg_store.h"
#include "storage/pg_test_server.h"

namespace {

using quire::Bytes;
using quire::storage::AppendEntry;
using quire::storage::DocKey;
using quire::storage::PgStore;
using Clock = std::chrono::steady_clock;

// Latency quantiles of `ms`, and `per_call` items (entries, loads) per second.
void report(const std::string& name, std::vector<double> ms, std::size_t per_call, const char* unit) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  const auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))]; };
  double total = 0;
  for (double v : ms) total += v;
  std::printf("%-26s n=%-5zu p50=%7.2f ms  p99=%7.2f ms  max=%7.2f ms  %9.0f %s/s\n", name.c_str(), ms.size(), at(0.50),
              at(0.99), ms.back(), 1000.0 * static_cast<double>(per_call * ms.size()) / total, unit);
}

template <class Call>
double time_ms(Call call) {
  const auto start = Clock::now();
  call();
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t count = 300;
  std::size_t size = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--count") == 0) count = std::stoul(argv[i + 1]);
    if (std::strcmp(argv[i], "--size") == 0) size = std::stoul(argv[i + 1]);
  }
  auto server = quire::storage::testing::PgTestServer::start();
  if (!server) {
    std::fprintf(stderr, "%s\n", server.error().to_string().c_str());
    return 1;
  }
  auto url = (*server)->create_database();
  if (!url) {
    std::fprintf(stderr, "%s\n", url.error().to_string().c_str());
    return 1;
  }
  auto store = PgStore::open(*url);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().to_string().c_str());
    return 1;
  }
  const Bytes payload(size, 'x');
  for (std::size_t batch : {1, 16, 256}) {
    std::vector<AppendEntry> entries;
    for (std::size_t i = 0; i < batch; ++i) entries.push_back({{"ws", "doc-" + std::to_string(i % 8)}, payload, "u"});
    std::vector<double> ms;
    for (std::size_t n = 0; n < count; ++n) {
      ms.push_back(time_ms([&] {
        if (!(*store)->append(entries)) std::fprintf(stderr, "append failed\n");
      }));
    }
    report("append batch=" + std::to_string(batch), ms, batch, "entries");
  }
  // doc-0 now holds count * (1 + 2 + 32) entries.
  const DocKey doc{"ws", "doc-0"};
  std::vector<double> loads;
  for (int n = 0; n < 20; ++n) loads.push_back(time_ms([&] { (void)(*store)->load(doc); }));
  auto info = (*store)->info(doc);
  report("load (" + std::to_string(info ? info->log_entries : 0) + " entries)", loads, 1, "loads");
  const double compact = time_ms(
      [&] { (void)(*store)->compact(doc, Bytes(64 * 1024, 's'), Bytes(16, 'v'), quire::storage::kThroughLastSeq); });
  report("compact (64 KiB snapshot)", {compact}, 1, "compactions");
  return 0;
}
