// Writing a document's structs as a v1 update straight from its items (Yjs's
// writeClientsStructs + writeDeleteSet, as encodeStateAsUpdate and every
// transaction's update message use them): each client's run is known up front,
// so there is no intermediate struct view and no second copy of the runs, bytes
// go out without per-byte capacity checks, and each client id's varint is
// computed once. Items with content other than text or deleted runs, and a
// client's first struct when it starts inside one, go through the codec's
// write_item like every other writer.
#include <algorithm>
#include <cstring>

#include "crdt/doc_engine.h"

namespace quire::crdt::detail {

ItemView view_of(const DocState& s, const Item& item) {
  const auto id = [&](ItemId i) { return Id{s.store.client(i.client), i.clock}; };
  ItemView v;
  v.id = id(item.id);
  v.length = item.length;
  v.ref = item.ref;
  v.has_origin = item.has_origin();
  if (item.has_origin()) v.origin = id(item.origin);
  v.has_right_origin = item.has_right_origin();
  if (item.has_right_origin()) v.right_origin = id(item.right_origin);
  v.has_parent_sub = item.parent_sub != 0;
  if (item.parent_sub != 0) v.parent_sub = s.key_name(item.parent_sub);
  if (item.parent_is_id()) {
    v.parent_kind = ParentKind::kId;
    v.parent_id = id(item.parent_id());
  } else if (item.parent != 0) {
    const Type& parent = s.type(item.parent);
    if (parent.item == 0) {
      v.parent_kind = ParentKind::kRoot;
      v.parent_name = parent.name;
    } else {
      v.parent_kind = ParentKind::kId;
      v.parent_id = id(s.at(parent.item).id);
    }
  }
  switch (item.ref) {
    case ContentRef::kString:
      v.text = s.text_of(item);
      break;
    case ContentRef::kType: {
      const Type* type = s.type_of(item);
      v.type_ref = type->type_ref;
      v.text = type->name;
    } break;
    case ContentRef::kBinary:
    case ContentRef::kFormat:
    case ContentRef::kDoc:
      v.text = s.key(item);
      break;
    default:
      break;
  }
  v.values = s.values(item);
  return v;
}

namespace {

// varUint of a 32-bit value at p, the common sizes unrolled; returns the end.
// (A local pointer: byte stores may alias anything, so members would be
// loaded again after each.)
inline std::uint8_t* put_u32(std::uint8_t* p, std::uint32_t n) {
  if (n < 0x80) {
    *p = static_cast<std::uint8_t>(n);
    return p + 1;
  }
  if (n < 0x4000) {
    p[0] = static_cast<std::uint8_t>(n | 0x80);
    p[1] = static_cast<std::uint8_t>(n >> 7);
    return p + 2;
  }
  if (n < 0x200000) {
    p[0] = static_cast<std::uint8_t>(n | 0x80);
    p[1] = static_cast<std::uint8_t>((n >> 7) | 0x80);
    p[2] = static_cast<std::uint8_t>(n >> 14);
    return p + 3;
  }
  for (; n > 0x7f; n >>= 7) *p++ = static_cast<std::uint8_t>(0x80 | (n & 0x7f));
  *p = static_cast<std::uint8_t>(n);
  return p + 1;
}

// Copies n bytes of text from the TextArena 16 bytes at a time: reading past
// its end stays inside the arena, and the bytes written past `to + n` are
// overwritten or cut (the caller reserved room for them).
inline void copy_blocks(std::uint8_t* to, const char* from, std::size_t n) {
  static_assert(TextArena::kReadAhead >= 16);
  for (std::size_t i = 0; i < n; i += 16) std::memcpy(to + i, from + i, 16);
}

// Output with room made explicitly: write calls do not check capacity.
class Out {
 public:
  [[nodiscard]] std::uint8_t* cursor() const { return p_; }
  void set_cursor(std::uint8_t* p) { p_ = p; }
  explicit Out(std::size_t estimate) : buf_(std::max<std::size_t>(estimate, 128)), p_(buf_.data()) {}

