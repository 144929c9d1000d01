// Internal: the document engine's data structures, shaped after Yjs's
// (structs/Item.js, utils/StructStore.js, utils/Transaction.js, AbstractType)
// so that every step of integration, splitting, deletion, GC and merging can
// follow Yjs exactly — which is what byte-identical encodings demand.
// Thread-safety: none (see doc.h).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "crdt/any.h"
#include "crdt/delete_set.h"
#include "crdt/doc.h"
#include "crdt/update.h"

namespace quire::crdt::detail {

struct Type;

// What an item holds beyond text, in its own allocation because few items have
// any of it (list and map values, format values, nested types, and while an
// update is being applied, a parent given by id).
struct ItemExtra {
  std::string str;                   // kFormat: the key; kBinary: the bytes; kDoc: the guid
  std::vector<Any> values;           // kJson / kAny elements; kEmbed / kFormat value; kDoc options
  std::uint64_t value_identity = 0;  // kFormat: which JavaScript object the value is (see AttrRef)
  std::unique_ptr<Type> type;        // kType
  Id parent_id;                      // when parent_is_id
};

// A GC, a Skip (only among the refs of an update being applied) or an Item.
// Laid out small: a document holds one per struct, and most are deleted runs.
struct Item {
  enum class Kind : std::uint8_t { kItem, kGc, kSkip };

  Kind kind = Kind::kItem;
  ContentRef ref = ContentRef::kNone;
  std::uint8_t type_ref = 0;
  bool deleted : 1 = false;
  bool keep : 1 = false;
  bool countable : 1 = false;
  bool has_origin : 1 = false;
  bool has_right_origin : 1 = false;
  bool parent_is_id : 1 = false;  // an unresolved parent id (refs only), in extra
  std::uint32_t text_size = 0;
  Id id;
  std::uint64_t length = 0;
  Id origin;
  Id right_origin;
  Item* left = nullptr;
  Item* right = nullptr;
  Type* parent = nullptr;
  const std::string* parent_sub = nullptr;  // interned map key; null = list item
  // kString: the text (WTF-8), text_size bytes in the document's TextArena.
  const char* text_data = nullptr;
  std::unique_ptr<ItemExtra> extra;

  [[nodiscard]] bool is_gc() const { return kind == Kind::kGc; }
  [[nodiscard]] bool is_item() const { return kind == Kind::kItem; }
  [[nodiscard]] bool is_deleted() const { return kind == Kind::kGc || deleted; }  // GC.deleted is true
  [[nodiscard]] std::uint64_t end() const { return id.clock + length; }
  [[nodiscard]] Id last_id() const { return {id.client, id.clock + length - 1}; }

  [[nodiscard]] std::string_view text() const { return {text_data, text_size}; }
  [[nodiscard]] const std::string& key() const { return extra->str; }  // kFormat
  [[nodiscard]] Type* type() const { return extra ? extra->type.get() : nullptr; }
  [[nodiscard]] std::span<const Any> values() const {
    return extra ? std::span<const Any>(extra->values) : std::span<const Any>();
  }
  [[nodiscard]] std::uint64_t value_identity() const { return extra ? extra->value_identity : 0; }
  [[nodiscard]] Id parent_id() const { return extra->parent_id; }
  ItemExtra& ensure_extra() {
    if (!extra) extra = std::make_unique<ItemExtra>();
    return *extra;
  }
};

// Every struct of a document is one of these: keep an eye on the size.
static_assert(sizeof(void*) != 8 || sizeof(Item) == 112, "Item grew");

// AbstractType: a list (start → right …) and a map (key → right-most item of the
// key's chain), either of which may be empty.
struct Type {
  static constexpr std::uint8_t kRoot = 255;

  Item* item = nullptr;           // the item holding this type; null for roots
  std::uint8_t type_ref = kRoot;  // 0 Array … 6 XmlText for nested types
  std::string name;               // root name, or XmlElement / XmlHook name
  Item* start = nullptr;
  std::uint64_t length = 0;     // countable, non-deleted list units
  bool has_formatting = false;  // a ContentFormat item was ever integrated here
  bool declared_text = false;   // a root the application uses as Text (Yjs's doc.getText)
  // Where the last local edit left off: the unit `hint_id` sits at list index
  // `hint_index`. Any integration or deletion in this type clears it; a local
  // edit sets it again. Lets consecutive edits skip the walk from the start.
  bool hint_valid = false;
  Id hint_id;
  std::uint64_t hint_index = 0;
  std::vector<std::pair<const std::string*, Item*>> map;  // insertion order, as a JS Map
  std::unordered_map<const std::string*, std::size_t> map_index;

