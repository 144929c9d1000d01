// PgStore and PgAccountStore against a real PostgreSQL (PgTestServer, one per
// binary, a fresh schema per case): both conformance suites (the store also
// with hash partitions), and what is PostgreSQL's own — two nodes appending to
// one document, a database restart under the same store object, a locked log
// table, a compaction that fails half-way, rotations during a restart,
// concurrent migration, a newer schema, the replica, NUL bytes in text.
#include "storage/pg_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "storage/account_store_conformance.h"
#include "storage/pg_account_store.h"
#include "storage/pg_connection.h"
#include "storage/pg_schema.h"
#include "storage/pg_test_server.h"
#include "storage/store_conformance.h"

namespace quire::storage {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::PgTestServer;

// ---- One server for the binary, stopped in TearDown even when tests failed ----

std::unique_ptr<PgTestServer> g_server;

class PgEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto server = PgTestServer::start();
    ASSERT_TRUE(server.ok()) << server.error().to_string();
    g_server = std::move(*server);
  }
  void TearDown() override { g_server.reset(); }
};
// gtest owns the environment.
[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PgEnvironment);  // NOLINT(cppcoreguidelines-owning-memory)

// Fresh storage: a new schema (cheap), or a whole database where a case
// changes database-wide settings.
std::string fresh_storage(bool whole = false) {
  auto url = whole ? g_server->create_database() : g_server->create_schema();
  EXPECT_TRUE(url.ok()) << url.error().to_string();
  return url ? *url : std::string();
}

template <class T>
std::unique_ptr<T> must_open(const std::string& url, const PgOptions& options = {}) {
  auto opened = T::open(url, options);
  EXPECT_TRUE(opened.ok()) << opened.error().to_string();
  return opened ? std::move(*opened) : nullptr;
}

// A side connection for what tests do behind the stores' backs.
std::unique_ptr<PgConnection> side_connection(const std::string& url) {
  auto conn = PgConnection::connect(url, PgOptions{});
  EXPECT_TRUE(conn.ok()) << conn.error().to_string();
  return conn ? std::move(*conn) : nullptr;
}

std::int64_t query_int(const std::string& url, const char* sql) {
  auto conn = side_connection(url);
  if (!conn) return -1;
  auto r = conn->exec("query", sql);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return r && r->rows() > 0 ? r->int_at(0, 0) : -1;
}

// ---- The conformance suites ----

// Fresh storage is a new schema; a reopen connects to the last one again.
testing::StoreFactory store_factory(int partitions) {
  return [partitions, url = std::string()](bool reopen) mutable -> std::unique_ptr<Store> {
    if (!reopen) url = fresh_storage();
    return must_open<PgStore>(url, PgOptions{.partitions = partitions});
  };
}
testing::StoreFactory plain_factory = store_factory(0);
testing::StoreFactory partitioned_factory = store_factory(4);

using testing::StoreConformance;
INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance, ::testing::Values(&plain_factory, &partitioned_factory),
                         [](const auto& param) -> std::string { return param.index == 0 ? "Plain" : "Partitioned"; });

testing::AccountStoreFactory account_factory =
    [url = std::string()](bool reopen) mutable -> std::unique_ptr<AccountStore> {
  if (!reopen) url = fresh_storage();
  // One connection each: the concurrency cases open 50 stores.
  return must_open<PgAccountStore>(url, PgOptions{.pool_size = 1});
};

using testing::AccountStoreConformance;
INSTANTIATE_TEST_SUITE_P(Postgres, AccountStoreConformance, ::testing::Values(&account_factory));

// ---- PostgreSQL's own ----

Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

const DocKey kDoc{"ws", "doc"};
const Time kT0{milliseconds{1'700'000'000'000}};

std::string hash(int n) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%064x", n);
  return buf;
}

// Retries `call` until it succeeds or `limit` runs out (a restart in
// progress); every failure on the way must be kIo.
template <class Call>
auto until_ok(Call call, seconds limit = seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto r = call();
    if (r.ok() || std::chrono::steady_clock::now() > deadline) return r;
    EXPECT_EQ(r.error().code, kIo) << r.error().to_string();
    std::this_thread::sleep_for(milliseconds(50));
  }
}

