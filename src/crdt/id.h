// Struct identifiers: (client, clock). Clients and clocks are below 2^53, the
// largest integer a JavaScript peer can read.
// Thread-safety: plain value type.
#pragma once

#include <cstdint>

namespace quire::crdt {

struct Id {
  std::uint64_t client = 0;
  std::uint64_t clock = 0;
  friend bool operator==(const Id&, const Id&) = default;
};

}  // namespace quire::crdt