  [[nodiscard]] Item* map_get(const std::string* key) const {
    const auto it = map_index.find(key);
    return it == map_index.end() ? nullptr : map[it->second].second;
  }
  void map_set(const std::string* key, Item* tail) {
    const auto [it, inserted] = map_index.emplace(key, map.size());
    if (inserted) {
      map.emplace_back(key, tail);
    } else {
      map[it->second].second = tail;
    }
  }
  void map_clear() {
    map.clear();
    map_index.clear();
  }
  // YText (and YXmlText, which extends it): the types whose observers ask for a
  // formatting cleanup after remote changes. Root types are plain AbstractTypes
  // until declared as Text (Doc::declare, or editing them as text).
  [[nodiscard]] bool is_text_class() const {
    return item != nullptr ? (type_ref == 2 || type_ref == 6) : declared_text;
  }
};

// One client's structs, sorted by clock and gap-free, with their start clocks
// kept beside them so lookups bisect a flat array instead of chasing pointers.
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
  [[nodiscard]] Item* operator[](std::size_t i) const { return items_[physical(i)]; }
  [[nodiscard]] Item* back() const { return items_[last()]; }

  // findIndexSS: the index of the struct containing `clock` (which must be
  // below the client's state).
  [[nodiscard]] std::size_t find(std::uint64_t clock) const;
  // find(), searching outward from index `hint`: cheaper when the struct is near
  // it, as when a delete set's sorted ranges are visited one after another.
  [[nodiscard]] std::size_t find_near(std::uint64_t clock, std::size_t hint) const;
  [[nodiscard]] std::uint64_t clock_at(std::size_t i) const { return clocks_[physical(i)]; }

  void push_back(Item* item) {
    if (gap_len_ != 0 && gap_ + gap_len_ == items_.size()) {  // the hole is at the end
      items_[gap_] = item;
      clocks_[gap_] = item->id.clock;
      ++gap_;
      --gap_len_;
      return;
    }
    items_.push_back(item);
    clocks_.push_back(item->id.clock);
  }
  void insert(std::size_t pos, Item* item);
  void erase(std::size_t first, std::size_t last);
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

  std::vector<Item*> items_;
  std::vector<std::uint64_t> clocks_;
  static constexpr std::size_t kShortTail = 32;

  std::size_t gap_ = 0;      // logical index where the hole starts
  std::size_t gap_len_ = 0;  // slots in the hole
};

// The number of clocks in [first, first + n) that are <= clock, for sorted
// clocks: a bisection without data-dependent branches, whose mispredictions
// cost more than the loads on arrays of thousands of clocks.
inline std::size_t count_not_above(const std::uint64_t* first, std::size_t n, std::uint64_t clock) {
  const std::uint64_t* base = first;
  while (n > 1) {
    const std::size_t half = n / 2;
    base = base[half] <= clock ? base + half : base;
    n -= half;
  }
  return static_cast<std::size_t>(base - first) + (n == 1 && *base <= clock ? 1 : 0);
}

inline std::size_t ClientStructs::find(std::uint64_t clock) const {
  // Most lookups are for the newest struct (an item's origin is usually the last
  // thing its author typed); otherwise bisect the start clocks on the hole's side
  // that holds `clock`.
  if (clocks_[last()] <= clock) return size() - 1;
  const std::size_t after_gap = gap_ + gap_len_;
  if (gap_len_ != 0 && after_gap < clocks_.size() && clocks_[after_gap] <= clock) {
    return gap_ + count_not_above(clocks_.data() + after_gap, clocks_.size() - after_gap, clock) - 1;
  }
  return count_not_above(clocks_.data(), gap_len_ != 0 ? gap_ : size(), clock) - 1;
}

