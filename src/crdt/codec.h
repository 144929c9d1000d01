// Internal: the field-level update decoders and encoders (Yjs's UpdateDecoderV1/V2,
// UpdateEncoderV1/V2), the lazy struct reader and writer (updates.js), and the v2
// column codecs (lib0's RleEncoder, UintOptRleEncoder, IntDiffOptRleEncoder,
// StringEncoder and their decoders). Not part of the public crdt API.
//
// Decoders keep a sticky failure flag like Reader; encoders do too, for values
// Yjs cannot write (JSON.stringify of a BigInt, a zero-length v2 delete range).
// Thread-safety: none; one instance per operation.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

#include "crdt/any.h"
#include "crdt/lib0.h"
#include "crdt/update.h"
#include "crdt/utf.h"

namespace quire::crdt::detail {

// ---- v1 ------------------------------------------------------------------

class DecoderV1 {
 public:
  DecoderV1(ByteView data, StringArena& arena, const Limits& limits)
      : rest_(data), input_size_(data.size()), arena_(arena), limits_(limits) {}

  Reader& rest() { return rest_; }
  [[nodiscard]] bool failed() const { return rest_.failed() || failed_; }
  void fail() { failed_ = true; }
  [[nodiscard]] std::size_t input_size() const { return input_size_; }
  [[nodiscard]] const Limits& limits() const { return limits_; }
  StringArena& arena() { return arena_; }

  std::uint64_t read_client() { return rest_.read_var_uint(); }
  [[gnu::always_inline]] Id read_left_id() {
    const std::uint64_t client = rest_.read_var_uint();
    return {client, rest_.read_var_uint()};
  }
  [[gnu::always_inline]] Id read_right_id() { return read_left_id(); }
  std::uint8_t read_info() { return rest_.read_u8(); }
  std::string_view read_string() { return rest_.read_var_string(); }
  // A string item's text and its length in UTF-16 units.
  std::string_view read_text(std::uint64_t& units) { return rest_.read_var_string(units); }
  bool read_parent_info() { return rest_.read_var_uint() == 1; }
  std::uint64_t read_type_ref() { return rest_.read_var_uint(); }
  std::uint64_t read_len() { return rest_.read_var_uint(); }
  bool read_any(Any& out) { return crdt::read_any(rest_, out, limits_.max_depth); }
  std::string_view read_buf() { return as_chars(rest_.read_var_bytes()); }
  bool read_json(Any& out) {
    const std::string_view text = rest_.read_var_string();
    if (rest_.failed()) return false;
    if (!parse_json(text, out, limits_.max_depth)) {
      fail();
      return false;
    }
    return true;
  }
  std::string_view read_key() { return rest_.read_var_string(); }

  void reset_ds_cur_val() {}
  std::uint64_t read_ds_clock() { return rest_.read_var_uint(); }
  std::uint64_t read_ds_len() { return rest_.read_var_uint(); }

 private:
  Reader rest_;
  std::size_t input_size_;
  StringArena& arena_;
  const Limits& limits_;
  bool failed_ = false;
};

class EncoderV1 {
 public:
  Writer& rest() { return rest_; }
  [[nodiscard]] bool failed() const { return failed_; }

  void write_client(std::uint64_t c) { rest_.write_var_uint(c); }
  void write_left_id(Id id) {
    rest_.write_var_uint(id.client);
    rest_.write_var_uint(id.clock);
  }
  void write_right_id(Id id) { write_left_id(id); }
  void write_info(std::uint8_t info) { rest_.write_u8(info); }
  void write_string(std::string_view s) { rest_.write_var_string(s); }
  void write_parent_info(bool is_key) { rest_.write_var_uint(is_key ? 1 : 0); }
  void write_type_ref(std::uint64_t t) { rest_.write_var_uint(t); }
  void write_len(std::uint64_t n) { rest_.write_var_uint(n); }
  void write_any(const Any& v) { crdt::write_any(rest_, v); }
  void write_buf(std::string_view b) { rest_.write_var_bytes(as_bytes(b)); }
  void write_json(const Any& v) {
    std::string text;
    if (!stringify_json(v, text)) {
      failed_ = true;
      return;
    }
    rest_.write_var_string(text);
  }
  void write_key(std::string_view k) { rest_.write_var_string(k); }
  void fail() { failed_ = true; }

