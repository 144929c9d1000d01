// Bus: how a node hears about the other nodes of a cluster (ARCHITECTURE §2.3,
// docs/cluster.md). Document updates and awareness published by one node reach
// every other node that subscribed to the document; session records (resume on
// another node) live with a TTL; revocations reach every node. The server sees
// the cluster only through this interface; `app` picks the implementation:
// LocalBus (one process, the embedded default and tests) or RedisBus.
//
// Thread-safety: every method may be called from any thread and never waits on
// the network. Handlers run on one of the bus's own threads — never inside the
// call that caused them — and must return quickly (post the work to its owner).
// One subscription's handlers never run concurrently with each other.
// Limitations: delivery is at least once and only as good as the transport;
// on_gap is the signal to re-read the database. Nothing here is durable.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"

namespace quire::cluster {

inline constexpr std::string_view kDomain = "cluster";
enum ErrorCode : int {
  kBadUrl = 1,    // a Redis URL that parse_redis_url refuses
  kConnect = 2,   // Redis unreachable, refused AUTH/SELECT, or the connection broke
  kProtocol = 3,  // Redis answered something this code did not expect
  kBadFrame = 4,  // a pub/sub message or stream entry that does not decode
};

inline Error cluster_error(ErrorCode code, std::string message) {
  return Error{kDomain, code, std::move(message)};
}

enum class Kind : std::uint8_t { kUpdate = 1, kAwareness = 2 };

struct Entry {
  std::string id;  // the stream id ("1732612345678-0") of an update; "" for awareness
  Kind kind = Kind::kUpdate;
  std::string origin_node;
  Bytes payload;
  friend bool operator==(const Entry&, const Entry&) = default;
};

// What was revoked: {"family", sid}, {"user", user_id}, {"document", doc_id}
// (a role change: re-check every socket on it). `kind` never contains ':'.
struct Revocation {
  std::string kind;
  std::string subject;
  friend bool operator==(const Revocation&, const Revocation&) = default;
};

// A client's session, so that a reconnect to any node restores it at once.
struct SessionRecord {
  std::string key;  // the session id the client presents
  std::string user_id;
  std::string doc;
  std::uint64_t awareness_client = 0;
  Bytes awareness_state;  // the last awareness JSON the client published
  Bytes state_vector;     // the last acknowledged state vector
  friend bool operator==(const SessionRecord&, const SessionRecord&) = default;
};

struct BusStats {
  std::uint64_t published = 0;   // entries handed to the transport (Redis acknowledged them)
  std::uint64_t delivered = 0;   // entries given to on_entry handlers
  std::uint64_t dropped = 0;     // publishes lost: queue full or transport down
  std::uint64_t gaps = 0;        // on_gap calls
  std::uint64_t reconnects = 0;  // connections re-established after a failure
};

class Bus {
 public:
  struct Handlers {
    // Another node's update (in stream order) or awareness (id "").
    std::function<void(const Entry&)> on_entry;
    // Entries may have been missed: the stream was trimmed past what this
    // subscription had read, or the transport was lost and re-established.
    // Re-read the document's log from the database (the CRDT makes any
    // overlap with delivered entries harmless).
    std::function<void()> on_gap;
    // Optional, once: the start position is fixed and the subscription is
    // reading; every entry published from now on is delivered.
    std::function<void()> on_live;
  };

  virtual ~Bus() = default;

  // Starts the bus's threads. Call on_revocation() first so none is missed.
  virtual void start() = 0;
  // Sends what is queued (bounded by the transport's timeouts), stops and
  // joins every thread; no handler runs after it returns. Idempotent; the
  // destructor calls it.
  virtual void stop() = 0;

  [[nodiscard]] virtual std::string node_id() const = 0;

  // Fire-and-forget: queued to the bus's thread, never blocks. Dropped and
  // counted when the queue is full or the transport is down.
  virtual void publish(std::string_view doc, Kind kind, Bytes payload) = 0;

  // Delivers the entries of `doc` published by OTHER nodes, starting after
  // stream id `from`: "" = from now (when the bus picks the subscription up,
  // within milliseconds; on_live says when), "T-0" or "T" = everything since
  // millisecond T (a catch-up window), any id seen in an Entry = after it. An
  // id that does not parse counts as "" plus an on_gap. Returns a non-zero id.
  virtual std::uint64_t subscribe(std::string doc, std::string from, Handlers handlers) = 0;
  // After it returns (from any thread but a handler of this bus) no handler of
  // the subscription is running or will run. Unknown ids are ignored.
  virtual void unsubscribe(std::uint64_t subscription) = 0;

  // Session records with a TTL; put_session replaces the record and restarts
  // its TTL. get_session calls `done` on a bus thread with the record, or with
  // nullopt when it is unknown, expired or the transport is down.
  virtual void put_session(SessionRecord record, std::chrono::seconds ttl) = 0;
  virtual void get_session(std::string key, std::function<void(std::optional<SessionRecord>)> done) = 0;
  virtual void delete_session(std::string key) = 0;

  // Delivered to every node, this one included (this one even when the
  // transport is down). Nothing is replayed: a node that was cut off misses
  // them, which the server covers by re-checking the database periodically.
  virtual void publish_revocation(Revocation revocation) = 0;
  virtual void on_revocation(std::function<void(const Revocation&)> handler) = 0;

  // For /readyz and metrics: true while every connection the bus needs is up.
  [[nodiscard]] virtual bool connected() const = 0;
  [[nodiscard]] virtual BusStats stats() const = 0;
};

// A node id for this process when the configuration gives none:
// "<hostname>-<pid>-<8 random hex digits>".
std::string make_node_id();

}  // namespace quire::cluster
