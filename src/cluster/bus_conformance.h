// The Bus conformance suite: what every implementation must do, as GoogleTest
// cases parameterised by a factory that makes several nodes of one fresh
// cluster. An implementation's test instantiates it:
//   INSTANTIATE_TEST_SUITE_P(Local, BusConformance, ::testing::Values(&local_factory));
// Also the Recorder that waits, with a deadline, for what a subscription or a
// node hears (no test here sleeps to decide anything).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "cluster/bus.h"

namespace quire::cluster::testing {

inline constexpr std::chrono::seconds kWait{5};  // the most any expected event may take

// Nodes of one cluster, not started yet; destroyed nodes first.
class TestCluster {
 public:
  virtual ~TestCluster() = default;
  virtual Bus& node(std::size_t index) = 0;
};
struct ClusterOptions {
  std::size_t nodes = 3;
  std::size_t maxlen = 1000;  // per-document stream history
};
using ClusterFactory = std::function<std::unique_ptr<TestCluster>(const ClusterOptions&)>;

Bytes bytes_of(std::string_view text);
// Polls `done` until it is true or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = kWait);

// Everything one subscription (or one node's revocation handler) heard.
class Recorder {
 public:
  Bus::Handlers handlers();
  std::function<void(const Revocation&)> revocation_handler();
  // Runs `hook` in on_entry after recording the entry (to block, unsubscribe...).
  void set_hook(std::function<void(const Entry&)> hook);

  bool wait_entries(std::size_t count, std::chrono::milliseconds timeout = kWait);
  bool wait_gaps(std::size_t count, std::chrono::milliseconds timeout = kWait);
  bool wait_live(std::chrono::milliseconds timeout = kWait);
  bool wait_revocations(std::size_t count, std::chrono::milliseconds timeout = kWait);

  [[nodiscard]] std::vector<Entry> entries() const;
  [[nodiscard]] std::vector<std::string> payloads() const;  // the entries' payloads as text
  [[nodiscard]] std::size_t gaps() const;
  [[nodiscard]] std::vector<Revocation> revocations() const;

 private:
  bool wait(const std::function<bool()>& done, std::chrono::milliseconds timeout);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Entry> entries_;
  std::size_t gaps_ = 0;
  bool live_ = false;
  std::vector<Revocation> revocations_;
  std::function<void(const Entry&)> hook_;
};

class BusConformance : public ::testing::TestWithParam<ClusterFactory*> {
 protected:
  void SetUp() override { start(ClusterOptions{}); }
  void TearDown() override { cluster_.reset(); }
  // Replaces the cluster: makes it, records every node's revocations, starts
  // the nodes and waits until they are connected.
  void start(const ClusterOptions& options);
  Bus& node(std::size_t index) { return cluster_->node(index); }
  Recorder& revocations(std::size_t index) { return *revocations_.at(index); }
  // A recorder that outlives the cluster (handlers may run until it is gone).
  Recorder& recorder() { return *recorders_.emplace_back(std::make_unique<Recorder>()); }
  // Subscribes and waits for on_live.
  std::uint64_t subscribe_live(Bus& bus, const std::string& doc, const std::string& from, Recorder& rec);

 private:
  std::vector<std::unique_ptr<Recorder>> revocations_;
  std::vector<std::unique_ptr<Recorder>> recorders_;
  std::unique_ptr<TestCluster> cluster_;  // after the recorders: destroyed first
};

}  // namespace quire::cluster::testing
