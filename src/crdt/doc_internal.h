// Internal: the document engine's data structures, shaped after Yjs's
// (structs/Item.js, utils/StructStore.js, utils/Transaction.js, AbstractType)
// so that every step of integration, splitting, deletion, GC and merging can
// follow Yjs exactly — which is what byte-identical encodings demand.
//
// Laid out dense, because a document holds one Item per struct and most of
// them are deleted runs: items live in a pool and name each other, their
// types and their map keys by 32-bit references; clients are numbered per
// document, so an id (client number, clock) takes 8 bytes; string content
// sits in one text arena addressed by offset; the rare rest (list and map
// values, formats, nested types) in a side pool. An Item is 56 bytes, and its
// place in its client's index 8 more.
// Thread-safety: none (see doc.h).
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "crdt/any.h"
#include "crdt/delete_set.h"
#include "crdt/doc.h"
#include "crdt/update.h"

namespace quire::crdt::detail {

// Scratch buffers grown past this many entries by a large update are freed
// after it rather than held by the document (and struct arrays with as much
// unused room after a load are trimmed).
inline constexpr std::size_t kKeptScratch = 1024;

struct Type;

using ItemRef = std::uint32_t;     // an item: its index in DocState::items; 0 is none
using TypeRef = std::uint32_t;     // a type: its index in DocState::types; 0 is none
using KeyRef = std::uint32_t;      // an interned map key (DocState::keys); 0 is none (a list item)
using ClientSlot = std::uint32_t;  // a client as this document numbers it (StructStore)

// Clocks held by a document stay below 2^32 (as in yrs): updates that would
// take a client past that are refused. No editor gets there — a client's clock
// counts the UTF-16 units it ever inserted — and it halves every id.
inline constexpr std::uint64_t kMaxClock = 0xffffffffu;

// An id inside a document: the client's slot and a clock.
struct ItemId {
  ClientSlot client = 0;
  std::uint32_t clock = 0;
  friend bool operator==(const ItemId&, const ItemId&) = default;
};

// What an item holds beyond text, in the side pool because few items have any
// of it (list and map values, format keys and values, binaries, nested types,
// sub-documents).
struct ItemExtra {
  std::string str;                   // kFormat: the key; kBinary: the bytes; kDoc: the guid
  std::vector<Any> values;           // kJson / kAny elements; kEmbed / kFormat value; kDoc options
  std::uint64_t value_identity = 0;  // kFormat: which JavaScript object the value is (see AttrRef)
  std::unique_ptr<Type> type;        // kType
};

// A GC, a Skip (only among the refs of an update being applied) or an Item.
struct Item {
  enum class Kind : std::uint8_t { kItem, kGc, kSkip };

  ItemRef left = 0;
  ItemRef right = 0;
  ItemId id;
  std::uint32_t length = 0;
  // Only while parent_is_id (an item with neither origin): the parent's id.
  ItemId origin;
  ItemId right_origin;
  TypeRef parent = 0;
  KeyRef parent_sub = 0;
  // kString: where the text starts in the TextArena; other content: its
  // ItemExtra in DocState::extras (0: none).
  std::uint32_t content = 0;
  std::uint32_t text_size = 0;  // kString: bytes of text (WTF-8)
  Kind kind = Kind::kItem;
  ContentRef ref = ContentRef::kNone;
  // Flags, one bit each in one byte, so that a test of several (or the v1
  // info byte's origin bits: has_origin is 0x80, has_right_origin 0x40, as
  // there) is one operation.
  static constexpr std::uint8_t kDeleted = 0x01;
  static constexpr std::uint8_t kKeep = 0x02;
  static constexpr std::uint8_t kCountable = 0x04;
  static constexpr std::uint8_t kParentIsId = 0x08;  // an unresolved parent id (refs only), in `origin`
  static constexpr std::uint8_t kHasRightOrigin = 0x40;
  static constexpr std::uint8_t kHasOrigin = 0x80;
  std::uint8_t flags = 0;

  [[nodiscard]] bool deleted() const { return (flags & kDeleted) != 0; }
  [[nodiscard]] bool keep() const { return (flags & kKeep) != 0; }
  [[nodiscard]] bool countable() const { return (flags & kCountable) != 0; }
  [[nodiscard]] bool has_origin() const { return (flags & kHasOrigin) != 0; }
  [[nodiscard]] bool has_right_origin() const { return (flags & kHasRightOrigin) != 0; }
  [[nodiscard]] bool parent_is_id() const { return (flags & kParentIsId) != 0; }
  void set_flag(std::uint8_t flag, bool on) { flags = static_cast<std::uint8_t>(on ? flags | flag : flags & ~flag); }
  void set_deleted(bool on) { set_flag(kDeleted, on); }
  void set_keep(bool on) { set_flag(kKeep, on); }
  void set_countable(bool on) { set_flag(kCountable, on); }
  void set_has_origin(bool on) { set_flag(kHasOrigin, on); }
  void set_has_right_origin(bool on) { set_flag(kHasRightOrigin, on); }
  void set_parent_is_id(bool on) { set_flag(kParentIsId, on); }