  void reset_ds_cur_val() {}
  void write_ds_clock(std::uint64_t c) { rest_.write_var_uint(c); }
  void write_ds_len(std::uint64_t n) { rest_.write_var_uint(n); }

  Bytes finish() { return rest_.take(); }

 private:
  Writer rest_;
  bool failed_ = false;
};

// ---- v2 column codecs ----------------------------------------------------

// lib0 RleDecoder<uint8>: value, then (count-1) unless the stream ended (last run repeats forever).
class RleU8Decoder {
 public:
  RleU8Decoder() = default;
  explicit RleU8Decoder(ByteView b) : r_(b) {}
  std::uint8_t read() {
    if (count_ == 0) {
      s_ = r_.read_u8();
      if (!r_.empty()) {
        const std::uint64_t c = r_.read_var_uint();
        count_ = c + 1;
      } else {
        forever_ = true;
        count_ = 1;
      }
    }
    if (!forever_) --count_;
    return s_;
  }
  [[nodiscard]] bool failed() const { return r_.failed(); }

 private:
  Reader r_;
  std::uint8_t s_ = 0;
  std::uint64_t count_ = 0;
  bool forever_ = false;
};

// lib0 UintOptRleDecoder: varInt(v) for one value, varInt(-v) then varUint(count-2) for a run.
class UintOptRleDecoder {
 public:
  UintOptRleDecoder() = default;
  explicit UintOptRleDecoder(ByteView b) : r_(b) {}
  std::uint64_t read() {
    if (count_ == 0) {
      const VarInt v = r_.read_var_int();
      s_ = v.magnitude;
      if (s_ > kMaxSafeInteger) r_.fail();  // clients, lengths, type refs: all below 2^53
      count_ = 1;
      if (v.negative) {
        const std::uint64_t c = r_.read_var_uint();
        count_ = c + 2;
      }
    }
    --count_;
    return s_;
  }
  [[nodiscard]] bool failed() const { return r_.failed(); }
  Reader& reader() { return r_; }

 private:
  Reader r_;
  std::uint64_t s_ = 0;
  std::uint64_t count_ = 0;
};

// lib0 IntDiffOptRleDecoder: runs of equal differences, varInt(2·diff + hasCount).
class IntDiffOptRleDecoder {
 public:
  IntDiffOptRleDecoder() = default;
  explicit IntDiffOptRleDecoder(ByteView b) : r_(b) {}
  // Values are clocks: a run that leaves [0, 2^53) marks the column broken.
  std::int64_t read() {
    if (count_ == 0) {
      const std::int64_t x = r_.read_var_int().value();
      diff_ = x >> 1;  // floor(x / 2)
      count_ = 1;
      if (x & 1) {
        const std::uint64_t c = r_.read_var_uint();
        count_ = c + 2;
      }
    }
    s_ += diff_;
    --count_;
    if (s_ < 0 || s_ > static_cast<std::int64_t>(kMaxSafeInteger)) {
      out_of_range_ = true;
      s_ = 0;
    }
    return s_;
  }
  [[nodiscard]] bool failed() const { return r_.failed() || out_of_range_; }

 private:
  Reader r_;
  std::int64_t s_ = 0;
  std::int64_t diff_ = 0;
  std::uint64_t count_ = 0;
  bool out_of_range_ = false;
};

// lib0 StringDecoder: one varString holding every string, then their UTF-16
// lengths (UintOptRle). Slices split inside a surrogate pair yield lone surrogates.
class StringColumnDecoder {
 public:
  StringColumnDecoder() = default;
  StringColumnDecoder(ByteView b, StringArena* arena) : lens_(b), arena_(arena) {
    str_ = lens_.reader().read_var_string();
  }
  std::string_view read();
  [[nodiscard]] bool failed() const { return failed_ || lens_.failed(); }

