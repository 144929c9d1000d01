// SqliteStore: the Store conformance suite, SQLite's own settings and
// migrations, and the CommitQueue over it.
#include "storage/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <future>
#include <mutex>

#include "storage/commit_queue.h"
#include "storage/sqlite_test_util.h"
#include "storage/store_conformance.h"

namespace quire::storage {
namespace {

using testing::query_int;
using testing::TempDir;

std::unique_ptr<Store> open_sqlite(bool reopen) {
  static std::unique_ptr<TempDir> dir;
  if (!reopen) dir = std::make_unique<TempDir>();
  auto store = SqliteStore::open(dir->file("quire.db"));
  EXPECT_TRUE(store.ok()) << (store ? "" : store.error().to_string());
  return store ? std::move(*store) : nullptr;
}
testing::StoreFactory sqlite_factory = open_sqlite;

using testing::StoreConformance;
INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(&sqlite_factory));

TEST(SqliteStore, UsesWalAndRecordsTheSchemaVersion) {
  TempDir dir;
  const std::string path = dir.file("quire.db");
  ASSERT_TRUE(SqliteStore::open(path).ok());
  EXPECT_EQ(query_int(path, "PRAGMA user_version"), SqliteStore::schema_version());
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST(SqliteStore, RefusesADatabaseFromANewerVersion) {
  TempDir dir;
  const std::string path = dir.file("quire.db");
  ASSERT_TRUE(SqliteStore::open(path).ok());
  EXPECT_EQ(query_int(path, "PRAGMA user_version = 99"), -1);
  auto again = SqliteStore::open(path);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, kSchema);
}

TEST(SqliteStore, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.file("quire.db");
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fputs("this is not a database, just text that is long enough to be read as a header....", f);
  std::fclose(f);
  EXPECT_FALSE(SqliteStore::open(path).ok());
}

// Each CommitQueue test runs over a fresh SQLite store of its own.
class CommitQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = SqliteStore::open(dir_.file("quire.db"));
    ASSERT_TRUE(opened.ok()) << opened.error().to_string();
    store_ = std::move(*opened);
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(CommitQueueTest, UnderLoadACommitWaitsItsWindowForMoreAppendsButALoneAppendDoesNot) {
  std::mutex mu;
  std::vector<std::size_t> batches;
  // A window far longer than the test: whatever waits for it shows.
  CommitQueue queue(
      *store_, 8,
      [&](double, std::size_t n) {
        std::lock_guard lock(mu);
        batches.push_back(n);
      },
      std::chrono::minutes(1));
  auto append = [&](int i) {
    auto done = std::make_shared<std::promise<void>>();
    queue.append({{"", "d"}, Bytes{static_cast<std::uint8_t>(i)}, "u"}, [done](Result<std::uint64_t> seq) {
      EXPECT_TRUE(seq.ok());
      done->set_value();
    });
    return done->get_future();
  };
  // The first append follows no commit: it commits at once.
  ASSERT_EQ(append(0).wait_for(std::chrono::seconds(20)), std::future_status::ready);
  // The next ones arrive within the window after that commit: they wait for company
  // until the batch is full (8), one commit for all of them.
  std::vector<std::future<void>> later;
  for (int i = 1; i <= 8; ++i) later.push_back(append(i));
  for (auto& f : later) ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  std::lock_guard lock(mu);
  EXPECT_EQ(batches, (std::vector<std::size_t>{1, 8}));
}

TEST_F(CommitQueueTest, StoppingEndsTheWindowAndCommitsWhatWaits) {
  std::atomic<int> committed{0};
  {
    CommitQueue queue(*store_, 1024, {}, std::chrono::minutes(1));
    std::promise<void> first;
    queue.append({{"", "d"}, Bytes{1}, "u"}, [&](Result<std::uint64_t>) { first.set_value(); });
    first.get_future().wait();
    // Within the window of the first commit: this one waits, until the queue stops.
    queue.append({{"", "d"}, Bytes{2}, "u"}, [&](Result<std::uint64_t> seq) {
      if (seq.ok()) committed++;
    });
  }
  EXPECT_EQ(committed.load(), 1);
  auto stored = store_->load({"", "d"});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->updates.size(), 2u);
}

TEST_F(CommitQueueTest, RunsInOrderAndGroupsAppendsIntoOneCommit) {
  std::mutex mu;
  std::vector<std::size_t> batches;
  std::vector<std::string> order;
  {
    // The first op blocks the queue so the appends behind it pile up.
    std::promise<void> gate;
    auto opened = gate.get_future().share();
    CommitQueue queue(*store_, 1024, [&](double, std::size_t n) {
      std::lock_guard lock(mu);
      batches.push_back(n);
    });
    queue.run([opened](Store&) { opened.wait(); });
    for (int i = 0; i < 50; ++i) {
      queue.append({{"", "d"}, Bytes{static_cast<std::uint8_t>(i)}, "u"}, [&, i](Result<std::uint64_t> seq) {
        std::lock_guard lock(mu);
        ASSERT_TRUE(seq.ok());
        EXPECT_EQ(*seq, static_cast<std::uint64_t>(i + 1));
        order.push_back(std::to_string(i));
      });
    }
    queue.barrier([&] {
      std::lock_guard lock(mu);
      order.push_back("barrier");
    });
    queue.compact({"", "d"}, Bytes{1, 2}, Bytes{}, kThroughLastSeq, [&](Result<std::uint64_t> upto) {
      std::lock_guard lock(mu);
      ASSERT_TRUE(upto.ok());
      EXPECT_EQ(*upto, 50u);
      order.push_back("compact");
    });
    queue.load({"", "d"}, [&](Result<StoredDocument> d) {
      std::lock_guard lock(mu);
      ASSERT_TRUE(d.ok());
      EXPECT_EQ(d->snapshot, (Bytes{1, 2}));
      EXPECT_TRUE(d->updates.empty());
      order.push_back("load");
    });
    gate.set_value();
  }  // the destructor drains the queue
  ASSERT_EQ(order.size(), 53u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], std::to_string(i));
  EXPECT_EQ(order[50], "barrier");
  EXPECT_EQ(order[51], "compact");
  EXPECT_EQ(order[52], "load");
  EXPECT_EQ(batches, (std::vector<std::size_t>{50}));
}

}  // namespace
}  // namespace quire::storage