  [[nodiscard]] bool is_gc() const { return kind == Kind::kGc; }
  [[nodiscard]] bool is_item() const { return kind == Kind::kItem; }
  [[nodiscard]] bool is_deleted() const { return kind == Kind::kGc || deleted(); }  // GC.deleted is true
  [[nodiscard]] std::uint64_t end() const { return std::uint64_t{id.clock} + length; }
  [[nodiscard]] ItemId last_id() const { return {id.client, id.clock + length - 1}; }
  [[nodiscard]] ItemId parent_id() const { return origin; }
};

// Every struct of a document is one of these: keep an eye on the size.
static_assert(sizeof(Item) == 56, "Item grew");

// Objects in chunks that never move, named by 32-bit indices (0 is never handed
// out). Released objects are reset and handed out again.
template <class T>
class Pool {
 public:
  static constexpr unsigned kChunkBits = 6;
  static constexpr std::uint32_t kChunk = 1u << kChunkBits;

  T& operator[](std::uint32_t i) { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }
  const T& operator[](std::uint32_t i) const { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }

  [[gnu::always_inline]] std::uint32_t allocate() {
    if (free_.empty() && next_ != 0 && next_ < chunks_.size() * kChunk) return next_++;
    return allocate_slow();
  }
  void release(std::uint32_t i) {
    (*this)[i] = T{};
    free_.push_back(i);
  }
  // Whether object i lies right after object `prev` in memory (the next index,
  // in the same chunk): then &(*this)[i] == &(*this)[prev] + 1, and a walk
  // over objects allocated one after another need not look their chunks up.
  [[nodiscard]] static bool follows(std::uint32_t prev, std::uint32_t i) {
    return i == prev + 1 && (i & (kChunk - 1)) != 0;
  }
  // Indices handed out so far, released ones included.
  [[nodiscard]] std::size_t size() const { return next_ == 0 ? 0 : next_ - 1; }
  // Calls f(index, object) on every object ever handed out (released ones too).
  template <class F>
  void for_each(F&& f) {
    for (std::uint32_t i = 1; i < next_; ++i) f(i, (*this)[i]);
  }

 private:
  [[gnu::noinline]] std::uint32_t allocate_slow() {
    if (!free_.empty()) {
      const std::uint32_t i = free_.back();
      free_.pop_back();
      return i;
    }
    if (next_ == chunks_.size() * kChunk) {
      chunks_.push_back(std::make_unique<T[]>(kChunk));
      if (next_ == 0) next_ = 1;
    }
    return next_++;
  }

  std::vector<std::unique_ptr<T[]>> chunks_;
  std::vector<std::uint32_t> free_;
  std::uint32_t next_ = 0;
};

// AbstractType: a list (start → right …) and a map (key → right-most item of the
// key's chain), either of which may be empty.
struct Type {
  static constexpr std::uint8_t kRoot = 255;

  TypeRef self = 0;               // this type's own reference
  ItemRef item = 0;               // the item holding this type; 0 for roots
  std::uint8_t type_ref = kRoot;  // 0 Array … 6 XmlText for nested types
  bool has_formatting = false;    // a ContentFormat item was ever integrated here
  bool declared_text = false;     // a root the application uses as Text (Yjs's doc.getText)
  std::string name;               // root name, or XmlElement / XmlHook name
  ItemRef start = 0;
  std::uint64_t length = 0;  // countable, non-deleted list units
  // Where recent local edits left off (Yjs's search markers): the unit `id`
  // sits at list index `index`. Local text edits keep them up to date; any
  // other change in the type clears them. They let an edit start its walk
  // near where it lands instead of at the start.
  struct Marker {
    ItemRef item;  // the item holding `id` when the marker was set (checked before use)
    ItemId id;
    std::uint64_t index;
    std::uint64_t used;  // when it was last set or used, for replacing the oldest
  };
  std::vector<Marker> markers;
  std::vector<std::pair<KeyRef, ItemRef>> map;  // insertion order, as a JS Map
  std::unordered_map<KeyRef, std::size_t> map_index;

  [[nodiscard]] ItemRef map_get(KeyRef key) const {
    const auto it = map_index.find(key);
    return it == map_index.end() ? 0 : map[it->second].second;
  }
  void map_set(KeyRef key, ItemRef tail) {
    if (const auto it = map_index.find(key); it != map_index.end()) {
      map[it->second].second = tail;
      return;
    }
    map_index.emplace(key, map.size());
    map.emplace_back(key, tail);
  }
  void map_clear() {
    map.clear();
    map_index.clear();
  }
  // YText (and YXmlText, which extends it): the types whose observers ask for a
  // formatting cleanup after remote changes. Root types are plain AbstractTypes
  // until declared as Text (Doc::declare, or editing them as text).
  [[nodiscard]] bool is_text_class() const { return item != 0 ? (type_ref == 2 || type_ref == 6) : declared_text; }
};

// One client's structs, sorted by clock and gap-free, with their start clocks
// kept beside them so lookups bisect a flat array instead of chasing items.
//
// Both arrays are gap buffers: a hole of unused slots sits where the last insert
// or erase happened, so a split that adds a struct mid-array or a merge that
// removes some only moves the slots between the previous edit and this one
// (Yjs's splice moves the whole tail every time). The edits of a transaction
// mostly walk a client's structs in clock order — delete sets are sorted, the
// cleanup merges right to left — so the hole travels little. Indices are
// logical: the hole is invisible to callers. Appending writes after the last
// struct, into the hole if that is where it is, without moving it.
class ClientStructs {
 public:
  [[nodiscard]] std::size_t size() const { return items_.size() - gap_len_; }
  [[nodiscard]] bool empty() const { return size() == 0; }
  [[nodiscard]] ItemRef operator[](std::size_t i) const { return items_[physical(i)]; }
  [[nodiscard]] ItemRef back() const { return items_[last()]; }
  // The clock after the last struct (Yjs's getState).
  [[nodiscard]] std::uint32_t state() const { return state_; }

