// RedisBus against a real redis-server on loopback (started per test): the
// Bus conformance suite, then the faults of SECURITY.md §2 rows 7-9 — Redis
// killed or shut down and restarted, connections killed, a stream trimmed
// past a paused reader — plus an unreachable Redis at start, and the keys and
// entries as docs/cluster.md describes them.
#include "cluster/redis_bus.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "cluster/bus_conformance.h"
#include "cluster/redis_format.h"
#include "cluster/redis_test_server.h"

namespace quire::cluster {
namespace {

using testing::bytes_of;
using testing::ClusterOptions;
using testing::eventually;
using testing::kWait;
using testing::Recorder;
using testing::RedisTestServer;

// Test settings: a long XREAD BLOCK, so only the wake stream can make a new
// subscription prompt, and quick reconnects.
RedisConfig test_config(const RedisTestServer& server, std::string node_id) {
  RedisConfig config = server.config(std::move(node_id));
  config.block = std::chrono::seconds(30);
  config.backoff_min = std::chrono::milliseconds(10);
  config.backoff_max = std::chrono::milliseconds(200);
  config.ping_interval = std::chrono::seconds(1);
  return config;
}

class RedisCluster final : public testing::TestCluster {
 public:
  explicit RedisCluster(const ClusterOptions& options) {
    EXPECT_TRUE(server_.ok()) << server_.error();
    for (std::size_t i = 0; i < options.nodes; ++i) {
      RedisConfig config = test_config(server_, "node-" + std::to_string(i));
      config.maxlen = options.maxlen;
      nodes_.push_back(std::make_unique<RedisBus>(config));
    }
  }
  Bus& node(std::size_t index) override { return *nodes_.at(index); }

