// PgStore (pg_store.h).
#include "storage/pg_store.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <string_view>
#include <utility>

#include "base/failpoint.h"
#include "storage/pg_schema.h"

namespace quire::storage {
namespace {

// Rows per multi-row INSERT into updates: 6 parameters each, far below
// PostgreSQL's 65535 and a few hundred kB of SQL text at most.
constexpr std::size_t kRowsPerInsert = 500;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A seq as PostgreSQL's bigint (seqs never come near 2^63; larger bounds clamp).
std::int64_t as_bigint(std::uint64_t seq) {
  return static_cast<std::int64_t>(std::min<std::uint64_t>(seq, std::numeric_limits<std::int64_t>::max()));
}

// The key of `doc` as the first two parameters ($1 workspace, $2 id).
PgParams key_params(const DocKey& doc) {
  PgParams p;
  p.bytes(as_bytes(doc.workspace)).bytes(as_bytes(doc.id));
  return p;
}

// Runs `sql` on the document: its key as $1 and $2, then `more` as $3, ...
Result<PgResult> exec_on(PgConnection& c, std::string_view what, const char* sql, const DocKey& doc,
                         std::initializer_list<std::int64_t> more = {}) {
  PgParams p = key_params(doc);
  for (std::int64_t v : more) p.integer(v);
  return c.exec(what, sql, p);
}

// The document's last seq, 0 for a document never logged.
constexpr const char kLastSeq[] = "SELECT last_seq FROM logs WHERE workspace = $1 AND doc = $2";

// The advisory lock key of a document's compaction: 64-bit FNV-1a over an
// unambiguous encoding of (workspace, id). A collision only serialises two
// documents' compactions.
std::int64_t compaction_lock(const DocKey& doc) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  };
  mix(std::to_string(doc.workspace.size()) + ":");
  mix(doc.workspace);
  mix(doc.id);
  return static_cast<std::int64_t>(h);
}

}  // namespace

PgStore::PgStore(std::unique_ptr<PgPool> primary, std::unique_ptr<PgPool> replica)
    : primary_(std::move(primary)), replica_(std::move(replica)) {}

PgStore::~PgStore() = default;

int PgStore::schema_version() {
  return pg::schema_version();
}

Result<std::unique_ptr<PgStore>> PgStore::open(const std::string& url, const Options& options) {
  auto pools = pg::open_pools(url, options);
  if (!pools) return pools.error();
  return std::unique_ptr<PgStore>(new PgStore(std::move(pools->primary), std::move(pools->replica)));  // NOLINT
}

Result<StoredDocument> PgStore::load(const DocKey& doc) {
  return read(doc, std::nullopt);
}

Result<StoredDocument> PgStore::load_since(const DocKey& doc, std::uint64_t after_seq) {
  return read(doc, after_seq);
}

Result<StoredDocument> PgStore::read(const DocKey& doc, std::optional<std::uint64_t> after_seq) {
  // One snapshot of the database: the snapshot and the log after it agree.
  return primary_->transact(
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [&](PgConnection& c) -> Result<StoredDocument> {
        StoredDocument out;
        auto last = exec_on(c, "load: last seq", kLastSeq, doc);
        if (!last) return last.error();
        if (last->rows() > 0) out.last_seq = static_cast<std::uint64_t>(last->int_at(0, 0));
        // A catch-up whose entries are all still in the log needs no snapshot,
        // so its bytes are fetched only when they are needed.
        const std::int64_t seen = after_seq ? as_bigint(*after_seq) : -1;
        auto snap = exec_on(c, "load: snapshot",
                            "SELECT upto_seq, CASE WHEN upto_seq > $3 THEN bytes END FROM snapshots "
                            "WHERE workspace = $1 AND doc = $2 ORDER BY upto_seq DESC LIMIT 1",
                            doc, {seen});
        if (!snap) return snap.error();
        std::int64_t from = std::max<std::int64_t>(seen, 0);
        if (snap->rows() > 0 && !snap->null_at(0, 1)) {
          out.snapshot_seq = static_cast<std::uint64_t>(snap->int_at(0, 0));
          out.snapshot = snap->bytes_at(0, 1);
          from = snap->int_at(0, 0);
        }
        auto log = exec_on(c, "load: log",
                           "SELECT bytes FROM updates WHERE workspace = $1 AND doc = $2 AND seq > $3 ORDER BY seq", doc,
                           {from});
        if (!log) return log.error();
        out.updates.reserve(static_cast<std::size_t>(log->rows()));
        for (int i = 0; i < log->rows(); ++i) out.updates.push_back(log->bytes_at(i, 0));
        return out;
      });
}