  // findIndexSS: the index of the struct containing `clock` (which must be
  // below the client's state).
  [[nodiscard]] std::size_t find(std::uint32_t clock) const;
  // find(), searching outward from index `hint`: cheaper when the struct is near
  // it, as when a delete set's sorted ranges are visited one after another.
  [[nodiscard]] std::size_t find_near(std::uint32_t clock, std::size_t hint) const;
  [[nodiscard]] std::uint32_t clock_at(std::size_t i) const { return clocks_[physical(i)]; }

  // Appends the struct [clock, end).
  void push_back(ItemRef item, std::uint32_t clock, std::uint64_t end) {
    state_ = static_cast<std::uint32_t>(end);
    if (gap_len_ != 0 && gap_ + gap_len_ == items_.size()) {  // the hole is at the end
      items_[gap_] = item;
      clocks_[gap_] = clock;
      ++gap_;
      --gap_len_;
      return;
    }
    items_.push_back(item);
    clocks_.push_back(clock);
  }
  // A struct starting at `clock` before index `pos` (splits only: the right
  // half of a split, which is the last struct when the last one was split).
  // The client's state does not change.
  void insert(std::size_t pos, ItemRef item, std::uint32_t clock);
  void erase(std::size_t first, std::size_t last);
  void reserve(std::size_t n) {
    items_.reserve(n);
    clocks_.reserve(n);
  }
  // Calls f(refs, clocks, n) for the structs from index `from` on, in order,
  // as (up to) two runs of n structs: before and after the hole.
  template <class F>
  void visit_runs(std::size_t from, F&& f) const {
    if (from < gap_) f(items_.data() + from, clocks_.data() + from, gap_ - from);
    const std::size_t p = std::max(from, gap_) + gap_len_;
    if (p < items_.size()) f(items_.data() + p, clocks_.data() + p, items_.size() - p);
  }
  // Slots allocated beyond the structs.
  [[nodiscard]] std::size_t spare() const { return items_.capacity() - size(); }
  void shrink_to_fit() {
    const std::size_t n = size();
    move_gap(n);  // the hole to the end, where it is dropped
    items_.resize(n);
    clocks_.resize(n);
    gap_len_ = 0;
    items_.shrink_to_fit();
    clocks_.shrink_to_fit();
  }

 private:
  [[nodiscard]] std::size_t physical(std::size_t i) const { return i < gap_ ? i : i + gap_len_; }
  [[nodiscard]] std::size_t last() const { return physical(size() - 1); }
  void move_gap(std::size_t pos);

  std::vector<ItemRef> items_;
  std::vector<std::uint32_t> clocks_;
  static constexpr std::size_t kShortTail = 32;

