// LocalBus: the Bus conformance suite on views of one LocalHub, and what only
// the in-process bus does (the one-node bus keeps no history).
#include "cluster/local_bus.h"

#include <gtest/gtest.h>

#include "cluster/bus_conformance.h"

namespace quire::cluster {
namespace {

using testing::BusConformance;
using testing::bytes_of;
using testing::ClusterOptions;
using testing::Recorder;

class LocalCluster final : public testing::TestCluster {
 public:
  explicit LocalCluster(const ClusterOptions& options) : hub_(LocalHub::Options{.maxlen = options.maxlen}) {
    for (std::size_t i = 0; i < options.nodes; ++i) {
      nodes_.push_back(std::make_unique<LocalBus>(hub_, "node-" + std::to_string(i)));
    }
  }
  Bus& node(std::size_t index) override { return *nodes_.at(index); }

 private:
  LocalHub hub_;
  std::vector<std::unique_ptr<LocalBus>> nodes_;  // destroyed before the hub
};

testing::ClusterFactory local_factory = [](const ClusterOptions& options) {
  return std::make_unique<LocalCluster>(options);
};
INSTANTIATE_TEST_SUITE_P(Local, BusConformance, ::testing::Values(&local_factory));

TEST(LocalBus, OneNodeHearsItsOwnRevocationsAndKeepsNoHistory) {
  Recorder revocations, sub;
  LocalBus bus("solo");
  bus.on_revocation(revocations.revocation_handler());
  bus.start();
  EXPECT_TRUE(bus.connected());
  bus.publish("doc", Kind::kUpdate, bytes_of("u1"));
  bus.publish_revocation({"user", "u-1"});
  ASSERT_TRUE(revocations.wait_revocations(1));
  EXPECT_EQ(revocations.revocations()[0], (Revocation{"user", "u-1"}));
  // A catch-up from before u1 cannot be served from memory: its own entry
  // does not count as missed, so no gap either.
  bus.subscribe("doc", "0-0", sub.handlers());
  ASSERT_TRUE(sub.wait_live());
  EXPECT_EQ(sub.gaps(), 0u);
  EXPECT_TRUE(sub.entries().empty());
  EXPECT_EQ(bus.stats().published, 1u);
}

TEST(LocalBus, AnotherNodesTrimmedEntriesAreAGapOnlyAfterThePosition) {
  LocalHub hub(LocalHub::Options{.maxlen = 0});
  Recorder before, after;
  {
    LocalBus a(hub, "a");
    LocalBus b(hub, "b");
    a.publish("doc", Kind::kUpdate, bytes_of("u1"));
    b.subscribe("doc", "0-0", before.handlers());
    ASSERT_TRUE(before.wait_gaps(1));
    b.subscribe("doc", "", after.handlers());
    ASSERT_TRUE(after.wait_live());
    a.publish("doc", Kind::kUpdate, bytes_of("u2"));
    ASSERT_TRUE(after.wait_entries(1));
    EXPECT_EQ(after.gaps(), 0u);
  }
}

}  // namespace
}  // namespace quire::cluster
