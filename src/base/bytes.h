// Byte buffers and views shared by every module.
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace quire {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Lower-case hex, two digits per byte ("0a1b").
std::string to_hex(ByteView bytes);
// Parses lower- or upper-case hex; returns false on odd length or a non-hex digit.
bool from_hex(std::string_view hex, Bytes& out);

}  // namespace quire
