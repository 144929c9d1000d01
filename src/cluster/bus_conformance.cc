// The Bus conformance cases and the Recorder (bus_conformance.h).
#include "cluster/bus_conformance.h"

#include <atomic>
#include <optional>
#include <thread>

namespace quire::cluster::testing {

Bytes bytes_of(std::string_view text) {
  return {text.begin(), text.end()};
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

Bus::Handlers Recorder::handlers() {
  Bus::Handlers h;
  h.on_entry = [this](const Entry& entry) {
    std::function<void(const Entry&)> hook;
    {
      std::lock_guard lock(mu_);
      entries_.push_back(entry);
      cv_.notify_all();
      hook = hook_;
    }
    if (hook) hook(entry);
  };
  h.on_gap = [this] {
    std::lock_guard lock(mu_);
    ++gaps_;
    cv_.notify_all();
  };
  h.on_live = [this] {
    std::lock_guard lock(mu_);
    live_ = true;
    cv_.notify_all();
  };
  return h;
}

std::function<void(const Revocation&)> Recorder::revocation_handler() {
  return [this](const Revocation& revocation) {
    std::lock_guard lock(mu_);
    revocations_.push_back(revocation);
    cv_.notify_all();
  };
}

void Recorder::set_hook(std::function<void(const Entry&)> hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

bool Recorder::wait(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, done);
}
bool Recorder::wait_entries(std::size_t count, std::chrono::milliseconds timeout) {
  return wait([&] { return entries_.size() >= count; }, timeout);
}
bool Recorder::wait_gaps(std::size_t count, std::chrono::milliseconds timeout) {
  return wait([&] { return gaps_ >= count; }, timeout);
}
bool Recorder::wait_live(std::chrono::milliseconds timeout) {
  return wait([&] { return live_; }, timeout);
}
bool Recorder::wait_revocations(std::size_t count, std::chrono::milliseconds timeout) {
  return wait([&] { return revocations_.size() >= count; }, timeout);
}

std::vector<Entry> Recorder::entries() const {
  std::lock_guard lock(mu_);
  return entries_;
}
std::vector<std::string> Recorder::payloads() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const Entry& e : entries_) out.emplace_back(as_chars(e.payload));
  return out;
}
std::size_t Recorder::gaps() const {
  std::lock_guard lock(mu_);
  return gaps_;
}
std::vector<Revocation> Recorder::revocations() const {
  std::lock_guard lock(mu_);
  return revocations_;
}

void BusConformance::start(const ClusterOptions& options) {
  cluster_.reset();
  revocations_.clear();
  cluster_ = (*GetParam())(options);
  ASSERT_NE(cluster_, nullptr);
  for (std::size_t i = 0; i < options.nodes; ++i) {
    revocations_.push_back(std::make_unique<Recorder>());
    node(i).on_revocation(revocations_.back()->revocation_handler());
    node(i).start();
  }
  for (std::size_t i = 0; i < options.nodes; ++i) {
    ASSERT_TRUE(eventually([&] { return node(i).connected(); })) << "node " << i << " never connected";
  }
}

std::uint64_t BusConformance::subscribe_live(Bus& bus, const std::string& doc, const std::string& from, Recorder& rec) {
  const std::uint64_t id = bus.subscribe(doc, from, rec.handlers());
  EXPECT_NE(id, 0u);
  EXPECT_TRUE(rec.wait_live()) << "subscription to " << doc << " never went live";
  return id;
}

namespace {

std::vector<std::string> numbered(std::string_view stem, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.emplace_back(std::string(stem) + std::to_string(i));
  return out;
}

void publish_all(Bus& bus, std::string_view doc, const std::vector<std::string>& payloads, Kind kind = Kind::kUpdate) {
  for (const std::string& p : payloads) bus.publish(doc, kind, bytes_of(p));
}

std::optional<SessionRecord> get_session(Bus& bus, const std::string& key) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::optional<SessionRecord> result;
  };
  auto state = std::make_shared<State>();  // the answer may come after we gave up waiting
  bus.get_session(key, [state](std::optional<SessionRecord> record) {
    std::lock_guard lock(state->mu);
    state->result = std::move(record);
    state->done = true;
    state->cv.notify_all();
  });
  std::unique_lock lock(state->mu);
  EXPECT_TRUE(state->cv.wait_for(lock, kWait, [&] { return state->done; })) << "get_session never answered";
  return state->result;
}