  void reserve(std::size_t n) {
    if (static_cast<std::size_t>(buf_.data() + buf_.size() - p_) < n) grow(n);
  }
  void u8(std::uint8_t b) { *p_++ = b; }
  void var_uint(std::uint64_t n) {
    while (n > 0x7f) {
      *p_++ = static_cast<std::uint8_t>(0x80 | (n & 0x7f));
      n >>= 7;
    }
    *p_++ = static_cast<std::uint8_t>(n);
  }
  // var_uint of a 32-bit value (needs 5 bytes of room).
  void var_u32(std::uint32_t n) { p_ = put_u32(p_, n); }
  // 16 bytes from `data`, of which `n` count (needs 16 bytes of room).
  void padded16(const std::uint8_t* data, std::size_t n) {
    std::memcpy(p_, data, 16);
    p_ += n;
  }
  void raw(const void* data, std::size_t n) {
    if (n != 0) std::memcpy(p_, data, n);
    p_ += n;
  }
  // lib0's writeVarString of an item's text (WTF-8, in the TextArena): copied
  // 16 bytes at a time — reading past its end stays in the arena, writing past
  // it is overwritten or cut — while looking for 0xED, the lead byte of every
  // surrogate. Text that holds one is converted as TextEncoder would (lone
  // surrogates become U+FFFD, adjacent halves one code point).
  [[gnu::noinline]] void var_string(std::string_view wtf8) {
    static_assert(TextArena::kReadAhead >= 16);
    const std::size_t n = wtf8.size();
    reserve(10 + n + 16);
    std::uint8_t* const start = p_;
    var_uint(n);
    const char* s = wtf8.data();
    std::uint64_t ed = 0;
    for (std::size_t i = 0; i < n; i += 16) {
      std::uint64_t w[2];
      std::memcpy(w, s + i, 16);
      std::memcpy(p_ + i, w, 16);
      const std::size_t left = n - i;  // bytes of the text in this block: the rest must not count
      const std::uint64_t keep0 = left >= 8 ? ~0ull : (std::uint64_t{1} << (8 * left)) - 1;
      const std::uint64_t keep1 = left >= 16 ? ~0ull : left <= 8 ? 0 : (std::uint64_t{1} << (8 * (left - 8))) - 1;
      for (int k = 0; k < 2; ++k) {
        const std::uint64_t x = (w[k] ^ 0xEDEDEDEDEDEDEDEDull) | ~(k == 0 ? keep0 : keep1);
        ed |= (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;  // a zero byte of x
      }
    }
    p_ += n;
    if (ed != 0 && !is_plain_utf8(wtf8)) {
      p_ = start;  // no larger than what was reserved
      std::string utf8;
      append_utf8_from_wtf8(utf8, wtf8);
      var_uint(utf8.size());
      raw(utf8.data(), utf8.size());
    }
  }
  Bytes finish() {
    buf_.resize(static_cast<std::size_t>(p_ - buf_.data()));
    return std::move(buf_);
  }

 private:
  void grow(std::size_t n) {
    const auto used = static_cast<std::size_t>(p_ - buf_.data());
    buf_.resize(std::max(2 * buf_.size(), used + n));
    p_ = buf_.data() + used;
  }
  Bytes buf_;
  std::uint8_t* p_;
};

class StateWriter {
 public:
  explicit StateWriter(const DocState& s, std::size_t estimate) : s_(s), out_(estimate) {}

  void structs(const std::vector<std::pair<ClientSlot, std::uint64_t>>& starts, bool collect_deletes) {
    out_.reserve(10);
    out_.var_uint(starts.size());
    for (const auto& start_at : starts) {
      const ClientSlot slot = start_at.first;
      const std::uint64_t from = start_at.second;
      const ClientStructs& structs = s_.store.structs(slot);
      const auto clock = static_cast<std::uint32_t>(std::max<std::uint64_t>(from, structs.clock_at(0)));
      std::size_t i = structs.find(clock);
      out_.reserve(40);
      out_.var_uint(structs.size() - i);
      client(slot);
      out_.var_uint(clock);
      if (clock > structs.clock_at(i)) {
        write(s_.at(structs[i]), clock - structs.clock_at(i));
        ++i;
      }
      if (collect_deletes && from == 0) {
        // Runs of deleted structs, gathered while writing (createDeleteSetFromStructStore).
        const std::size_t first_range = ranges_.size();
        std::uint32_t run_clock = 0;
        std::uint64_t run_len = 0;
        structs.visit_runs(i, [&](const ItemRef* refs, const std::uint32_t* clocks, std::size_t n) {
          // The run in locals: the byte stores of write() could alias the captured ones.
          std::uint32_t clock_of_run = run_clock;
          std::uint64_t len_of_run = run_len;
          for (std::size_t k = 0; k < n; ++k) {
            const Item& item = s_.at(refs[k]);
            if (item.is_deleted()) {
              if (len_of_run == 0) clock_of_run = clocks[k];
              len_of_run += item.length;
            } else if (len_of_run != 0) {
              ranges_.push_back({slot, clock_of_run, len_of_run});
              len_of_run = 0;
            }
            write(item);
          }
          run_clock = clock_of_run;
          run_len = len_of_run;
        });
        if (run_len != 0) ranges_.push_back({slot, run_clock, run_len});
        if (ranges_.size() > first_range) ds_clients_.emplace_back(slot, first_range);
      } else {
        structs.visit_runs(i, [&](const ItemRef* refs, const std::uint32_t*, std::size_t n) {
          for (std::size_t k = 0; k < n; ++k) write(s_.at(refs[k]));
        });
      }
    }
  }

