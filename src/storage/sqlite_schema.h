// SQLite plumbing shared by SqliteStore and SqliteAccountStore. Both keep their
// tables in one file (DATA_DIR/quire.db), each on its own connection, so they
// share the connection settings and one migration list numbered by
// PRAGMA user_version; a new table for either is the next migration here.
//
// Thread-safety: free functions and small RAII helpers; a connection and its
// statements are used by one thread at a time (SQLITE_OPEN_NOMUTEX).
// Limitations: migrations are append-only and run forwards only.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"

namespace quire::storage::sqlite {

// Every migration, in order; migration N (1-based) is migrations()[N - 1].
std::span<const char* const> migrations();
// The schema version this binary writes: the number of migrations.
int schema_version();

// Opens (creating if needed) the database at `path` with WAL,
// synchronous=FULL, foreign keys on and `busy_timeout` (how long a write waits
// for another connection's write lock before failing), and runs the pending
// migrations, each in its own transaction (safe when several connections open
// the file at once). Fails with kSchema if the file is newer than this binary,
// kIo if it is not a database. The caller owns the connection (sqlite3_close).
Result<sqlite3*> open_database(const std::string& path,
                               std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));

// An Error in the storage domain (kIo) carrying SQLite's last message.
Error error(sqlite3* db, std::string_view what);
Status exec(sqlite3* db, const char* sql);
// A statement kept for the connection's lifetime (SQLITE_PREPARE_PERSISTENT).
Result<sqlite3_stmt*> prepare(sqlite3* db, const char* sql);

// Resets a statement and clears its bindings on scope exit so it can be reused.
struct Reset {
  sqlite3_stmt* s;
  ~Reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

inline void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  // A zero-length text must still be text, not NULL.
  sqlite3_bind_text(s, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}
inline std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

// One write transaction: BEGIN IMMEDIATE on construction (so the write lock is
// taken up front and a busy database waits in the busy handler rather than
// failing at the first write), ROLLBACK unless commit() succeeded. fail()
// captures SQLite's message before rolling back. The three statements are the
// connection's prepared BEGIN IMMEDIATE, COMMIT and ROLLBACK.
class WriteTransaction {
 public:
  WriteTransaction(sqlite3* db, sqlite3_stmt* begin, sqlite3_stmt* commit, sqlite3_stmt* rollback);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;

  [[nodiscard]] bool began() const { return began_; }
  Error fail(std::string_view what);
  bool commit();

 private:
  void rollback();
  sqlite3* db_;
  sqlite3_stmt* commit_;
  sqlite3_stmt* rollback_;
  bool began_ = false;
  bool committed_ = false;
};

}  // namespace quire::storage::sqlite