  std::size_t gap_ = 0;             // logical index where the hole starts
  std::size_t gap_len_ = 0;         // slots in the hole
  mutable std::size_t finger_ = 0;  // where find() last landed (a hint: checked before use)
  std::uint32_t state_ = 0;
};

// The number of clocks in [first, first + n) that are <= clock, for sorted
// clocks: a bisection without data-dependent branches, whose mispredictions
// cost more than the loads on arrays of thousands of clocks.
inline std::size_t count_not_above(const std::uint32_t* first, std::size_t n, std::uint32_t clock) {
  const std::uint32_t* base = first;
  while (n > 1) {
    const std::size_t half = n / 2;
    base = base[half] <= clock ? base + half : base;
    n -= half;
  }
  return static_cast<std::size_t>(base - first) + (n == 1 && *base <= clock ? 1 : 0);
}

inline std::size_t ClientStructs::find(std::uint32_t clock) const {
  // Most lookups are for the newest struct (an item's origin is usually the last
  // thing its author typed), or for the struct the previous lookup found or the
  // one after it (items typed in a run share their right origin, deletions walk
  // forward); otherwise bisect the start clocks on the hole's side that holds
  // `clock`.
  const std::size_t n = size();
  if (clocks_[last()] <= clock) return n - 1;
  const std::size_t f = finger_;
  if (f + 1 < n && clock_at(f) <= clock) {
    if (clock < clock_at(f + 1)) return f;
    if (f + 2 < n && clock < clock_at(f + 2)) return finger_ = f + 1;
  }
  const std::size_t after_gap = gap_ + gap_len_;
  if (gap_len_ != 0 && after_gap < clocks_.size() && clocks_[after_gap] <= clock) {
    return finger_ = gap_ + count_not_above(clocks_.data() + after_gap, clocks_.size() - after_gap, clock) - 1;
  }
  return finger_ = count_not_above(clocks_.data(), gap_len_ != 0 ? gap_ : n, clock) - 1;
}

inline std::size_t ClientStructs::find_near(std::uint32_t clock, std::size_t hint) const {
  const std::size_t n = size();
  if (hint >= n) hint = n - 1;
  // Gallop away from the hint until the struct is bracketed by [low, high),
  // clock_at(low) <= clock < clock_at(high) (high = n: past the end), then bisect.
  std::size_t low;
  std::size_t high;
  if (clock_at(hint) <= clock) {
    low = hint;
    for (std::size_t step = 1;; step *= 2) {
      high = low + step;
      if (high >= n) {
        high = n;
        break;
      }
      if (clock_at(high) > clock) break;
      low = high;
    }
  } else {
    high = hint;
    for (std::size_t step = 1;; step *= 2) {
      if (step >= high) {
        low = 0;  // the first struct starts at or below every clock asked for
        break;
      }
      low = high - step;
      if (clock_at(low) <= clock) break;
      high = low;
    }
  }
  while (high - low > 1) {
    const std::size_t mid = low + (high - low) / 2;
    if (clock_at(mid) <= clock) {
      low = mid;
    } else {
      high = mid;
    }
  }
  return low;
}

inline void ClientStructs::move_gap(std::size_t pos) {
  if (gap_len_ == 0) {
    gap_ = pos;
    return;
  }
  const auto items = items_.begin();
  const auto clocks = clocks_.begin();
  const auto d = [](std::size_t i) { return static_cast<std::ptrdiff_t>(i); };
  if (pos < gap_) {
    std::move_backward(items + d(pos), items + d(gap_), items + d(gap_ + gap_len_));
    std::move_backward(clocks + d(pos), clocks + d(gap_), clocks + d(gap_ + gap_len_));
  } else if (pos > gap_) {
    std::move(items + d(gap_ + gap_len_), items + d(pos + gap_len_), items + d(gap_));
    std::move(clocks + d(gap_ + gap_len_), clocks + d(pos + gap_len_), clocks + d(gap_));
  }
  gap_ = pos;
}

// Edits past the hole but within a few structs of the end shift that short
// tail instead: typing appends structs and merges them away at the end, which
// must not drag the hole there from the last split in the middle.
inline void ClientStructs::insert(std::size_t pos, ItemRef item, std::uint32_t clock) {
  assert(pos <= size());
  const auto at = [](auto& v, std::size_t i) { return v.begin() + static_cast<std::ptrdiff_t>(i); };
  if (gap_len_ != 0 && pos > gap_ && size() - pos <= kShortTail && size() - pos < pos - gap_) {
    items_.insert(at(items_, physical(pos)), item);
    clocks_.insert(at(clocks_, physical(pos)), clock);
    return;
  }
  move_gap(pos);
  if (gap_len_ == 0) {
    // A new hole an eighth of the array long: one tail move per that many inserts.
    const std::size_t len = size() / 8 + 8;
    items_.insert(at(items_, pos), len, 0);
    clocks_.insert(at(clocks_, pos), len, 0);
    gap_len_ = len;
  }
  items_[gap_] = item;
  clocks_[gap_] = clock;
  ++gap_;
  --gap_len_;
}

inline void ClientStructs::erase(std::size_t first, std::size_t last) {
  if (gap_len_ != 0 && first > gap_ && size() - last <= kShortTail && size() - last < first - gap_) {
    const auto at = [](auto& v, std::size_t i) { return v.begin() + static_cast<std::ptrdiff_t>(i); };
    items_.erase(at(items_, physical(first)), at(items_, physical(last - 1) + 1));
    clocks_.erase(at(clocks_, physical(first)), at(clocks_, physical(last - 1) + 1));
    return;
  }
  move_gap(first);
  gap_len_ += last - first;
}

// The clients of a document, numbered in the order the document first met
// them (a struct, or only an id an update mentions), each with its structs
// sorted by clock and gap-free from clock 0. Client ids are looked up through
// a small open-addressing table; everything inside the engine then goes by
// slot.
class StructStore {
 public:
  static constexpr ClientSlot kNoSlot = 0xffffffffu;