inline std::size_t ClientStructs::find_near(std::uint64_t clock, std::size_t hint) const {
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
inline void ClientStructs::insert(std::size_t pos, Item* item) {
  if (pos == size()) {
    push_back(item);
    return;
  }
  const auto at = [](auto& v, std::size_t i) { return v.begin() + static_cast<std::ptrdiff_t>(i); };
  if (gap_len_ != 0 && pos > gap_ && size() - pos <= kShortTail && size() - pos < pos - gap_) {
    items_.insert(at(items_, physical(pos)), item);
    clocks_.insert(at(clocks_, physical(pos)), item->id.clock);
    return;
  }
  move_gap(pos);
  if (gap_len_ == 0) {
    // A new hole an eighth of the array long: one tail move per that many inserts.
    const std::size_t len = size() / 8 + 8;
    items_.insert(at(items_, pos), len, nullptr);
    clocks_.insert(at(clocks_, pos), len, 0);
    gap_len_ = len;
  }
  items_[gap_] = item;
  clocks_[gap_] = item->id.clock;
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

// client → structs sorted by clock, gap-free from clock 0. Clients keep the order
// in which they were first added (a JS Map). Every struct integrated, split or
// looked up asks for its client's structs, so they are found through a small
// open-addressing table rather than std::unordered_map's buckets; the map only
// owns them (its nodes never move).
struct StructStore {
  std::vector<std::uint64_t> order;
  std::unordered_map<std::uint64_t, ClientStructs> clients;

  [[nodiscard]] std::uint64_t state(std::uint64_t client) const {
    const ClientStructs* s = structs(client);
    return s == nullptr || s->empty() ? 0 : s->back()->end();
  }
  ClientStructs* structs(std::uint64_t client) { return lookup(client); }
  [[nodiscard]] const ClientStructs* structs(std::uint64_t client) const { return lookup(client); }
  // The client's structs, added (empty, last in `order`) if it had none.
  ClientStructs& add_client(std::uint64_t client) {
    if (ClientStructs* s = lookup(client)) return *s;
    ClientStructs* added = &clients[client];
    order.push_back(client);
    if (2 * order.size() > slots_.size()) {
      const std::vector<Slot> old =
          std::exchange(slots_, std::vector<Slot>(std::bit_ceil(std::max<std::size_t>(16, 4 * order.size()))));
      shift_ = 64 - static_cast<int>(std::countr_zero(slots_.size()));
      for (const Slot& s : old) {
        if (s.structs != nullptr) place(s.client, s.structs);
      }
    }
    place(client, added);
    return *added;
  }

 private:
  struct Slot {
    std::uint64_t client = 0;
    ClientStructs* structs = nullptr;  // null: empty slot
  };
  [[nodiscard]] ClientStructs* lookup(std::uint64_t client) const {
    if (slots_.empty()) return nullptr;
    for (std::size_t i = slot(client);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& s = slots_[i];
      if (s.structs == nullptr) return nullptr;
      if (s.client == client) return s.structs;
    }
  }
  [[nodiscard]] std::size_t slot(std::uint64_t client) const {
    return static_cast<std::size_t>((client * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing
  }
  void place(std::uint64_t client, ClientStructs* s) {
    std::size_t i = slot(client);
    while (slots_[i].structs != nullptr) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = {client, s};
  }
  std::vector<Slot> slots_;  // a power of two long, at most half full
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
  [[nodiscard]] std::size_t position(const K& key) const {
    if (index_) {
      const auto it = index_->find(key);
      return it == index_->end() ? npos : it->second;
    }
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].first == key) return i;
    }
    return npos;
  }
  void rebuild_index() {
    index_ = std::make_unique<std::unordered_map<K, std::size_t>>();
    for (std::size_t i = 0; i < entries_.size(); ++i) index_->emplace(entries_[i].first, i);
  }
  std::vector<std::pair<K, V>> entries_;
  std::unique_ptr<std::unordered_map<K, std::size_t>> index_;
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
inline AttrRef format_value(const Item& format) {
  return {&format.values()[0], format.value_identity()};
}
// updateCurrentAttributes
inline void update_attributes(Attributes& a, const Item& format) {
  if (format.values()[0].kind == Any::Kind::kNull) {
    attr_delete(a, format.key());
  } else {
    attr_set(a, format.key(), format_value(format));
  }
}

struct Transaction {
  // The state vector the transaction began with, kept lazily: the clients it
  // added structs to, with their clock before. Every other client's clock is
  // still the store's. (Yjs copies the whole state vector per transaction;
  // with hundreds of clients that copy dominated applying small updates.)
  SmallMap<std::uint64_t, std::uint64_t> grown;
  const StructStore* store = nullptr;
  [[nodiscard]] std::uint64_t before(std::uint64_t client) const {
    const std::uint64_t* c = grown.find(client);
    return c != nullptr ? *c : store->state(client);
  }

  DeleteSet delete_set;
  std::vector<Item*> merge_structs;
  SmallMap<Type*, bool> changed;  // types to notify, in first-change order
  bool local = true;
  bool need_formatting_cleanup = false;
};

// A set of items, searched linearly while small (YATA's conflict scans are
// almost always a handful of items) and hashed beyond that.
class ItemSet {
 public:
  void clear() {
    items_.clear();
    index_.reset();  // clearing a grown hash set would zero all its buckets every time
  }
  void insert(Item* item) {
    items_.push_back(item);
    if (index_) {
      index_->insert(item);
    } else if (items_.size() > kLinear) {
      index_ = std::make_unique<std::unordered_set<Item*>>(items_.begin(), items_.end());
    }
  }
  [[nodiscard]] bool contains(Item* item) const {
    if (items_.size() > kLinear && index_) return index_->count(item) != 0;
    return std::find(items_.begin(), items_.end(), item) != items_.end();
  }

 private:
  static constexpr std::size_t kLinear = 32;
  std::vector<Item*> items_;
  std::unique_ptr<std::unordered_set<Item*>> index_;
};

struct PendingStructs {
  OrderedState missing;  // retry once state(client) > clock
  Bytes update;          // v2
};

// The text of a document's string items, in chunks that never move: an item
// points at its bytes, a split only cuts the view in two (Yjs's splice copies
// both halves), and merging items whose bytes are adjacent — the halves of a
// split, text typed in one run — only widens the left one's view. Bytes an item
// lets go of stay until compact() copies the live ones into one chunk, which the
// document asks for once the garbage outweighs them.
class TextArena {
 public:
  static constexpr std::size_t kMaxItemBytes = 0xffffffffu;  // Item::text_size

  // Points `item` at a copy of `bytes` (at most kMaxItemBytes), releasing its old text.
  void assign(Item& item, std::string_view bytes) {
    release(item);
    item.text_data = store(bytes);
    item.text_size = static_cast<std::uint32_t>(bytes.size());
  }
  void release(Item& item) {
    garbage_ += item.text_size;
    item.text_data = nullptr;
    item.text_size = 0;
  }
  // Makes sure the next `n` bytes stored go into one chunk (an update's texts
  // are stored together: one allocation, and no room left over in a half-used one).
  void make_room(std::size_t n);
  // ContentString.splice: `left` keeps the first `units` UTF-16 units, `right`
  // gets the rest.
  void split(Item& left, Item& right, std::uint64_t units);
  // ContentString.mergeWith: appends right's text to left's; false (no merge)
  // only if the result would not fit an item.
  bool merge(Item& left, Item& right);

  // Compacting visits every item of the document, so it waits until the garbage
  // outweighs both the live text and a few bytes per item.
  [[nodiscard]] bool wants_compaction(std::size_t items) const {
    return garbage_ > kSlack && garbage_ > held_ - garbage_ && garbage_ > 8 * items;
  }
  // Moves every item's text (each must own distinct bytes) into one chunk, in
  // address order, so bytes that were adjacent stay adjacent.
  void compact(std::vector<Item*>& items);

 private:
  static constexpr std::size_t kFirstChunk = 256;
  static constexpr std::size_t kMaxChunk = 64 * 1024;
  static constexpr std::size_t kSlack = 64 * 1024;  // garbage tolerated before compacting

  const char* store(std::string_view bytes) {
    if (bytes.empty()) return nullptr;
    char* p = reserve(bytes.size());
    std::copy(bytes.begin(), bytes.end(), p);
    return p;
  }
  char* reserve(std::size_t n);

  // Each chunk has a byte past its usable end, so the end of one never touches
  // the start of another and adjacency means "in the same chunk".
  std::vector<std::unique_ptr<char[]>> chunks_;
  char* next_ = nullptr;  // where the next bytes go in the newest chunk
  std::size_t room_ = 0;  // bytes left there
  std::size_t chunk_size_ = 0;
  std::size_t held_ = 0;     // bytes handed out since the last compaction
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

// Scratch buffers grown past this many entries by a large update are freed
// after it rather than held by the document.
inline constexpr std::size_t kKeptScratch = 1024;

// One client's structs among an update's refs: items[i, end) of ApplyScratch.
struct ClientRefs {
  std::size_t i = 0;
  std::size_t end = 0;
  bool removed = false;  // moved to the pending structs (deleted from Yjs's map)
};

// What applying one update needs besides the document (integrateStructs).
struct ApplyScratch {
  SmallMap<std::uint64_t, ClientRefs> refs;  // client → its refs
  std::vector<Item*> items;                  // every ref, each client's together
  std::vector<Item*> stack;
  std::vector<std::uint64_t> ids;
  SmallMap<std::uint64_t, std::uint64_t> state;  // clients' states, as read so far

  void clear() {
    refs.clear();
    items.clear();
    stack.clear();
    ids.clear();
    state.clear();
  }
  void release_if_large() {
    if (items.capacity() > kKeptScratch || stack.capacity() > kKeptScratch) *this = ApplyScratch();
  }
};

// Every Item of a document, in chunks that never move. Chunks double from a
// few dozen items to kMaxChunk, so a small document holds little unused space
// and a large one allocates rarely (std::deque allocates every 512 bytes).
class ItemPool {
 public:
  static constexpr std::size_t kFirstChunk = 16;
  static constexpr std::size_t kMaxChunk = 256;

  [[nodiscard]] std::size_t size() const { return size_; }
  Item* emplace_back() {
    ++size_;
    if (chunks_.empty() || used_ == chunks_.back().size) {
      const std::size_t size = chunks_.empty() ? kFirstChunk : std::min(kMaxChunk, 2 * chunks_.back().size);
      chunks_.push_back({std::make_unique<Item[]>(size), size});
      used_ = 0;
    }
    return &chunks_.back().items[used_++];
  }
  // Calls f on every item ever handed out (free ones included).
  template <class F>
  void for_each(F&& f) {
    for (std::size_t c = 0; c < chunks_.size(); ++c) {
      const std::size_t n = c + 1 == chunks_.size() ? used_ : chunks_[c].size;
      for (std::size_t i = 0; i < n; ++i) f(chunks_[c].items[i]);
    }
  }

 private:
  struct Chunk {
    std::unique_ptr<Item[]> items;
    std::size_t size;
  };
  std::vector<Chunk> chunks_;
  std::size_t used_ = 0;  // of the last chunk
  std::size_t size_ = 0;  // items handed out
};

struct DocState {
  std::uint64_t client_id = 0;
  bool gc = true;
  Limits limits;
  StructStore store;
  std::vector<std::pair<std::string, std::unique_ptr<Type>>> share;  // root order
  std::unordered_map<std::string, Type*> share_index;
  std::unordered_set<std::string> keys;  // interned map keys
  std::optional<PendingStructs> pending_structs;
  std::optional<Bytes> pending_ds;  // a v2 update holding only a delete set

  std::function<void(ByteView)> on_update;  // Yjs's doc.on('update')
  std::uint64_t next_identity = 1;          // for AttrRef identities

  Transaction* txn = nullptr;
  std::vector<std::unique_ptr<Transaction>> cleanups;
  std::vector<std::unique_ptr<Transaction>> spare_transactions;  // reused: their buffers keep capacity

  // Scratch buffers of the engine, kept across calls so that steady-state work
  // allocates nothing.
  ItemSet conflicting;
  ItemSet before_origin;
  std::vector<Item*> dead;     // merged away during a cleanup
  std::vector<Item*> discard;  // refs never integrated
  Spares<ApplyScratch> apply_scratch;
  Spares<DecodedUpdate> decoded;  // the update being applied

  ItemPool pool;  // every Item lives here; addresses are stable
  TextArena text;
  std::vector<Item*> free_items;

  Item* new_item();
  void free_item(Item* item);
  void compact_text();
  const std::string* intern(std::string_view key) { return &*keys.emplace(key).first; }
  Type* get_root(std::string_view name);
  [[nodiscard]] const std::string* root_name(const Type* type) const;
};

}  // namespace quire::crdt::detail