TEST_P(BusConformance, DeliversAnotherNodesUpdatesInOrder) {
  Recorder& b = recorder();
  subscribe_live(node(1), "doc", "", b);
  const auto sent = numbered("u", 1, 50);
  publish_all(node(0), "doc", sent);
  ASSERT_TRUE(b.wait_entries(sent.size()));
  EXPECT_EQ(b.payloads(), sent);
  const auto entries = b.entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].kind, Kind::kUpdate);
    EXPECT_EQ(entries[i].origin_node, node(0).node_id());
    EXPECT_FALSE(entries[i].id.empty());
    if (i > 0) {
      EXPECT_NE(entries[i].id, entries[i - 1].id);
    }
  }
  EXPECT_EQ(b.gaps(), 0u);
}

TEST_P(BusConformance, PayloadsAreExactBytes) {
  Recorder& b = recorder();
  subscribe_live(node(1), "doc", "", b);
  Bytes all(256);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint8_t>(i);
  const Bytes big(300000, 0);
  node(0).publish("doc", Kind::kUpdate, all);
  node(0).publish("doc", Kind::kUpdate, big);
  node(0).publish("doc", Kind::kUpdate, Bytes{});
  ASSERT_TRUE(b.wait_entries(3));
  EXPECT_EQ(b.entries()[0].payload, all);
  EXPECT_EQ(b.entries()[1].payload, big);
  EXPECT_TRUE(b.entries()[2].payload.empty());
}

TEST_P(BusConformance, DocumentsAreSeparateAndNamesAreData) {
  const std::string docs[] = {"a", "a:u", "../x", std::string("nul\0id", 6), "ünï"};
  std::vector<Recorder*> recorders;
  for (const std::string& doc : docs) {
    recorders.push_back(&recorder());
    subscribe_live(node(1), doc, "", *recorders.back());
  }
  for (const std::string& doc : docs) node(0).publish(doc, Kind::kUpdate, bytes_of(doc));
  for (std::size_t i = 0; i < std::size(docs); ++i) {
    ASSERT_TRUE(recorders[i]->wait_entries(1)) << i;
    EXPECT_EQ(recorders[i]->payloads(), std::vector<std::string>{docs[i]}) << i;
  }
}

TEST_P(BusConformance, NeverDeliversANodesOwnEntries) {
  for (const Kind kind : {Kind::kUpdate, Kind::kAwareness}) {
    SCOPED_TRACE(static_cast<int>(kind));
    const std::string doc = "doc-" + std::to_string(static_cast<int>(kind));
    Recorder& a = recorder();
    Recorder& b = recorder();
    subscribe_live(node(0), doc, "", a);
    subscribe_live(node(1), doc, "", b);
    node(0).publish(doc, kind, bytes_of("from-a"));
    ASSERT_TRUE(b.wait_entries(1));
    // from-b comes after from-a: had node 0 been given its own entry, it
    // would have been before this one.
    node(1).publish(doc, kind, bytes_of("from-b"));
    ASSERT_TRUE(a.wait_entries(1));
    EXPECT_EQ(a.payloads(), std::vector<std::string>{"from-b"});
    EXPECT_EQ(b.payloads(), std::vector<std::string>{"from-a"});
    const Entry got = b.entries()[0];
    EXPECT_EQ(got.kind, kind);
    EXPECT_EQ(got.origin_node, node(0).node_id());
    EXPECT_EQ(got.id.empty(), kind == Kind::kAwareness);  // awareness has no stream id
  }
}

TEST_P(BusConformance, CatchUpFromAnOldIdDeliversWhatFollows) {
  publish_all(node(0), "doc", {"u1", "u2", "u3"});
  Recorder& all = recorder();
  node(1).subscribe("doc", "0-0", all.handlers());
  ASSERT_TRUE(all.wait_entries(3));
  EXPECT_EQ(all.payloads(), (std::vector<std::string>{"u1", "u2", "u3"}));

  Recorder& after_first = recorder();
  node(2).subscribe("doc", all.entries()[0].id, after_first.handlers());
  ASSERT_TRUE(after_first.wait_entries(2));
  EXPECT_EQ(after_first.payloads(), (std::vector<std::string>{"u2", "u3"}));
  EXPECT_EQ(after_first.gaps(), 0u);

  // A millisecond "T": everything from that millisecond on, u2 included
  // (and u1 when both were written in the same millisecond).
  Recorder& since = recorder();
  const auto ms_of = [](const std::string& id) { return std::stoull(id.substr(0, id.find('-'))); };
  const std::uint64_t t = ms_of(all.entries()[1].id);
  std::vector<std::string> expected;
  for (const Entry& e : all.entries()) {
    if (ms_of(e.id) >= t) expected.emplace_back(as_chars(e.payload));
  }
  node(2).subscribe("doc", std::to_string(t), since.handlers());
  ASSERT_TRUE(since.wait_entries(expected.size()));
  node(0).publish("doc", Kind::kUpdate, bytes_of("u4"));
  expected.emplace_back("u4");
  ASSERT_TRUE(since.wait_entries(expected.size()));
  EXPECT_EQ(since.payloads(), expected);
}

