// The PostgreSQL schema shared by PgStore and PgAccountStore: one versioned
// migration list (1 = the document log, 2 = the accounts), recorded in
// schema_migrations(version) and applied at open by whichever store opens the
// database first, under an advisory lock, so nodes starting at once migrate
// exactly once. A database newer than the binary is refused (kSchema).
//
// Thread-safety: free functions on a connection the caller holds.
// Limitations: migrations run forwards only and are append-only; the
// partition count is fixed when migration 1 runs (a later option changes
// nothing: repartitioning is an operator's job).
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "storage/pg_connection.h"

namespace quire::storage::pg {

// The most hash partitions PgOptions::partitions may ask for.
inline constexpr int kMaxPartitions = 256;

// The schema version this binary writes: the number of migrations.
int schema_version();
// Migration `version` (1-based) as SQL; migration 1 creates `updates` and
// `snapshots` with `partitions` hash partitions by workspace (0: plain).
std::string migration(int version, int partitions);
// Brings the database up to date, each migration in its own transaction.
// kSchema if the database is newer than this binary or a migration fails,
// kInvalid for a partition count outside 0..kMaxPartitions, kIo otherwise.
Status migrate(PgConnection& conn, int partitions);

// What PgStore::open and PgAccountStore::open share: a pool on `url`, the
// schema brought up to date through it, and a pool on the replica if
// options.replica_url names one (null otherwise; never migrated: a replica
// follows the primary).
struct Pools {
  std::unique_ptr<PgPool> primary;
  std::unique_ptr<PgPool> replica;
};
Result<Pools> open_pools(const std::string& url, const PgOptions& options);

}  // namespace quire::storage::pg
