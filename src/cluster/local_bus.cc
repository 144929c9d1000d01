// LocalHub and LocalBus (local_bus.h).
#include "cluster/local_bus.h"

#include <cassert>
#include <future>

namespace quire::cluster {

using detail::BusThread;
using detail::StreamId;
using detail::Subscription;

LocalHub::LocalHub(Options options) : options_(options), thread_([this] { run(); }) {}

LocalHub::~LocalHub() {
  {
    std::lock_guard lock(mu_);
    assert(subs_.empty() && sinks_.empty() && "destroy every LocalBus view before its hub");
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void LocalHub::run() {
  BusThread marker(this);
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void LocalHub::post_locked(std::function<void()> task) {
  tasks_.push_back(std::move(task));
  cv_.notify_one();
}

void LocalHub::post(std::function<void()> task) {
  std::lock_guard lock(mu_);
  post_locked(std::move(task));
}

void LocalHub::wait_idle() {
  if (BusThread::is(this)) return;  // a task waiting for itself
  std::promise<void> done;
  post([&done] { done.set_value(); });
  done.get_future().wait();
}

void LocalHub::publish(const std::string& node, std::string_view doc, Kind kind, Bytes payload) {
  auto entry = std::make_shared<Entry>();
  entry->kind = kind;
  entry->origin_node = node;
  entry->payload = std::move(payload);
  std::lock_guard lock(mu_);
  if (kind == Kind::kUpdate) {
    auto it = logs_.find(doc);
    if (it == logs_.end()) it = logs_.emplace(std::string(doc), DocLog{}).first;
    DocLog& log = it->second;
    log.last = StreamId::next_after(log.last, detail::unix_ms());
    entry->id = log.last.str();
    log.entries.push_back({log.last, entry});
    while (log.entries.size() > options_.maxlen) {
      StreamId& trimmed = log.trimmed[log.entries.front().entry->origin_node];
      trimmed = std::max(trimmed, log.entries.front().id);
      log.entries.pop_front();
    }
  }
  const auto subs = subs_by_doc_.find(doc);
  if (subs == subs_by_doc_.end()) return;
  for (const std::uint64_t id : subs->second) {
    const Sub& sub = subs_.at(id);
    if (sub.node == node) continue;
    post_locked([s = sub.subscription, entry] { s->deliver(*entry); });
  }
}

std::uint64_t LocalHub::subscribe(const std::string& node, const std::string& doc, const std::string& from,
                                  std::shared_ptr<Subscription> subscription) {
  std::lock_guard lock(mu_);
  const std::uint64_t id = next_sub_++;
  const auto log = logs_.find(doc);
  const StreamId last = log == logs_.end() ? StreamId{} : log->second.last;
  const std::optional<StreamId> start = from.empty() ? last : StreamId::parse_position(from);
  bool gap = !start;
  if (start && log != logs_.end()) {
    for (const auto& [origin, trimmed] : log->second.trimmed) gap |= origin != node && trimmed > *start;
  }
  post_locked([s = subscription] { s->ready(Subscription::kAllReady); });
  if (gap) post_locked([s = subscription] { s->gap(); });
  if (start && log != logs_.end()) {
    for (const Stored& stored : log->second.entries) {
      if (stored.id > *start && stored.entry->origin_node != node) {
        post_locked([s = subscription, e = stored.entry] { s->deliver(*e); });
      }
    }
  }
  subs_by_doc_[doc].insert(id);
  subs_.emplace(id, Sub{node, std::move(subscription)});
  return id;
}

void LocalHub::unsubscribe(std::uint64_t id) {
  std::shared_ptr<Subscription> subscription;
  {
    std::lock_guard lock(mu_);
    const auto it = subs_.find(id);
    if (it == subs_.end()) return;
    subscription = std::move(it->second.subscription);
    const auto by_doc = subs_by_doc_.find(subscription->doc());
    by_doc->second.erase(id);
    if (by_doc->second.empty()) subs_by_doc_.erase(by_doc);
    subs_.erase(it);
  }
  subscription->close(!BusThread::is(this));
}

LocalBus::LocalBus(LocalHub& hub, std::string node_id) : hub_(hub), node_id_(std::move(node_id)) {
  std::lock_guard lock(hub_.mu_);
  hub_.sinks_.insert(sink_);
}

LocalBus::LocalBus(std::string node_id)
    : own_hub_(std::make_unique<LocalHub>(LocalHub::Options{.maxlen = 0})),
      hub_(*own_hub_),
      node_id_(std::move(node_id)) {
  std::lock_guard lock(hub_.mu_);
  hub_.sinks_.insert(sink_);
}

LocalBus::~LocalBus() {
  stop();
}

void LocalBus::stop() {
  std::set<std::uint64_t> subscriptions;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    subscriptions.swap(subscriptions_);
  }
  hub_.wait_idle();
  for (const std::uint64_t id : subscriptions) hub_.unsubscribe(id);
  const bool wait = !BusThread::is(&hub_);
  sink_->close(wait);
  life_->close(wait);
  std::lock_guard lock(hub_.mu_);
  hub_.sinks_.erase(sink_);
}

void LocalBus::publish(std::string_view doc, Kind kind, Bytes payload) {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
  }
  hub_.publish(node_id_, doc, kind, std::move(payload));
  counters_->published.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t LocalBus::subscribe(std::string doc, std::string from, Handlers handlers) {
  auto subscription = std::make_shared<Subscription>(doc, std::move(handlers), counters_);
  std::lock_guard lock(mu_);
  if (stopped_) return 0;
  const std::uint64_t id = hub_.subscribe(node_id_, doc, from, std::move(subscription));
  subscriptions_.insert(id);
  return id;
}

void LocalBus::unsubscribe(std::uint64_t subscription) {
  {
    std::lock_guard lock(mu_);
    if (subscriptions_.erase(subscription) == 0) return;
  }
  hub_.unsubscribe(subscription);
}

void LocalBus::put_session(SessionRecord record, std::chrono::seconds ttl) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(hub_.mu_);
  if (++hub_.session_puts_ % 64 == 0)
    std::erase_if(hub_.sessions_, [&](const auto& s) { return s.second.expires <= now; });
  std::string key = record.key;
  hub_.sessions_[std::move(key)] = {std::move(record), now + ttl};
}

void LocalBus::get_session(std::string key, std::function<void(std::optional<SessionRecord>)> done) {
  std::optional<SessionRecord> found;
  std::lock_guard lock(hub_.mu_);
  const auto it = hub_.sessions_.find(key);
  if (it != hub_.sessions_.end()) {
    if (it->second.expires > std::chrono::steady_clock::now()) {
      found = it->second.record;
    } else {
      hub_.sessions_.erase(it);
    }
  }
  hub_.post_locked([life = life_, done = std::move(done), found = std::move(found)]() mutable {
    life->run([&] { done(std::move(found)); });
  });
}

void LocalBus::delete_session(std::string key) {
  std::lock_guard lock(hub_.mu_);
  hub_.sessions_.erase(key);
}

void LocalBus::publish_revocation(Revocation revocation) {
  auto shared = std::make_shared<const Revocation>(std::move(revocation));
  std::lock_guard lock(hub_.mu_);
  for (const auto& sink : hub_.sinks_) hub_.post_locked([sink, shared] { sink->deliver(*shared); });
}

void LocalBus::on_revocation(std::function<void(const Revocation&)> handler) {
  sink_->set(std::move(handler));
}

}  // namespace quire::cluster
