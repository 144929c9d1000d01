#include "crdt/utf.h"

namespace quire::crdt {

namespace {

// Length of the sequence starting with lead byte b, 0 for a continuation or invalid lead.
inline int sequence_length(unsigned char b) {
  if (b < 0x80) return 1;
  if (b < 0xC2) return 0;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  if (b < 0xF5) return 4;
  return 0;
}

inline bool is_continuation(unsigned char b) {
  return (b & 0xC0) == 0x80;
}

// Validates one sequence at s[i]; `allow_surrogates` selects WTF-8 over UTF-8.
inline int validate_at(std::string_view s, std::size_t i, bool allow_surrogates) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const int n = sequence_length(b0);
  if (n == 0 || i + n > s.size()) return 0;
  if (n == 1) return 1;
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if (!is_continuation(b1)) return 0;
  if (n == 3) {
    if (b0 == 0xE0 && b1 < 0xA0) return 0;                        // overlong
    if (b0 == 0xED && b1 >= 0xA0 && !allow_surrogates) return 0;  // surrogate
    if (!is_continuation(static_cast<unsigned char>(s[i + 2]))) return 0;
  } else if (n == 4) {
    if (b0 == 0xF0 && b1 < 0x90) return 0;   // overlong
    if (b0 == 0xF4 && b1 >= 0x90) return 0;  // > U+10FFFF
    if (!is_continuation(static_cast<unsigned char>(s[i + 2])) ||
        !is_continuation(static_cast<unsigned char>(s[i + 3])))
      return 0;
  }
  return n;
}

inline bool is_surrogate_seq(std::string_view s, std::size_t i) {
  return static_cast<unsigned char>(s[i]) == 0xED && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0xA0;
}

}  // namespace

std::uint64_t utf8_utf16_length(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  std::uint64_t fewer = 0;  // bytes beyond the first of each sequence, less a unit for each 4-byte one
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= n) {
      std::uint64_t w;
      __builtin_memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const int len = validate_at(s, i, false);
    if (len == 0) return kInvalidUtf8;
    fewer += static_cast<std::uint64_t>(len == 4 ? 2 : len - 1);
    i += static_cast<std::size_t>(len);
  }
  return n - fewer;
}

bool is_valid_utf8(std::string_view s) {
  return utf8_utf16_length(s) != kInvalidUtf8;
}

bool is_plain_utf8(std::string_view s) {
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (is_surrogate_seq(s, i)) return false;
  }
  return true;
}

std::uint64_t utf16_length(std::string_view s) {
  // Every byte that is not a continuation byte starts a code point (1 unit);
  // 4-byte leads add a second unit. Eight bytes at a time: a byte-wise 0/1
  // flag for each, summed by one multiplication.
  constexpr std::uint64_t kOnes = 0x0101010101010101ull;
  std::uint64_t units = 0;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    __builtin_memcpy(&w, s.data() + i, 8);
    const std::uint64_t starts = (~w >> 7 | w >> 6) & kOnes;                  // not 10xxxxxx
    const std::uint64_t fours = (w >> 4 & w >> 5 & w >> 6 & w >> 7) & kOnes;  // 1111xxxx
    units += ((starts + fours) * kOnes) >> 56;
  }
  for (; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    units += (b & 0xC0) != 0x80;
    units += b >= 0xF0;
  }
  return units;
}

std::size_t utf16_to_byte_offset(std::string_view s, std::uint64_t units, bool& inside_pair) {
  inside_pair = false;
  std::size_t i = 0;
  while (units > 0 && i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0xF0) {
      if (units == 1) {
        inside_pair = true;
        return i;
      }
      units -= 2;
      i += 4;
    } else {
      units -= 1;
      i += b < 0x80 ? 1 : b < 0xE0 ? 2 : 3;
    }
  }
  return i < s.size() ? i : s.size();
}

void append_code_point(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  if (b0 < 0xE0) {
    const std::uint32_t cp = (b0 & 0x1Fu) << 6 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
    i += 2;
    return cp;
  }
  if (b0 < 0xF0) {
    const std::uint32_t cp = (b0 & 0x0Fu) << 12 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6 |
                             (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
    i += 3;
    return cp;
  }
  const std::uint32_t cp = (b0 & 0x07u) << 18 | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12 |
                           (static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6 |
                           (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
  i += 4;
  return cp;
}

void append_utf8_from_wtf8(std::string& out, std::string_view s) {
  if (is_plain_utf8(s)) {
    out.append(s);
    return;
  }
  std::size_t i = 0;
  while (i < s.size()) {
    if (!is_surrogate_seq(s, i)) {
      const std::size_t start = i;
      next_code_point(s, i);
      out.append(s.substr(start, i - start));
      continue;
    }
    const std::uint32_t hi = next_code_point(s, i);
    if (hi < 0xDC00 && i < s.size() && is_surrogate_seq(s, i)) {
      std::size_t j = i;
      const std::uint32_t lo = next_code_point(s, j);
      if (lo >= 0xDC00) {
        append_code_point(out, 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
        i = j;
        continue;
      }
    }
    out.append(kReplacementChar);
  }
}

namespace {

// Byte range [begin, end) of UTF-16 unit `unit`'s code point, and whether the unit is
// the low half of a 4-byte sequence.
bool unit_is_high_surrogate(std::string_view s, std::uint64_t unit) {
  bool inside = false;
  const std::size_t pos = utf16_to_byte_offset(s, unit, inside);
  if (inside || pos >= s.size()) return false;
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 >= 0xF0) return true;
  return b0 == 0xED && pos + 1 < s.size() && static_cast<unsigned char>(s[pos + 1]) >= 0xA0 &&
         static_cast<unsigned char>(s[pos + 1]) < 0xB0;
}

}  // namespace

std::string js_slice_from(std::string_view text, std::uint64_t offset) {
  bool inside = false;
  const std::size_t pos = utf16_to_byte_offset(text, offset, inside);
  if (!inside) return std::string(text.substr(pos));
  std::size_t i = pos;
  std::string out;
  append_code_point(out, low_surrogate(next_code_point(text, i)));
  out.append(text.substr(i));
  return out;
}

void splice_js_string(std::string_view text, std::uint64_t offset, std::string& left, std::string& right) {
  bool inside = false;
  const std::size_t pos = utf16_to_byte_offset(text, offset, inside);
  if (inside) {
    // The common surrogate case: the cut splits a 4-byte sequence.
    left.assign(text.substr(0, pos));
    left.append(kReplacementChar);
    right.assign(kReplacementChar);
    right.append(text.substr(pos + 4));
    return;
  }
  if (offset == 0 || !unit_is_high_surrogate(text, offset - 1)) {
    left.assign(text.substr(0, pos));
    right.assign(text.substr(pos));
    return;
  }
  // A lone high surrogate ends the left part (only from hostile v2 input).
  bool unused = false;
  const std::size_t high = utf16_to_byte_offset(text, offset - 1, unused);
  left.assign(text.substr(0, high));
  left.append(kReplacementChar);
  right.assign(kReplacementChar);
  right.append(js_slice_from(text.substr(pos), 1));
}

}  // namespace quire::crdt