Result<std::vector<std::uint64_t>> PgStore::append(std::span<const AppendEntry> entries) {
  using Seqs = std::vector<std::uint64_t>;
  if (entries.empty()) return Seqs{};
  const std::int64_t now = now_ms();
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Result<Seqs> {
    // Each document's entry count, then its next seq. Documents are locked in
    // key order, so two nodes' batches over the same documents cannot deadlock.
    struct Slot {
      std::int64_t count = 0;
      std::int64_t next = 0;
    };
    std::map<std::pair<std::string_view, std::string_view>, Slot> docs;
    for (const AppendEntry& e : entries) ++docs[{e.doc.workspace, e.doc.id}].count;
    for (auto& [key, slot] : docs) {
      PgParams p;
      p.bytes(as_bytes(key.first)).bytes(as_bytes(key.second)).integer(slot.count).integer(now);
      auto last = c.exec("append: seq",
                         "INSERT INTO logs(workspace, doc, last_seq, created_at) VALUES ($1, $2, $3, $4) "
                         "ON CONFLICT (workspace, doc) DO UPDATE SET last_seq = logs.last_seq + excluded.last_seq "
                         "RETURNING last_seq",
                         p);
      if (!last) return last.error();
      slot.next = last->int_at(0, 0) - slot.count + 1;
    }
    Seqs seqs;
    seqs.reserve(entries.size());
    for (std::size_t start = 0; start < entries.size(); start += kRowsPerInsert) {
      const std::size_t end = std::min(entries.size(), start + kRowsPerInsert);
      std::string sql = "INSERT INTO updates(workspace, doc, seq, bytes, author, created_at) VALUES ";
      PgParams p;
      p.integer(now);
      int n = 1;
      for (std::size_t i = start; i < end; ++i) {
        const AppendEntry& e = entries[i];
        const std::int64_t seq = docs[{e.doc.workspace, e.doc.id}].next++;
        seqs.push_back(static_cast<std::uint64_t>(seq));
        p.bytes(as_bytes(e.doc.workspace))
            .bytes(as_bytes(e.doc.id))
            .integer(seq)
            .bytes(e.bytes)
            .bytes(as_bytes(e.user));
        if (i > start) sql += ", ";
        sql += "($" + std::to_string(n + 1) + ", $" + std::to_string(n + 2) + ", $" + std::to_string(n + 3) + ", $" +
               std::to_string(n + 4) + ", $" + std::to_string(n + 5) + ", $1)";
        n += 5;
      }
      if (auto r = c.exec("append", sql.c_str(), p); !r) return r.error();
    }
    return seqs;
  });
}