 private:
  RedisTestServer server_;
  std::vector<std::unique_ptr<RedisBus>> nodes_;  // stopped before the server goes
};

testing::ClusterFactory redis_factory = [](const ClusterOptions& options) {
  return std::make_unique<RedisCluster>(options);
};
using testing::BusConformance;
INSTANTIATE_TEST_SUITE_P(Redis, BusConformance, ::testing::Values(&redis_factory));

class RedisBusTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.ok()) << server_.error(); }

  RedisBus& make_bus(const std::string& node_id, std::size_t maxlen = 1000) {
    RedisConfig config = test_config(server_, node_id);
    config.maxlen = maxlen;
    auto& bus = *buses_.emplace_back(std::make_unique<RedisBus>(config));
    auto& revocations = *revocations_.emplace_back(std::make_unique<Recorder>());
    bus.on_revocation(revocations.revocation_handler());
    bus.start();
    return bus;
  }
  RedisBus& make_connected_bus(const std::string& node_id, std::size_t maxlen = 1000) {
    RedisBus& bus = make_bus(node_id, maxlen);
    EXPECT_TRUE(eventually([&] { return bus.connected(); })) << node_id << " never connected";
    return bus;
  }
  Recorder& recorder() { return *recorders_.emplace_back(std::make_unique<Recorder>()); }

  // Two connected nodes, b subscribed to "doc" from now (live) and recorded
  // in rb. (A struct, not structured bindings: lambdas capture it.)
  struct Pair {
    RedisBus& a;
    RedisBus& b;
    Recorder& rb;
  };
  Pair nodes_ab(std::size_t maxlen = 1000) {
    RedisBus& a = make_connected_bus("a", maxlen);
    RedisBus& b = make_connected_bus("b", maxlen);
    Recorder& rb = recorder();
    b.subscribe("doc", "", rb.handlers());
    EXPECT_TRUE(rb.wait_live());
    return {a, b, rb};
  }
  Recorder& revocations(std::size_t index) { return *revocations_.at(index); }

  std::optional<SessionRecord> get_session(Bus& bus, const std::string& key) {
    auto answer = std::make_shared<std::pair<std::mutex, std::optional<std::optional<SessionRecord>>>>();
    bus.get_session(key, [answer](std::optional<SessionRecord> record) {
      std::lock_guard lock(answer->first);
      answer->second = std::move(record);
    });
    EXPECT_TRUE(eventually([&] {
      std::lock_guard lock(answer->first);
      return answer->second.has_value();
    }));
    std::lock_guard lock(answer->first);
    return answer->second.value_or(std::nullopt);
  }

  // Brings Redis down with `down`, checks the nodes notice and that publish
  // drops without blocking, brings it back on the same port and checks that
  // updates flow again after exactly two on_gaps: the reader's reconnect, and
  // the gap marker the publisher writes for the updates it dropped meanwhile.
  void survive_outage(const std::function<void()>& down) {
    const Pair n = nodes_ab();
    n.a.publish("doc", Kind::kUpdate, bytes_of("before"));
    ASSERT_TRUE(n.rb.wait_entries(1));
    // Delivered is not yet acknowledged to the publisher: wait for that too,
    // or the outage may cut the reply off and count "before" as dropped.
    ASSERT_TRUE(eventually([&] { return n.a.stats().published == 1; }));

    down();
    ASSERT_TRUE(eventually([&] { return !n.a.connected() && !n.b.connected(); }));
    // The writer learns of the outage on its next command at the latest;
    // then every publish is dropped at once, and nothing waits on Redis.
    for (int i = 0; i < 2000; ++i) n.a.publish("doc", Kind::kUpdate, bytes_of("lost"));
    ASSERT_TRUE(eventually([&] { return n.a.stats().dropped == 2000; })) << n.a.stats().dropped;
    EXPECT_EQ(get_session(n.a, "any"), std::nullopt);
    n.a.publish_revocation({"user", "while-down"});  // still heard by a itself
    ASSERT_TRUE(revocations(0).wait_revocations(1));

    ASSERT_TRUE(server_.start()) << server_.error();
    ASSERT_TRUE(eventually([&] { return n.a.connected() && n.b.connected(); }));
    ASSERT_TRUE(n.rb.wait_gaps(1));
    n.a.publish("doc", Kind::kUpdate, bytes_of("after"));
    ASSERT_TRUE(n.rb.wait_entries(3));
    EXPECT_EQ(n.rb.payloads(), (std::vector<std::string>{"before", std::string("\0\0", 2), "after"}));
    EXPECT_EQ(n.rb.gaps(), 2u);
    EXPECT_GE(n.b.stats().reconnects, 1u);
    n.a.publish_revocation({"user", "after"});
    ASSERT_TRUE(revocations(1).wait_revocations(1));
    EXPECT_EQ(revocations(1).revocations(), (std::vector<Revocation>{{"user", "after"}}));
  }

  RedisTestServer server_;
  std::deque<std::unique_ptr<Recorder>> recorders_;
  std::deque<std::unique_ptr<Recorder>> revocations_;
  std::deque<std::unique_ptr<RedisBus>> buses_;  // last: stopped first
};

TEST_F(RedisBusTest, SurvivesKillNineAndRestart) {
  survive_outage([&] { server_.kill(); });
}

TEST_F(RedisBusTest, SurvivesShutdownNosaveAndRestart) {
  survive_outage([&] {
    auto reply = server_.command({"SHUTDOWN", "NOSAVE"});
    EXPECT_FALSE(reply.ok());  // Redis closes the connection instead of answering
    ASSERT_TRUE(server_.wait_exit());
  });
}

TEST_F(RedisBusTest, ClientKillOfNormalConnectionsReconnectsWithAGap) {
  const Pair n = nodes_ab();
  n.a.publish("doc", Kind::kUpdate, bytes_of("u1"));
  ASSERT_TRUE(n.rb.wait_entries(1));

  auto killed = server_.command({"CLIENT", "KILL", "TYPE", "normal"});
  ASSERT_TRUE(killed.ok());
  EXPECT_GE((*killed)->integer, 4);  // both nodes' readers and writers
  ASSERT_TRUE(n.rb.wait_gaps(1));
  n.a.publish("doc", Kind::kUpdate, bytes_of("u2"));  // the writer reconnects and resends
  ASSERT_TRUE(n.rb.wait_entries(2));
  EXPECT_EQ(n.rb.payloads(), (std::vector<std::string>{"u1", "u2"}));
  EXPECT_EQ(n.a.stats().dropped, 0u);
  EXPECT_GE(n.b.stats().reconnects, 1u);
  EXPECT_TRUE(eventually([&] { return n.a.connected() && n.b.connected(); }));
}

