// AwarenessTable (awareness.h).
#include "room/awareness.h"

#include <algorithm>

namespace quire::room {

AwarenessTable::Refusal AwarenessTable::apply(MemberId owner, const protocol::AwarenessEntry& entry, std::string state,
                                              std::int64_t now_ms) {
  auto own = owned_.find(owner);
  if (own != owned_.end() && own->second != entry.client) return Refusal::kForeignClient;
  auto it = states_.find(entry.client);
  const bool live = it != states_.end() && it->second.json != "null";
  if (it != states_.end() && it->second.owner != owner && it->second.owner != kRemoteOwner && live) {
    return Refusal::kForeignClient;
  }
  // y-protocols: newer clock, or the same clock removing a live state. A client
  // never seen has clock 0, so its implicit initial {} (clock 0) is ignored.
  const std::uint64_t known = it == states_.end() ? 0 : it->second.clock;
  const bool is_null = state == "null";
  if (!(entry.clock > known || (entry.clock == known && is_null && live))) return Refusal::kStale;
  // A connection claims its client id with a real state, never with a removal
  // (removals of other clients come back as echoes).
  if (own == owned_.end()) {
    if (is_null) return Refusal::kForeignClient;
    owned_.emplace(owner, entry.client);
  }
  State& s = states_[entry.client];
  s.clock = entry.clock;
  s.json = std::move(state);
  s.owner = owner;
  s.updated_ms = now_ms;
  mark_pending(entry.client);
  return Refusal::kNone;
}

AwarenessTable::Refusal AwarenessTable::apply_remote(const protocol::AwarenessEntry& entry, std::int64_t now_ms) {
  auto it = states_.find(entry.client);
  const bool live = it != states_.end() && it->second.json != "null";
  if (live && it->second.owner != kRemoteOwner) return Refusal::kForeignClient;  // connected here now
  const std::uint64_t known = it == states_.end() ? 0 : it->second.clock;
  const bool is_null = entry.state == "null";
  if (!(entry.clock > known || (entry.clock == known && is_null && live))) return Refusal::kStale;
  State& s = states_[entry.client];
  s.clock = entry.clock;
  s.json = std::string(entry.state);
  s.owner = kRemoteOwner;
  s.updated_ms = now_ms;
  return Refusal::kNone;
}

void AwarenessTable::remove_owner(MemberId owner) {
  auto own = owned_.find(owner);
  if (own == owned_.end()) return;
  auto it = states_.find(own->second);
  if (it != states_.end() && it->second.owner == owner && it->second.json != "null") {
    it->second.json = "null";
    mark_pending(it->first);
  }
  owned_.erase(own);
}

void AwarenessTable::expire(std::int64_t now_ms, std::int64_t timeout_ms) {
  for (auto& [client, s] : states_) {
    if (s.json != "null" && now_ms - s.updated_ms >= timeout_ms) {
      s.json = "null";
      mark_pending(client);
    }
  }
}

Bytes AwarenessTable::snapshot() const {
  std::vector<protocol::AwarenessState> out;
  for (const auto& [client, s] : states_) {
    if (s.json != "null") out.push_back({client, s.clock, s.json});
  }
  if (out.empty()) return {};
  return protocol::encode_awareness(out);
}

Bytes AwarenessTable::take_pending(Bytes* local, std::vector<Owned>* owned) {
  if (pending_.empty()) return {};
  std::vector<protocol::AwarenessState> out;
  std::vector<protocol::AwarenessState> mine;
  out.reserve(pending_.size());
  for (std::uint64_t client : pending_) {
    const State& s = states_.at(client);
    out.push_back({client, s.clock, s.json});
    if (local != nullptr && s.owner != kRemoteOwner) mine.push_back(out.back());
    if (owned != nullptr && s.owner != kRemoteOwner && s.json != "null") owned->push_back({s.owner, out.back()});
  }
  pending_.clear();
  if (local != nullptr) *local = mine.empty() ? Bytes{} : protocol::encode_awareness(mine);
  return protocol::encode_awareness(out);
}

void AwarenessTable::mark_pending(std::uint64_t client) {
  if (std::find(pending_.begin(), pending_.end(), client) == pending_.end()) pending_.push_back(client);
}

}  // namespace quire::room
