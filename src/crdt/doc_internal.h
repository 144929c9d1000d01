// Internal: the document engine's data structures, shaped after Yjs's
// (structs/Item.js, utils/StructStore.js, utils/Transaction.js, AbstractType)
// so that every step of integration, splitting, deletion, GC and merging can
// follow Yjs exactly — which is what byte-identical encodings demand.
// Thread-safety: none (see doc.h).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
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

// A GC, a Skip (only among the refs of an update being applied) or an Item.
struct Item {
  enum class Kind : std::uint8_t { kItem, kGc, kSkip };

  Kind kind = Kind::kItem;
  bool deleted = false;
  bool keep = false;
  bool countable = false;
  bool has_origin = false;
  bool has_right_origin = false;
  bool parent_is_id = false;  // an unresolved parent id (refs only)
  ContentRef ref = ContentRef::kNone;
  std::uint8_t type_ref = 0;
  Id id;
  std::uint64_t length = 0;
  Id origin;
  Id right_origin;
  Id parent_id;  // when parent_is_id
  Item* left = nullptr;
  Item* right = nullptr;
  Type* parent = nullptr;
  const std::string* parent_sub = nullptr;  // interned map key; null = list item
  // Content. kString: the text (WTF-8); kBinary: the bytes; kFormat: the key;
  // kType: the node or hook name; kDoc: the guid.
  std::string text;
  std::vector<Any> values;     // kJson / kAny elements; kEmbed / kFormat value; kDoc options
  std::unique_ptr<Type> type;  // kType

  [[nodiscard]] bool is_gc() const { return kind == Kind::kGc; }
  [[nodiscard]] bool is_item() const { return kind == Kind::kItem; }
  [[nodiscard]] bool is_deleted() const { return kind == Kind::kGc || deleted; }  // GC.deleted is true
  [[nodiscard]] std::uint64_t end() const { return id.clock + length; }
  [[nodiscard]] Id last_id() const { return {id.client, id.clock + length - 1}; }
};

// AbstractType: a list (start → right …) and a map (key → right-most item of the
// key's chain), either of which may be empty.
struct Type {
  static constexpr std::uint8_t kRoot = 255;

  Item* item = nullptr;              // the item holding this type; null for roots
  std::uint8_t type_ref = kRoot;     // 0 Array … 6 XmlText for nested types
  std::string name;                  // root name, or XmlElement / XmlHook name
  Item* start = nullptr;
  std::uint64_t length = 0;          // countable, non-deleted list units
  bool has_formatting = false;       // a ContentFormat item was ever integrated here
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
  // until an application declares them, which a server never does.
  [[nodiscard]] bool is_text_class() const { return item != nullptr && (type_ref == 2 || type_ref == 6); }
};

// client → structs sorted by clock, gap-free from clock 0. Clients keep the order
// in which they were first added (a JS Map).
struct StructStore {
  std::vector<std::uint64_t> order;
  std::unordered_map<std::uint64_t, std::vector<Item*>> clients;

  [[nodiscard]] std::uint64_t state(std::uint64_t client) const {
    const auto it = clients.find(client);
    if (it == clients.end() || it->second.empty()) return 0;
    return it->second.back()->end();
  }
  std::vector<Item*>* structs(std::uint64_t client) {
    const auto it = clients.find(client);
    return it == clients.end() ? nullptr : &it->second;
  }
  [[nodiscard]] const std::vector<Item*>* structs(std::uint64_t client) const {
    const auto it = clients.find(client);
    return it == clients.end() ? nullptr : &it->second;
  }
};

// An insertion-ordered client → clock map (Yjs's state vectors are JS Maps).
struct OrderedState {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
  std::unordered_map<std::uint64_t, std::size_t> index;

  [[nodiscard]] std::uint64_t get(std::uint64_t client) const {
    const auto it = index.find(client);
    return it == index.end() ? 0 : entries[it->second].second;
  }
  [[nodiscard]] bool has(std::uint64_t client) const { return index.count(client) != 0; }
  void set(std::uint64_t client, std::uint64_t clock) {
    const auto [it, inserted] = index.emplace(client, entries.size());
    if (inserted) {
      entries.emplace_back(client, clock);
    } else {
      entries[it->second].second = clock;
    }
  }
};

struct Transaction {
  OrderedState before_state;
  OrderedState after_state;
  DeleteSet delete_set;
  std::vector<Item*> merge_structs;
  std::vector<Type*> changed;  // types to notify, in first-change order
  std::unordered_set<Type*> changed_set;
  bool local = true;
  bool need_formatting_cleanup = false;
};

struct PendingStructs {
  OrderedState missing;  // retry once state(client) > clock
  Bytes update;          // v2
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

  Transaction* txn = nullptr;
  std::vector<std::unique_ptr<Transaction>> cleanups;

  std::deque<Item> pool;  // every Item lives here; addresses are stable
  std::vector<Item*> free_items;

  Item* new_item();
  void free_item(Item* item);
  const std::string* intern(std::string_view key) { return &*keys.emplace(key).first; }
  Type* get_root(std::string_view name);
  [[nodiscard]] const std::string* root_name(const Type* type) const;
};

}  // namespace quire::crdt::detail