Result<std::uint64_t> PgStore::compact(const DocKey& doc, ByteView snapshot, ByteView state_vector,
                                       std::uint64_t upto_seq) {
  auto covered = primary_->transact("BEGIN", [&](PgConnection& c) -> Result<std::uint64_t> {
    // One compaction of a document at a time across every node; appends go on.
    PgParams lock;
    lock.integer(compaction_lock(doc));
    if (auto r = c.exec("compact: lock", "SELECT pg_advisory_xact_lock($1::bigint)", lock); !r) return r.error();
    // Entries up to the committed last seq are all committed: a concurrent
    // append's entries lie beyond it and are not touched.
    auto last = exec_on(c, "compact: last seq", kLastSeq, doc);
    if (!last) return last.error();
    const std::uint64_t last_seq = last->rows() > 0 ? static_cast<std::uint64_t>(last->int_at(0, 0)) : 0;
    const std::int64_t upto = as_bigint(std::min(upto_seq, last_seq));
    auto newest =
        exec_on(c, "compact: newest", "SELECT max(upto_seq) FROM snapshots WHERE workspace = $1 AND doc = $2", doc);
    if (!newest) return newest.error();
    if (auto seq = newest->optional_int_at(0, 0); seq && *seq > upto) {
      return static_cast<std::uint64_t>(*seq);  // someone compacted further already: nothing changes
    }
    const std::int64_t now = now_ms();
    if (last->rows() == 0) {
      // A document with no log yet (an import): record it.
      auto r = exec_on(c, "compact: document",
                       "INSERT INTO logs(workspace, doc, last_seq, created_at) VALUES ($1, $2, 0, $3) "
                       "ON CONFLICT DO NOTHING",
                       doc, {now});
      if (!r) return r.error();
    }
    PgParams p = key_params(doc);
    p.integer(upto).bytes(snapshot).bytes(state_vector).integer(now);
    auto r =
        c.exec("compact: snapshot",
               "INSERT INTO snapshots(workspace, doc, upto_seq, bytes, state_vector, created_at) "
               "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace, doc, upto_seq) DO UPDATE "
               "SET bytes = excluded.bytes, state_vector = excluded.state_vector, created_at = excluded.created_at",
               p);
    if (!r) return r.error();
    failpoint::hit("compact.after_snapshot");  // a crash here rolls the transaction back
    for (const char* trim : {"DELETE FROM updates WHERE workspace = $1 AND doc = $2 AND seq <= $3",
                             "DELETE FROM snapshots WHERE workspace = $1 AND doc = $2 AND upto_seq < $3"}) {
      if (auto d = exec_on(c, "compact: trim", trim, doc, {upto}); !d) return d.error();
    }
    failpoint::hit("compact.after_trim");
    return static_cast<std::uint64_t>(upto);
  });
  if (covered) failpoint::hit("compact.after_commit");
  return covered;
}

Result<DocumentInfo> PgStore::info(const DocKey& doc) {
  return primary_->run([&](PgConnection& c) -> Result<DocumentInfo> {
    auto r = exec_on(c, "info",
                     "SELECT coalesce((SELECT last_seq FROM logs WHERE workspace = $1 AND doc = $2), 0), "
                     "(SELECT count(*) FROM updates WHERE workspace = $1 AND doc = $2), "
                     "(SELECT coalesce(sum(octet_length(bytes)), 0) FROM updates WHERE workspace = $1 AND doc = $2), "
                     "(SELECT coalesce(sum(octet_length(bytes)), 0) FROM snapshots WHERE workspace = $1 AND doc = $2)",
                     doc);
    if (!r) return r.error();
    DocumentInfo out;
    out.doc = doc.id;
    out.last_seq = static_cast<std::uint64_t>(r->int_at(0, 0));
    out.log_entries = static_cast<std::uint64_t>(r->int_at(0, 1));
    out.log_bytes = static_cast<std::uint64_t>(r->int_at(0, 2));
    out.snapshot_bytes = static_cast<std::uint64_t>(r->int_at(0, 3));
    return out;
  });
}

Result<std::vector<std::string>> PgStore::list_documents() {
  PgPool& pool = replica_ ? *replica_ : *primary_;
  return pool.run([](PgConnection& c) -> Result<std::vector<std::string>> {
    auto r = c.exec("list", "SELECT doc FROM logs ORDER BY doc, workspace");
    if (!r) return r.error();
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(r->rows()));
    for (int i = 0; i < r->rows(); ++i) out.push_back(r->text_at(i, 0));
    return out;
  });
}

}  // namespace quire::storage
