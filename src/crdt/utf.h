// Text helpers for Yjs's mixed units: clocks and lengths count UTF-16 code units,
// the wire carries UTF-8.
//
// Strings that come out of the engine are WTF-8: UTF-8 that may also hold lone
// surrogates (encoded as 3-byte sequences ED A0..BF xx). They arise exactly where
// JavaScript strings would hold them — a v2 string column sliced inside a
// surrogate pair, a JSON "\ud800" escape — and are turned into U+FFFD (or into a
// proper pair when a high and a low meet) when written, as TextEncoder does.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace quire::crdt {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Strict UTF-8 validation (no overlongs, no surrogates, <= U+10FFFF), as a fatal TextDecoder.
bool is_valid_utf8(std::string_view s);
// The UTF-16 length of `s` if it is valid UTF-8 (as is_valid_utf8), else kInvalidUtf8:
// validating and counting in one pass.
inline constexpr std::uint64_t kInvalidUtf8 = ~std::uint64_t{0};
std::uint64_t utf8_utf16_length(std::string_view s);
// True when `s` holds no lone-surrogate sequence (so it is valid UTF-8 if it is valid WTF-8).
bool is_plain_utf8(std::string_view s);

// The two UTF-16 halves of a supplementary code point (cp >= 0x10000).
inline std::uint32_t high_surrogate(std::uint32_t cp) {
  return 0xD800 + ((cp - 0x10000) >> 10);
}
inline std::uint32_t low_surrogate(std::uint32_t cp) {
  return 0xDC00 + ((cp - 0x10000) & 0x3FF);
}

// Number of UTF-16 code units of a WTF-8 string.
std::uint64_t utf16_length(std::string_view wtf8);

// Byte position of UTF-16 unit `units` in `wtf8`. When that unit falls between the two
// halves of a surrogate pair, returns the position of the 4-byte sequence and sets
// `inside_pair`. Units past the end clamp to the end.
std::size_t utf16_to_byte_offset(std::string_view wtf8, std::uint64_t units, bool& inside_pair);

// Appends code point `cp` (any value up to 0x10FFFF, surrogates included) as WTF-8.
void append_code_point(std::string& out, std::uint32_t cp);

// Appends WTF-8 as UTF-8: a high surrogate directly followed by a low one becomes the
// pair's code point, every other lone surrogate becomes U+FFFD.
void append_utf8_from_wtf8(std::string& out, std::string_view wtf8);

// JavaScript's ContentString.splice(offset) (Yjs issue #248) on WTF-8: `left` gets
// str.slice(0, offset), `right` str.slice(offset); when the left part ends in a
// high surrogate, its last unit and the right part's first unit become U+FFFD.
void splice_js_string(std::string_view text, std::uint64_t offset, std::string& left, std::string& right);

// str.slice(offset) (JavaScript semantics: a cut inside a pair leaves a lone low surrogate).
std::string js_slice_from(std::string_view text, std::uint64_t offset);

// Decodes one WTF-8 code point at s[i], advancing i. Input must be valid WTF-8.
std::uint32_t next_code_point(std::string_view s, std::size_t& i);

}  // namespace quire::crdt
