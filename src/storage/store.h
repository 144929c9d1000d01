// Store: where documents live durably — an append-only log of Yjs updates per
// document plus compacted snapshots (ARCHITECTURE §2.2, docs/storage.md). The
// one interface every backend implements (SQLite here, PostgreSQL later) and
// the conformance suite (store_conformance.h) checks.
//
// Thread-safety: a Store is used by one thread at a time (the CommitQueue's).
// Calls block on I/O and must never run on a network thread.
// Limitations: documents are opaque bytes here; compaction's snapshot is
// computed by the caller (storage knows nothing of CRDTs).
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

// What load() returns: the latest snapshot (empty if none) and the log entries
// after it, in order.
struct StoredDocument {
  Bytes snapshot;
  std::uint64_t snapshot_seq = 0;  // the log position the snapshot covers (0: none)
  std::vector<Bytes> updates;      // entries with seq > snapshot_seq, ascending
  std::uint64_t last_seq = 0;      // the last seq assigned to this document
};

struct AppendEntry {
  std::string doc;
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
  virtual Result<StoredDocument> load(std::string_view doc) = 0;
  // Appends every entry in one transaction (group commit), all or nothing; when
  // this returns, they are durable. Returns each entry's seq, per document
  // ascending from that document's last seq + 1.
  virtual Result<std::vector<std::uint64_t>> append(std::span<const AppendEntry> entries) = 0;
  // In one transaction: stores `snapshot` as covering the document's log up to
  // its last seq, deletes those log entries and older snapshots. Returns the seq
  // covered. Crash-safe: either the old log or the new snapshot is there.
  virtual Result<std::uint64_t> compact(std::string_view doc, ByteView snapshot, ByteView state_vector) = 0;
  // Sizes for operators, tests and compaction decisions.
  virtual Result<DocumentInfo> info(std::string_view doc) = 0;
  virtual Result<std::vector<std::string>> list_documents() = 0;
};

}  // namespace quire::storage
