// Store: where documents live durably — an append-only log of Yjs updates per
// document plus compacted snapshots (ARCHITECTURE §2.2, docs/storage.md). The
// one interface every backend implements (SQLite here, PostgreSQL later) and
// the conformance suite (store_conformance.h) checks.
//
// Thread-safety: a Store is used by one thread at a time (the CommitQueue's).
// Calls block on I/O and must never run on a network thread.
// Limitations: documents are opaque bytes here; compaction's snapshot is
// computed by the caller (storage knows nothing of CRDTs), who also says which
// log entries it covers: in a cluster a node may not yet have seen the newest.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace quire::storage {

inline constexpr std::string_view kDomain = "storage";
// One code space for the whole module (Store and AccountStore), so callers can
// map a failure to a response without parsing messages.
enum ErrorCode : int {
  kIo = 1,
  kCorrupt = 2,
  kSchema = 3,
  kInvalid = 4,        // an argument the store refuses (shape, length)
  kUsernameTaken = 5,  // AccountStore: another user has this username (case-insensitively)
  kEmailTaken = 6,     // AccountStore: another user has this email
  kExists = 7,         // AccountStore: the caller-given id is already used (ids are never reused)
  kNotFound = 8,       // AccountStore: no such user, workspace, document (or it is deleted) or family
  kLastOwner = 9,      // AccountStore: the change would leave a document or workspace without an owner
};

// Which document: its id, and the workspace it belongs to ("" outside any
// workspace). The workspace is the partition key of the PostgreSQL store (a
// document is always addressed with the same workspace); SQLite keys by id.
struct DocKey {
  std::string workspace;
  std::string id;
  friend auto operator<=>(const DocKey&, const DocKey&) = default;
};

// compact()'s `upto_seq` for "everything logged so far": right only where no
// other writer can append to the document meanwhile (one node).
inline constexpr std::uint64_t kThroughLastSeq = UINT64_MAX;

// What load() returns: the latest snapshot (empty if none) and the log entries
// after it, in order.
struct StoredDocument {
  Bytes snapshot;
  std::uint64_t snapshot_seq = 0;  // the log position the snapshot covers (0: none)
  std::vector<Bytes> updates;      // entries with seq > snapshot_seq, ascending
  std::uint64_t last_seq = 0;      // the last seq assigned to this document
};

struct AppendEntry {
  DocKey doc;
  Bytes bytes;
  std::string user;
};

struct DocumentInfo {
  std::string doc;
  std::uint64_t log_entries = 0;
  std::uint64_t log_bytes = 0;
  std::uint64_t snapshot_bytes = 0;
  std::uint64_t last_seq = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // The document's snapshot and the log after it; an unknown document is empty.
  virtual Result<StoredDocument> load(const DocKey& doc) = 0;
  // The log entries after `after_seq` (a catch-up): no snapshot when the log
  // still has them all, else what load() gives (compaction dropped some).
  virtual Result<StoredDocument> load_since(const DocKey& doc, std::uint64_t after_seq) = 0;
  // Appends every entry in one transaction (group commit), all or nothing; when
  // this returns, they are durable. Returns each entry's seq, per document
  // ascending from that document's last seq + 1.
  virtual Result<std::vector<std::uint64_t>> append(std::span<const AppendEntry> entries) = 0;
  // In one transaction: stores `snapshot` as covering the document's log up to
  // `upto_seq` (clamped to the last seq; kThroughLastSeq: all of it), deletes
  // those log entries and older snapshots. Returns the seq covered. Idempotent:
  // when a snapshot already covers more than `upto_seq`, nothing changes and
  // its seq is returned. Crash-safe: either the old log or the new snapshot is there.
  // Backends shared by several nodes serialise compactions of one document.
  virtual Result<std::uint64_t> compact(const DocKey& doc, ByteView snapshot, ByteView state_vector,
                                        std::uint64_t upto_seq) = 0;
  // Sizes for operators, tests and compaction decisions.
  virtual Result<DocumentInfo> info(const DocKey& doc) = 0;
  virtual Result<std::vector<std::string>> list_documents() = 0;
};

}  // namespace quire::storage
