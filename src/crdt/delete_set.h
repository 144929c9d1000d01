// Delete sets and state vectors (spec: yjs-wire-format.md §4).
//
// A DeleteSet keeps clients in the order they were first seen and their ranges as
// given; Yjs writes clients in descending id order and only sorts and coalesces
// ranges where it merges delete sets, so both shapes must be representable.
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace quire::crdt {

struct DeleteRange {
  std::uint64_t clock = 0;
  std::uint64_t len = 0;
  friend bool operator==(const DeleteRange&, const DeleteRange&) = default;
};

class DeleteSet {
 public:
  struct Client {
    std::uint64_t client = 0;
    std::vector<DeleteRange> ranges;
  };

  // Appends a range to `client`'s list (creating the client at the end if new).
  void add(std::uint64_t client, DeleteRange range);
  // add(), except that a range starting where the client's last one ends extends
  // it — as sort_and_merge would — for delete sets collected a struct at a time.
  void add_joining(std::uint64_t client, DeleteRange range);
  // Appends every range of `other`, client by client.
  void append(const DeleteSet& other);
  // Empties the set; small range vectors are kept for the next clients
  // (transactions collect a delete set each, mostly of one client).
  void clear() {
    constexpr std::size_t kKeptRanges = 64;
    for (Client& c : clients_) {
      if (c.ranges.capacity() > kKeptRanges || spare_.size() >= kKeptRanges) continue;
      c.ranges.clear();
      spare_.push_back(std::move(c.ranges));
    }
    clients_.clear();
    index_.reset();
  }

  // Yjs `sortAndMergeDeleteSet`: per client, sort by clock and coalesce
  // overlapping and touching ranges.
  void sort_and_merge();

  [[nodiscard]] const std::vector<Client>& clients() const { return clients_; }
  [[nodiscard]] bool empty() const { return clients_.empty(); }
  // Clients in the descending id order every Yjs writer uses.
  [[nodiscard]] std::vector<const Client*> sorted_for_write() const;

  friend bool operator==(const DeleteSet& a, const DeleteSet& b);

 private:
  // The client's slot, created at the end if new. Most delete sets name a client
  // or two: searched linearly, hashed once there are many.
  std::vector<DeleteRange>& ranges_of(std::uint64_t client);
  Client new_client(std::uint64_t client);

  std::vector<Client> clients_;
  std::unique_ptr<std::unordered_map<std::uint64_t, std::size_t>> index_;
  std::vector<std::vector<DeleteRange>> spare_;  // emptied range vectors, reused
};

// client → next expected clock.
class StateVector {
 public:
  void set(std::uint64_t client, std::uint64_t clock);
  [[nodiscard]] std::uint64_t get(std::uint64_t client) const;
  [[nodiscard]] const std::unordered_map<std::uint64_t, std::uint64_t>& entries() const { return map_; }
  // Entries sorted by descending client, as Yjs writes them.
  [[nodiscard]] std::vector<std::pair<std::uint64_t, std::uint64_t>> sorted() const;
  // Pointwise maximum.
  void merge(const StateVector& other);

 private:
  std::unordered_map<std::uint64_t, std::uint64_t> map_;
};

// Yjs `decodeStateVector` (a later entry for the same client wins) and `encodeStateVector`.
Result<StateVector> decode_state_vector(ByteView bytes);
Bytes encode_state_vector(const StateVector& sv);

}  // namespace quire::crdt
