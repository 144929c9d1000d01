// The PostgreSQL migrations (pg_schema.h).
#include "storage/pg_schema.h"

#include <array>
#include <cstdint>
#include <string>
#include <utility>

namespace quire::storage::pg {
namespace {

// The advisory lock (transaction-scoped) that serialises migrations across
// nodes; the compaction locks of PgStore are hashes of document keys.
constexpr std::int64_t kMigrationLock = 0x7175697265'000001;  // "quire", 1

// 1: the update log, snapshots, and a row per document (logs) holding its last
// seq, which appends lock and advance, so two nodes appending to one document
// never assign the same seq. Names are bytea: a Store's keys are opaque bytes.
// `%PARTITION%` is replaced by the partitioning clause.
constexpr const char* kLogTables = R"sql(
CREATE TABLE logs (
  workspace bytea NOT NULL,
  doc bytea NOT NULL,
  last_seq bigint NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (workspace, doc)
);
CREATE TABLE updates (
  workspace bytea NOT NULL,
  doc bytea NOT NULL,
  seq bigint NOT NULL,
  bytes bytea NOT NULL,
  author bytea NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (workspace, doc, seq)
)%PARTITION%;
CREATE TABLE snapshots (
  workspace bytea NOT NULL,
  doc bytea NOT NULL,
  upto_seq bigint NOT NULL,
  bytes bytea NOT NULL,
  state_vector bytea NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (workspace, doc, upto_seq)
)%PARTITION%;
)sql";

// 2: accounts (account_store.h, docs/storage.md "Accounts"), as in SQLite.
// Identifiers and names compare and sort bytewise (COLLATE "C", SQLite's
// BINARY); usernames are unique ASCII-case-insensitively through lower(),
// which under "C" folds ASCII only (SQLite's NOCASE).
constexpr const char* kAccountTables = R"sql(
CREATE TABLE users (
  id text COLLATE "C" PRIMARY KEY,
  username text COLLATE "C" NOT NULL,
  email text COLLATE "C" NOT NULL CONSTRAINT users_email_unique UNIQUE,
  password_hash text NOT NULL,
  display_name text NOT NULL,
  disabled boolean NOT NULL DEFAULT false,
  created_at bigint NOT NULL,
  password_changed_at bigint NOT NULL
);
CREATE UNIQUE INDEX users_username_nocase ON users (lower(username));
CREATE TABLE workspaces (
  id text COLLATE "C" PRIMARY KEY,
  name text COLLATE "C" NOT NULL,
  created_by text COLLATE "C" NOT NULL REFERENCES users(id),
  created_at bigint NOT NULL
);
CREATE TABLE workspace_members (
  workspace_id text COLLATE "C" NOT NULL REFERENCES workspaces(id),
  user_id text COLLATE "C" NOT NULL REFERENCES users(id),
  role text NOT NULL CHECK (role IN ('owner', 'member')),
  PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_by_user ON workspace_members(user_id);
CREATE TABLE documents (
  id text COLLATE "C" PRIMARY KEY,
  workspace_id text COLLATE "C" REFERENCES workspaces(id),
  title text NOT NULL,
  created_by text COLLATE "C" NOT NULL REFERENCES users(id),
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  deleted_at bigint,
  last_edited_at bigint,
  last_edited_by text COLLATE "C" REFERENCES users(id)
);
CREATE INDEX documents_by_workspace ON documents(workspace_id);
CREATE TABLE document_members (
  document_id text COLLATE "C" NOT NULL REFERENCES documents(id),
  user_id text COLLATE "C" NOT NULL REFERENCES users(id),
  role text NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
  PRIMARY KEY (document_id, user_id)
);
CREATE INDEX document_members_by_user ON document_members(user_id);
CREATE TABLE token_families (
  id text COLLATE "C" PRIMARY KEY,
  user_id text COLLATE "C" NOT NULL REFERENCES users(id),
  created_at bigint NOT NULL,
  last_used_at bigint NOT NULL,
  absolute_expires_at bigint NOT NULL,
  revoked_at bigint,
  revoke_reason text
);
CREATE INDEX token_families_by_user ON token_families(user_id);
CREATE INDEX token_families_revoked ON token_families(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE TABLE refresh_tokens (
  hash text COLLATE "C" PRIMARY KEY CHECK (length(hash) = 64),
  family_id text COLLATE "C" NOT NULL REFERENCES token_families(id),
  issued_at bigint NOT NULL,
  used_at bigint,
  successor text COLLATE "C"
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);
CREATE UNIQUE INDEX refresh_tokens_one_head ON refresh_tokens(family_id) WHERE used_at IS NULL;
CREATE TABLE audit_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at bigint NOT NULL,
  kind text NOT NULL,
  user_id text NOT NULL,
  remote_address text NOT NULL,
  detail text NOT NULL
);
)sql";

// Append only: never edit a migration that has shipped.
constexpr std::array kMigrations = {kLogTables, kAccountTables};

std::string log_tables(int partitions) {
  std::string sql = kLogTables;
  const std::string clause = partitions > 0 ? " PARTITION BY HASH (workspace)" : "";
  for (std::size_t at; (at = sql.find("%PARTITION%")) != std::string::npos;) sql.replace(at, 11, clause);
  for (const char* table : {"updates", "snapshots"}) {
    for (int i = 0; i < partitions; ++i) {
      const std::string n = std::to_string(i);
      sql += "CREATE TABLE " + std::string(table) + "_p" + n + " PARTITION OF " + table + " FOR VALUES WITH (MODULUS " +
             std::to_string(partitions) + ", REMAINDER " + n + ");\n";
    }
  }
  return sql;
}

Error schema_error(std::string message) {
  return Error{kDomain, kSchema, std::move(message)};
}

// One step: under the lock, reads the version and runs the next migration.
// True once the schema is current.
Result<bool> step(PgConnection& conn, int partitions) {
  PgParams lock;
  lock.integer(kMigrationLock);
  if (auto r = conn.exec("migrate: lock", "SELECT pg_advisory_xact_lock($1::bigint)", lock); !r) return r.error();
  if (Status s = conn.exec_script("migrate: version table",
                                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                  "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
      !s) {
    return s.error();
  }
  auto current = conn.exec("migrate: version", "SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!current) return current.error();
  const std::int64_t version = current->int_at(0, 0);
  if (version > schema_version()) {
    return schema_error("database schema " + std::to_string(version) + " is newer than this binary's " +
                        std::to_string(schema_version()));
  }
  if (version == schema_version()) return true;
  const int next = static_cast<int>(version) + 1;
  if (Status s = conn.exec_script("migration", migration(next, partitions)); !s) {
    return schema_error("migration " + std::to_string(next) + ": " + s.error().message);
  }
  PgParams record;
  record.integer(next);
  if (auto r = conn.exec("migrate: record", "INSERT INTO schema_migrations(version) VALUES ($1)", record); !r) {
    return r.error();
  }
  return false;
}

}  // namespace

int schema_version() {
  return static_cast<int>(kMigrations.size());
}

std::string migration(int version, int partitions) {
  if (version == 1) return log_tables(partitions);
  return kMigrations.at(static_cast<std::size_t>(version - 1));
}

Status migrate(PgConnection& conn, int partitions) {
  if (partitions < 0 || partitions > kMaxPartitions) {
    return Error{kDomain, kInvalid, "partitions: 0 to " + std::to_string(kMaxPartitions)};
  }
  for (;;) {
    if (auto began = conn.exec("migrate: begin", "BEGIN"); !began) return began.error();
    auto done = step(conn, partitions);
    if (!done) {
      conn.rollback();
      return done.error();
    }
    if (Status s = conn.commit(); !s) return s;
    if (*done) return {};
  }
}

Result<Pools> open_pools(const std::string& url, const PgOptions& options) {
  Pools pools;
  pools.primary = std::make_unique<PgPool>(url, options);
  {
    auto conn = pools.primary->acquire();
    if (!conn) return conn.error();
    if (Status s = migrate(**conn, options.partitions); !s) return s.error();
  }
  if (!options.replica_url.empty()) pools.replica = std::make_unique<PgPool>(options.replica_url, options, true);
  return pools;
}

}  // namespace quire::storage::pg