TEST_F(RedisBusTest, ClientKillOfPubSubResubscribes) {
  const Pair n = nodes_ab();

  auto killed = server_.command({"CLIENT", "KILL", "TYPE", "pubsub"});
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ((*killed)->integer, 2);
  // Reconnected (counted) and subscribed again (connected() needs the
  // revocation channel confirmed).
  ASSERT_TRUE(eventually([&] { return n.b.stats().reconnects >= 1 && n.b.connected(); }));
  ASSERT_TRUE(eventually([&] { return n.a.stats().reconnects >= 1 && n.a.connected(); }));
  n.a.publish_revocation({"family", "f1"});
  ASSERT_TRUE(revocations(1).wait_revocations(1));
  // The awareness channel was subscribed again too; awareness is ephemeral,
  // so publish until one arrives rather than assume when that happened.
  ASSERT_TRUE(eventually([&] {
    n.a.publish("doc", Kind::kAwareness, bytes_of("cursor"));
    return n.rb.wait_entries(1, std::chrono::milliseconds(50));
  }));
  EXPECT_EQ(n.rb.entries()[0].kind, Kind::kAwareness);
}

TEST_F(RedisBusTest, StreamTrimmedPastAPausedReaderIsAGap) {
  const Pair n = nodes_ab(10);
  // b's reader stops inside the handler of u1, as a frozen node would, while
  // a writes far more than MAXLEN. The gate is shared with the handler and
  // opened on every way out of the test, so the reader can always finish.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool paused = false;
    bool open = false;
    void release() {
      std::lock_guard lock(mu);
      open = true;
      cv.notify_all();
    }
  };
  const auto gate = std::make_shared<Gate>();
  const std::unique_ptr<Gate, void (*)(Gate*)> opener(gate.get(), [](Gate* g) { g->release(); });
  n.rb.set_hook([gate](const Entry& entry) {
    if (as_chars(entry.payload) != "u1") return;
    std::unique_lock lock(gate->mu);
    gate->paused = true;
    gate->cv.notify_all();
    gate->cv.wait(lock, [&] { return gate->open; });
  });
  n.a.publish("doc", Kind::kUpdate, bytes_of("u1"));
  {
    std::unique_lock lock(gate->mu);
    ASSERT_TRUE(gate->cv.wait_for(lock, kWait, [&] { return gate->paused; }));
  }
  for (int i = 2; i <= 100; ++i) {
    std::string payload = "u";  // not "u" + ...: GCC 12 warns falsely (-Wrestrict)
    payload += std::to_string(i);
    n.a.publish("doc", Kind::kUpdate, bytes_of(payload));
  }
  const bool all_written = eventually([&] { return n.a.stats().published == 100; });
  gate->release();
  ASSERT_TRUE(all_written);
  auto length = server_.command({"XLEN", redis_format::stream_key("quire:", "doc")});
  ASSERT_TRUE(length.ok());
  EXPECT_LT((*length)->integer, 20);  // MAXLEN ~ 10 with 4-entry nodes

  ASSERT_TRUE(n.rb.wait_gaps(1));
  ASSERT_TRUE(eventually([&] {
    const auto got = n.rb.payloads();
    return !got.empty() && got.back() == "u100";
  }));
  EXPECT_EQ(n.rb.payloads().front(), "u1");
  EXPECT_LT(n.rb.entries().size(), 30u);
  EXPECT_EQ(n.rb.gaps(), 1u) << ::testing::PrintToString(n.rb.payloads());
}

