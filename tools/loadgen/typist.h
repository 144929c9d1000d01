// Typist: a person typing into one document. It owns a crdt::Doc with its own
// client id; each keystroke inserts one character into the Y.Text "text" at its
// cursor (which mostly moves on by one and now and then jumps), and the update
// the engine emits for that transaction is what goes on the wire — the bytes a
// Yjs client would send. A typist does not integrate what others type (1,000
// typists cannot each apply every update); its updates are still valid
// concurrent Yjs edits, anchored to its own earlier characters.
// Thread-safety: none (the generator's one thread).
#pragma once

#include <cstdint>
#include <random>

#include "base/bytes.h"
#include "base/result.h"
#include "crdt/doc.h"

namespace quire::loadgen {

inline constexpr std::string_view kTextRoot = "text";

class Typist {
 public:
  Typist(std::uint64_t client_id, std::uint64_t seed);

  // One character at the cursor; the update of that one transaction.
  Result<Bytes> type_char();
  // `bytes` ASCII characters in one insertion at the end (seeding a large document).
  Result<Bytes> paste(std::size_t bytes);

  [[nodiscard]] std::uint64_t client_id() const { return client_id_; }
  // The clock of the next character: how many this typist has inserted.
  [[nodiscard]] std::uint64_t clock() const { return length_; }

 private:
  std::uint64_t client_id_;
  crdt::Doc doc_;
  std::mt19937_64 rng_;
  std::uint64_t cursor_ = 0;
  std::uint64_t length_ = 0;
};

}  // namespace quire::loadgen