  // The store's delete set (createDeleteSetFromStructStore), for the clients
  // whose deletions structs() did not collect.
  void collect_store_deletes(const std::vector<std::pair<ClientSlot, std::uint64_t>>& starts) {
    std::vector<bool> done(s_.store.slots());
    for (const auto& [slot, from] : starts) done[slot] = from == 0;
    for (ClientSlot slot = 0; slot < s_.store.slots(); ++slot) {
      if (done[slot]) continue;
      const ClientStructs& structs = s_.store.structs(slot);
      const std::size_t first_range = ranges_.size();
      for (std::size_t i = 0; i < structs.size(); ++i) {
        const Item& item = s_.at(structs[i]);
        if (!item.is_deleted()) continue;
        std::uint64_t len = item.length;
        while (i + 1 < structs.size() && s_.at(structs[i + 1]).is_deleted()) len += s_.at(structs[++i]).length;
        ranges_.push_back({slot, item.id.clock, len});
      }
      if (ranges_.size() > first_range) ds_clients_.emplace_back(slot, first_range);
    }
  }

  // writeDeleteSet of the deletions collected, clients in descending id order.
  void collected_deletes() {
    std::sort(ds_clients_.begin(), ds_clients_.end(),
              [&](const auto& a, const auto& b) { return s_.store.client(a.first) > s_.store.client(b.first); });
    out_.reserve(10);
    out_.var_uint(ds_clients_.size());
    for (const auto& [slot, first] : ds_clients_) {
      std::size_t end = first;
      while (end < ranges_.size() && ranges_[end].slot == slot) ++end;
      out_.reserve(30);
      client(slot);
      out_.var_uint(end - first);
      for (std::size_t k = first; k < end; ++k) {
        out_.reserve(20);  // room for the range only: the estimate leaves less than a bound for all
        out_.var_uint(ranges_[k].clock);
        out_.var_uint(ranges_[k].len);
      }
    }
  }

  // writeDeleteSet of a transaction's delete set (by slot, sorted and merged).
  void deletes(const DeleteSet& by_slot) {
    const auto& clients = by_slot.clients();
    out_.reserve(10);
    out_.var_uint(clients.size());
    if (clients.size() == 1) {  // most transactions: no order to find
      deletes(clients[0]);
      return;
    }
    std::vector<const DeleteSet::Client*> sorted;
    for (const auto& c : clients) sorted.push_back(&c);
    std::sort(sorted.begin(), sorted.end(), [&](const auto* a, const auto* b) {
      return s_.store.client(static_cast<ClientSlot>(a->client)) > s_.store.client(static_cast<ClientSlot>(b->client));
    });
    for (const auto* c : sorted) deletes(*c);
  }
  void deletes(const DeleteSet::Client& c) {
    out_.reserve(30 + 20 * c.ranges.size());
    client(static_cast<ClientSlot>(c.client));
    out_.var_uint(c.ranges.size());
    for (const DeleteRange& r : c.ranges) {
      out_.var_uint(r.clock);
      out_.var_uint(r.len);
    }
  }

  Bytes finish() { return out_.finish(); }

 private:
  struct Range {
    ClientSlot slot;
    std::uint32_t clock;
    std::uint64_t len;
  };

  // Needs 16 bytes of room.
  void client(ClientSlot slot) {
    std::size_t size = 0;
    const std::uint8_t* code = s_.store.client_varint(slot, size);
    out_.padded16(code, size);
  }

  // Item.write / GC.write. Text and deleted runs placed by their origins,
  // nearly every struct of a text document, are written here; so is the first
  // struct of a transaction's update, which typing merged into the one before
  // it (written from an offset).
  [[gnu::always_inline]] void write(const Item& item, std::uint32_t offset = 0) {
    if (item.is_gc()) {
      out_.reserve(8);
      out_.u8(0);
      out_.var_u32(item.length - offset);
      return;
    }
    const bool placed =
        ((item.flags & (Item::kHasOrigin | Item::kHasRightOrigin)) != 0 || offset > 0) && !item.parent_is_id();
    if (!item.is_item() || !placed || (item.ref != ContentRef::kString && item.ref != ContentRef::kDeleted)) {
      generic(item, offset);
      return;
    }
    std::string_view text;
    if (item.ref == ContentRef::kString) {
      text = s_.text_of(item);
      if (offset > 0 && text.size() == item.length) {
        text.remove_prefix(offset);  // ASCII: a unit is a byte
      } else if (offset > 0) {
        bool inside = false;  // the offset splits a surrogate pair: js_slice_from's U+FFFD
        const std::size_t at = utf16_to_byte_offset(text, offset, inside);
        if (inside) {
          generic(item, offset);
          return;
        }
        text.remove_prefix(at);
      }
    }
    write_placed(item, offset, text);
  }

