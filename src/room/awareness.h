// AwarenessTable: one document's awareness states (cursors, user names) with
// y-protocols' clock rules, the owner of each client id, the 30 s timeout and
// coalesced broadcasts. Spec: ../shared/spec/yjs-wire-format.md §9.3.
//
// The server is a relay, not a peer: it has no local state, so the "own id"
// rule of applyAwarenessUpdate never applies. A connection owns the first
// client id it publishes; entries it sends for any other id are dropped (every
// y-websocket client echoes the entries it receives, so those are routine).
// Thread-safety: none; owned by a Room, touched on its strand.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "protocol/messages.h"

namespace quire::room {

using MemberId = std::uint64_t;
// The owner of states relayed from another node of a cluster.
inline constexpr MemberId kRemoteOwner = ~MemberId{0};

class AwarenessTable {
 public:
  // Why an entry was not taken (for metrics and logs).
  enum class Refusal { kNone, kForeignClient, kTooLarge, kBadJson, kStale };

  // Applies one entry from `owner`; `state` is the JSON text to store (already
  // stamped by the caller). Accepted entries join the pending broadcast.
  Refusal apply(MemberId owner, const protocol::AwarenessEntry& entry, std::string state, std::int64_t now_ms);
  // Applies one entry relayed from another node (already checked and stamped
  // there): the clock rules only, owned by kRemoteOwner, not pending (the
  // caller forwards the relayed bytes itself). A local connection that
  // publishes the same client id later takes it over (the client moved here).
  Refusal apply_remote(const protocol::AwarenessEntry& entry, std::int64_t now_ms);

  // Removes every state `owner` published (its connection closed): each becomes
  // a pending null entry with its last clock, which peers accept.
  void remove_owner(MemberId owner);
  // Drops states not renewed for `timeout_ms` (y-protocols' outdatedTimeout).
  void expire(std::int64_t now_ms, std::int64_t timeout_ms);

  // All live states as one awareness update, or empty when there are none.
  [[nodiscard]] Bytes snapshot() const;
  // The changes since the last call as one awareness update (empty if none);
  // `local` (if given) receives those of states owned here, for other nodes.
  // `owned` (if given) receives each live pending state owned here, with its owner.
  struct Owned {
    MemberId owner;
    protocol::AwarenessState state;
  };
  Bytes take_pending(Bytes* local = nullptr, std::vector<Owned>* owned = nullptr);
  [[nodiscard]] bool has_pending() const { return !pending_.empty(); }
  [[nodiscard]] std::size_t size() const { return states_.size(); }

 private:
  struct State {
    std::uint64_t clock = 0;
    std::string json;  // "null" once removed; kept for its clock, so echoes of old entries stay stale
    MemberId owner = 0;
    std::int64_t updated_ms = 0;
  };
  void mark_pending(std::uint64_t client);

  std::map<std::uint64_t, State> states_;
  std::map<MemberId, std::uint64_t> owned_;  // connection → the client id it publishes
  std::vector<std::uint64_t> pending_;       // client ids changed since the last broadcast
};

}  // namespace quire::room