TEST_P(BusConformance, EmptyFromDeliversOnlyNewEntries) {
  Recorder& watcher = recorder();
  subscribe_live(node(2), "doc", "", watcher);
  node(0).publish("doc", Kind::kUpdate, bytes_of("old"));
  ASSERT_TRUE(watcher.wait_entries(1));  // "old" is in the stream now
  Recorder& b = recorder();
  subscribe_live(node(1), "doc", "", b);
  node(0).publish("doc", Kind::kUpdate, bytes_of("new"));
  ASSERT_TRUE(b.wait_entries(1));
  ASSERT_TRUE(watcher.wait_entries(2));
  EXPECT_EQ(b.payloads(), std::vector<std::string>{"new"});
  EXPECT_EQ(b.gaps(), 0u);
}

TEST_P(BusConformance, UnsubscribeStopsDelivery) {
  Recorder& watcher = recorder();
  subscribe_live(node(2), "doc", "", watcher);
  Recorder& first = recorder();
  const std::uint64_t id = subscribe_live(node(1), "doc", "", first);
  node(0).publish("doc", Kind::kUpdate, bytes_of("u1"));
  ASSERT_TRUE(first.wait_entries(1));
  node(1).unsubscribe(id);
  node(1).unsubscribe(id);  // twice, and unknown ids, are harmless
  node(1).unsubscribe(987654321);
  node(0).publish("doc", Kind::kUpdate, bytes_of("u2"));
  ASSERT_TRUE(watcher.wait_entries(2));  // u2 is in the stream
  // A second subscription on the same node sees u3, so node 1 has read past u2.
  Recorder& second = recorder();
  subscribe_live(node(1), "doc", "", second);
  node(0).publish("doc", Kind::kUpdate, bytes_of("u3"));
  ASSERT_TRUE(second.wait_entries(1));
  EXPECT_EQ(second.payloads(), std::vector<std::string>{"u3"});
  EXPECT_EQ(first.payloads(), std::vector<std::string>{"u1"});
}

TEST_P(BusConformance, HandlersMayUnsubscribeAndPublish) {
  Recorder& b = recorder();
  std::atomic<std::uint64_t> id{0};
  b.set_hook([&](const Entry&) {
    node(1).unsubscribe(id.load());
    node(1).publish("doc", Kind::kUpdate, bytes_of("reply"));
  });
  id = subscribe_live(node(1), "doc", "", b);
  Recorder& a = recorder();
  subscribe_live(node(0), "doc", "", a);
  publish_all(node(0), "doc", {"u1", "u2", "u3"});
  ASSERT_TRUE(a.wait_entries(1));
  EXPECT_EQ(a.payloads(), std::vector<std::string>{"reply"});
  // The subscription ended inside its first call: u2 and u3 are not delivered.
  EXPECT_EQ(b.payloads(), std::vector<std::string>{"u1"});
}

TEST_P(BusConformance, SubscriptionsOnOneNodeKeepTheirOwnPositions) {
  publish_all(node(0), "doc", {"u1", "u2"});
  Recorder& from_start = recorder();
  Recorder& from_now = recorder();
  node(1).subscribe("doc", "0-0", from_start.handlers());
  ASSERT_TRUE(from_start.wait_entries(2));
  subscribe_live(node(1), "doc", "", from_now);
  node(0).publish("doc", Kind::kUpdate, bytes_of("u3"));
  ASSERT_TRUE(from_start.wait_entries(3));
  ASSERT_TRUE(from_now.wait_entries(1));
  EXPECT_EQ(from_start.payloads(), (std::vector<std::string>{"u1", "u2", "u3"}));
  EXPECT_EQ(from_now.payloads(), std::vector<std::string>{"u3"});
}

TEST_P(BusConformance, InvalidFromIsAGapThenNewEntries) {
  Recorder& b = recorder();
  subscribe_live(node(1), "doc", "not-an-id", b);
  ASSERT_TRUE(b.wait_gaps(1));
  node(0).publish("doc", Kind::kUpdate, bytes_of("u1"));
  ASSERT_TRUE(b.wait_entries(1));
  EXPECT_EQ(b.payloads(), std::vector<std::string>{"u1"});
}