TEST_F(RedisBusTest, StartsWithoutRedisAndConnectsWhenItComes) {
  RedisTestServer later(false);
  ASSERT_FALSE(later.port() == 0);
  RedisConfig config = test_config(later, "early");
  RedisBus early(config);
  Recorder revocations;
  early.on_revocation(revocations.revocation_handler());
  early.start();
  Recorder& sub = recorder();
  early.subscribe("doc", "", sub.handlers());
  early.publish("doc", Kind::kUpdate, bytes_of("nobody hears this"));
  ASSERT_TRUE(eventually([&] { return early.stats().dropped == 1; }));
  EXPECT_FALSE(early.connected());
  EXPECT_EQ(get_session(early, "sid"), std::nullopt);

  ASSERT_TRUE(later.start()) << later.error();
  ASSERT_TRUE(eventually([&] { return early.connected(); }));
  ASSERT_TRUE(sub.wait_live());
  // Created while cut off: the caller may have missed what others wrote.
  ASSERT_TRUE(sub.wait_gaps(1));
  RedisBus other(test_config(later, "other"));
  other.start();
  ASSERT_TRUE(eventually([&] { return other.connected(); }));
  other.publish("doc", Kind::kUpdate, bytes_of("hello"));
  ASSERT_TRUE(sub.wait_entries(1));
  EXPECT_EQ(sub.payloads(), std::vector<std::string>{"hello"});
  other.stop();
  early.stop();
}

TEST_F(RedisBusTest, PutSessionRestartsTheTtl) {
  RedisBus& a = make_connected_bus("a");
  const std::string key = redis_format::session_key("quire:", "sid");
  a.put_session({"sid", "u", "d", 1, {}, {}}, std::chrono::seconds(100));
  ASSERT_TRUE(eventually([&] {
    auto ttl = server_.command({"TTL", key});
    return ttl.ok() && (*ttl)->integer > 0 && (*ttl)->integer <= 100;
  }));
  a.put_session({"sid", "u", "d", 1, {}, {}}, std::chrono::seconds(5000));
  EXPECT_TRUE(eventually([&] {
    auto ttl = server_.command({"TTL", key});
    return ttl.ok() && (*ttl)->integer > 100;
  }));
}

TEST_F(RedisBusTest, KeysAndEntriesAreAsDocumented) {
  const Pair n = nodes_ab();
  n.a.publish("doc", Kind::kUpdate, bytes_of("one"));
  n.a.publish("doc", Kind::kUpdate, bytes_of("two"));
  ASSERT_TRUE(n.rb.wait_entries(2));
  auto range = server_.command({"XRANGE", "quire:d:doc:u", "-", "+"});
  ASSERT_TRUE(range.ok());
  ASSERT_EQ((*range)->elements, 2u);
  const redisReply* second = (*range)->element[1];
  EXPECT_EQ(reply_text(second->element[0]), n.rb.entries()[1].id);
  const auto fields = reply_fields(second->element[1]);
  ASSERT_TRUE(fields);
  EXPECT_EQ(*fields, (redis_format::Fields{{"o", "a"}, {"k", "1"}, {"v", n.rb.entries()[0].id}, {"p", "two"}}));

  n.a.put_session({"sid", "user-1", "doc", 77, bytes_of("{}"), Bytes{1, 2}}, std::chrono::seconds(60));
  ASSERT_TRUE(eventually([&] {
    auto hash = server_.command({"HGET", "quire:s:sid", "ac"});
    return hash.ok() && reply_text(hash->get()) == "77";
  }));
  auto names = server_.command({"CLIENT", "LIST"});
  ASSERT_TRUE(names.ok());
  const std::string_view list = reply_text(names->get());
  for (const char* role : {"quire-a-writer", "quire-a-reader", "quire-a-pubsub"}) {
    EXPECT_NE(list.find(role), std::string_view::npos) << role;
  }
}

}  // namespace
}  // namespace quire::cluster