  // The slot of `client`, numbering it if new.
  ClientSlot slot(std::uint64_t client) {
    if (const ClientSlot s = find(client); s != kNoSlot) return s;
    const auto s = static_cast<ClientSlot>(clients_.size());
    clients_.push_back(std::make_unique<Client>(client));
    varints_.emplace_back(client);
    if (2 * clients_.size() > table_.size()) {
      table_.assign(std::bit_ceil(std::max<std::size_t>(16, 4 * clients_.size())), kNoSlot);
      shift_ = 64 - static_cast<int>(std::countr_zero(table_.size()));
      for (ClientSlot i = 0; i < clients_.size(); ++i) place(i);
    } else {
      place(s);
    }
    return s;
  }
  // kNoSlot for a client the document never met.
  [[nodiscard]] ClientSlot find(std::uint64_t client) const {
    if (table_.empty()) return kNoSlot;
    for (std::size_t i = hash(client);; i = (i + 1) & (table_.size() - 1)) {
      const ClientSlot s = table_[i];
      if (s == kNoSlot || clients_[s]->id == client) return s;
    }
  }
  [[nodiscard]] std::size_t slots() const { return clients_.size(); }
  [[nodiscard]] std::uint64_t client(ClientSlot s) const { return clients_[s]->id; }
  // The client id as a varUint, ready to be written: 16 bytes, of which the
  // first `size` count.
  [[nodiscard]] const std::uint8_t* client_varint(ClientSlot s, std::size_t& size) const {
    size = varints_[s].size;
    return varints_[s].bytes;
  }
  ClientStructs& structs(ClientSlot s) { return clients_[s]->structs; }
  [[nodiscard]] const ClientStructs& structs(ClientSlot s) const { return clients_[s]->structs; }
  [[nodiscard]] std::uint32_t state(ClientSlot s) const { return clients_[s]->structs.state(); }
  // getState by client id: 0 for unknown clients.
  [[nodiscard]] std::uint64_t state_of(std::uint64_t client) const {
    const ClientSlot s = find(client);
    return s == kNoSlot ? 0 : state(s);
  }

 private:
  struct Client {
    explicit Client(std::uint64_t client) : id(client) {}
    std::uint64_t id;
    ClientStructs structs;
  };
  struct Varint {
    explicit Varint(std::uint64_t n) {
      for (;; n >>= 7) {
        bytes[size++] = static_cast<std::uint8_t>((n > 0x7f ? 0x80 : 0) | (n & 0x7f));
        if (n <= 0x7f) break;
      }
    }
    std::uint8_t bytes[16] = {};  // padded: writers copy all 16 bytes and keep `size`
    std::uint8_t size = 0;
  };
  [[nodiscard]] std::size_t hash(std::uint64_t client) const {
    return static_cast<std::size_t>((client * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing
  }
  void place(ClientSlot s) {
    std::size_t i = hash(clients_[s]->id);
    while (table_[i] != kNoSlot) i = (i + 1) & (table_.size() - 1);
    table_[i] = s;
  }
  // Each its own allocation: the engine holds ClientStructs& across lookups.
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<Varint> varints_;    // by slot
  std::vector<ClientSlot> table_;  // a power of two long, at most half full
  int shift_ = 64;
};

// An insertion-ordered map (a JS Map) for the few-entry maps of every
// transaction and update: entries in a vector, searched linearly until there
// are more than kLinear of them, then through a hash index.
template <class K, class V>
class SmallMap {
 public:
  static constexpr std::size_t kLinear = 8;

  [[nodiscard]] V* find(const K& key) {
    const std::size_t i = position(key);
    return i == npos ? nullptr : &entries_[i].second;
  }
  [[nodiscard]] const V* find(const K& key) const {
    const std::size_t i = position(key);
    return i == npos ? nullptr : &entries_[i].second;
  }
  [[nodiscard]] bool contains(const K& key) const { return position(key) != npos; }
  V& operator[](const K& key) {
    const std::size_t i = position(key);
    if (i != npos) return entries_[i].second;
    entries_.emplace_back(key, V{});
    if (index_) {
      index_->emplace(key, entries_.size() - 1);
    } else if (entries_.size() > kLinear) {
      rebuild_index();
    }
    return entries_.back().second;
  }
  bool erase(const K& key) {
    const std::size_t i = position(key);
    if (i == npos) return false;
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
    if (index_) rebuild_index();
    return true;
  }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  [[nodiscard]] bool empty() const { return entries_.empty(); }
  void clear() {  // keeps the entries' capacity
    entries_.clear();
    index_.reset();
  }
  [[nodiscard]] const std::vector<std::pair<K, V>>& entries() const { return entries_; }
  std::vector<std::pair<K, V>>& entries() { return entries_; }

 private:
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  [[nodiscard, gnu::always_inline]] std::size_t position(const K& key) const {
    // Lookups come in runs of one key (the structs of one client).
    if (last_ < entries_.size() && entries_[last_].first == key) return last_;
    return search(key);
  }
  [[nodiscard, gnu::noinline]] std::size_t search(const K& key) const {
    if (index_) {
      const auto it = index_->find(key);
      if (it == index_->end()) return npos;
      return last_ = it->second;
    }
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].first == key) return last_ = i;
    }
    return npos;
  }
  void rebuild_index() {
    index_ = std::make_unique<std::unordered_map<K, std::size_t>>();
    for (std::size_t i = 0; i < entries_.size(); ++i) index_->emplace(entries_[i].first, i);
  }
  std::vector<std::pair<K, V>> entries_;
  std::unique_ptr<std::unordered_map<K, std::size_t>> index_;
  mutable std::size_t last_ = npos;  // the entry found last (checked before use)
};

// client → clock (Yjs's state vectors are JS Maps); 0 for unknown clients.
struct OrderedState {
  SmallMap<std::uint64_t, std::uint64_t> map;

