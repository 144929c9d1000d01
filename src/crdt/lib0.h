// lib0 binary primitives (varUint, varInt, varString, varBytes, floats, bigint64),
// exactly as lib0's encoding.js / decoding.js write them. Spec: docs/wire-format.md
// and ../shared/spec/yjs-wire-format.md §1.
//
// Reader keeps a sticky failure flag instead of returning a Result per call: the
// hot decode loops stay branch-light, and callers check failed() at structure
// boundaries. Once failed, every read returns zero/empty and the position stops
// moving, so a loop over an untrusted count must also stop on failed(). Every
// integer read is bounded to 2^53-1, the largest value a JS reader accepts.
// Thread-safety: none; one Reader/Writer per thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "base/bytes.h"

namespace quire::crdt {

inline constexpr std::uint64_t kMaxSafeInteger = (std::uint64_t{1} << 53) - 1;
inline constexpr std::uint64_t kMaxVarIntMagnitude = (std::uint64_t{1} << 55) - 1;

// A varInt as lib0 writes it: sign and magnitude kept apart so that -0 survives.
struct VarInt {
  bool negative = false;
  std::uint64_t magnitude = 0;
  [[nodiscard]] std::int64_t value() const {
    return negative ? -static_cast<std::int64_t>(magnitude) : static_cast<std::int64_t>(magnitude);
  }
};

class Reader {
 public:
  Reader() = default;
  explicit Reader(ByteView data) : p_(data.data()), end_(data.data() + data.size()) {}

  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  [[nodiscard]] bool empty() const { return p_ == end_; }
  [[nodiscard]] const std::uint8_t* position() const { return p_; }
  void fail() {
    failed_ = true;
    p_ = end_;
  }

  std::uint8_t read_u8() {
    if (p_ == end_) {
      fail();
      return 0;
    }
    return *p_++;
  }

  [[gnu::always_inline]] std::uint64_t read_var_uint() {
    // Inlined fast path where the longest varint fits the input: no bounds
    // checks. Whatever it does not return (the end of the input, a value past
    // 2^53, a run too long) the careful path reads again.
    if (end_ - p_ >= 8) {
      std::uint64_t n = 0;
      for (int i = 0; i < 8; ++i) {
        const std::uint64_t b = p_[i];
        n |= (b & 0x7f) << (7 * i);
        if (b < 0x80) {
          if (n > kMaxSafeInteger) break;
          p_ += i + 1;
          return n;
        }
      }
    }
    return read_var_uint_slow();
  }

  VarInt read_var_int() {
    VarInt v;
    if (p_ == end_) {
      fail();
      return v;
    }
    std::uint8_t b = *p_++;
    v.negative = (b & 0x40) != 0;
    v.magnitude = b & 0x3f;
    int shift = 6;
    while (b & 0x80) {
      if (p_ == end_ || shift > 55) {
        fail();
        return {};
      }
      b = *p_++;
      v.magnitude |= std::uint64_t{b & 0x7fu} << shift;
      shift += 7;
    }
    // Up to 2^55: the v2 column encoders write 2·difference (+1) of clocks, which
    // exceeds 2^53 when clocks are far apart (lib0 reads it: it checks the range
    // only before a continuation byte). Callers bound what they accept.
    if (v.magnitude > kMaxVarIntMagnitude) {
      fail();
      return {};
    }
    return v;
  }

  // varUint length + that many bytes, as a view into the input.
  ByteView read_var_bytes() {
    const std::uint64_t n = read_var_uint();
    if (n > remaining()) {
      fail();
      return {};
    }
    ByteView out(p_, static_cast<std::size_t>(n));
    p_ += n;
    return out;
  }

  ByteView read_raw(std::size_t n) {
    if (n > remaining()) {
      fail();
      return {};
    }
    ByteView out(p_, n);
    p_ += n;
    return out;
  }

  // A varString: the UTF-8 bytes, validated strictly (lib0 decodes with a fatal
  // TextDecoder, so invalid UTF-8 makes the whole update unreadable).
  std::string_view read_var_string();
  // The same, also giving the string's length in UTF-16 units (counted while validating).
  std::string_view read_var_string(std::uint64_t& utf16_units);

  double read_f32();
  double read_f64();
  std::int64_t read_i64();

 private:
  std::uint64_t read_var_uint_slow();

  const std::uint8_t* p_ = nullptr;
  const std::uint8_t* end_ = nullptr;
  bool failed_ = false;
};

class Writer {
 public:
  void write_u8(std::uint8_t b) { buf_.push_back(b); }
  void write_var_uint(std::uint64_t n) {
    while (n > 0x7f) {
      buf_.push_back(static_cast<std::uint8_t>(0x80 | (n & 0x7f)));
      n >>= 7;
    }
    buf_.push_back(static_cast<std::uint8_t>(n));
  }
  void write_var_int(bool negative, std::uint64_t magnitude) {
    buf_.push_back(
        static_cast<std::uint8_t>((magnitude > 0x3f ? 0x80 : 0) | (negative ? 0x40 : 0) | (magnitude & 0x3f)));
    magnitude >>= 6;
    while (magnitude > 0) {
      buf_.push_back(static_cast<std::uint8_t>((magnitude > 0x7f ? 0x80 : 0) | (magnitude & 0x7f)));
      magnitude >>= 7;
    }
  }
  void write_var_int(std::int64_t v) {
    write_var_int(v < 0, v < 0 ? static_cast<std::uint64_t>(-(v + 1)) + 1 : static_cast<std::uint64_t>(v));
  }
  void write_raw(ByteView b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  void write_raw(std::string_view s) { write_raw(as_bytes(s)); }
  void write_var_bytes(ByteView b) {
    write_var_uint(b.size());
    write_raw(b);
  }
  // Writes a WTF-8 string as lib0's writeVarString would: lone surrogates become U+FFFD.
  void write_var_string(std::string_view wtf8);
  void write_f32(float v);
  void write_f64(double v);
  void write_i64(std::int64_t v);

  [[nodiscard]] std::size_t size() const { return buf_.size(); }
  Bytes& bytes() { return buf_; }
  [[nodiscard]] const Bytes& bytes() const { return buf_; }
  Bytes take() { return std::move(buf_); }
  void clear() { buf_.clear(); }

 private:
  Bytes buf_;
};

}  // namespace quire::crdt