  // Item.write of text (`text`, from `offset` on) or a deleted run placed by
  // origins: the fields read first, the bytes written through a local pointer.
  [[gnu::always_inline]] void write_placed(const Item& item, std::uint32_t offset, std::string_view text) {
    // The info byte's origin bits are the item's flags' (Item::kHasOrigin, kHasRightOrigin).
    const auto origins = static_cast<std::uint8_t>((item.flags & (Item::kHasOrigin | Item::kHasRightOrigin)) |
                                                   (offset > 0 ? Item::kHasOrigin : 0));
    const bool has_origin = (origins & Item::kHasOrigin) != 0;
    const bool has_right_origin = (origins & Item::kHasRightOrigin) != 0;
    const ItemId origin = offset > 0 ? ItemId{item.id.client, item.id.clock + offset - 1} : item.origin;
    const ItemId right_origin = item.right_origin;
    const std::uint32_t length = item.length - offset;
    const bool is_text = item.ref == ContentRef::kString;
    const std::size_t n = text.size();
    // One check for the whole struct: info, two ids, the length and the text
    // (copied in 16-byte blocks).
    out_.reserve(64 + n + 16);
    std::uint8_t* p = out_.cursor();
    static_assert(Item::kHasOrigin == 0x80 && Item::kHasRightOrigin == 0x40);
    *p++ = static_cast<std::uint8_t>(static_cast<std::uint8_t>(item.ref) | origins | (item.parent_sub != 0 ? 0x20 : 0));
    if (has_origin) {
      std::size_t size = 0;
      std::memcpy(p, s_.store.client_varint(origin.client, size), 16);
      p = put_u32(p + size, origin.clock);
    }
    if (has_right_origin) {
      std::size_t size = 0;
      std::memcpy(p, s_.store.client_varint(right_origin.client, size), 16);
      p = put_u32(p + size, right_origin.clock);
    }
    if (!is_text) {
      out_.set_cursor(put_u32(p, length));
      return;
    }
    if (n == length) {
      // As many bytes as UTF-16 units: ASCII, which has no surrogates to convert.
      p = put_u32(p, static_cast<std::uint32_t>(n));
      copy_blocks(p, text.data(), n);
      out_.set_cursor(p + n);
      return;
    }
    out_.set_cursor(p);
    out_.var_string(text);
  }

  // Everything else, through the codec's Item.write.
  [[gnu::noinline]] void generic(const Item& item, std::uint64_t offset) {
    EncoderV1 enc;
    if (item.is_item()) {
      write_item(enc, view_of(s_, item), offset);
    } else {
      enc.write_info(item.is_gc() ? 0 : 10);
      enc.write_len(item.length - offset);
    }
    const Bytes bytes = enc.finish();
    out_.reserve(bytes.size());
    out_.raw(bytes.data(), bytes.size());
  }

  const DocState& s_;
  Out out_;
  std::vector<Range> ranges_;                                   // deletions collected, each client's together
  std::vector<std::pair<ClientSlot, std::size_t>> ds_clients_;  // client, its first range
};

}  // namespace

Bytes write_update_v1(const DocState& s, std::vector<std::pair<ClientSlot, std::uint64_t>>& starts,
                      const DeleteSet* ds) {
  std::sort(starts.begin(), starts.end(),
            [&](const auto& a, const auto& b) { return s.store.client(a.first) > s.store.client(b.first); });
  // About what a document's encoding takes: its text and a few bytes a struct.
  std::size_t estimate = 16;
  for (const auto& [slot, from] : starts) {
    const ClientStructs& structs = s.store.structs(slot);
    estimate += 12 * (structs.size() - structs.find(static_cast<std::uint32_t>(from)));
  }
  if (ds == nullptr) estimate += s.text.live();
  StateWriter writer(s, estimate);
  writer.structs(starts, ds == nullptr);
  if (ds == nullptr) {
    writer.collect_store_deletes(starts);
    writer.collected_deletes();
  } else {
    writer.deletes(*ds);
  }
  return writer.finish();
}

}  // namespace quire::crdt::detail