  [[nodiscard]] std::uint64_t get(std::uint64_t client) const {
    const std::uint64_t* c = map.find(client);
    return c == nullptr ? 0 : *c;
  }
  [[nodiscard]] bool has(std::uint64_t client) const { return map.contains(client); }
  void set(std::uint64_t client, std::uint64_t clock) { map[client] = clock; }
  [[nodiscard]] const std::vector<std::pair<std::uint64_t, std::uint64_t>>& entries() const { return map.entries(); }
};

// A formatting value as a JavaScript program holds it: the value, and which
// object it is. Yjs compares format values with `===`, and a local edit that
// copies one format item's value into a new one shares the object, so two
// equal-looking object values may or may not be "the same".
struct AttrRef {
  const Any* value = nullptr;
  std::uint64_t identity = 0;  // 0: a primitive (identity never matters)
};

// `===` between two format values; `nullptr` stands for a missing entry read as
// `?? null`.
inline bool same_value(const AttrRef* a, const AttrRef* b) {
  const auto is_null = [](const AttrRef* r) { return r == nullptr || r->value->kind == Any::Kind::kNull; };
  if (is_null(a) || is_null(b)) return is_null(a) && is_null(b);
  const Any& x = *a->value;
  const Any& y = *b->value;
  if (x.kind != y.kind) return false;
  switch (x.kind) {
    case Any::Kind::kObject:
    case Any::Kind::kArray:
    case Any::Kind::kBytes:
      return a->identity == b->identity;
    case Any::Kind::kNumber:
      return x.number == y.number;
    default:
      return x == y;
  }
}

// A JavaScript Map of current formats: key → value.
using Attributes = std::vector<std::pair<std::string, AttrRef>>;

inline const AttrRef* attr_get(const Attributes& a, const std::string& key) {
  for (const auto& [k, v] : a) {
    if (k == key) return &v;
  }
  return nullptr;
}
inline void attr_set(Attributes& a, const std::string& key, AttrRef value) {
  for (auto& [k, v] : a) {
    if (k == key) {
      v = value;
      return;
    }
  }
  a.emplace_back(key, value);
}
inline void attr_delete(Attributes& a, const std::string& key) {
  std::erase_if(a, [&](const auto& e) { return e.first == key; });
}
// A format item's value and key (its ItemExtra).
inline AttrRef format_value(const ItemExtra& format) {
  return {&format.values[0], format.value_identity};
}
// updateCurrentAttributes
inline void update_attributes(Attributes& a, const ItemExtra& format) {
  if (format.values[0].kind == Any::Kind::kNull) {
    attr_delete(a, format.str);
  } else {
    attr_set(a, format.str, format_value(format));
  }
}

struct Transaction {
  // The state vector the transaction began with, kept lazily: the clients it
  // added structs to, with their clock before. Every other client's clock is
  // still the store's. (Yjs copies the whole state vector per transaction;
  // with hundreds of clients that copy dominated applying small updates.)
  SmallMap<ClientSlot, std::uint32_t> grown;
  const StructStore* store = nullptr;
  [[nodiscard]] std::uint32_t before(ClientSlot client) const {
    const std::uint32_t* c = grown.find(client);
    return c != nullptr ? *c : store->state(client);
  }

  DeleteSet delete_set;  // by client slot (converted to ids when written)
  std::vector<ItemRef> merge_structs;
  SmallMap<Type*, bool> changed;  // types to notify, in first-change order
  // The type add_changed_type saw last: seeing it again changes nothing (the
  // clock before and a deletion do not go back within a transaction).
  const Type* last_changed = nullptr;
  bool local = true;
  bool need_formatting_cleanup = false;
  bool deleted_type = false;  // an item holding a type was deleted (its collection reaches its content)
};

// A set of items, searched linearly while small (YATA's conflict scans are
// almost always a handful of items) and through an open-addressing table
// beyond that. The scans of a document with many concurrent clients insert
// thousands and clear the set again and again: the table is flat (no node per
// item) and kept, cleared in time proportional to what was inserted.
class ItemSet {
 public:
  void clear() {
    if (hashed_) {
      std::fill(table_.begin(), table_.end(), 0);
      hashed_ = false;
    }
    items_.clear();
  }
  void insert(ItemRef item) {  // item != 0
    items_.push_back(item);
    if (hashed_) {
      if (2 * items_.size() > table_.size()) {
        rehash(2 * table_.size());
      } else {
        place(item);
      }
    } else if (items_.size() > kLinear) {
      rehash(4 * kLinear);  // small again: clearing costs what the table holds
    }
  }
  [[nodiscard]] bool contains(ItemRef item) const {
    if (!hashed_) return std::find(items_.begin(), items_.end(), item) != items_.end();
    const std::size_t mask = table_.size() - 1;
    for (std::size_t i = hash(item) & mask;; i = (i + 1) & mask) {
      if (table_[i] == item) return true;
      if (table_[i] == 0) return false;
    }
  }