// A database crash (immediate stop) until end(), or until the scope ends
// when a failed assertion left early: later cases need the server back.
class Outage {
 public:
  Outage() { EXPECT_TRUE(g_server->stop().ok()); }
  ~Outage() { end(); }
  Outage(const Outage&) = delete;
  Outage& operator=(const Outage&) = delete;
  void end() {
    if (std::exchange(over_, true)) return;
    Status resumed = g_server->resume();
    EXPECT_TRUE(resumed.ok()) << resumed.error().to_string();
  }

 private:
  bool over_ = false;
};

TEST(PgStore, TwoNodesAppendingToOneDocumentGetDistinctGapFreeSeqs) {
  const std::string url = fresh_storage();
  std::unique_ptr<PgStore> nodes[] = {must_open<PgStore>(url), must_open<PgStore>(url)};
  constexpr int kBatches = 100;
  std::map<std::uint64_t, Bytes> by_seq[2];  // per node: the shared document's seq → what it appended
  std::vector<std::thread> threads;
  for (int n = 0; n < 2; ++n) {
    threads.emplace_back([&, n] {
      const DocKey own{"ws", "own-" + std::to_string(n)};
      for (int b = 0; b < kBatches; ++b) {
        const std::string tag = std::to_string(n) + "/" + std::to_string(b);
        const std::vector<AppendEntry> batch = {
            {kDoc, bytes_of(tag + "a"), "u"}, {own, bytes_of(tag), "u"}, {kDoc, bytes_of(tag + "b"), "u"}};
        auto seqs = nodes[n]->append(batch);
        ASSERT_TRUE(seqs.ok()) << seqs.error().to_string();
        ASSERT_EQ(seqs->size(), 3u);
        EXPECT_EQ((*seqs)[1], static_cast<std::uint64_t>(b + 1));  // its own document: no one else appends
        EXPECT_EQ((*seqs)[2], (*seqs)[0] + 1);                     // one batch: consecutive
        by_seq[n][(*seqs)[0]] = batch[0].bytes;
        by_seq[n][(*seqs)[2]] = batch[2].bytes;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::map<std::uint64_t, Bytes> all = by_seq[0];
  for (const auto& [seq, bytes] : by_seq[1]) EXPECT_TRUE(all.emplace(seq, bytes).second) << "seq " << seq << " twice";
  ASSERT_EQ(all.size(), 4u * kBatches);
  EXPECT_EQ(all.begin()->first, 1u);
  EXPECT_EQ(all.rbegin()->first, 4u * kBatches);  // distinct and 1..N: no gaps
  auto doc = nodes[0]->load(kDoc);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->last_seq, 4u * kBatches);
  ASSERT_EQ(doc->updates.size(), all.size());
  std::size_t i = 0;
  for (const auto& [seq, bytes] : all) EXPECT_EQ(doc->updates[i++], bytes) << "seq " << seq;
}

TEST(PgStore, ConcurrentCompactionsNeverGoBackOrTrimUnseenEntries) {
  const std::string url = fresh_storage();
  std::unique_ptr<PgStore> nodes[] = {must_open<PgStore>(url), must_open<PgStore>(url)};
  std::vector<AppendEntry> entries;
  for (int i = 0; i < 10; ++i) entries.push_back({kDoc, bytes_of(std::to_string(i)), "u"});
  ASSERT_TRUE(nodes[0]->append(entries).ok());
  // Node 0 has seen up to 10, node 1 only up to 5; both compact at once, repeatedly,
  // while node 1 keeps appending.
  std::vector<std::thread> threads;
  for (int n = 0; n < 2; ++n) {
    threads.emplace_back([&, n] {
      for (int round = 0; round < 20; ++round) {
        const std::uint64_t upto = n == 0 ? 10 : 5;
        auto covered = nodes[n]->compact(kDoc, bytes_of(n == 0 ? "S10" : "S5"), bytes_of("sv"), upto);
        ASSERT_TRUE(covered.ok()) << covered.error().to_string();
        EXPECT_GE(*covered, upto);
        if (n == 1) {
          ASSERT_TRUE(nodes[1]->append(std::vector<AppendEntry>{{kDoc, bytes_of("late"), "u"}}).ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  auto doc = nodes[1]->load(kDoc);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->snapshot, bytes_of("S10"));
  EXPECT_EQ(doc->snapshot_seq, 10u);
  EXPECT_EQ(doc->last_seq, 30u);
  EXPECT_EQ(doc->updates, std::vector<Bytes>(20, bytes_of("late")));  // appended after 10: none trimmed
}

TEST(PgStore, ARestartFailsCallsWhileDownAndHealsTheSameStore) {
  const std::string url = fresh_storage();
  auto store = must_open<PgStore>(url, PgOptions{.connect_timeout = seconds(2), .max_backoff = milliseconds(200)});
  ASSERT_NE(store, nullptr);
  auto append_one = [&] { return store->append(std::vector<AppendEntry>{{kDoc, bytes_of("x"), "u"}}); };
  ASSERT_TRUE(append_one().ok());

  Outage outage;
  // No acknowledgement while the database is down: every call fails with kIo.
  for (int i = 0; i < 3; ++i) {
    auto seqs = append_one();
    ASSERT_FALSE(seqs.ok());
    EXPECT_EQ(seqs.error().code, kIo) << seqs.error().to_string();
  }
  auto down = store->load(kDoc);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, kIo);

  outage.end();
  auto seqs = until_ok(append_one);
  ASSERT_TRUE(seqs.ok()) << seqs.error().to_string();
  EXPECT_EQ(*seqs, std::vector<std::uint64_t>{2});  // none of the failed appends was stored
  auto doc = store->load(kDoc);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->updates.size(), 2u);
}

TEST(PgStore, ALockedLogFailsAppendsAtTheStatementTimeoutInsteadOfHanging) {
  const std::string url = fresh_storage();
  auto store = must_open<PgStore>(url, PgOptions{.statement_timeout = milliseconds(300)});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(std::vector<AppendEntry>{{kDoc, bytes_of("1"), "u"}}).ok());
  auto locker = side_connection(url);
  ASSERT_TRUE(locker->exec_script("lock", "BEGIN; LOCK TABLE updates IN ACCESS EXCLUSIVE MODE").ok());
  auto blocked = store->append(std::vector<AppendEntry>{{kDoc, bytes_of("2"), "u"}});
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().code, kIo) << blocked.error().to_string();
  locker->rollback();
  auto seqs = store->append(std::vector<AppendEntry>{{kDoc, bytes_of("3"), "u"}});
  ASSERT_TRUE(seqs.ok()) << seqs.error().to_string();
  EXPECT_EQ(*seqs, std::vector<std::uint64_t>{2});  // the timed-out append left nothing behind
}

TEST(PgStore, ACompactionThatFailsHalfWayLeavesTheLogIntact) {
  const std::string url = fresh_storage();
  auto store = must_open<PgStore>(url, PgOptions{.statement_timeout = milliseconds(300)});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->append(std::vector<AppendEntry>{{kDoc, bytes_of("1"), "u"}, {kDoc, bytes_of("2"), "u"}}).ok());
  // The snapshot is written, then the trim cannot take its lock and times out.
  auto locker = side_connection(url);
  ASSERT_TRUE(locker->exec_script("lock", "BEGIN; LOCK TABLE updates IN SHARE MODE").ok());
  auto failed = store->compact(kDoc, bytes_of("S"), bytes_of("sv"), kThroughLastSeq);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, kIo);
  locker->rollback();
  auto doc = store->load(kDoc);
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->snapshot.empty());
  EXPECT_EQ(doc->updates, (std::vector<Bytes>{bytes_of("1"), bytes_of("2")}));
  auto covered = store->compact(kDoc, bytes_of("S"), bytes_of("sv"), kThroughLastSeq);
  ASSERT_TRUE(covered.ok());
  EXPECT_EQ(*covered, 2u);
}

TEST(PgStore, NodesOpeningAFreshDatabaseAtOnceMigrateItOnce) {
  const std::string url = fresh_storage();
  constexpr int kNodes = 3;
  std::vector<int> ok(kNodes, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      ok[static_cast<std::size_t>(i)] =
          i == 1 ? PgAccountStore::open(url).ok() : PgStore::open(url).ok();  // either store migrates
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, std::vector<int>(kNodes, 1));
  EXPECT_EQ(query_int(url, "SELECT count(*) FROM schema_migrations"), pg::schema_version());
  EXPECT_EQ(query_int(url, "SELECT max(version) FROM schema_migrations"), PgStore::schema_version());
}

TEST(PgStore, RefusesADatabaseFromANewerVersion) {
  const std::string url = fresh_storage();
  ASSERT_NE(must_open<PgStore>(url), nullptr);
  ASSERT_TRUE(side_connection(url)->exec_script("newer", "INSERT INTO schema_migrations(version) VALUES (99)").ok());
  auto store = PgStore::open(url);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, kSchema);
  auto accounts = PgAccountStore::open(url);
  ASSERT_FALSE(accounts.ok());
  EXPECT_EQ(accounts.error().code, kSchema);
}

