// LocalBus: the Bus inside one process. The embedded default (one node) uses
// LocalBus("node"), whose own hub keeps no stream history: there is nobody to
// deliver to, only revocations (to itself) and session records. Tests share
// one LocalHub between several views, each with its own node id, so that the
// conformance suite (bus_conformance.h) runs the same cases as on Redis.
//
// Thread-safety: a LocalHub owns one dispatcher thread; every handler and
// get_session callback of every view runs there, in the order the events
// happened. Views may be used from any thread.
// Limitations: memory only; a hub's history per document is `maxlen` entries
// (trimmed like a Redis stream), its sessions live until their TTL or the hub.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "cluster/bus.h"
#include "cluster/dispatch.h"

namespace quire::cluster {

class LocalBus;

// What the views of one in-process "cluster" share. Outlives its views.
class LocalHub {
 public:
  struct Options {
    std::size_t maxlen = 10000;  // update history kept per document, for catch-up (0 = none)
  };
  LocalHub() : LocalHub(Options{}) {}
  explicit LocalHub(Options options);
  ~LocalHub();
  LocalHub(const LocalHub&) = delete;
  LocalHub& operator=(const LocalHub&) = delete;

 private:
  friend class LocalBus;
  struct Stored {
    detail::StreamId id;
    std::shared_ptr<const Entry> entry;
  };
  struct DocLog {
    detail::StreamId last;
    std::deque<Stored> entries;
    std::map<std::string, detail::StreamId> trimmed;  // per origin node: the newest entry trimmed away
  };
  struct Sub {
    std::string node;
    std::shared_ptr<detail::Subscription> subscription;
  };
  struct Session {
    SessionRecord record;
    std::chrono::steady_clock::time_point expires;
  };

  void post(std::function<void()> task);
  void post_locked(std::function<void()> task);  // with mu_ held
  void wait_idle();                              // everything posted so far has run
  void run();

  void publish(const std::string& node, std::string_view doc, Kind kind, Bytes payload);
  std::uint64_t subscribe(const std::string& node, const std::string& doc, const std::string& from,
                          std::shared_ptr<detail::Subscription> subscription);
  void unsubscribe(std::uint64_t id);

  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::map<std::string, DocLog, std::less<>> logs_;
  std::map<std::uint64_t, Sub> subs_;
  std::map<std::string, std::set<std::uint64_t>, std::less<>> subs_by_doc_;
  std::uint64_t next_sub_ = 1;
  std::map<std::string, Session> sessions_;
  std::uint64_t session_puts_ = 0;
  std::set<std::shared_ptr<detail::RevocationSink>> sinks_;
  std::thread thread_;  // last: starts after everything above exists
};

class LocalBus final : public Bus {
 public:
  // A view on a shared hub.
  LocalBus(LocalHub& hub, std::string node_id);
  // One node alone, with its own hub that keeps no history.
  explicit LocalBus(std::string node_id);
  ~LocalBus() override;
  LocalBus(const LocalBus&) = delete;
  LocalBus& operator=(const LocalBus&) = delete;

  void start() override {}
  void stop() override;
  [[nodiscard]] std::string node_id() const override { return node_id_; }
  void publish(std::string_view doc, Kind kind, Bytes payload) override;
  std::uint64_t subscribe(std::string doc, std::string from, Handlers handlers) override;
  void unsubscribe(std::uint64_t subscription) override;
  void put_session(SessionRecord record, std::chrono::seconds ttl) override;
  void get_session(std::string key, std::function<void(std::optional<SessionRecord>)> done) override;
  void delete_session(std::string key) override;
  void publish_revocation(Revocation revocation) override;
  void on_revocation(std::function<void(const Revocation&)> handler) override;
  [[nodiscard]] bool connected() const override { return true; }
  [[nodiscard]] BusStats stats() const override { return counters_->snapshot(); }

 private:
  std::unique_ptr<LocalHub> own_hub_;  // only for the one-node constructor
  LocalHub& hub_;
  const std::string node_id_;
  const std::shared_ptr<detail::Counters> counters_ = std::make_shared<detail::Counters>();
  const std::shared_ptr<detail::RevocationSink> sink_ = std::make_shared<detail::RevocationSink>();
  // Closed by stop(): get_session callbacks still queued then are not called.
  const std::shared_ptr<detail::CallGuard> life_ = std::make_shared<detail::CallGuard>();
  std::mutex mu_;
  std::set<std::uint64_t> subscriptions_;
  bool stopped_ = false;
};

}  // namespace quire::cluster
