// Shared bus internals (dispatch.h) and make_node_id (bus.h).
#include "cluster/dispatch.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <random>

namespace quire::cluster {

std::string make_node_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "node");
  std::random_device rd;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-%ld-%08x", static_cast<long>(getpid()), static_cast<unsigned>(rd()));
  return std::string(host) + suffix;
}

namespace detail {
namespace {

thread_local const void* t_bus_owner = nullptr;

bool parse_u64(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<StreamId> StreamId::parse(std::string_view text) {
  StreamId id;
  const std::size_t dash = text.find('-');
  if (!parse_u64(text.substr(0, dash), id.ms)) return std::nullopt;
  if (dash != std::string_view::npos && !parse_u64(text.substr(dash + 1), id.seq)) return std::nullopt;
  return id;
}

std::optional<StreamId> StreamId::parse_position(std::string_view text) {
  const std::optional<StreamId> id = parse(text);
  if (!id || text.find('-') != std::string_view::npos || id->ms == 0) return id;
  return StreamId{id->ms - 1, UINT64_MAX};
}

std::string StreamId::str() const {
  return std::to_string(ms) + "-" + std::to_string(seq);
}

StreamId StreamId::next_after(StreamId last, std::uint64_t now_ms) {
  if (now_ms > last.ms) return {now_ms, 0};
  return {last.ms, last.seq + 1};
}

BusStats Counters::snapshot() const {
  return {published.load(), delivered.load(), dropped.load(), gaps.load(), reconnects.load()};
}

BusThread::BusThread(const void* owner) : previous_(t_bus_owner) {
  t_bus_owner = owner;
}
BusThread::~BusThread() {
  t_bus_owner = previous_;
}
bool BusThread::is(const void* owner) {
  return t_bus_owner == owner;
}

void CallGuard::close(bool wait) {
  if (!wait) {
    open_.store(false, std::memory_order_release);
    return;
  }
  std::lock_guard lock(mu_);
  open_.store(false, std::memory_order_release);
}

Subscription::Subscription(std::string doc, Bus::Handlers handlers, std::shared_ptr<Counters> counters)
    : doc_(std::move(doc)), handlers_(std::move(handlers)), counters_(std::move(counters)) {}

void Subscription::deliver(const Entry& entry) {
  guard_.run([&] {
    counters_->delivered.fetch_add(1, std::memory_order_relaxed);
    if (handlers_.on_entry) handlers_.on_entry(entry);
  });
}

void Subscription::gap() {
  guard_.run([&] {
    counters_->gaps.fetch_add(1, std::memory_order_relaxed);
    if (handlers_.on_gap) handlers_.on_gap();
  });
}

void Subscription::ready(unsigned parts) {
  const unsigned before = ready_.fetch_or(parts, std::memory_order_acq_rel);
  if (before == kAllReady || (before | parts) != kAllReady) return;
  guard_.run([&] {
    if (handlers_.on_live) handlers_.on_live();
  });
}

void RevocationSink::set(std::function<void(const Revocation&)> handler) {
  auto shared = std::make_shared<const std::function<void(const Revocation&)>>(std::move(handler));
  std::lock_guard lock(set_mu_);
  handler_ = std::move(shared);
}

void RevocationSink::deliver(const Revocation& revocation) {
  std::shared_ptr<const std::function<void(const Revocation&)>> handler;
  {
    std::lock_guard lock(set_mu_);
    handler = handler_;
  }
  if (!handler || !*handler) return;
  guard_.run([&] { (*handler)(revocation); });
}

std::uint64_t unix_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace detail
}  // namespace quire::cluster