 private:
  UintOptRleDecoder lens_;
  StringArena* arena_ = nullptr;
  std::string_view str_;
  std::size_t pos_ = 0;
  bool half_ = false;  // the high half of the pair at pos_ was already handed out
  bool failed_ = false;
};

// Yjs's DSDecoderV2 / DSEncoderV2: the rest stream with per-client delta-coded
// delete ranges. Bases of the v2 update codecs, and used alone for a delete set
// outside an update.
class DsDecoderV2 {
 public:
  DsDecoderV2() = default;
  explicit DsDecoderV2(ByteView data) : rest_(data) {}
  Reader& rest() { return rest_; }
  [[nodiscard]] bool failed() const { return rest_.failed() || failed_; }
  void fail() { failed_ = true; }
  void reset_ds_cur_val() { cur_ = 0; }
  std::uint64_t read_ds_clock() {
    cur_ += rest_.read_var_uint();
    if (cur_ > kMaxSafeInteger) failed_ = true;
    return cur_;
  }
  std::uint64_t read_ds_len() {
    const std::uint64_t diff = rest_.read_var_uint() + 1;
    cur_ += diff;
    if (cur_ > kMaxSafeInteger) failed_ = true;
    return diff;
  }

 protected:
  Reader rest_;

 private:
  std::uint64_t cur_ = 0;
  bool failed_ = false;
};

class DsEncoderV2 {
 public:
  Writer& rest() { return rest_; }
  [[nodiscard]] bool failed() const { return failed_; }
  void fail() { failed_ = true; }
  void reset_ds_cur_val() { cur_ = 0; }
  void write_ds_clock(std::uint64_t c) {
    if (c < cur_) {
      failed_ = true;  // lib0 would write garbage for a negative difference
      return;
    }
    rest_.write_var_uint(c - cur_);
    cur_ = c;
  }
  void write_ds_len(std::uint64_t n) {
    if (n == 0) {
      failed_ = true;  // Yjs throws (error.unexpectedCase)
      return;
    }
    rest_.write_var_uint(n - 1);
    cur_ += n;
  }

 protected:
  Writer rest_;

 private:
  std::uint64_t cur_ = 0;
  bool failed_ = false;
};

class DecoderV2 : public DsDecoderV2 {
 public:
  DecoderV2(ByteView data, StringArena& arena, const Limits& limits);

  [[nodiscard]] bool failed() const {
    return DsDecoderV2::failed() || key_clock_.failed() || client_.failed() || left_clock_.failed() ||
           right_clock_.failed() || info_.failed() || string_.failed() || parent_info_.failed() || type_ref_.failed() ||
           len_.failed();
  }
  [[nodiscard]] std::size_t input_size() const { return input_size_; }
  [[nodiscard]] const Limits& limits() const { return limits_; }
  StringArena& arena() { return arena_; }

  std::uint64_t read_client() { return client_.read(); }
  Id read_left_id() {
    const std::uint64_t client = client_.read();
    return {client, static_cast<std::uint64_t>(left_clock_.read())};
  }
  Id read_right_id() {
    const std::uint64_t client = client_.read();
    return {client, static_cast<std::uint64_t>(right_clock_.read())};
  }
  std::uint8_t read_info() { return info_.read(); }
  std::string_view read_string() { return string_.read(); }
  std::string_view read_text(std::uint64_t& units) {
    const std::string_view s = string_.read();
    units = utf16_length(s);
    return s;
  }
  bool read_parent_info() { return parent_info_.read() == 1; }
  std::uint64_t read_type_ref() { return type_ref_.read(); }
  std::uint64_t read_len() { return len_.read(); }
  bool read_any(Any& out) { return crdt::read_any(rest_, out, limits_.max_depth); }
  std::string_view read_buf() { return as_chars(rest_.read_var_bytes()); }
  bool read_json(Any& out) { return crdt::read_any(rest_, out, limits_.max_depth); }
  std::string_view read_key();

 private:
  std::size_t input_size_;
  StringArena& arena_;
  const Limits& limits_;
  IntDiffOptRleDecoder key_clock_;
  UintOptRleDecoder client_;
  IntDiffOptRleDecoder left_clock_;
  IntDiffOptRleDecoder right_clock_;
  RleU8Decoder info_;
  StringColumnDecoder string_;
  RleU8Decoder parent_info_;
  UintOptRleDecoder type_ref_;
  UintOptRleDecoder len_;
  std::vector<std::string_view> keys_;
};

class RleU8Encoder {
 public:
  void write(std::uint8_t v) {
    if (started_ && s_ == v) {
      ++count_;
      return;
    }
    if (count_ > 0) w_.write_var_uint(count_ - 1);
    count_ = 1;
    w_.write_u8(v);
    s_ = v;
    started_ = true;
  }
  Bytes& bytes() { return w_.bytes(); }

