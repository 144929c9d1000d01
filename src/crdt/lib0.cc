#include "crdt/lib0.h"

#include <bit>

#include "crdt/utf.h"

namespace quire::crdt {

std::string_view Reader::read_var_string() {
  std::uint64_t units;
  return read_var_string(units);
}

std::string_view Reader::read_var_string(std::uint64_t& utf16_units) {
  const std::string_view s = as_chars(read_var_bytes());
  utf16_units = utf8_utf16_length(s);
  if (utf16_units == kInvalidUtf8) {
    fail();
    utf16_units = 0;
    return {};
  }
  return s;
}

namespace {
std::uint64_t load_be(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = v << 8 | p[i];
  return v;
}
void store_be(Bytes& out, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
}  // namespace

double Reader::read_f32() {
  const ByteView b = read_raw(4);
  if (b.empty()) return 0;
  return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(load_be(b.data(), 4))));
}

double Reader::read_f64() {
  const ByteView b = read_raw(8);
  if (b.empty()) return 0;
  return std::bit_cast<double>(load_be(b.data(), 8));
}

std::int64_t Reader::read_i64() {
  const ByteView b = read_raw(8);
  if (b.empty()) return 0;
  return static_cast<std::int64_t>(load_be(b.data(), 8));
}

std::uint64_t Reader::read_var_uint_slow() {
  std::uint64_t n = 0;
  for (int shift = 0; shift < 56; shift += 7) {
    if (p_ == end_) break;
    const std::uint8_t b = *p_++;
    n |= std::uint64_t{b & 0x7fu} << shift;
    if (b < 0x80) {
      if (n > kMaxSafeInteger) break;
      return n;
    }
  }
  fail();
  return 0;
}

void Writer::write_var_string(std::string_view wtf8) {
  if (is_plain_utf8(wtf8)) {
    write_var_uint(wtf8.size());
    write_raw(wtf8);
    return;
  }
  std::string utf8;
  append_utf8_from_wtf8(utf8, wtf8);
  write_var_uint(utf8.size());
  write_raw(utf8);
}

void Writer::write_f32(float v) {
  store_be(buf_, std::bit_cast<std::uint32_t>(v), 4);
}
void Writer::write_f64(double v) {
  store_be(buf_, std::bit_cast<std::uint64_t>(v), 8);
}
void Writer::write_i64(std::int64_t v) {
  store_be(buf_, static_cast<std::uint64_t>(v), 8);
}

}  // namespace quire::crdt
