// SqliteStore (sqlite_store.h).
#include "storage/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "base/failpoint.h"
#include "storage/sqlite_schema.h"

namespace quire::storage {
namespace {

using sqlite::bind_text;
using sqlite::Reset;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void bind_blob(sqlite3_stmt* s, int i, ByteView v) {
  // A zero-length blob must still be a blob, not NULL.
  sqlite3_bind_blob(s, i, v.empty() ? "" : static_cast<const void*>(v.data()), static_cast<int>(v.size()),
                    SQLITE_TRANSIENT);
}
Bytes column_blob(sqlite3_stmt* s, int i) {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
  return Bytes(p, p + sqlite3_column_bytes(s, i));
}

}  // namespace

struct SqliteStore::Statements {
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* last_seq = nullptr;
  sqlite3_stmt* insert_doc = nullptr;
  sqlite3_stmt* insert_update = nullptr;
  sqlite3_stmt* latest_snapshot = nullptr;
  sqlite3_stmt* updates_after = nullptr;
  sqlite3_stmt* insert_snapshot = nullptr;
  sqlite3_stmt* trim_updates = nullptr;
  sqlite3_stmt* trim_snapshots = nullptr;
  sqlite3_stmt* log_size = nullptr;
  sqlite3_stmt* list = nullptr;
  ~Statements() {
    for (sqlite3_stmt* s : {begin, commit, rollback, last_seq, insert_doc, insert_update, latest_snapshot,
                            updates_after, insert_snapshot, trim_updates, trim_snapshots, log_size, list}) {
      sqlite3_finalize(s);
    }
  }
};

SqliteStore::SqliteStore(sqlite3* db) : db_(db) {}

int SqliteStore::schema_version() {
  return sqlite::schema_version();
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  auto db = sqlite::open_database(path);
  if (!db) return db.error();
  std::unique_ptr<SqliteStore> store(new SqliteStore(*db));  // NOLINT: private constructor
  store->st_ = std::make_unique<Statements>();
  Statements& st = *store->st_;
  struct {
    sqlite3_stmt** out;
    const char* sql;
  } const statements[] = {
      {&st.begin, "BEGIN IMMEDIATE"},
      {&st.commit, "COMMIT"},
      {&st.rollback, "ROLLBACK"},
      {&st.last_seq,
       "SELECT max(coalesce((SELECT max(seq) FROM updates WHERE doc = ?1), 0), "
       "coalesce((SELECT max(upto_seq) FROM snapshots WHERE doc = ?1), 0))"},
      {&st.insert_doc, "INSERT OR IGNORE INTO logs(doc, created_at) VALUES (?1, ?2)"},
      {&st.insert_update, "INSERT INTO updates(doc, seq, bytes, user, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"},
      {&st.latest_snapshot, "SELECT upto_seq, bytes FROM snapshots WHERE doc = ?1 ORDER BY upto_seq DESC LIMIT 1"},
      {&st.updates_after, "SELECT bytes FROM updates WHERE doc = ?1 AND seq > ?2 ORDER BY seq"},
      {&st.insert_snapshot,
       "INSERT OR REPLACE INTO snapshots(doc, upto_seq, bytes, state_vector, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"},
      {&st.trim_updates, "DELETE FROM updates WHERE doc = ?1 AND seq <= ?2"},
      {&st.trim_snapshots, "DELETE FROM snapshots WHERE doc = ?1 AND upto_seq < ?2"},
      {&st.log_size,
       "SELECT (SELECT count(*) FROM updates WHERE doc = ?1), "
       "(SELECT coalesce(sum(length(bytes)), 0) FROM updates WHERE doc = ?1), "
       "(SELECT coalesce(sum(length(bytes)), 0) FROM snapshots WHERE doc = ?1)"},
      {&st.list, "SELECT doc FROM logs ORDER BY doc"},
  };
  for (const auto& s : statements) {
    auto stmt = store->prepare(s.sql);
    if (!stmt) return stmt.error();
    *s.out = *stmt;
  }
  return store;
}

SqliteStore::~SqliteStore() {
  st_.reset();
  sqlite3_close(db_);
}

Error SqliteStore::error(std::string_view what) const {
  return sqlite::error(db_, what);
}

Status SqliteStore::exec(const char* sql) {
  return sqlite::exec(db_, sql);
}

Result<sqlite3_stmt*> SqliteStore::prepare(const char* sql) {
  return sqlite::prepare(db_, sql);
}

Result<std::uint64_t> SqliteStore::last_seq(std::string_view doc) {
  Reset r{st_->last_seq};
  bind_text(st_->last_seq, 1, doc);
  const int rc = sqlite3_step(st_->last_seq);
  if (rc == SQLITE_ROW) return static_cast<std::uint64_t>(sqlite3_column_int64(st_->last_seq, 0));
  if (rc != SQLITE_DONE) return error("last seq");
  return std::uint64_t{0};
}

Status SqliteStore::add_document(std::string_view doc, std::int64_t now) {
  Reset r{st_->insert_doc};
  bind_text(st_->insert_doc, 1, doc);
  sqlite3_bind_int64(st_->insert_doc, 2, now);
  if (sqlite3_step(st_->insert_doc) != SQLITE_DONE) return error("add document");
  return {};
}

Result<StoredDocument> SqliteStore::load(const DocKey& doc) {
  return read(doc.id, std::nullopt);
}

Result<StoredDocument> SqliteStore::load_since(const DocKey& doc, std::uint64_t after_seq) {
  return read(doc.id, after_seq);
}

Result<StoredDocument> SqliteStore::read(std::string_view doc, std::optional<std::uint64_t> after_seq) {
  // One read transaction: the snapshot and the log after it are consistent.
  if (Status s = exec("BEGIN"); !s) return s.error();
  StoredDocument out;
  auto fail = [&](std::string_view what) {
    Error e = error(what);
    (void)exec("ROLLBACK");
    return e;
  };
  if (auto seq = last_seq(doc); seq) {
    out.last_seq = *seq;
  } else {
    (void)exec("ROLLBACK");
    return seq.error();
  }
  {
    Reset r{st_->latest_snapshot};
    bind_text(st_->latest_snapshot, 1, doc);
    const int rc = sqlite3_step(st_->latest_snapshot);
    if (rc == SQLITE_ROW) {
      out.snapshot_seq = static_cast<std::uint64_t>(sqlite3_column_int64(st_->latest_snapshot, 0));
      // A catch-up whose entries are all still in the log needs no snapshot.
      if (after_seq && *after_seq >= out.snapshot_seq) {
        out.snapshot_seq = 0;
      } else {
        out.snapshot = column_blob(st_->latest_snapshot, 1);
      }
    } else if (rc != SQLITE_DONE) {
      return fail("load snapshot");
    }
  }
  {
    const std::uint64_t from = out.snapshot.empty() && after_seq ? *after_seq : out.snapshot_seq;
    Reset r{st_->updates_after};
    bind_text(st_->updates_after, 1, doc);
    sqlite3_bind_int64(st_->updates_after, 2, static_cast<sqlite3_int64>(from));
    int rc;
    while ((rc = sqlite3_step(st_->updates_after)) == SQLITE_ROW) {
      out.updates.push_back(column_blob(st_->updates_after, 0));
    }
    if (rc != SQLITE_DONE) return fail("load log");
  }
  if (Status s = exec("COMMIT"); !s) return s.error();
  return out;
}

// One write transaction on this connection's prepared BEGIN/COMMIT/ROLLBACK.
class SqliteStore::WriteTransaction : public sqlite::WriteTransaction {
 public:
  explicit WriteTransaction(SqliteStore& store)
      : sqlite::WriteTransaction(store.db_, store.st_->begin, store.st_->commit, store.st_->rollback) {}
};

Result<std::vector<std::uint64_t>> SqliteStore::append(std::span<const AppendEntry> entries) {
  std::vector<std::uint64_t> seqs;
  if (entries.empty()) return seqs;
  WriteTransaction tx(*this);
  if (!tx.began()) return error("begin");
  auto step = [&](sqlite3_stmt* s) { return sqlite3_step(s); };
  auto fail = [&](std::string_view what) { return tx.fail(what); };
  const std::int64_t now = now_ms();
  std::map<std::string_view, std::uint64_t> last;       // document → last seq in this batch
  std::map<std::string_view, std::uint64_t> first_seq;  // document → its first seq in this batch
  seqs.reserve(entries.size());
  for (const AppendEntry& e : entries) {
    auto it = last.find(e.doc.id);
    if (it == last.end()) {
      auto seq = last_seq(e.doc.id);
      if (!seq) return fail("append");
      it = last.emplace(e.doc.id, *seq).first;
      first_seq.emplace(e.doc.id, *seq + 1);
    }
    const std::uint64_t seq = ++it->second;
    Reset r{st_->insert_update};
    bind_text(st_->insert_update, 1, e.doc.id);
    sqlite3_bind_int64(st_->insert_update, 2, static_cast<sqlite3_int64>(seq));
    bind_blob(st_->insert_update, 3, e.bytes);
    bind_text(st_->insert_update, 4, e.user);
    sqlite3_bind_int64(st_->insert_update, 5, now);
    if (step(st_->insert_update) != SQLITE_DONE) return fail("append");
    seqs.push_back(seq);
  }
  for (const auto& [doc, first] : first_seq) {
    if (first != 1) continue;  // known already
    if (Status st = add_document(doc, now); !st) return fail("append");
  }
  if (!tx.commit()) return fail("commit");
  return seqs;
}

Result<std::uint64_t> SqliteStore::compact(const DocKey& key, ByteView snapshot, ByteView state_vector,
                                           std::uint64_t upto_seq) {
  const std::string_view doc = key.id;
  WriteTransaction tx(*this);
  if (!tx.began()) return error("begin");
  auto fail = [&](std::string_view what) { return tx.fail(what); };
  auto last = last_seq(doc);
  if (!last) return fail("compact");
  const std::uint64_t upto = std::min(upto_seq, *last);
  {
    Reset r{st_->latest_snapshot};
    bind_text(st_->latest_snapshot, 1, doc);
    const int rc = sqlite3_step(st_->latest_snapshot);
    if (rc == SQLITE_ROW) {
      const auto newest = static_cast<std::uint64_t>(sqlite3_column_int64(st_->latest_snapshot, 0));
      if (newest > upto) return newest;  // someone compacted further already; the transaction rolls back
    } else if (rc != SQLITE_DONE) {
      return fail("compact: snapshot");
    }
  }
  const std::int64_t now = now_ms();
  if (upto == 0) {
    // A document with no log yet (an import): record it.
    if (Status st = add_document(doc, now); !st) return fail("compact");
  }
  {
    Reset r{st_->insert_snapshot};
    bind_text(st_->insert_snapshot, 1, doc);
    sqlite3_bind_int64(st_->insert_snapshot, 2, static_cast<sqlite3_int64>(upto));
    bind_blob(st_->insert_snapshot, 3, snapshot);
    bind_blob(st_->insert_snapshot, 4, state_vector);
    sqlite3_bind_int64(st_->insert_snapshot, 5, now);
    if (sqlite3_step(st_->insert_snapshot) != SQLITE_DONE) return fail("compact: snapshot");
  }
  failpoint::hit("compact.after_snapshot");
  for (sqlite3_stmt* trim : {st_->trim_updates, st_->trim_snapshots}) {
    Reset r{trim};
    bind_text(trim, 1, doc);
    sqlite3_bind_int64(trim, 2, static_cast<sqlite3_int64>(upto));
    if (sqlite3_step(trim) != SQLITE_DONE) return fail("compact: trim");
  }
  failpoint::hit("compact.after_trim");
  if (!tx.commit()) return fail("commit");
  failpoint::hit("compact.after_commit");
  return upto;
}

Result<DocumentInfo> SqliteStore::info(const DocKey& key) {
  const std::string_view doc = key.id;
  DocumentInfo out;
  out.doc = key.id;
  auto last = last_seq(doc);
  if (!last) return last.error();
  out.last_seq = *last;
  Reset r{st_->log_size};
  bind_text(st_->log_size, 1, doc);
  if (sqlite3_step(st_->log_size) != SQLITE_ROW) return error("info");
  out.log_entries = static_cast<std::uint64_t>(sqlite3_column_int64(st_->log_size, 0));
  out.log_bytes = static_cast<std::uint64_t>(sqlite3_column_int64(st_->log_size, 1));
  out.snapshot_bytes = static_cast<std::uint64_t>(sqlite3_column_int64(st_->log_size, 2));
  return out;
}

Result<std::vector<std::string>> SqliteStore::list_documents() {
  std::vector<std::string> out;
  Reset r{st_->list};
  int rc;
  while ((rc = sqlite3_step(st_->list)) == SQLITE_ROW) {
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st_->list, 0)));
  }
  if (rc != SQLITE_DONE) return error("list");
  return out;
}

}  // namespace quire::storage
