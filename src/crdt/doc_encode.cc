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
  // Likely branches fall through: taken ones are what the struct loop is
  // short of.
  if (n < 0x80) [[likely]] {
    *p = static_cast<std::uint8_t>(n);
    return p + 1;
  }
  if (n < 0x4000) [[likely]] {
    p[0] = static_cast<std::uint8_t>(n | 0x80);
    p[1] = static_cast<std::uint8_t>(n >> 7);
    return p + 2;
  }
  if (n < 0x200000) [[likely]] {
    p[0] = static_cast<std::uint8_t>(n | 0x80);
    p[1] = static_cast<std::uint8_t>((n >> 7) | 0x80);
    p[2] = static_cast<std::uint8_t>(n >> 14);
    return p + 3;
  }
  for (; n > 0x7f; n >>= 7) *p++ = static_cast<std::uint8_t>(0x80 | (n & 0x7f));
  *p = static_cast<std::uint8_t>(n);
  return p + 1;
}

// put_u32 for the clocks of ids, which take two or three bytes unpredictably:
// those two sizes without a branch between them.
inline std::uint8_t* put_clock(std::uint8_t* p, std::uint32_t n) {
  if (n - 0x80 < 0x200000 - 0x80) [[likely]] {
    const std::uint32_t three = (0x3fffu - n) >> 31;  // n >= 0x4000, as arithmetic: no branch
    p[0] = static_cast<std::uint8_t>(n | 0x80);
    p[1] = static_cast<std::uint8_t>((n >> 7) | (three << 7));
    p[2] = static_cast<std::uint8_t>(n >> 14);
    return p + 2 + three;
  }
  return put_u32(p, n);
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
  // The end of the room.
  [[nodiscard]] const std::uint8_t* limit() const { return buf_.data() + buf_.size(); }
  static constexpr std::size_t kMinSize = 128;
  explicit Out(std::size_t estimate) : buf_(std::max(estimate, kMinSize)), p_(buf_.data()) {}

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
    if (collect_deletes) {
      // At most every other struct starts a range: ranges_ never grows.
      std::size_t bound = 0;
      for (const auto& [slot, from] : starts) bound += from == 0 ? (s_.store.structs(slot).size() + 1) / 2 : 0;
      ranges_.reserve(bound);
    }
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
        client_structs<true>(structs, i);
        if (ranges_.size() > first_range) ds_clients_.push_back({slot, first_range, ranges_.size()});
      } else {
        client_structs<false>(structs, i);
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
      Run run;
      structs.visit_runs(0, [&](const ItemRef* refs, const std::uint32_t* clocks, std::size_t n) {
        for (std::size_t k = 0; k < n; ++k) gather(run, s_.at(refs[k]).is_deleted(), clocks[k], ranges_);
      });
      close(run, structs, ranges_);
      if (ranges_.size() > first_range) ds_clients_.push_back({slot, first_range, ranges_.size()});
    }
  }

  // writeDeleteSet of the deletions collected, clients in descending id order.
  void collected_deletes() {
    std::sort(ds_clients_.begin(), ds_clients_.end(),
              [&](const auto& a, const auto& b) { return s_.store.client(a.slot) > s_.store.client(b.slot); });
    out_.reserve(10);
    out_.var_uint(ds_clients_.size());
    for (const DsClient& c : ds_clients_) {
      out_.reserve(32);
      client(c.slot);
      out_.set_cursor(put_u32(out_.cursor(), static_cast<std::uint32_t>(c.end - c.first)));
      // Room for a batch of ranges at a time (10 bytes each): enough to check
      // rarely, little enough not to outgrow the estimate.
      constexpr std::size_t kBatch = 32;
      const Range* ranges = ranges_.data();  // a local: the byte stores would reload the member
      for (std::size_t k = c.first; k < c.end;) {
        const std::size_t batch_end = std::min(c.end, k + kBatch);
        out_.reserve(10 * kBatch);
        std::uint8_t* p = out_.cursor();
        for (; k < batch_end; ++k) {
          p = put_u32(p, ranges[k].clock);
          p = put_u32(p, ranges[k].len);
        }
        out_.set_cursor(p);
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
  // A deleted range of the client its DsClient names (clocks are 32-bit).
  struct Range {
    std::uint32_t clock;
    std::uint32_t len;
  };
  struct DsClient {
    ClientSlot slot;
    std::size_t first, end;  // its ranges
  };

  // The run of deleted structs being gathered, if open: where it started.
  struct Run {
    bool open = false;
    std::uint32_t clock = 0;
  };

  // A client's structs from index `from` on, and with kCollect its runs of
  // deleted structs: put_structs writes text and deleted runs placed by
  // origins, write() what it stops at.
  template <bool kCollect>
  void client_structs(const ClientStructs& structs, std::size_t from) {
    Run run;
    structs.visit_runs(from, [&](const ItemRef* refs, const std::uint32_t* clocks, std::size_t n) {
      for (std::size_t k = 0;; ++k) {
        const Stop stop = put_structs<kCollect>(s_, refs, clocks, k, n, out_.cursor(), out_.limit(), run, ranges_);
        out_.set_cursor(stop.p);
        k = stop.k;
        if (k == n) break;
        const Item& item = s_.at(refs[k]);
        if constexpr (kCollect) gather(run, item.is_deleted(), clocks[k], ranges_);
        write(item);
      }
    });
    if constexpr (kCollect) close(run, structs, ranges_);
  }

  // createDeleteSetFromStructStore's runs of deleted structs, by where they
  // start and end: a client's structs cover its clocks without gaps, so a
  // run's length is where the next live struct starts less where it began,
  // and only the structs where deletion changes take a step.
  [[gnu::always_inline]] static void gather(Run& run, bool deleted, std::uint32_t clock, std::vector<Range>& ranges) {
    if (deleted != run.open) [[unlikely]] {
      if (deleted) {
        run.clock = clock;
      } else {
        ranges.push_back({run.clock, clock - run.clock});
      }
      run.open = deleted;
    }
  }

  // Ends the client's last run, if open, at the client's state.
  static void close(const Run& run, const ClientStructs& structs, std::vector<Range>& ranges) {
    if (run.open) ranges.push_back({run.clock, structs.state() - run.clock});
  }

  struct Stop {
    std::size_t k;
    std::uint8_t* p;
  };

  // Writes the structs refs[k..n) at p until one that is not text or a
  // deleted run placed by origins, or there is too little room before
  // `limit`; returns its index (n: all written) and the end of the bytes
  // written. Static, with the cursor and the run in locals: byte stores may
  // alias anything, so members would be loaded and stored again around each.
  template <bool kCollect>
  static Stop put_structs(const DocState& s, const ItemRef* refs, const std::uint32_t* clocks, std::size_t k,
                          std::size_t n, std::uint8_t* p, const std::uint8_t* limit, Run& gathered,
                          std::vector<Range>& ranges) {
    Run run = gathered;
    const std::uint8_t* const room_end = limit - kPlacedRoom;  // the buffer is never shorter
    // A loaded document's structs mostly follow each other in the pool: then
    // the next item of the chunk, without looking the chunk up (which put
    // three dependent loads before every struct's first field).
    ItemRef prev_ref = ~ItemRef{0};  // + 1 is 0, which no item is
    const Item* prev = nullptr;
    for (; k < n; ++k) {
      const ItemRef item_ref = refs[k];
      const Item* at = Pool<Item>::follows(prev_ref, item_ref) ? prev + 1 : &s.at(item_ref);
      prev_ref = item_ref;
      prev = at;
      const Item& item = *at;
      const std::uint8_t flags = item.flags;
      const ContentRef ref = item.ref;
      const std::uint32_t length = item.length;
      const std::uint32_t n_text = item.text_size;
      if (item.kind != Item::Kind::kItem || !placed(flags) ||
          (ref != ContentRef::kDeleted && (ref != ContentRef::kString || n_text != length)) ||
          room_end - p < static_cast<std::ptrdiff_t>(n_text)) {
        break;
      }
      if constexpr (kCollect) gather(run, (flags & Item::kDeleted) != 0, clocks[k], ranges);
      p = put_placed(s, p, item, 0, [&] { return s.text_of(item); });
    }
    gathered = run;
    return {k, p};
  }

  // Placed by origins (not by a parent id), which Item.write then writes
  // without the parent.
  static bool placed(std::uint8_t flags) {
    return (flags & (Item::kHasOrigin | Item::kHasRightOrigin)) != 0 && (flags & Item::kParentIsId) == 0;
  }

  // Room put_placed needs besides the text: the info byte, two ids, the
  // length and the text's 16-byte blocks.
  static constexpr std::size_t kPlacedRoom = 64 + 16;
  static_assert(Out::kMinSize >= kPlacedRoom);  // put_structs' room_end lies inside the buffer

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
    const bool is_placed = placed(item.flags) || (offset > 0 && !item.parent_is_id());
    if (!item.is_item() || !is_placed || (item.ref != ContentRef::kString && item.ref != ContentRef::kDeleted)) {
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
  // origins.
  void write_placed(const Item& item, std::uint32_t offset, std::string_view text) {
    const std::size_t n = text.size();
    out_.reserve(kPlacedRoom + n);
    if (item.ref == ContentRef::kString && n != item.length - offset) {
      // Not ASCII: the text goes through var_string, which converts surrogates.
      out_.set_cursor(put_placed_ids(s_, out_.cursor(), item, offset));
      out_.var_string(text);
      return;
    }
    out_.set_cursor(put_placed(s_, out_.cursor(), item, offset, [&] { return text; }));
  }

  // Item.write of a deleted run or ASCII text (text(), from `offset` on;
  // read only for text) placed by origins, at p (kPlacedRoom + the text's size
  // of room); returns the end. The length is the run's or the text's alike:
  // ASCII has as many bytes as UTF-16 units.
  template <class Text>
  [[gnu::always_inline]] static std::uint8_t* put_placed(const DocState& s, std::uint8_t* p, const Item& item,
                                                         std::uint32_t offset, Text&& text) {
    p = put_placed_ids(s, p, item, offset);
    p = put_u32(p, item.length - offset);
    if (item.ref == ContentRef::kString) {
      const std::string_view t = text();
      copy_blocks(p, t.data(), t.size());
      p += t.size();
    }
    return p;
  }

  // The info byte and origins of Item.write for an item placed by origins,
  // at p (64 bytes of room); returns the end.
  [[gnu::always_inline]] static std::uint8_t* put_placed_ids(const DocState& s, std::uint8_t* p, const Item& item,
                                                             std::uint32_t offset) {
    // The info byte's origin bits are the item's flags' (Item::kHasOrigin, kHasRightOrigin).
    static_assert(Item::kHasOrigin == 0x80 && Item::kHasRightOrigin == 0x40);
    const auto info = static_cast<std::uint8_t>(
        static_cast<std::uint8_t>(item.ref) | (item.flags & (Item::kHasOrigin | Item::kHasRightOrigin)) |
        (offset > 0 ? Item::kHasOrigin : 0) | (item.parent_sub != 0 ? 0x20 : 0));
    *p++ = info;
    if ((info & Item::kHasOrigin) != 0) [[likely]] {
      p = put_id(s, p, offset > 0 ? ItemId{item.id.client, item.id.clock + offset - 1} : item.origin);
    }
    if ((info & Item::kHasRightOrigin) != 0) [[likely]] {
      p = put_id(s, p, item.right_origin);
    }
    return p;
  }

  // An id at p (32 bytes of room); returns the end.
  [[gnu::always_inline]] static std::uint8_t* put_id(const DocState& s, std::uint8_t* p, ItemId id) {
    std::size_t size = 0;
    std::memcpy(p, s.store.client_varint(id.client, size), 16);
    return put_clock(p + size, id.clock);
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
  std::vector<Range> ranges_;  // deletions collected, each client's together
  std::vector<DsClient> ds_clients_;
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
