// PgStore: the Store on PostgreSQL, for clusters (several Quire nodes share
// one database). The log, snapshots and per-document last seq are keyed by
// (workspace, id), so updates and snapshots can be hash-partitioned by
// workspace (PgOptions::partitions). An append is one transaction for the
// whole batch: each document's row in `logs` is advanced with
// INSERT … ON CONFLICT DO UPDATE … RETURNING, which locks it until the commit,
// so two nodes appending to one document get distinct, gap-free seqs.
// Compaction takes a transaction-scoped advisory lock on the document (one
// node at a time), never goes back, and writes the snapshot and trims the log
// in one transaction. Loads read in one REPEATABLE READ READ ONLY transaction.
// Every session has synchronous_commit=on. Schema: docs/storage.md "PostgreSQL".
//
// Thread-safety: any thread (a pool of connections); the CommitQueue uses it
// from one. Calls block on the network: never on an I/O thread.
// Limitations: a failed append may still have committed when the connection
// broke during COMMIT (the caller reports an error; a resent Yjs update is
// harmless); list_documents() reads the replica when there is one, so it may
// lag the primary.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "storage/pg_connection.h"
#include "storage/store.h"

namespace quire::storage {

class PgStore final : public Store {
 public:
  using Options = PgOptions;

  // Connects to `url` (e.g. postgresql://quire@db:5432/quire?connect_timeout=5)
  // and runs pending schema migrations. Fails with kIo if the database is
  // unreachable, kSchema if it is newer than this binary.
  static Result<std::unique_ptr<PgStore>> open(const std::string& url, const Options& options = {});
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  Result<StoredDocument> load(const DocKey& doc) override;
  Result<StoredDocument> load_since(const DocKey& doc, std::uint64_t after_seq) override;
  Result<std::vector<std::uint64_t>> append(std::span<const AppendEntry> entries) override;
  Result<std::uint64_t> compact(const DocKey& doc, ByteView snapshot, ByteView state_vector,
                                std::uint64_t upto_seq) override;
  Result<DocumentInfo> info(const DocKey& doc) override;
  // Every document id in every workspace, bytewise, the same id once per workspace.
  Result<std::vector<std::string>> list_documents() override;

  // The schema version this binary writes.
  static int schema_version();

 private:
  PgStore(std::unique_ptr<PgPool> primary, std::unique_ptr<PgPool> replica);
  Result<StoredDocument> read(const DocKey& doc, std::optional<std::uint64_t> after_seq);

  std::unique_ptr<PgPool> primary_;
  std::unique_ptr<PgPool> replica_;  // null: lists read the primary
};

}  // namespace quire::storage
