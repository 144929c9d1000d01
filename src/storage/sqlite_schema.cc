// The shared SQLite schema and connection plumbing (sqlite_schema.h).
#include "storage/sqlite_schema.h"

#include "storage/store.h"

namespace quire::storage::sqlite {
namespace {

// Versioned migrations, applied in order at open; PRAGMA user_version records
// how many ran. Append only: never edit a migration that has shipped.
constexpr const char* kMigrations[] = {
    // 1: the update log, snapshots, and the documents that have either (logs). A
    // document's last seq is derived from the log and its snapshot rather than
    // kept in a row, so an append writes the log's page and nothing else.
    R"sql(
    CREATE TABLE logs (
      doc TEXT PRIMARY KEY,
      created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE updates (
      doc TEXT NOT NULL,
      seq INTEGER NOT NULL,
      bytes BLOB NOT NULL,
      user TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      PRIMARY KEY (doc, seq)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
      doc TEXT NOT NULL,
      upto_seq INTEGER NOT NULL,
      bytes BLOB NOT NULL,
      state_vector BLOB NOT NULL,
      created_at INTEGER NOT NULL,
      PRIMARY KEY (doc, upto_seq)
    ) WITHOUT ROWID;
    )sql",
    // 2: accounts (account_store.h, docs/storage.md "Accounts"). Users are
    // never deleted (disabled instead), so the foreign keys need no cascade.
    R"sql(
    CREATE TABLE users (
      id TEXT PRIMARY KEY,
      username TEXT NOT NULL UNIQUE COLLATE NOCASE,
      email TEXT NOT NULL UNIQUE,
      password_hash TEXT NOT NULL,
      display_name TEXT NOT NULL,
      disabled INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL,
      password_changed_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE workspaces (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      created_by TEXT NOT NULL REFERENCES users(id),
      created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE workspace_members (
      workspace_id TEXT NOT NULL REFERENCES workspaces(id),
      user_id TEXT NOT NULL REFERENCES users(id),
      role TEXT NOT NULL CHECK (role IN ('owner', 'member')),
      PRIMARY KEY (workspace_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX workspace_members_by_user ON workspace_members(user_id);
    CREATE TABLE documents (
      id TEXT PRIMARY KEY,
      workspace_id TEXT REFERENCES workspaces(id),
      title TEXT NOT NULL,
      created_by TEXT NOT NULL REFERENCES users(id),
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      deleted_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX documents_by_workspace ON documents(workspace_id);
    CREATE TABLE document_members (
      document_id TEXT NOT NULL REFERENCES documents(id),
      user_id TEXT NOT NULL REFERENCES users(id),
      role TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
      PRIMARY KEY (document_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX document_members_by_user ON document_members(user_id);
    CREATE TABLE token_families (
      id TEXT PRIMARY KEY,
      user_id TEXT NOT NULL REFERENCES users(id),
      created_at INTEGER NOT NULL,
      last_used_at INTEGER NOT NULL,
      absolute_expires_at INTEGER NOT NULL,
      revoked_at INTEGER,
      revoke_reason TEXT
    ) WITHOUT ROWID;
    CREATE INDEX token_families_by_user ON token_families(user_id);
    CREATE INDEX token_families_revoked ON token_families(revoked_at) WHERE revoked_at IS NOT NULL;
    CREATE TABLE refresh_tokens (
      hash TEXT PRIMARY KEY CHECK (length(hash) = 64),
      family_id TEXT NOT NULL REFERENCES token_families(id),
      issued_at INTEGER NOT NULL,
      used_at INTEGER,
      successor TEXT
    ) WITHOUT ROWID;
    CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);
    CREATE UNIQUE INDEX refresh_tokens_one_head ON refresh_tokens(family_id) WHERE used_at IS NULL;
    CREATE TABLE audit_events (
      id INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      kind TEXT NOT NULL,
      user_id TEXT NOT NULL,
      remote_address TEXT NOT NULL,
      detail TEXT NOT NULL
    );
    )sql",
    // 3: who edited a document last, and when (the document list shows it).
    R"sql(
    ALTER TABLE documents ADD COLUMN last_edited_at INTEGER;
    ALTER TABLE documents ADD COLUMN last_edited_by TEXT REFERENCES users(id);
    )sql",
};

// The user_version of the open database; -1 if it cannot be read.
int user_version(sqlite3* db) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr) != SQLITE_OK) return -1;
  int version = -1;
  if (sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  return version;
}

// Brings the schema up to date. The version is read inside each migration's
// write transaction, so two connections opening a fresh file at once never run
// the same migration twice.
Status migrate(sqlite3* db) {
  for (;;) {
    if (Status st = exec(db, "BEGIN IMMEDIATE"); !st) return st;
    const int version = user_version(db);
    if (version < 0 || version > schema_version()) {
      (void)exec(db, "ROLLBACK");
      if (version < 0) return error(db, "schema");
      return Error{kDomain, kSchema,
                   "database schema " + std::to_string(version) + " is newer than this binary's " +
                       std::to_string(schema_version())};
    }
    if (version == schema_version()) return exec(db, "COMMIT");
    Status step = exec(db, kMigrations[version]);
    if (step) step = exec(db, ("PRAGMA user_version = " + std::to_string(version + 1)).c_str());
    if (!step) {
      (void)exec(db, "ROLLBACK");
      return Error{kDomain, kSchema, "migration " + std::to_string(version + 1) + ": " + step.error().message};
    }
    if (Status st = exec(db, "COMMIT"); !st) return st;
  }
}

}  // namespace

std::span<const char* const> migrations() {
  return kMigrations;
}

int schema_version() {
  return static_cast<int>(std::size(kMigrations));
}

Result<sqlite3*> open_database(const std::string& path, std::chrono::milliseconds busy_timeout) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Error{kDomain, kIo, "cannot open " + path + ": " + msg};
  }
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  // WAL + FULL: every commit is fsynced before it returns (we acknowledge after it).
  Status st;
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (st) st = exec(db, pragma);
  }
  if (st) st = migrate(db);
  if (!st) {
    sqlite3_close(db);
    return st.error();
  }
  return db;
}

Error error(sqlite3* db, std::string_view what) {
  return Error{kDomain, kIo, std::string(what) + ": " + sqlite3_errmsg(db)};
}

Status exec(sqlite3* db, const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return Error{kDomain, kIo, std::string("sqlite: ") + text};
  }
  return {};
}

Result<sqlite3_stmt*> prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
    return error(db, "prepare");
  }
  return s;
}

WriteTransaction::WriteTransaction(sqlite3* db, sqlite3_stmt* begin, sqlite3_stmt* commit, sqlite3_stmt* rollback)
    : db_(db), commit_(commit), rollback_(rollback) {
  Reset r{begin};
  began_ = sqlite3_step(begin) == SQLITE_DONE;
}

WriteTransaction::~WriteTransaction() {
  if (began_ && !committed_) rollback();
}

Error WriteTransaction::fail(std::string_view what) {
  Error e = error(db_, what);
  if (began_ && !committed_) rollback();
  began_ = false;
  return e;
}

bool WriteTransaction::commit() {
  Reset r{commit_};
  committed_ = sqlite3_step(commit_) == SQLITE_DONE;
  return committed_;
}

void WriteTransaction::rollback() {
  Reset r{rollback_};
  sqlite3_step(rollback_);
}

}  // namespace quire::storage::sqlite