// Hash-partitioned tables in the session's schema.
constexpr const char kPartitionedHere[] =
    "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
    "WHERE p.partstrat = 'h' AND c.relnamespace = current_schema()::regnamespace";

TEST(PgStore, PartitionsTheLogByWorkspaceWhenAsked) {
  const std::string url = fresh_storage();
  ASSERT_NE(must_open<PgStore>(url, PgOptions{.partitions = 4}), nullptr);
  EXPECT_EQ(query_int(url, kPartitionedHere), 2);
  EXPECT_EQ(query_int(url, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'updates'::regclass"), 4);
  EXPECT_EQ(query_int(url, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'snapshots'::regclass"), 4);
  // Fixed when the database was created: a later option changes nothing.
  ASSERT_NE(must_open<PgStore>(url, PgOptions{.partitions = 8}), nullptr);
  EXPECT_EQ(query_int(url, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'updates'::regclass"), 4);

  const std::string plain = fresh_storage();
  ASSERT_NE(must_open<PgStore>(plain), nullptr);
  EXPECT_EQ(query_int(plain, kPartitionedHere), 0);
  auto refused = PgStore::open(fresh_storage(), PgOptions{.partitions = pg::kMaxPartitions + 1});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, kInvalid);
}

TEST(PgConnection, SessionsCommitSynchronouslyWithAStatementTimeout) {
  const std::string url = fresh_storage(/*whole=*/true);
  // Whatever the database's default: Quire acknowledges after COMMIT.
  ASSERT_TRUE(
      side_connection(url)
          ->exec_script("default", "ALTER DATABASE " + url.substr(url.rfind('/') + 1) + " SET synchronous_commit = off")
          .ok());
  auto setting = [](const std::string& session_url, const PgOptions& options, const char* name) {
    auto session = PgConnection::connect(session_url, options);
    EXPECT_TRUE(session.ok()) << session.error().to_string();
    if (!session) return std::string();
    auto r = (*session)->exec("show", "SELECT current_setting($1)::text", PgParams().text(name));
    EXPECT_TRUE(r.ok());
    return r ? r->text_at(0, 0) : std::string();
  };
  EXPECT_EQ(setting(url, PgOptions{}, "synchronous_commit"), "on");
  EXPECT_EQ(setting(url, PgOptions{}, "statement_timeout"), "30s");
  EXPECT_EQ(setting(url, PgOptions{.statement_timeout = milliseconds(0)}, "statement_timeout"), "0");
  // A timeout in the URL wins over the option.
  EXPECT_EQ(setting(url + "?options=-c%20statement_timeout%3D1234", PgOptions{}, "statement_timeout"), "1234ms");
}

TEST(PgAccountStore, RotationsDuringARestartKeepOneLiveHead) {
  const std::string url = fresh_storage();
  auto setup = must_open<PgAccountStore>(url);
  ASSERT_NE(setup, nullptr);
  ASSERT_TRUE(setup->create_user({"u", "user", "u@example.com", "h", "U"}, kT0).ok());
  ASSERT_TRUE(setup->create_family("f", "u", hash(1), kT0, kT0 + std::chrono::hours(1)).ok());
  constexpr int kThreads = 20;
  const PgOptions options{.connect_timeout = seconds(2), .max_backoff = milliseconds(200)};
  std::unique_ptr<PgAccountStore> stores[] = {must_open<PgAccountStore>(url, options),
                                              must_open<PgAccountStore>(url, options)};
  // Every thread refreshes continuously from before the crash until after
  // the restart, so refreshes are in flight when the database goes down.
  std::atomic<bool> go{false};
  std::atomic<bool> restarted{false};
  std::atomic<int> rotated{0};
  std::atomic<int> failures{0};
  std::vector<std::vector<RotateOutcome>> outcomes(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      // Parallel refreshes with one cookie: each attempt presents it with a
      // new token, as a browser retrying a failed refresh would.
      int token = 1'000'000 * (i + 1);
      for (bool last = false; !last;) {
        last = restarted.load();
        auto r = until_ok([&] {
          auto attempt =
              stores[i % 2]->rotate(hash(1), hash(++token), kT0 + seconds(1), seconds(60), std::chrono::hours(1));
          failures += attempt.ok() ? 0 : 1;
          return attempt;
        });
        ASSERT_TRUE(r.ok()) << r.error().to_string();
        outcomes[static_cast<std::size_t>(i)].push_back(r->outcome);
        rotated.fetch_add(1);
      }
    });
  }
  go.store(true);
  while (rotated.load() < kThreads) std::this_thread::yield();
  {
    Outage outage;  // crash the database under them
    std::this_thread::sleep_for(milliseconds(500));
  }
  restarted.store(true);
  for (auto& t : threads) t.join();
  std::printf("%d refreshes, %d attempts failed during the restart\n", rotated.load(), failures.load());
  for (const auto& each : outcomes) {  // within grace: every refresh rotates
    EXPECT_EQ(std::count(each.begin(), each.end(), RotateOutcome::kRotated), std::ssize(each));
  }
  auto live = until_ok([&] { return setup->live_token_count("f"); });
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(*live, 1u);
  auto status = setup->family_status("f");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, FamilyStatus::kLive);
}

TEST(PgAccountStore, TheReplicaServesTheListsAndThePrimaryEverythingElse) {
  // A second database stands in for the replica: what each call reads shows.
  const std::string replica = fresh_storage();
  auto on_replica = must_open<PgAccountStore>(replica);
  ASSERT_NE(on_replica, nullptr);
  ASSERT_TRUE(on_replica->create_user({"r", "replica-user", "r@example.com", "h", "R"}, kT0).ok());
  ASSERT_TRUE(on_replica->append_audit({kT0, "on-replica", "", "", ""}).ok());
  auto store = must_open<PgAccountStore>(fresh_storage(), PgOptions{.replica_url = replica});
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_user({"p", "primary-user", "p@example.com", "h", "P"}, kT0).ok());
  auto found = store->find_user_by_login("primary-user");
  ASSERT_TRUE(found.ok() && found->has_value());
  auto users = store->list_users();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ((*users)[0].id, "r");
  auto audit = store->list_audit(10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].kind, "on-replica");
}

TEST(PgAccountStore, RefusesTextWithANulByteInsteadOfCuttingIt) {
  auto store = must_open<PgAccountStore>(fresh_storage());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_user({"u", "user", "u@example.com", "h", "U"}, kT0).ok());
  Status s = store->create_workspace({std::string("w\0x", 3), "name", "u", kT0});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, kInvalid);
  auto lists = store->list_workspaces("u");
  ASSERT_TRUE(lists.ok());
  EXPECT_TRUE(lists->empty());
}

}  // namespace
}  // namespace quire::storage
