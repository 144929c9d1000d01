// SqliteStore: the embedded default Store, one SQLite file in WAL mode with
// synchronous=FULL — Quire acknowledges an update only after its commit, so a
// commit must survive power loss. Schema and migrations: docs/storage.md.
//
// Thread-safety: one thread at a time (the CommitQueue's); the file may be
// read by other processes (sqlite3 -readonly) while it runs.
// Limitations: one writer process per file (SQLite's own lock enforces it).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "storage/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace quire::storage {

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database at `path` and runs pending schema
  // migrations. Fails if the file is not a Quire database or is newer than
  // this binary.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path);
  ~SqliteStore() override;

  // Documents are keyed by id alone: the workspace is not stored.
  Result<StoredDocument> load(const DocKey& doc) override;
  Result<StoredDocument> load_since(const DocKey& doc, std::uint64_t after_seq) override;
  Result<std::vector<std::uint64_t>> append(std::span<const AppendEntry> entries) override;
  Result<std::uint64_t> compact(const DocKey& doc, ByteView snapshot, ByteView state_vector,
                                std::uint64_t upto_seq) override;
  Result<DocumentInfo> info(const DocKey& doc) override;
  Result<std::vector<std::string>> list_documents() override;

  // The schema version this binary writes.
  static int schema_version();

 private:
  explicit SqliteStore(sqlite3* db);
  Status exec(const char* sql);
  Result<sqlite3_stmt*> prepare(const char* sql);
  Error error(std::string_view what) const;
  Result<std::uint64_t> last_seq(std::string_view doc);
  Status add_document(std::string_view doc, std::int64_t now);
  Result<StoredDocument> read(std::string_view doc, std::optional<std::uint64_t> after_seq);

  class WriteTransaction;
  sqlite3* db_;
  struct Statements;
  std::unique_ptr<Statements> st_;
};

}  // namespace quire::storage