TEST_P(BusConformance, CatchUpPastTrimmedEntriesIsAGap) {
  start({.nodes = 3, .maxlen = 10});
  const auto sent = numbered("u", 1, 60);
  publish_all(node(0), "doc", sent);
  ASSERT_TRUE(eventually([&] { return node(0).stats().published == sent.size(); }));

  // From before u1: u1 and many after it were trimmed away.
  Recorder& old = recorder();
  node(1).subscribe("doc", "0-0", old.handlers());
  ASSERT_TRUE(old.wait_gaps(1));
  ASSERT_TRUE(eventually([&] {
    const auto got = old.payloads();
    return !got.empty() && got.back() == "u60";
  }));
  const auto kept = old.entries();
  EXPECT_LT(kept.size(), 30u);
  ASSERT_GE(kept.size(), 5u);

  // From the fifth newest entry: still in the stream, nothing missing.
  Recorder& recent = recorder();
  node(1).subscribe("doc", kept[kept.size() - 5].id, recent.handlers());
  ASSERT_TRUE(recent.wait_entries(4));
  EXPECT_EQ(recent.payloads(), numbered("u", 57, 60));
  EXPECT_EQ(recent.gaps(), 0u);
}

TEST_P(BusConformance, SessionsPutGetReplaceDelete) {
  EXPECT_EQ(get_session(node(1), "nobody"), std::nullopt);
  SessionRecord record{"sid-1", "user-7", "doc-3", 4242424242ull, Bytes{0, 1, 0, 255}, Bytes{7, 0, 0}};
  node(0).put_session(record, std::chrono::seconds(60));
  std::optional<SessionRecord> got;
  ASSERT_TRUE(eventually([&] { return (got = get_session(node(1), "sid-1")).has_value(); }));
  EXPECT_EQ(*got, record);

  SessionRecord moved = record;
  moved.doc = "doc-4";
  moved.awareness_state.clear();
  node(1).put_session(moved, std::chrono::seconds(60));
  ASSERT_TRUE(eventually([&] { return get_session(node(2), "sid-1") == moved; }));

  node(2).delete_session("sid-1");
  ASSERT_TRUE(eventually([&] { return !get_session(node(0), "sid-1").has_value(); }));
}

TEST_P(BusConformance, SessionsExpire) {
  node(0).put_session({"short", "u", "d", 1, {}, {}}, std::chrono::seconds(1));
  node(0).put_session({"long", "u", "d", 2, {}, {}}, std::chrono::seconds(60));
  ASSERT_TRUE(eventually([&] { return get_session(node(1), "short").has_value(); }));
  EXPECT_TRUE(eventually([&] { return !get_session(node(1), "short").has_value(); }));
  EXPECT_TRUE(get_session(node(1), "long").has_value());
}

TEST_P(BusConformance, RevocationsReachEveryNodeOnce) {
  const Revocation first{"family", "sid-9"};
  const Revocation second{"user", "user:with:colons"};
  node(0).publish_revocation(first);
  for (std::size_t i = 0; i < 3; ++i) ASSERT_TRUE(revocations(i).wait_revocations(1)) << "node " << i;
  node(2).publish_revocation(second);
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(revocations(i).wait_revocations(2)) << "node " << i;
    EXPECT_EQ(revocations(i).revocations(), (std::vector<Revocation>{first, second})) << "node " << i;
  }
}

TEST_P(BusConformance, StatsCountPublishedAndDelivered) {
  Recorder& b = recorder();
  subscribe_live(node(1), "doc", "", b);
  publish_all(node(0), "doc", {"u1", "u2", "u3"});
  ASSERT_TRUE(b.wait_entries(3));
  EXPECT_TRUE(eventually([&] { return node(0).stats().published == 3; }));
  EXPECT_EQ(node(1).stats().delivered, 3u);
  EXPECT_EQ(node(0).stats().dropped, 0u);
  EXPECT_EQ(node(1).stats().gaps, 0u);
}

TEST_P(BusConformance, NoHandlerRunsAfterStop) {
  Recorder& b = recorder();
  subscribe_live(node(1), "doc", "", b);
  node(0).publish("doc", Kind::kUpdate, bytes_of("u1"));
  ASSERT_TRUE(b.wait_entries(1));
  node(1).stop();
  node(1).stop();
  publish_all(node(0), "doc", {"u2", "u3"});
  Recorder& c = recorder();
  subscribe_live(node(2), "doc", "0-0", c);
  ASSERT_TRUE(c.wait_entries(3));
  EXPECT_EQ(b.payloads(), std::vector<std::string>{"u1"});
}

}  // namespace
}  // namespace quire::cluster::testing