 private:
  Writer w_;
  std::uint8_t s_ = 0;
  std::uint64_t count_ = 0;
  bool started_ = false;
};

class UintOptRleEncoder {
 public:
  void write(std::uint64_t v) {
    if (s_ == v) {
      ++count_;
      return;
    }
    flush();
    count_ = 1;
    s_ = v;
  }
  Bytes& finish() {
    flush();
    count_ = 0;
    return w_.bytes();
  }

 private:
  void flush() {
    if (count_ == 0) return;
    w_.write_var_int(count_ > 1, s_);
    if (count_ > 1) w_.write_var_uint(count_ - 2);
  }
  Writer w_;
  std::uint64_t s_ = 0;
  std::uint64_t count_ = 0;
};

class IntDiffOptRleEncoder {
 public:
  void write(std::int64_t v) {
    if (diff_ == v - s_) {
      s_ = v;
      ++count_;
      return;
    }
    flush();
    count_ = 1;
    diff_ = v - s_;
    s_ = v;
  }
  Bytes& finish() {
    flush();
    count_ = 0;
    return w_.bytes();
  }

 private:
  void flush() {
    if (count_ == 0) return;
    w_.write_var_int(diff_ * 2 + (count_ == 1 ? 0 : 1));
    if (count_ > 1) w_.write_var_uint(count_ - 2);
  }
  Writer w_;
  std::int64_t s_ = 0;
  std::int64_t diff_ = 0;
  std::uint64_t count_ = 0;
};

class StringColumnEncoder {
 public:
  void write(std::string_view wtf8) {
    s_.append(wtf8);
    lens_.write(utf16_length(wtf8));
  }
  Bytes finish() {
    Writer w;
    // Joined first, as lib0 does: a lone high surrogate followed by a lone low one forms a pair.
    w.write_var_string(s_);
    w.write_raw(lens_.finish());
    return w.take();
  }

 private:
  std::string s_;
  UintOptRleEncoder lens_;
};

class EncoderV2 : public DsEncoderV2 {
 public:
  void write_client(std::uint64_t c) { client_.write(c); }
  void write_left_id(Id id) {
    client_.write(id.client);
    left_clock_.write(static_cast<std::int64_t>(id.clock));
  }
  void write_right_id(Id id) {
    client_.write(id.client);
    right_clock_.write(static_cast<std::int64_t>(id.clock));
  }
  void write_info(std::uint8_t info) { info_.write(info); }
  void write_string(std::string_view s) { string_.write(s); }
  void write_parent_info(bool is_key) { parent_info_.write(is_key ? 1 : 0); }
  void write_type_ref(std::uint64_t t) { type_ref_.write(t); }
  void write_len(std::uint64_t n) { len_.write(n); }
  void write_any(const Any& v) { crdt::write_any(rest_, v); }
  void write_buf(std::string_view b) { rest_.write_var_bytes(as_bytes(b)); }
  void write_json(const Any& v) { crdt::write_any(rest_, v); }
  // Yjs never records keys in its cache, so every key is new: the next key clock
  // and the string again (spec §5.4).
  void write_key(std::string_view k) {
    key_clock_.write(key_clock_value_++);
    string_.write(k);
  }

  Bytes finish();

