// Keystrokes through the engine's local edit API (typist.h).
#include "loadgen/typist.h"

#include <string>

namespace quire::loadgen {

Typist::Typist(std::uint64_t client_id, std::uint64_t seed)
    : client_id_(client_id), doc_(crdt::DocOptions{.gc = true, .client_id = client_id}), rng_(seed) {}

Result<Bytes> Typist::type_char() {
  if (length_ > 0 && rng_() % 16 == 0) cursor_ = rng_() % (length_ + 1);  // the cursor jumps now and then
  const char c = static_cast<char>('a' + rng_() % 26);
  auto update = doc_.insert_text(kTextRoot, cursor_, std::string_view(&c, 1));
  if (update.ok()) {
    ++cursor_;
    ++length_;
  }
  return update;
}

Result<Bytes> Typist::paste(std::size_t bytes) {
  std::string text(bytes, ' ');
  for (char& c : text) c = static_cast<char>('a' + rng_() % 26);
  auto update = doc_.insert_text(kTextRoot, length_, text);
  if (update.ok()) {
    length_ += bytes;
    cursor_ = length_;
  }
  return update;
}

}  // namespace quire::loadgen
