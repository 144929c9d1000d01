#include "crdt/delete_set.h"

#include <algorithm>

#include "crdt/lib0.h"
#include "crdt/update.h"

namespace quire::crdt {

DeleteSet::Client DeleteSet::new_client(std::uint64_t client) {
  if (spare_.empty()) return Client{client, {}};
  Client c{client, std::move(spare_.back())};
  spare_.pop_back();
  return c;
}

std::vector<DeleteRange>& DeleteSet::ranges_of(std::uint64_t client) {
  constexpr std::size_t kLinear = 8;
  if (!clients_.empty() && clients_.back().client == client) return clients_.back().ranges;
  if (!index_) {
    for (Client& c : clients_) {
      if (c.client == client) return c.ranges;
    }
    clients_.push_back(new_client(client));
    if (clients_.size() > kLinear) {
      index_ = std::make_unique<std::unordered_map<std::uint64_t, std::size_t>>();
      for (std::size_t i = 0; i < clients_.size(); ++i) index_->emplace(clients_[i].client, i);
    }
    return clients_.back().ranges;
  }
  // find first: emplace would allocate a node even for a client already there.
  if (const auto it = index_->find(client); it != index_->end()) return clients_[it->second].ranges;
  index_->emplace(client, clients_.size());
  clients_.push_back(new_client(client));
  return clients_.back().ranges;
}

void DeleteSet::add(std::uint64_t client, DeleteRange range) {
  ranges_of(client).push_back(range);
}

void DeleteSet::add_joining(std::uint64_t client, DeleteRange range) {
  std::vector<DeleteRange>& ranges = ranges_of(client);
  if (!ranges.empty() && ranges.back().clock + ranges.back().len == range.clock) {
    ranges.back().len += range.len;
  } else {
    ranges.push_back(range);
  }
}

void DeleteSet::append(const DeleteSet& other) {
  for (const Client& c : other.clients_) {
    auto& dst = ranges_of(c.client);
    dst.insert(dst.end(), c.ranges.begin(), c.ranges.end());
  }
}

void DeleteSet::sort_and_merge() {
  for (Client& c : clients_) {
    auto& dels = c.ranges;
    // The coalesced result does not depend on the order of equal clocks, so an
    // unstable sort gives Yjs's (stable) result. A transaction mostly deletes in
    // clock order (a document being loaded always): then there is nothing to sort.
    const auto by_clock = [](const DeleteRange& a, const DeleteRange& b) { return a.clock < b.clock; };
    if (!std::is_sorted(dels.begin(), dels.end(), by_clock)) std::sort(dels.begin(), dels.end(), by_clock);
    std::size_t j = 1;
    for (std::size_t i = 1; i < dels.size(); ++i) {
      DeleteRange& left = dels[j - 1];
      const DeleteRange& right = dels[i];
      if (left.clock + left.len >= right.clock) {
        left.len = std::max(left.len, right.clock + right.len - left.clock);
      } else {
        dels[j++] = right;
      }
    }
    if (!dels.empty()) dels.resize(j);
  }
}

std::vector<const DeleteSet::Client*> DeleteSet::sorted_for_write() const {
  std::vector<const Client*> out;
  out.reserve(clients_.size());
  for (const Client& c : clients_) out.push_back(&c);
  std::stable_sort(out.begin(), out.end(), [](const Client* a, const Client* b) { return a->client > b->client; });
  return out;
}

bool operator==(const DeleteSet& a, const DeleteSet& b) {
  if (a.clients_.size() != b.clients_.size()) return false;
  for (std::size_t i = 0; i < a.clients_.size(); ++i) {
    if (a.clients_[i].client != b.clients_[i].client || a.clients_[i].ranges != b.clients_[i].ranges) return false;
  }
  return true;
}

void StateVector::set(std::uint64_t client, std::uint64_t clock) {
  map_[client] = clock;
}

std::uint64_t StateVector::get(std::uint64_t client) const {
  const auto it = map_.find(client);
  return it == map_.end() ? 0 : it->second;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> StateVector::sorted() const {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out(map_.begin(), map_.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

void StateVector::merge(const StateVector& other) {
  for (const auto& [client, clock] : other.map_) {
    auto& mine = map_[client];
    mine = std::max(mine, clock);
  }
}

Result<StateVector> decode_state_vector(ByteView bytes) {
  Reader r(bytes);
  StateVector sv;
  const std::uint64_t n = r.read_var_uint();
  if (n > r.remaining())
    return Error{kCrdtDomain, static_cast<int>(CrdtErrc::kMalformed), "state vector: count exceeds input"};
  for (std::uint64_t i = 0; i < n && !r.failed(); ++i) {
    const std::uint64_t client = r.read_var_uint();
    const std::uint64_t clock = r.read_var_uint();
    if (!r.failed()) sv.set(client, clock);
  }
  if (r.failed())
    return Error{kCrdtDomain, static_cast<int>(CrdtErrc::kMalformed), "state vector: truncated or malformed"};
  return sv;
}

Bytes encode_state_vector(const StateVector& sv) {
  Writer w;
  const auto entries = sv.sorted();
  w.write_var_uint(entries.size());
  for (const auto& [client, clock] : entries) {
    w.write_var_uint(client);
    w.write_var_uint(clock);
  }
  return w.take();
}

}  // namespace quire::crdt