 private:
  IntDiffOptRleEncoder key_clock_;
  std::int64_t key_clock_value_ = 0;
  UintOptRleEncoder client_;
  IntDiffOptRleEncoder left_clock_;
  IntDiffOptRleEncoder right_clock_;
  RleU8Encoder info_;
  StringColumnEncoder string_;
  RleU8Encoder parent_info_;
  UintOptRleEncoder type_ref_;
  UintOptRleEncoder len_;
};

// ---- structs ---------------------------------------------------------------

// Whether a struct of `length` units may start at `clock`: zero-length structs
// are never written by Yjs (refusing them keeps every loop over clocks
// advancing), and its end must stay a safe integer.
inline bool valid_struct_length(std::uint64_t length, std::uint64_t clock) {
  return length != 0 && length <= kMaxSafeInteger - clock;
}

// Item.read after its info byte (content ref 1–9: anything else fails):
// origins, parent, parent key and content into `b`, which holds the struct's id
// and is otherwise as reset. False, with the decoder failed, on bad bytes or
// when the item names its own client at or after its own clock.
template <class Dec>
bool read_item(Dec& dec, Block& b, std::uint8_t info);

// Yjs's lazyStructReaderGenerator + LazyStructReader: one struct at a time.
template <class Dec>
class LazyReader {
 public:
  LazyReader(Dec& dec, bool filter_skips) : dec_(dec), filter_skips_(filter_skips) {
    groups_left_ = dec_.rest().read_var_uint();
    next();
  }

  // Advances to the next struct; false when the struct section is exhausted or broken.
  bool next() {
    do {
      has_curr_ = read_one();
    } while (has_curr_ && filter_skips_ && curr_.kind == BlockKind::kSkip);
    return has_curr_;
  }

  [[nodiscard]] bool has_curr() const { return has_curr_; }
  Block& curr() { return curr_; }
  // Number of group headers read so far: changes when the current struct opens a new group.
  [[nodiscard]] std::uint64_t group() const { return groups_read_; }
  [[nodiscard]] bool failed() const { return dec_.failed(); }

 private:
  bool read_one();
  bool note_client(std::uint64_t client);  // false when the client already had a group

  Dec& dec_;
  bool filter_skips_;
  bool has_curr_ = false;
  Block curr_;
  std::uint64_t groups_left_ = 0;
  std::uint64_t structs_left_ = 0;
  std::uint64_t total_structs_ = 0;
  std::uint64_t groups_read_ = 0;
  std::uint64_t first_client_ = 0;
  std::unique_ptr<std::unordered_set<std::uint64_t>> more_clients_;
  std::uint64_t client_ = 0;
  std::uint64_t clock_ = 0;
};

// Everything Item.write needs, as views: built from a decoded Block or from a
// document's Item, so both are written by the same code.
struct ItemView {
  Id id;
  std::uint64_t length = 0;
  ContentRef ref = ContentRef::kNone;
  std::uint8_t type_ref = 0;
  bool has_origin = false;
  bool has_right_origin = false;
  bool has_parent_sub = false;
  ParentKind parent_kind = ParentKind::kNone;
  Id origin;
  Id right_origin;
  Id parent_id;
  std::string_view parent_name;
  std::string_view parent_sub;
  std::string_view text;
  std::span<const Any> values;
};

ItemView view_of(const Block& b);

// Yjs's LazyStructWriter: structs are written as they come; a new run starts
// whenever the client changes; finish() prepends the run count and per-run sizes.
template <class Enc>
class LazyWriter {
 public:
  explicit LazyWriter(Enc& enc) : enc_(enc) {}

  void write(const Block& b, std::uint64_t offset);
  // GC, Skip (length only) or Item (`item` set) at `id`.
  void write(BlockKind kind, Id id, std::uint64_t length, const ItemView* item, std::uint64_t offset);
  void finish();

 private:
  struct Run {
    std::uint64_t written;
    std::size_t begin;
    std::size_t end;
  };
  void flush();

  Enc& enc_;
  std::uint64_t curr_client_ = 0;
  std::uint64_t written_ = 0;
  std::size_t run_begin_ = 0;
  std::vector<Run> runs_;
};

// Item.write / GC.write / Skip.write with an offset (spec §3.4).
template <class Enc>
void write_item(Enc& enc, const ItemView& v, std::uint64_t offset);

// Yjs's sliceStruct: the part of `b` from `diff` on (ContentString.splice
// replaces a split surrogate pair's halves with U+FFFD).
Block slice_block(const Block& b, std::uint64_t diff, StringArena& arena);

template <class Dec>
bool read_delete_set(Dec& dec, DeleteSet& ds);
template <class Enc>
void write_delete_set(Enc& enc, const DeleteSet& ds);

}  // namespace quire::crdt::detail
