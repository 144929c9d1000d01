// SqliteAccountStore: the AccountStore conformance suite, and what is SQLite's
// own: one file and one migration sequence shared with SqliteStore, upgrading a
// database that has only the document log, and what the token table holds.
#include "storage/sqlite_account_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstring>
#include <thread>
#include <vector>

#include "storage/account_store_conformance.h"
#include "storage/sqlite_schema.h"
#include "storage/sqlite_store.h"
#include "storage/sqlite_test_util.h"

namespace quire::storage {
namespace {

using testing::query_int;
using testing::TempDir;

std::unique_ptr<AccountStore> open_sqlite(bool reopen) {
  static std::unique_ptr<TempDir> dir;
  if (!reopen) dir = std::make_unique<TempDir>();
  // The concurrency cases queue 50 fsynced writers on one file; on a slow
  // shared disk the last can wait longer than the default 5 s.
  auto store = SqliteAccountStore::open(dir->file("quire.db"), std::chrono::seconds(60));
  EXPECT_TRUE(store.ok()) << (store ? "" : store.error().to_string());
  return store ? std::move(*store) : nullptr;
}
testing::AccountStoreFactory sqlite_factory = open_sqlite;

using testing::AccountStoreConformance;
INSTANTIATE_TEST_SUITE_P(Sqlite, AccountStoreConformance, ::testing::Values(&sqlite_factory));

const Time kT0{std::chrono::milliseconds{1'700'000'000'000}};

TEST(SqliteAccountStore, SharesTheFileAndTheSchemaVersionWithTheDocumentLog) {
  for (const bool log_first : {true, false}) {
    TempDir dir;
    const std::string path = dir.file("quire.db");
    std::unique_ptr<SqliteStore> log;
    std::unique_ptr<SqliteAccountStore> accounts;
    if (log_first) {
      auto s = SqliteStore::open(path);
      ASSERT_TRUE(s.ok());
      log = std::move(*s);
    }
    auto a = SqliteAccountStore::open(path);
    ASSERT_TRUE(a.ok()) << a.error().to_string();
    accounts = std::move(*a);
    if (!log_first) {
      auto s = SqliteStore::open(path);
      ASSERT_TRUE(s.ok());
      log = std::move(*s);
    }
    EXPECT_EQ(query_int(path, "PRAGMA user_version"), sqlite::schema_version());
    EXPECT_EQ(SqliteStore::schema_version(), sqlite::schema_version());
    EXPECT_EQ(sqlite::schema_version(), 3);
    // Both work on the one file, each on its own connection.
    ASSERT_TRUE(accounts->create_user({"u", "user", "u@example.com", "h", "U"}, kT0).ok());
    ASSERT_TRUE(accounts->create_document({"doc", "", "t", "u", {}, {}, {}}, kT0).ok());
    ASSERT_TRUE(log->append(std::vector<AppendEntry>{{{"", "doc"}, Bytes{1}, "u"}}).ok());
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM documents"), 1);
    EXPECT_EQ(query_int(path, "SELECT count(*) FROM updates"), 1);
  }
}

TEST(SqliteAccountStore, UpgradesADatabaseThatHasOnlyTheDocumentLog) {
  TempDir dir;
  const std::string path = dir.file("quire.db");
  {
    // A database as the previous release left it: migration 1, version 1.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sqlite::migrations()[0], nullptr, nullptr, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "PRAGMA user_version = 1; INSERT INTO logs VALUES ('old', 1); "
                           "INSERT INTO updates VALUES ('old', 1, x'07', 'u', 1);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto accounts = SqliteAccountStore::open(path);
  ASSERT_TRUE(accounts.ok()) << accounts.error().to_string();
  EXPECT_EQ(query_int(path, "PRAGMA user_version"), sqlite::schema_version());
  auto log = SqliteStore::open(path);
  ASSERT_TRUE(log.ok());
  auto old = (*log)->load({"", "old"});
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->updates, (std::vector<Bytes>{Bytes{7}}));
}

TEST(SqliteAccountStore, RefusesADatabaseFromANewerVersion) {
  TempDir dir;
  const std::string path = dir.file("quire.db");
  ASSERT_TRUE(SqliteAccountStore::open(path).ok());
  EXPECT_EQ(query_int(path, "PRAGMA user_version = 99"), -1);
  auto again = SqliteAccountStore::open(path);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, kSchema);
}

TEST(SqliteAccountStore, ConnectionsOpeningAFreshFileAtOnceMigrateItOnce) {
  TempDir dir;
  const std::string path = dir.file("quire.db");
  constexpr int kThreads = 8;
  std::vector<int> ok(kThreads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      if (i % 2 == 0) {
        ok[static_cast<std::size_t>(i)] = SqliteAccountStore::open(path).ok();
      } else {
        ok[static_cast<std::size_t>(i)] = SqliteStore::open(path).ok();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, std::vector<int>(kThreads, 1));
  EXPECT_EQ(query_int(path, "PRAGMA user_version"), sqlite::schema_version());
}

TEST(SqliteAccountStore, StoresOnlyTokenHashesAndEnforcesOneHeadPerFamily) {
  TempDir dir;
  const std::string path = dir.file("quire.db");
  auto opened = SqliteAccountStore::open(path);
  ASSERT_TRUE(opened.ok());
  auto& store = **opened;
  ASSERT_TRUE(store.create_user({"u", "user", "u@example.com", "h", "U"}, kT0).ok());
  const std::string h1(64, 'a');
  const std::string h2(64, 'b');
  ASSERT_TRUE(store.create_family("f", "u", h1, kT0, kT0 + std::chrono::hours(1)).ok());
  auto r = store.rotate(h1, h2, kT0, std::chrono::minutes(30), std::chrono::seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, RotateOutcome::kRotated);
  EXPECT_EQ(
      query_int(path, "SELECT count(*) FROM refresh_tokens WHERE length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'"),
      2);
  // The partial unique index refuses a second unused token in a family, even
  // from outside the store.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const std::string sql =
      "INSERT INTO refresh_tokens(hash, family_id, issued_at) VALUES ('" + std::string(64, 'c') + "', 'f', 0)";
  EXPECT_NE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

}  // namespace
}  // namespace quire::storage