 private:
  static constexpr std::size_t kLinear = 32;
  static std::size_t hash(ItemRef item) { return (std::size_t{item} * 0x9E3779B97F4A7C15ull) >> 32; }
  // A table of `size` slots (a power of two) holding items_; at most half full.
  void rehash(std::size_t size) {
    table_.assign(size, 0);
    hashed_ = true;
    for (ItemRef item : items_) place(item);
  }
  void place(ItemRef item) {
    const std::size_t mask = table_.size() - 1;
    std::size_t i = hash(item) & mask;
    while (table_[i] != 0 && table_[i] != item) i = (i + 1) & mask;
    table_[i] = item;
  }
  std::vector<ItemRef> items_;
  std::vector<ItemRef> table_;
  bool hashed_ = false;
};

struct PendingStructs {
  OrderedState missing;  // by client id: retry once state(client) > clock
  Bytes update;          // v2
};

// The text of a document's string items, in one buffer addressed by offset: an
// item names its bytes, a split only cuts the view in two (Yjs's splice copies
// both halves), and merging items whose bytes are adjacent — the halves of a
// split, text typed in one run — only widens the left one's view. Bytes an item
// lets go of stay until compact() copies the live ones into a new buffer, which
// the document asks for once the garbage outweighs them. The buffer grows
// geometrically (a large update's texts are reserved at once), so views from
// view() are valid only until the next store.
class TextArena {
 public:
  // Offsets and sizes are 32-bit: live text and garbage together stay below 4 GiB.
  static constexpr std::size_t kMaxBytes = 0xffffffffu;
  // Reading up to this many bytes past the end of any item's text stays
  // inside the arena's allocation (the bytes are arbitrary).
  static constexpr std::size_t kReadAhead = 16;

  [[nodiscard]] std::string_view view(const Item& item) const { return {data_.get() + item.content, item.text_size}; }
  // Bytes some item points at.
  [[nodiscard]] std::size_t live() const { return size_ - garbage_; }
  // Whether `n` more bytes fit in the arena.
  [[nodiscard]] bool fits(std::size_t n) const { return n <= kMaxBytes - size_; }
  // Points `item` at a copy of `bytes` (which may lie in the arena), releasing
  // its old text. The caller checked fits().
  void assign(Item& item, std::string_view bytes) {
    release(item);
    item.content = store(bytes);
    item.text_size = static_cast<std::uint32_t>(bytes.size());
  }
  void release(Item& item) {
    garbage_ += item.text_size;
    item.content = 0;
    item.text_size = 0;
  }
  // Makes room for the next `n` bytes stored without growing again (an
  // update's texts are stored together: one allocation, no room left over).
  void make_room(std::size_t n);
  // ContentString.splice: `left` keeps the first `units` UTF-16 units, `right`
  // gets the rest.
  void split(Item& left, Item& right, std::uint64_t units);
  // ContentString.mergeWith: appends right's text to left's; false (no merge)
  // only if the result would not fit the arena.
  bool merge(Item& left, Item& right);

  // Compacting visits every item of the document, so it waits until the garbage
  // outweighs both the live text and a few bytes per item.
  [[nodiscard]] bool wants_compaction(std::size_t items) const {
    return garbage_ > kSlack && garbage_ > size_ - garbage_ && garbage_ > 8 * items;
  }
  // Moves every item's text (each must own distinct bytes) into a new buffer,
  // in offset order, so bytes that were adjacent stay adjacent.
  void compact(std::vector<Item*>& items);

 private:
  static constexpr std::size_t kFirstCapacity = 256;
  static constexpr std::size_t kPadding = kReadAhead;  // allocated past the capacity

  static std::unique_ptr<char[]> allocate(std::size_t capacity);
  static constexpr std::size_t kSlack = 64 * 1024;  // garbage tolerated before compacting

  std::uint32_t store(std::string_view bytes);
  void grow(std::size_t n);  // room for n more bytes

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;  // bytes handed out since the last compaction
  std::size_t capacity_ = 0;
  std::size_t garbage_ = 0;  // of those, bytes no item points at
};

// Objects reused from call to call, so that steady-state work allocates
// nothing; lease() hands out a cleared one and takes it back when the lease
// ends. Nested calls (an update retried from inside another) get their own.
template <class T>
class Spares {
 public:
  class Lease {
   public:
    Lease(Spares& owner, std::unique_ptr<T> object) : owner_(owner), object_(std::move(object)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { owner_.spares_.push_back(std::move(object_)); }
    T& operator*() const { return *object_; }
    T* operator->() const { return object_.get(); }

   private:
    Spares& owner_;
    std::unique_ptr<T> object_;
  };

  Lease lease() {
    if (spares_.empty()) return Lease(*this, std::make_unique<T>());
    std::unique_ptr<T> object = std::move(spares_.back());
    spares_.pop_back();
    object->clear();
    return Lease(*this, std::move(object));
  }

 private:
  std::vector<std::unique_ptr<T>> spares_;
};

// One client's structs among an update's refs: items[i, end) of ApplyScratch.
struct ClientRefs {
  std::size_t i = 0;
  std::size_t end = 0;
  bool removed = false;  // moved to the pending structs (deleted from Yjs's map)
};

// What applying one update needs besides the document: its structs as
// unintegrated items and its delete set (readUpdateV2), and integrateStructs'
// stacks.
struct ApplyScratch {
  SmallMap<ClientSlot, ClientRefs> refs;  // client → its refs
  std::vector<ItemRef> items;             // every ref, each client's together
  DeleteSet delete_set;                   // by client id
  // While reading: the bytes of the string refs' texts (which the refs point
  // at, still in the update), and refs whose parent is a root given by name
  // (copied and created once the whole update is read).
  std::size_t text_bytes = 0;
  std::vector<std::pair<ItemRef, std::string_view>> roots;
  std::vector<ItemRef> stack;
  std::vector<ClientSlot> ids;
  // An item read_refs_v1 reads through the codec (kept: a Block on the stack
  // was zeroed for every small update).
  Block block;

  void clear() {
    refs.clear();
    items.clear();
    delete_set.clear();
    text_bytes = 0;
    roots.clear();
    stack.clear();
    ids.clear();
  }
  void release_if_large() {
    if (items.capacity() > kKeptScratch || stack.capacity() > kKeptScratch) *this = ApplyScratch();
  }
};

struct DocState {
  std::uint64_t client_id = 0;
  bool gc = true;
  Limits limits;
  StructStore store;
  std::vector<std::pair<std::string, std::unique_ptr<Type>>> share;  // root order
  std::unordered_map<std::string, Type*> share_index;
  // TypeRef → type: roots and live nested types (a garbage-collected one's
  // entry is cleared; references are never reused).
  std::vector<Type*> types{nullptr};
  // Interned map keys: KeyRef → key, and back.
  std::vector<const std::string*> key_names{nullptr};
  std::unordered_map<std::string, KeyRef> key_index;
  std::optional<PendingStructs> pending_structs;
  std::optional<Bytes> pending_ds;  // a v2 update holding only a delete set

  std::function<void(ByteView)> on_update;  // Yjs's doc.on('update')
  // A local edit's caller wants the first update its transaction emits: it
  // lands here (set only while the edit runs).
  std::optional<Bytes>* capture = nullptr;
  // The type a local text edit is changing: it keeps that type's markers up
  // to date itself, so integrating and deleting there leave them.
  Type* editing = nullptr;
  // The clients a transaction's update starts from (reused: one update per edit).
  std::vector<std::pair<ClientSlot, std::uint64_t>> update_starts;
  std::uint64_t marker_clock = 0;   // orders markers by use
  std::uint64_t next_identity = 1;  // for AttrRef identities

  Transaction* txn = nullptr;
  std::vector<std::unique_ptr<Transaction>> cleanups;
  std::vector<std::unique_ptr<Transaction>> spare_transactions;  // reused: their buffers keep capacity

  // Scratch buffers of the engine, kept across calls so that steady-state work
  // allocates nothing.
  ItemSet conflicting;
  ItemSet before_origin;
  std::vector<ItemRef> dead;     // merged away during a cleanup
  std::vector<ItemRef> discard;  // refs never integrated
  Spares<ApplyScratch> apply_scratch;

  Pool<Item> items;  // every Item lives here; addresses are stable
  Pool<ItemExtra> extras;
  TextArena text;

  Item& at(ItemRef r) { return items[r]; }
  [[nodiscard]] const Item& at(ItemRef r) const { return items[r]; }
  Type& type(TypeRef t) { return *types[t]; }
  [[nodiscard]] const Type& type(TypeRef t) const { return *types[t]; }

  ItemRef new_item() { return items.allocate(); }
  void free_item(ItemRef r);
  // Drops an item's content (text, or its ItemExtra and any type in it).
  void release_content(Item& item);
  // The item's ItemExtra (not for kString items), created if it has none.
  ItemExtra& extra(Item& item) {
    assert(item.ref != ContentRef::kString);
    if (item.content == 0) item.content = extras.allocate();
    return extras[item.content];
  }
  [[nodiscard]] const ItemExtra* extra_of(const Item& item) const {
    return item.ref != ContentRef::kString && item.content != 0 ? &extras[item.content] : nullptr;
  }
  [[nodiscard]] std::string_view text_of(const Item& item) const { return text.view(item); }
  // A kType item's type.
  [[nodiscard]] Type* type_of(const Item& item) const {
    const ItemExtra* e = extra_of(item);
    return e != nullptr ? e->type.get() : nullptr;
  }
  [[nodiscard]] std::span<const Any> values(const Item& item) const {
    const ItemExtra* e = extra_of(item);
    return e != nullptr ? std::span<const Any>(e->values) : std::span<const Any>();
  }
  // A kFormat item's key (kBinary: its bytes; kDoc: its guid).
  [[nodiscard]] const std::string& key(const Item& item) const { return extras[item.content].str; }
  [[nodiscard]] const ItemExtra& format(const Item& item) const { return extras[item.content]; }
  // Registers a new nested type held by `holder` (its extra takes ownership).
  Type& add_type(Item& holder, std::uint8_t type_ref, std::string name);

  KeyRef intern(std::string_view key);
  [[nodiscard]] const std::string& key_name(KeyRef k) const { return *key_names[k]; }
  Type* get_root(std::string_view name);
  Type* last_root = nullptr;  // get_root's last answer: edits name the same root again and again
  void compact_text();
};

}  // namespace quire::crdt::detail
