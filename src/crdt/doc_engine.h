// Internal: the engine's operations on a DocState — Yjs's Item, StructStore,
// Transaction, encoding and YText functions, each named after and following its
// Yjs 13.6 counterpart step by step. Used by doc.cc (applying and encoding) and
// doc_edit.cc (local edits). Thread-safety: none (see doc.h).
//
// Items are named by ItemRef and read through at(); an Item& stays valid across
// everything (the pool never moves), a view of text only until the next store.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "crdt/codec.h"
#include "crdt/doc_internal.h"
#include "crdt/utf.h"

namespace quire::crdt::detail {

inline Error engine_error(CrdtErrc code, std::string message) {
  return Error{kCrdtDomain, static_cast<int>(code), std::move(message)};
}

// Yjs 13 draws 32-bit client ids.
inline std::uint64_t random_client_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng() & 0xffffffffu;
}

inline bool countable(ContentRef ref) {
  return ref != ContentRef::kDeleted && ref != ContentRef::kFormat;
}

// Everything Item.write needs, as views into the document (doc_encode.cc).
ItemView view_of(const DocState& s, const Item& item);

// writeClientsStructs + writeDeleteSet as a v1 update, straight from the items
// (doc_encode.cc): the structs of each client in `starts` (slot, first clock
// below its state), then `ds` (by client slot, sorted and merged) or, if null,
// the delete set of the whole store.
Bytes write_update_v1(const DocState& s, std::vector<std::pair<ClientSlot, std::uint64_t>>& starts,
                      const DeleteSet* ds);

class Engine {
 public:
  explicit Engine(DocState& s) : s_(s) {}

  DocState& state() { return s_; }
  Item& at(ItemRef r) { return s_.at(r); }
  [[nodiscard]] const Item& at(ItemRef r) const { return s_.at(r); }
  Type& type(TypeRef t) { return s_.type(t); }
  [[nodiscard]] Id id_of(ItemId id) const { return {s_.store.client(id.client), id.clock}; }

  // ---- struct store (StructStore.js) -------------------------------------------

  // getItem: the struct containing `id`.
  [[nodiscard]] ItemRef get_item(ItemId id) const {
    const ClientStructs& structs = s_.store.structs(id.client);
    return structs[structs.find(id.clock)];
  }

  void add_struct(Transaction& txn, ItemRef r) {
    const Item& s = at(r);
    ClientStructs& structs = s_.store.structs(s.id.client);
    if (!txn.grown.contains(s.id.client)) txn.grown[s.id.client] = structs.state();
    structs.push_back(r, s.id.clock, s.end());
  }

  void add_changed_type(Transaction& txn, Type& type) {
    if (&type == txn.last_changed) return;
    txn.last_changed = &type;
    if (type.item == 0) {
      txn.changed[&type] = true;
      return;
    }
    const Item& item = at(type.item);
    if (item.id.clock < txn.before(item.id.client) && !item.deleted()) txn.changed[&type] = true;
  }

  // ---- content (structs/Content*.js) -------------------------------------------

  // content.splice(diff): moves the tail of `left`'s content into `right`.
  void splice_content(Item& left, Item& right, std::uint64_t diff) {
    right.ref = left.ref;
    switch (left.ref) {
      case ContentRef::kString:
        s_.text.split(left, right, diff);
        break;
      case ContentRef::kJson:
      case ContentRef::kAny: {
        std::vector<Any>& values = s_.extra(left).values;
        s_.extra(right).values.assign(std::make_move_iterator(values.begin() + static_cast<std::ptrdiff_t>(diff)),
                                      std::make_move_iterator(values.end()));
        values.resize(diff);
      } break;
      case ContentRef::kDeleted:
        break;
      default:
        assert(false && "only strings, arrays and deleted runs are longer than one");
    }
  }

  // content.mergeWith(right)
  bool merge_content(Item& left, Item& right) {
    switch (left.ref) {
      case ContentRef::kString:
        return s_.text.merge(left, right);
      case ContentRef::kJson:
      case ContentRef::kAny: {
        std::vector<Any>& values = s_.extra(left).values;
        std::vector<Any>& more = s_.extra(right).values;
        values.insert(values.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
        return true;
      }
      case ContentRef::kDeleted:
        return true;
      default:
        return false;
    }
  }

  void integrate_content(Transaction& txn, ItemRef r) {
    Item& item = at(r);
    switch (item.ref) {
      case ContentRef::kDeleted:
        txn.delete_set.add_joining(item.id.client, {item.id.clock, item.length});
        item.set_deleted(true);
        break;
      case ContentRef::kFormat:
        type(item.parent).has_formatting = true;
        break;
      case ContentRef::kType:
        s_.type_of(item)->item = r;
        break;
      default:
        break;
    }
  }

  // ContentType.delete: deletes every child; deleted children that predate the
  // transaction are queued for merging.
  void delete_content(Transaction& txn, const Item& item) {
    if (item.ref != ContentRef::kType) return;
    Type* type = s_.type_of(item);
    for (ItemRef child = type->start; child != 0; child = at(child).right) {
      const Item& c = at(child);
      if (!c.deleted()) {
        delete_item(txn, child);
      } else if (c.id.clock < txn.before(c.id.client)) {
        txn.merge_structs.push_back(child);
      }
    }
    for (const auto& [key, tail] : type->map) {
      const Item& t = at(tail);
      if (!t.deleted()) {
        delete_item(txn, tail);
      } else if (t.id.clock < txn.before(t.id.client)) {
        txn.merge_structs.push_back(tail);
      }
    }
    txn.changed.erase(type);
  }

  // ---- items (Item.js) ---------------------------------------------------------

  // splitItem
  ItemRef split_item(Transaction& txn, ItemRef left_ref, std::uint64_t diff) {
    const ItemRef right_ref = s_.new_item();
    Item& left = at(left_ref);
    Item& right = at(right_ref);
    const auto d = static_cast<std::uint32_t>(diff);
    right.kind = Item::Kind::kItem;
    right.id = {left.id.client, left.id.clock + d};
    right.left = left_ref;
    right.set_has_origin(true);
    right.origin = {left.id.client, left.id.clock + d - 1};
    right.right = left.right;
    right.set_has_right_origin(left.has_right_origin());
    right.right_origin = left.right_origin;
    right.parent = left.parent;
    right.parent_sub = left.parent_sub;
    splice_content(left, right, diff);
    right.length = left.length - d;
    right.set_countable(countable(right.ref));
    right.set_deleted(left.deleted());
    right.set_keep(left.keep());
    left.right = right_ref;
    if (right.right != 0) at(right.right).left = right_ref;
    txn.merge_structs.push_back(right_ref);
    if (right.parent_sub != 0 && right.right == 0) type(right.parent).map_set(right.parent_sub, right_ref);
    left.length = d;
    return right_ref;
  }

  // findIndexCleanStart
  std::size_t find_index_clean_start(Transaction& txn, ClientStructs& structs, std::uint32_t clock) {
    const std::size_t index = structs.find(clock);
    const ItemRef r = structs[index];
    const Item& s = at(r);
    if (s.id.clock < clock && s.is_item()) {
      structs.insert(index + 1, split_item(txn, r, clock - s.id.clock), clock);
      return index + 1;
    }
    return index;
  }

  ItemRef get_item_clean_start(Transaction& txn, ItemId id) {
    ClientStructs& structs = s_.store.structs(id.client);
    return structs[find_index_clean_start(txn, structs, id.clock)];
  }

  ItemRef get_item_clean_end(Transaction& txn, ItemId id) {
    ClientStructs& structs = s_.store.structs(id.client);
    // Mostly the origin is the last thing its client typed: the newest struct,
    // which ends there.
    if (id.clock + 1 == structs.state()) return structs.back();
    const std::size_t index = structs.find(id.clock);
    const ItemRef r = structs[index];
    const Item& s = at(r);
    if (id.clock != s.id.clock + s.length - 1 && !s.is_gc()) {
      structs.insert(index + 1, split_item(txn, r, id.clock - s.id.clock + 1), id.clock + 1);
    }
    return r;
  }

  // Item.getMissing: the client of a missing dependency, or resolves the item's
  // neighbours and parent and returns kNoSlot.
  ClientSlot get_missing(Transaction& txn, ItemRef r) {
    const StructStore& store = s_.store;
    Item& item = at(r);
    if (item.has_origin() && item.origin.client != item.id.client &&
        item.origin.clock >= store.state(item.origin.client)) {
      return item.origin.client;
    }
    if (item.has_right_origin() && item.right_origin.client != item.id.client &&
        item.right_origin.clock >= store.state(item.right_origin.client)) {
      return item.right_origin.client;
    }
    if (item.parent_is_id() && item.id.client != item.parent_id().client &&
        item.parent_id().clock >= store.state(item.parent_id().client)) {
      return item.parent_id().client;
    }
    if (item.has_origin()) {
      item.left = get_item_clean_end(txn, item.origin);
      item.origin = at(item.left).last_id();
    }
    if (item.has_right_origin()) {
      // Mostly the right origin starts the struct right of the origin (always,
      // when the structs come in the order they were typed): that struct is
      // the one the store holds at that id, and no search is needed.
      const ItemRef next = item.left != 0 ? at(item.left).right : 0;
      if (next != 0 && at(next).id == item.right_origin) {
        item.right = next;
      } else {
        item.right = get_item_clean_start(txn, item.right_origin);
        item.right_origin = at(item.right).id;
      }
    }
    const Item* left = item.left != 0 ? &at(item.left) : nullptr;
    const Item* right = item.right != 0 ? &at(item.right) : nullptr;
    if ((left != nullptr && left->is_gc()) || (right != nullptr && right->is_gc())) {
      item.parent = 0;
      item.set_parent_is_id(false);
    } else if (item.parent == 0 && !item.parent_is_id()) {
      if (left != nullptr && left->is_item()) {
        item.parent = left->parent;
        item.parent_sub = left->parent_sub;
      } else if (right != nullptr && right->is_item()) {
        item.parent = right->parent;
        item.parent_sub = right->parent_sub;
      }
    } else if (item.parent_is_id()) {
      const Item& parent_item = at(get_item(item.parent_id()));
      item.set_parent_is_id(false);
      item.origin = {};
      // A GC'd parent, or one whose type was garbage-collected to ContentDeleted,
      // has no type: the item becomes GC.
      item.parent = parent_item.is_item() && parent_item.ref == ContentRef::kType ? s_.type_of(parent_item)->self : 0;
    }
    return StructStore::kNoSlot;
  }

  static bool same_origin(bool has_a, ItemId a, bool has_b, ItemId b) { return has_a == has_b && (!has_a || a == b); }

  // Item.integrate: YATA.
  void integrate(Transaction& txn, ItemRef r, std::uint64_t offset) {
    Item& item = at(r);
    if (offset > 0) {
      const auto o = static_cast<std::uint32_t>(offset);
      item.id.clock += o;
      item.left = get_item_clean_end(txn, {item.id.client, item.id.clock - 1});
      item.set_has_origin(true);
      item.origin = at(item.left).last_id();
      Item tail;
      splice_content(item, tail, offset);  // `item` keeps the head, `tail` gets the rest
      s_.release_content(item);
      item.content = tail.content;
      item.text_size = tail.text_size;
      item.length -= o;
    }
    if (item.parent == 0) {
      // GC.integrate: the item's position or parent is gone.
      item.kind = Item::Kind::kGc;
      s_.release_content(item);
      add_struct(txn, r);
      return;
    }
    Type& parent = type(item.parent);
    if (&parent != s_.editing) parent.markers.clear();
    if ((item.left == 0 && (item.right == 0 || at(item.right).left != 0)) ||
        (item.left != 0 && at(item.left).right != item.right)) {
      ItemRef left = item.left;
      ItemRef o;
      if (left != 0) {
        o = at(left).right;
      } else if (item.parent_sub != 0) {
        o = parent.map_get(item.parent_sub);
        while (o != 0 && at(o).left != 0) o = at(o).left;
      } else {
        o = parent.start;
      }
      ItemSet& conflicting = s_.conflicting;
      ItemSet& before_origin = s_.before_origin;
      conflicting.clear();
      before_origin.clear();
      while (o != 0 && o != item.right) {
        const Item& other = at(o);
        before_origin.insert(o);
        conflicting.insert(o);
        if (same_origin(item.has_origin(), item.origin, other.has_origin(), other.origin)) {
          if (s_.store.client(other.id.client) < s_.store.client(item.id.client)) {
            left = o;
            conflicting.clear();
          } else if (same_origin(item.has_right_origin(), item.right_origin, other.has_right_origin(),
                                 other.right_origin)) {
            break;
          }
        } else if (other.has_origin() && before_origin.contains(get_item(other.origin))) {
          if (!conflicting.contains(get_item(other.origin))) {
            left = o;
            conflicting.clear();
          }
        } else {
          break;
        }
        o = other.right;
      }
      item.left = left;
    }
    if (item.left != 0) {
      Item& left = at(item.left);
      item.right = left.right;
      left.right = r;
    } else {
      ItemRef right;
      if (item.parent_sub != 0) {
        right = parent.map_get(item.parent_sub);
        while (right != 0 && at(right).left != 0) right = at(right).left;
      } else {
        right = parent.start;
        parent.start = r;
      }
      item.right = right;
    }
    if (item.right != 0) {
      at(item.right).left = r;
    } else if (item.parent_sub != 0) {
      parent.map_set(item.parent_sub, r);
      if (item.left != 0) delete_item(txn, item.left);  // the previous value is overwritten
    }
    if (item.parent_sub == 0 && item.countable() && !item.deleted()) parent.length += item.length;
    add_struct(txn, r);
    integrate_content(txn, r);
    add_changed_type(txn, parent);
    if ((parent.item != 0 && at(parent.item).deleted()) || (item.parent_sub != 0 && item.right != 0)) {
      delete_item(txn, r);
    }
  }

  // Item.delete
  void delete_item(Transaction& txn, ItemRef r) {
    Item& item = at(r);
    if (item.deleted() || !item.is_item()) return;
    Type& parent = type(item.parent);
    if (&parent != s_.editing) parent.markers.clear();
    if (item.countable() && item.parent_sub == 0) parent.length -= item.length;
    item.set_deleted(true);
    if (item.ref == ContentRef::kType) txn.deleted_type = true;
    txn.delete_set.add_joining(item.id.client, {item.id.clock, item.length});
    add_changed_type(txn, parent);
    delete_content(txn, item);
  }

  // Item.gc: a deleted item keeps its place but loses its content; the
  // descendants of a deleted type become GC structs.
  void gc_item(ItemRef r, bool parent_gcd) {
    Item& item = at(r);
    if (item.ref == ContentRef::kType) {
      Type* type = s_.type_of(item);
      for (ItemRef child = type->start; child != 0;) {
        const ItemRef next = at(child).right;
        gc_item(child, true);
        child = next;
      }
      type->start = 0;
      for (const auto& [key, tail] : type->map) {
        for (ItemRef n = tail; n != 0;) {
          const ItemRef next = at(n).left;
          gc_item(n, true);
          n = next;
        }
      }
      type->map_clear();
    }
    s_.release_content(item);
    if (parent_gcd) {
      // replaceStruct(store, item, new GC(item.id, item.length))
      item.kind = Item::Kind::kGc;
      item.ref = ContentRef::kNone;
    } else {
      item.ref = ContentRef::kDeleted;
      item.set_countable(false);
    }
  }

  // Whether Item.mergeWith / GC.mergeWith would merge `right` into `left` —
  // all its tests but whether the content joins (a text beyond what the arena
  // addresses does not) — together with tryToMergeWithLefts' own: both of one
  // kind and equally deleted.
  [[nodiscard]] bool may_merge(const Item& left, ItemRef right_ref, const Item& right) const {
    if (left.kind != right.kind || left.is_deleted() != right.is_deleted()) return false;
    if (left.is_gc()) return true;
    return left.right == right_ref && right.is_item() && right.has_origin() && right.origin == left.last_id() &&
           same_origin(left.has_right_origin(), left.right_origin, right.has_right_origin(), right.right_origin) &&
           left.id.client == right.id.client && left.end() == right.id.clock && left.ref == right.ref &&
           (left.ref == ContentRef::kString || left.ref == ContentRef::kJson || left.ref == ContentRef::kAny ||
            left.ref == ContentRef::kDeleted);
  }

  // Item.mergeWith / GC.mergeWith of neighbours may_merge accepted: false only
  // if their content cannot be joined.
  bool merge_with(ItemRef left_ref, ItemRef right_ref) {
    Item& left = at(left_ref);
    Item& right = at(right_ref);
    if (left.is_gc()) {
      left.length += right.length;
      return true;
    }
    if (!merge_content(left, right)) return false;
    if (right.keep()) left.set_keep(true);
    left.right = right.right;
    if (left.right != 0) at(left.right).left = left_ref;
    left.length += right.length;
    return true;
  }

  // ---- transactions (Transaction.js) -------------------------------------------

  // tryToMergeWithLefts: merges structs[pos] into its left neighbours while they
  // allow it; returns how many were merged away. Mostly the first pair cannot
  // merge (a document's structs were merged when they were integrated), which
  // is told here before anything else.
  std::size_t try_merge_with_lefts(ClientStructs& structs, std::size_t pos) {
    const ItemRef right = structs[pos];
    const ItemRef left = structs[pos - 1];
    if (!may_merge(at(left), right, at(right))) return 0;
    return merge_with_lefts(structs, pos, left, right);
  }
  // The loop of tryToMergeWithLefts, for a first pair that may_merge accepted.
  [[gnu::noinline]] std::size_t merge_with_lefts(ClientStructs& structs, std::size_t pos, ItemRef left, ItemRef right) {
    std::size_t i = pos;
    for (bool first = true; i > 0; right = left, left = i - 1 > 0 ? structs[i - 2] : 0, --i, first = false) {
      const Item& r = at(right);
      if ((first || may_merge(at(left), right, r)) && merge_with(left, right)) {
        if (r.is_item() && r.parent_sub != 0 && type(r.parent).map_get(r.parent_sub) == right) {
          type(r.parent).map_set(r.parent_sub, left);
        }
        s_.dead.push_back(right);
        continue;
      }
      break;
    }
    const std::size_t merged = pos - i;
    if (merged > 0) {
      structs.erase(pos + 1 - merged, pos + 1);
    }
    return merged;
  }

  // Calls step(structs, range, hint) on each range of a delete set, each
  // client's from the last to the first (they are sorted); `hint` is the
  // index step returned for the range after it, where the search for this
  // one starts (its client's last struct for the first).
  template <class Step>
  void visit_ranges_right_to_left(const DeleteSet& ds, Step&& step) {
    for (const auto& c : ds.clients()) {
      ClientStructs& structs = s_.store.structs(static_cast<ClientSlot>(c.client));
      std::size_t hint = structs.size() - 1;
      for (std::size_t di = c.ranges.size(); di-- > 0;) hint = step(structs, c.ranges[di], hint);
    }
  }

  // tryGcDeleteSet
  void try_gc_delete_set(const DeleteSet& ds) {
    visit_ranges_right_to_left(ds, [&](ClientStructs& structs, const DeleteRange& d, std::size_t hint) {
      const std::size_t first = structs.find_near(static_cast<std::uint32_t>(d.clock), hint);
      gc_range(structs, first, d.clock + d.len);
      return first;
    });
  }
  // Collects the deleted items (not kept) among the structs from index `first`
  // on that start before clock `end`; returns the index of the last such struct.
  std::size_t gc_range(ClientStructs& structs, std::size_t first, std::uint64_t end) {
    std::size_t last = first;
    for (std::size_t si = first; si < structs.size() && structs.clock_at(si) < end; ++si) {
      last = si;
      const Item& s = at(structs[si]);
      if (s.is_item() && s.deleted() && !s.keep()) gc_item(structs[si], false);
    }
    return last;
  }

  // tryMergeDeleteSet
  void try_merge_delete_set(const DeleteSet& ds) {
    visit_ranges_right_to_left(ds, [&](ClientStructs& structs, const DeleteRange& d, std::size_t hint) {
      return merge_range_with_lefts(structs, d,
                                    structs.find_near(static_cast<std::uint32_t>(d.clock + d.len - 1), hint));
    });
  }
  // tryMergeDeleteSet's loop for one range whose last struct is at index
  // `last`: merges each struct from the one after it down to the range's first
  // into its left neighbours. Returns the index it stopped at.
  std::size_t merge_range_with_lefts(ClientStructs& structs, const DeleteRange& d, std::size_t last) {
    auto si = static_cast<std::ptrdiff_t>(std::min(structs.size() - 1, 1 + last));
    while (si > 0 && structs.clock_at(static_cast<std::size_t>(si)) >= d.clock) {
      si -= 1 + static_cast<std::ptrdiff_t>(try_merge_with_lefts(structs, static_cast<std::size_t>(si)));
    }
    return static_cast<std::size_t>(std::max<std::ptrdiff_t>(si, 0));
  }
  // tryGcDeleteSet then tryMergeDeleteSet, range by range: each range's
  // structs are garbage-collected and then merged while they are still in the
  // cache, instead of in a second pass over the whole delete set. The same
  // structs end up merged: structs of different clients never merge, and a
  // merge across a range's ends meets only structs whose collection is already
  // decided — those after it (ranges go right to left) and those before it
  // outside the delete set; what lies in an earlier range is merged into it
  // when that range's turn comes, as in two passes. Only collecting a type
  // reaches beyond its own range (its content becomes GC structs, whichever
  // client wrote them): a transaction that deleted one takes the two passes.
  // (Kept out of cleanup: inlined there, its searches were not — 2% more
  // instructions applying node_nodecc.)
  [[gnu::noinline]] void gc_and_merge_delete_set(const DeleteSet& ds) {
    visit_ranges_right_to_left(ds, [&](ClientStructs& structs, const DeleteRange& d, std::size_t hint) {
      const std::size_t first = structs.find_near(static_cast<std::uint32_t>(d.clock), hint);
      return merge_range_with_lefts(structs, d, gc_range(structs, first, d.clock + d.len));
    });
  }

  // transact(doc, f, origin, local)
  template <class F>
  void transact(F&& f, bool local) {
    bool initial = false;
    if (s_.txn == nullptr) {
      initial = true;
      std::unique_ptr<Transaction> txn;
      if (s_.spare_transactions.empty()) {
        txn = std::make_unique<Transaction>();
      } else {
        txn = std::move(s_.spare_transactions.back());
        s_.spare_transactions.pop_back();
      }
      txn->store = &s_.store;
      txn->local = local;
      s_.txn = txn.get();
      s_.cleanups.push_back(std::move(txn));
    }
    f(*s_.txn);
    if (initial) {
      const bool finish = s_.txn == s_.cleanups.front().get();
      s_.txn = nullptr;
      if (finish) cleanup_transactions();
    }
  }

  void cleanup_transactions() {
    // Transactions started during a cleanup (the formatting cleanup) are appended
    // and cleaned up in turn.
    for (std::size_t i = 0; i < s_.cleanups.size(); ++i) cleanup(*s_.cleanups[i]);
    for (auto& txn : s_.cleanups) {
      reset(*txn);
      s_.spare_transactions.push_back(std::move(txn));
    }
    s_.cleanups.clear();
    for (ItemRef item : s_.dead) s_.free_item(item);
    s_.dead.clear();
    if (s_.text.wants_compaction(s_.items.size())) s_.compact_text();
  }

  // writeUpdateMessageFromTransaction: the structs added since the transaction
  // began and what it deleted; nullopt when it changed nothing.
  [[nodiscard]] std::optional<Bytes> transaction_update(const Transaction& txn) const {
    if (txn.delete_set.empty() && txn.grown.empty()) return std::nullopt;
    auto& starts = s_.update_starts;
    starts.assign(txn.grown.entries().begin(), txn.grown.entries().end());
    return write_update_v1(s_, starts, &txn.delete_set);
  }

  static void reset(Transaction& txn) {
    txn.grown.clear();
    txn.delete_set.clear();
    txn.merge_structs.clear();
    if (txn.merge_structs.capacity() > kKeptScratch) txn.merge_structs = {};
    txn.changed.clear();
    txn.last_changed = nullptr;
    txn.need_formatting_cleanup = false;
    txn.deleted_type = false;
  }

  void cleanup(Transaction& txn) {
    txn.delete_set.sort_and_merge();
    // Observers: only YText's matters to the document — after a remote change to a
    // text that ever held formatting, Yjs cleans up formatting markers.
    for (const auto& [type, unused] : txn.changed.entries()) {
      if (type->item == 0 || !at(type->item).deleted()) {
        if (!txn.local && type->is_text_class() && type->has_formatting) txn.need_formatting_cleanup = true;
      }
    }
    if (txn.need_formatting_cleanup) cleanup_text_after_transaction(txn);
    if (s_.gc && !txn.deleted_type) {
      gc_and_merge_delete_set(txn.delete_set);
    } else {
      if (s_.gc) try_gc_delete_set(txn.delete_set);
      try_merge_delete_set(txn.delete_set);
    }
    for (const auto& [client, before] : txn.grown.entries()) {
      ClientStructs& structs = s_.store.structs(client);
      const std::size_t first = std::max<std::size_t>(structs.find(before), 1);
      for (std::size_t i = structs.size() - 1; i >= first;) {
        const std::size_t merged = try_merge_with_lefts(structs, i);
        if (i < first + 1 + merged) break;
        i -= 1 + merged;
      }
      // A transaction that more than doubled the client's structs (loading a
      // document) leaves up to half the arrays' capacity unused; give it back.
      if (2 * first < structs.size() && structs.spare() > 16) structs.shrink_to_fit();
    }
    // Splits are mostly recorded in clock order, one client after another, so
    // each search starts where the previous one of the same client ended.
    ClientStructs* hint_structs = nullptr;
    std::size_t hint = 0;
    for (std::size_t k = txn.merge_structs.size(); k-- > 0;) {
      const ItemId id = at(txn.merge_structs[k]).id;
      ClientStructs& structs = s_.store.structs(id.client);
      const std::size_t pos = &structs == hint_structs ? structs.find_near(id.clock, hint) : structs.find(id.clock);
      hint_structs = &structs;
      hint = pos;
      if (pos + 1 < structs.size() && try_merge_with_lefts(structs, pos + 1) > 1) continue;
      if (pos > 0) try_merge_with_lefts(structs, pos);
    }
    // Another peer uses our client id: take a fresh one, as Yjs does.
    if (!txn.local) {
      const ClientSlot own = s_.store.find(s_.client_id);
      if (own != StructStore::kNoSlot && txn.grown.contains(own)) s_.client_id = random_client_id();
    }
    if (s_.on_update || s_.capture != nullptr) {
      if (auto update = transaction_update(txn)) {
        if (s_.on_update) s_.on_update(*update);
        if (s_.capture != nullptr) {
          *s_.capture = std::move(update);
          s_.capture = nullptr;  // only the first
        }
      }
    }
  }

  // ---- the rich-text formatting cleanup (YText.js) -----------------------------

  // cleanupFormattingGap
  std::size_t cleanup_formatting_gap(Transaction& txn, ItemRef start, ItemRef curr, const Attributes& start_attrs,
                                     Attributes& curr_attrs) {
    ItemRef end = start;
    std::vector<std::pair<std::string, ItemRef>> end_formats;
    while (end != 0 && (!at(end).countable() || at(end).deleted())) {
      const Item& e = at(end);
      if (!e.deleted() && e.ref == ContentRef::kFormat) {
        const std::string& key = s_.key(e);
        bool found = false;
        for (auto& [k, v] : end_formats) {
          if (k == key) {
            v = end;
            found = true;
          }
        }
        if (!found) end_formats.emplace_back(key, end);
      }
      end = e.right;
    }
    std::size_t cleanups = 0;
    bool reached_curr = false;
    while (start != end) {
      if (curr == start) reached_curr = true;
      const Item& s = at(start);
      if (!s.deleted() && s.ref == ContentRef::kFormat) {
        const ItemExtra& format = s_.format(s);
        const std::string& key = format.str;
        const AttrRef value_ref = format_value(format);
        const AttrRef* value = &value_ref;
        const AttrRef* start_value = attr_get(start_attrs, key);
        ItemRef end_format = 0;
        for (auto& [k, v] : end_formats) {
          if (k == key) end_format = v;
        }
        if (end_format != start || same_value(start_value, value)) {
          delete_item(txn, start);
          ++cleanups;
          if (!reached_curr && same_value(attr_get(curr_attrs, key), value) && !same_value(start_value, value)) {
            if (start_value == nullptr) {
              attr_delete(curr_attrs, key);
            } else {
              attr_set(curr_attrs, key, *start_value);
            }
          }
        }
        if (!reached_curr && !s.deleted()) update_attributes(curr_attrs, format);
      }
      start = s.right;
    }
    return cleanups;
  }

  // cleanupContextlessFormattingGap
  void cleanup_contextless_gap(Transaction& txn, ItemRef item) {
    while (item != 0 && at(item).right != 0 && (at(at(item).right).deleted() || !at(at(item).right).countable())) {
      item = at(item).right;
    }
    std::vector<std::string> seen;
    while (item != 0 && (at(item).deleted() || !at(item).countable())) {
      const Item& i = at(item);
      if (!i.deleted() && i.ref == ContentRef::kFormat) {
        const std::string& key = s_.key(i);
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
          delete_item(txn, item);
        } else {
          seen.push_back(key);
        }
      }
      item = i.left;
    }
  }

  // cleanupYTextFormatting
  void cleanup_text_formatting(Transaction& txn, Type* type) {
    ItemRef start = type->start;
    ItemRef end = type->start;
    Attributes start_attrs;
    Attributes curr_attrs;
    while (end != 0) {
      const Item& e = at(end);
      if (!e.deleted()) {
        if (e.ref == ContentRef::kFormat) {
          update_attributes(curr_attrs, s_.format(e));
        } else {
          cleanup_formatting_gap(txn, start, end, start_attrs, curr_attrs);
          start_attrs = curr_attrs;
          start = end;
        }
      }
      end = e.right;
    }
  }

  // iterateStructs(transaction, structs, clockStart, len, f)
  template <class F>
  void iterate_structs(Transaction& txn, ClientStructs& structs, std::uint64_t clock_start, std::uint64_t len, F&& f) {
    if (len == 0) return;
    const std::uint64_t clock_end = clock_start + len;
    std::size_t index = find_index_clean_start(txn, structs, static_cast<std::uint32_t>(clock_start));
    ItemRef s;
    do {
      s = structs[index++];
      if (clock_end < at(s).end()) find_index_clean_start(txn, structs, static_cast<std::uint32_t>(clock_end));
      f(s);
    } while (index < structs.size() && structs.clock_at(index) < clock_end);
  }

  // cleanupYTextAfterTransaction: runs while `txn` is being cleaned up, deleting in
  // a new local transaction that is cleaned up after it.
  void cleanup_text_after_transaction(Transaction& txn) {
    std::vector<Type*> full;
    auto add_full = [&](Type* t) {
      if (std::find(full.begin(), full.end(), t) == full.end()) full.push_back(t);
    };
    for (const auto& [client, clock] : txn.grown.entries()) {
      const std::uint64_t after = s_.store.state(client);
      // Yjs passes the after clock as the length, which reaches to the end.
      iterate_structs(txn, s_.store.structs(client), clock, after, [&](ItemRef r) {
        const Item& s = at(r);
        if (!s.is_deleted() && s.ref == ContentRef::kFormat) add_full(&type(s.parent));
      });
    }
    transact(
        [&](Transaction& t) {
          for (const auto& c : txn.delete_set.clients()) {
            const auto client = static_cast<ClientSlot>(c.client);
            ClientStructs& structs = s_.store.structs(client);
            if (structs.empty()) continue;
            const std::uint64_t state = structs.state();
            for (const DeleteRange& d : c.ranges) {
              if (d.clock >= state) break;
              iterate_structs(txn, structs, d.clock, d.len, [&](ItemRef r) {
                const Item& s = at(r);
                if (s.is_gc()) return;
                Type* parent = &type(s.parent);
                if (!parent->has_formatting || std::find(full.begin(), full.end(), parent) != full.end()) return;
                if (s.ref == ContentRef::kFormat) {
                  add_full(parent);
                } else {
                  cleanup_contextless_gap(t, r);
                }
              });
            }
          }
          for (Type* type : full) cleanup_text_formatting(t, type);
        },
        true);
  }

  // ---- applying updates (encoding.js, DeleteSet.js) ------------------------------

  // An id of the update, in a struct of `of_client` (slot `of_slot`), as one of
  // the document; most name the struct's own client.
  ItemId intern_id(Id id, std::uint64_t of_client, ClientSlot of_slot) {
    return {id.client == of_client ? of_slot : s_.store.slot(id.client), static_cast<std::uint32_t>(id.clock)};
  }
  // A struct naming a clock a document cannot hold: where it ends, or the
  // clock of an id it refers to (0 for an id it does not have).
  static bool beyond_clock_limit(std::uint64_t end, std::uint64_t origin_clock, std::uint64_t right_origin_clock,
                                 std::uint64_t parent_clock = 0) {
    return end > kMaxClock || origin_clock > kMaxClock || right_origin_clock > kMaxClock || parent_clock > kMaxClock;
  }
  static bool beyond_clock_limit(const Block& b) {
    return beyond_clock_limit(b.end(), b.has_origin ? b.origin.clock : 0, b.has_right_origin ? b.right_origin.clock : 0,
                              b.parent_kind == ParentKind::kId ? b.parent_id.clock : 0);
  }

  // readClientsStructRefs + readDeleteSet: the update's structs as unintegrated
  // items (scratch.refs / items, each client's in clock order) and its delete
  // set. Bad bytes, or a clock beyond kMaxClock, leave the document as it was
  // (a root is created only once the whole update has been read; the items
  // made so far are freed).
  Status read_refs(ByteView update, UpdateFormat format, ApplyScratch& scratch) {
    StringArena arena;  // strings the v2 decoder had to copy: used before it goes
    Status st = format == UpdateFormat::kV1 ? read_refs_v1(update, arena, scratch)
                                            : read_refs<DecoderV2>(update, arena, scratch);
    if (!st.ok()) {
      for (ItemRef r : scratch.items) {
        take_pending_text(at(r));  // not in the arena yet
        s_.free_item(r);
      }
      scratch.clear();
      return st;
    }
    // An update that more than doubles a client's structs (a document being
    // loaded) gets the room at once rather than by doubling (and trimming).
    for (const auto& [client, r] : scratch.refs.entries()) {
      ClientStructs& structs = s_.store.structs(client);
      if (r.end - r.i > std::max<std::size_t>(64, structs.size())) {
        structs.reserve(structs.size() + (r.end - r.i));
      }
    }
    if (scratch.text_bytes != 0) {
      s_.text.make_room(scratch.text_bytes);
      for (ItemRef r : scratch.items) {
        Item& item = at(r);
        if (item.text_size != 0 && item.ref == ContentRef::kString && item.is_item()) {
          const std::string_view text = take_pending_text(item);
          s_.text.assign(item, text);
        }
      }
    }
    for (const auto& [ref, name] : scratch.roots) at(ref).parent = s_.get_root(name)->self;
    return {};
  }

  // While an update is read, a string ref's text is still in the update: its
  // size is in text_size and where it starts in left and right (unused until
  // the ref is integrated), so that no list of texts is built beside the refs;
  // scratch.text_bytes sums them.
  static void set_pending_text(Item& item, std::string_view text, ApplyScratch& scratch) {
    static_assert(sizeof(const char*) <= sizeof item.left + sizeof item.right);
    if (text.empty()) return;  // (the reader refuses empty strings: a struct is never empty)
    scratch.text_bytes += text.size();
    const char* data = text.data();
    std::uint32_t halves[2] = {};
    std::memcpy(halves, &data, sizeof data);
    item.left = halves[0];
    item.right = halves[1];
    item.text_size = static_cast<std::uint32_t>(text.size());
  }
  // The text set_pending_text left in `item` (empty for any other item), which
  // then holds none.
  static std::string_view take_pending_text(Item& item) {
    if (item.ref != ContentRef::kString || !item.is_item() || item.text_size == 0) return {};
    const std::uint32_t halves[2] = {item.left, item.right};
    const char* data = nullptr;
    std::memcpy(&data, halves, sizeof data);
    const std::string_view text(data, item.text_size);
    item.left = 0;
    item.right = 0;
    item.text_size = 0;
    return text;
  }

  static Error malformed_structs() {
    return engine_error(CrdtErrc::kMalformed, "update: truncated, malformed or over the limits in the struct section");
  }
  static Error clock_beyond_limit() {
    return engine_error(CrdtErrc::kLimit, "update: a clock beyond 2^32, more than a document holds");
  }

  // read_refs<DecoderV1> without the codec's struct reader in between: the
  // structs most updates consist of — GC and skip runs, and strings and deleted
  // runs placed by an origin — are read field by field straight into their
  // items; any other item is read by the codec's read_item and made by
  // make_ref. It refuses what LazyReader refuses, with the same errors.
  Status read_refs_v1(ByteView update, StringArena& arena, ApplyScratch& scratch) {
    DecoderV1 dec(update, arena, s_.limits);
    Reader& in = dec.rest();
    std::vector<std::uint64_t> empty_groups;  // clients of groups without structs
    std::uint64_t total = 0;
    for (std::uint64_t groups = in.read_var_uint(); groups > 0 && !in.failed(); --groups) {
      std::uint64_t n = in.read_var_uint();
      const std::uint64_t client = in.read_var_uint();
      std::uint64_t clock = in.read_var_uint();
      if (in.failed() || n > s_.limits.max_structs - total) return malformed_structs();
      total += n;
      // One group per client, as LazyReader's.
      ClientSlot slot = s_.store.find(client);
      if ((slot != StructStore::kNoSlot && scratch.refs.find(slot) != nullptr) ||
          std::find(empty_groups.begin(), empty_groups.end(), client) != empty_groups.end()) {
        return malformed_structs();
      }
      if (n == 0) {
        empty_groups.push_back(client);
        continue;
      }
      if (slot == StructStore::kNoSlot) slot = s_.store.slot(client);
      scratch.refs[slot] = ClientRefs{scratch.items.size(), scratch.items.size(), false};
      for (; n > 0; --n) {
        const std::uint8_t info = in.read_u8();
        const auto content = static_cast<ContentRef>(info & 0x1f);
        std::uint64_t length;
        ItemRef r;
        if (info == 10 || content == ContentRef::kNone) {
          length = in.read_var_uint();
          if (in.failed() || !valid_struct_length(length, clock)) return malformed_structs();
          if (beyond_clock_limit(clock + length, 0, 0)) return clock_beyond_limit();
          r = s_.new_item();
          at(r).kind = info == 10 ? Item::Kind::kSkip : Item::Kind::kGc;
        } else if ((info & 0xC0) != 0 && (content == ContentRef::kString || content == ContentRef::kDeleted)) {
          Id origin;
          Id right_origin;
          if (info & 0x80) origin = dec.read_left_id();
          if (info & 0x40) right_origin = dec.read_right_id();
          std::string_view text;
          if (content == ContentRef::kString) {
            text = in.read_var_string(length);
          } else {
            length = in.read_var_uint();
          }
          const auto ahead = [&](std::uint8_t bit, Id id) {
            return (info & bit) != 0 && id.client == client && id.clock >= clock;
          };
          if (in.failed() || !valid_struct_length(length, clock) || ahead(0x80, origin) || ahead(0x40, right_origin)) {
            return malformed_structs();
          }
          if (beyond_clock_limit(clock + length, origin.clock, right_origin.clock)) return clock_beyond_limit();
          r = s_.new_item();
          Item& item = at(r);
          item.kind = Item::Kind::kItem;
          item.ref = content;
          item.flags = static_cast<std::uint8_t>((info & 0xC0) | (countable(content) ? Item::kCountable : 0));
          if (info & 0x80) item.origin = intern_id(origin, client, slot);
          if (info & 0x40) item.right_origin = intern_id(right_origin, client, slot);
          if (content == ContentRef::kString) set_pending_text(item, text, scratch);
        } else {
          Block& b = scratch.block;
          b.reset({client, clock});
          if (!read_item(dec, b, info) || !valid_struct_length(b.length, clock)) return malformed_structs();
          if (beyond_clock_limit(b)) return clock_beyond_limit();
          length = b.length;
          r = make_ref(b, slot, scratch);
        }
        Item& item = at(r);
        item.id = {slot, static_cast<std::uint32_t>(clock)};
        item.length = static_cast<std::uint32_t>(length);
        scratch.items.push_back(r);
        clock += length;
      }
      scratch.refs[slot].end = scratch.items.size();
    }
    if (in.failed()) return malformed_structs();
    if (!read_delete_set(dec, scratch.delete_set)) {
      return engine_error(CrdtErrc::kMalformed, "update: truncated or malformed delete set");
    }
    return {};
  }

  template <class Dec>
  Status read_refs(ByteView update, StringArena& arena, ApplyScratch& scratch) {
    Dec dec(update, arena, s_.limits);
    LazyReader<Dec> reader(dec, false);
    std::uint64_t group = 0;
    ClientSlot group_client = 0;
    while (reader.has_curr()) {
      const Block& b = reader.curr();
      if (beyond_clock_limit(b)) return clock_beyond_limit();
      if (scratch.items.empty() || reader.group() != group) {
        // A new client (the reader refuses a second group of one).
        if (!scratch.items.empty()) scratch.refs[group_client].end = scratch.items.size();
        group = reader.group();
        group_client = s_.store.slot(b.id.client);
        scratch.refs[group_client] = ClientRefs{scratch.items.size(), scratch.items.size(), false};
      }
      scratch.items.push_back(make_ref(b, group_client, scratch));
      reader.next();
    }
    if (!scratch.items.empty()) scratch.refs[group_client].end = scratch.items.size();
    if (dec.failed()) return malformed_structs();
    if (!read_delete_set(dec, scratch.delete_set)) {
      return engine_error(CrdtErrc::kMalformed, "update: truncated or malformed delete set");
    }
    return {};
  }

  // A struct of the update as an unintegrated item.
  ItemRef make_ref(const Block& b, ClientSlot client, ApplyScratch& scratch) {
    const ItemRef ref = s_.new_item();
    Item& item = at(ref);
    item.id = {client, static_cast<std::uint32_t>(b.id.clock)};
    item.length = static_cast<std::uint32_t>(b.length);
    if (b.kind == BlockKind::kGc) {
      item.kind = Item::Kind::kGc;
      return ref;
    }
    if (b.kind == BlockKind::kSkip) {
      item.kind = Item::Kind::kSkip;
      return ref;
    }
    item.kind = Item::Kind::kItem;
    item.flags = static_cast<std::uint8_t>((b.has_origin ? Item::kHasOrigin : 0) |
                                           (b.has_right_origin ? Item::kHasRightOrigin : 0) |
                                           (countable(b.ref) ? Item::kCountable : 0));
    if (b.has_origin) item.origin = intern_id(b.origin, b.id.client, client);
    if (b.has_right_origin) item.right_origin = intern_id(b.right_origin, b.id.client, client);
    if (b.parent_kind == ParentKind::kRoot) {
      scratch.roots.emplace_back(ref, b.parent_name);
    } else if (b.parent_kind == ParentKind::kId) {
      item.set_parent_is_id(true);
      item.origin = intern_id(b.parent_id, b.id.client, client);
    }
    if (b.has_parent_sub) item.parent_sub = s_.intern(b.parent_sub);
    item.ref = b.ref;
    switch (b.ref) {
      case ContentRef::kString:
        set_pending_text(item, b.text, scratch);
        break;
      case ContentRef::kBinary:
      case ContentRef::kDoc:
        s_.extra(item).str.assign(b.text);
        break;
      case ContentRef::kFormat:
        s_.extra(item).str.assign(b.text);
        s_.extra(item).value_identity = s_.next_identity++;
        break;
      case ContentRef::kType:
        s_.add_type(item, b.type_ref, std::string(b.text));
        break;
      default:
        break;
    }
    if (!b.values.empty()) s_.extra(item).values.assign(b.values.begin(), b.values.end());
    return ref;
  }

  // Blocks of structs that could not be integrated, grouped by client, for the
  // pending update (they are written, like Yjs's restStructs, with offset 0).
  struct Rest {
    std::vector<std::pair<ClientSlot, std::vector<ItemRef>>> clients;
    void set(ClientSlot client, std::vector<ItemRef> items) {
      for (auto& [c, v] : clients) {
        if (c == client) {
          v = std::move(items);
          return;
        }
      }
      clients.emplace_back(client, std::move(items));
    }
  };

  // integrateStructs
  std::optional<PendingStructs> integrate_structs(Transaction& txn, ApplyScratch& scratch) {
    auto& refs = scratch.refs;
    const auto& items = scratch.items;
    auto& stack = scratch.stack;
    auto& ids = scratch.ids;
    const StructStore& store = s_.store;
    for (const auto& [client, r] : refs.entries()) ids.push_back(client);
    std::sort(ids.begin(), ids.end(), [&](ClientSlot a, ClientSlot b) { return store.client(a) < store.client(b); });
    if (ids.empty()) return std::nullopt;

    auto next_target = [&]() -> ClientRefs* {
      while (!ids.empty()) {
        ClientRefs& t = refs[ids.back()];
        if (t.i < t.end) return &t;
        ids.pop_back();
      }
      return nullptr;
    };
    ClientRefs* cur = next_target();
    if (cur == nullptr) return std::nullopt;

    Rest rest;
    OrderedState missing;
    auto update_missing = [&](ClientSlot client, std::uint64_t clock) {
      const std::uint64_t id = store.client(client);
      if (!missing.has(id) || missing.get(id) > clock) missing.set(id, clock);
    };
    ItemRef head = items[cur->i++];
    auto add_stack_to_rest = [&]() {
      for (ItemRef item : stack) {
        const ClientSlot client = at(item).id.client;
        ClientRefs* found = refs.find(client);
        if (found != nullptr && !found->removed) {
          ClientRefs& r = *found;
          --r.i;
          rest.set(client, std::vector<ItemRef>(items.begin() + static_cast<std::ptrdiff_t>(r.i),
                                                items.begin() + static_cast<std::ptrdiff_t>(r.end)));
          r.i = r.end;
          r.removed = true;
        } else {
          rest.set(client, {item});
        }
        std::erase(ids, client);
      }
      stack.clear();
    };

    for (;;) {
      const Item& h = at(head);
      if (h.kind != Item::Kind::kSkip) {
        // Yjs caches each client's state as it reads it; the cache always equals
        // the store's, which is one load away here.
        const std::uint32_t st = store.state(h.id.client);
        if (st < h.id.clock) {
          stack.push_back(head);
          update_missing(h.id.client, h.id.clock - 1);
          add_stack_to_rest();
        } else {
          const std::uint32_t offset = st - h.id.clock;
          const ClientSlot miss = h.is_item() ? get_missing(txn, head) : StructStore::kNoSlot;
          if (miss != StructStore::kNoSlot) {
            stack.push_back(head);
            ClientRefs* dep = refs.find(miss);
            if (dep == nullptr || dep->removed || dep->i == dep->end) {
              update_missing(miss, store.state(miss));
              add_stack_to_rest();
            } else {
              head = items[dep->i++];
              continue;
            }
          } else if (offset == 0 || offset < h.length) {
            integrate_struct(txn, head, offset);
          } else {
            s_.discard.push_back(head);  // already known
          }
        }
      } else {
        s_.discard.push_back(head);
      }
      if (!stack.empty()) {
        head = stack.back();
        stack.pop_back();
      } else if (cur != nullptr && cur->i < cur->end) {
        head = items[cur->i++];
      } else {
        cur = next_target();
        if (cur == nullptr) break;
        head = items[cur->i++];
      }
    }
    // Refs of clients never reached (every struct went to rest) are not leaked.
    if (rest.clients.empty()) return std::nullopt;
    PendingStructs pending;
    pending.missing = std::move(missing);
    pending.update = encode_rest(rest);
    for (auto& [client, pending_items] : rest.clients) {
      for (ItemRef item : pending_items) s_.discard.push_back(item);
    }
    return pending;
  }

  void integrate_struct(Transaction& txn, ItemRef r, std::uint32_t offset) {
    Item& s = at(r);
    if (s.is_gc()) {
      // GC.integrate
      if (offset > 0) {
        s.id.clock += offset;
        s.length -= offset;
      }
      add_struct(txn, r);
      return;
    }
    integrate(txn, r, offset);
  }

  // writeClientsStructs(encoder, restStructs, new Map()) + "0 deletes", as v2.
  Bytes encode_rest(Rest& rest) {
    std::sort(rest.clients.begin(), rest.clients.end(),
              [&](const auto& a, const auto& b) { return s_.store.client(a.first) > s_.store.client(b.first); });
    detail::EncoderV2 enc;
    detail::LazyWriter<detail::EncoderV2> writer(enc);
    for (const auto& [client, items] : rest.clients) {
      for (ItemRef item : items) write_struct(writer, at(item), 0);
    }
    writer.finish();
    enc.rest().write_var_uint(0);
    return enc.finish();
  }

  template <class W>
  void write_struct(W& writer, const Item& s, std::uint64_t offset) const {
    const Id id = id_of(s.id);
    if (!s.is_item()) {
      writer.write(s.is_gc() ? BlockKind::kGc : BlockKind::kSkip, id, s.length, nullptr, offset);
      return;
    }
    const ItemView v = view_of(s_, s);
    writer.write(BlockKind::kItem, id, s.length, &v, offset);
  }

  // readAndApplyDeleteSet: returns the ranges that could not be applied yet.
  DeleteSet apply_delete_set(Transaction& txn, const DeleteSet& ds) {
    DeleteSet unapplied;
    for (const auto& c : ds.clients()) {
      const ClientSlot slot = s_.store.find(c.client);
      const std::uint64_t state = slot == StructStore::kNoSlot ? 0 : s_.store.state(slot);
      std::size_t hint = 0;  // the ranges are sorted (if the update is Yjs's): each search starts at the last
      for (const DeleteRange& d : c.ranges) {
        const std::uint64_t clock = d.clock;
        const std::uint64_t end = d.clock + d.len;
        if (clock < state) {
          ClientStructs& structs = s_.store.structs(slot);
          if (state < end) unapplied.add(c.client, {state, end - state});
          std::size_t index = structs.find_near(static_cast<std::uint32_t>(clock), hint);
          ItemRef s = structs[index];
          if (!at(s).is_deleted() && at(s).id.clock < clock) {
            structs.insert(index + 1, split_item(txn, s, clock - at(s).id.clock), static_cast<std::uint32_t>(clock));
            ++index;
          }
          while (index < structs.size()) {
            if (structs.clock_at(index) >= end) break;
            s = structs[index++];
            const Item& item = at(s);
            if (!item.is_deleted()) {
              if (end < item.end()) {
                structs.insert(index, split_item(txn, s, end - item.id.clock), static_cast<std::uint32_t>(end));
              }
              delete_item(txn, s);
            }
          }
          hint = index;
        } else {
          unapplied.add(c.client, {clock, end - clock});
        }
      }
    }
    return unapplied;
  }

  static Result<Bytes> ds_update_v2(const DeleteSet& ds) {
    detail::EncoderV2 enc;
    enc.rest().write_var_uint(0);  // no structs
    detail::write_delete_set(enc, ds);
    if (enc.failed()) return engine_error(CrdtErrc::kUnencodable, "pending delete set cannot be encoded");
    return enc.finish();
  }

  // readUpdateV2 / readUpdate
  Status apply_update(ByteView update, UpdateFormat format) {
    auto scratch = s_.apply_scratch.lease();
    if (Status st = read_refs(update, format, *scratch); !st.ok()) return st;
    Status status;
    transact([&](Transaction& txn) { status = integrate_update(txn, *scratch); }, false);
    for (ItemRef item : s_.discard) s_.free_item(item);
    s_.discard.clear();
    scratch->release_if_large();
    return status;
  }

  // The rest of readUpdateV2, for an update read into `scratch`.
  Status integrate_update(Transaction& txn, ApplyScratch& scratch) {
    Status status;
    txn.local = false;
    bool retry = false;
    auto rest = integrate_structs(txn, scratch);
    for (auto& [client, r] : scratch.refs.entries()) {
      for (std::size_t k = r.i; k < r.end; ++k) s_.discard.push_back(scratch.items[k]);
    }
    if (s_.pending_structs) {
      PendingStructs& pending = *s_.pending_structs;
      for (const auto& [client, clock] : pending.missing.entries()) {
        if (clock < s_.store.state_of(client)) {
          retry = true;
          break;
        }
      }
      if (rest) {
        for (const auto& [client, clock] : rest->missing.entries()) {
          if (!pending.missing.has(client) || pending.missing.get(client) > clock) pending.missing.set(client, clock);
        }
        const ByteView both[] = {pending.update, rest->update};
        auto merged = merge_updates(both, UpdateFormat::kV2, s_.limits);
        if (!merged) {
          status = merged.error();
        } else {
          pending.update = std::move(*merged);
        }
      }
    } else {
      s_.pending_structs = std::move(rest);
    }
    DeleteSet unapplied = apply_delete_set(txn, scratch.delete_set);
    std::optional<Bytes> ds_rest;
    if (!unapplied.empty()) {
      auto b = ds_update_v2(unapplied);
      if (b) ds_rest = std::move(*b);
    }
    if (s_.pending_ds) {
      auto pending_update = decode_update(*s_.pending_ds, UpdateFormat::kV2, s_.limits);
      std::optional<Bytes> ds_rest2;
      if (pending_update) {
        DeleteSet unapplied2 = apply_delete_set(txn, pending_update->delete_set);
        if (!unapplied2.empty()) {
          auto b = ds_update_v2(unapplied2);
          if (b) ds_rest2 = std::move(*b);
        }
      }
      if (ds_rest && ds_rest2) {
        const ByteView both[] = {*ds_rest, *ds_rest2};
        auto merged = merge_updates(both, UpdateFormat::kV2, s_.limits);
        s_.pending_ds = merged ? std::optional<Bytes>(std::move(*merged)) : std::nullopt;
      } else {
        s_.pending_ds = ds_rest ? std::move(ds_rest) : std::move(ds_rest2);
      }
    } else {
      s_.pending_ds = std::move(ds_rest);
    }
    if (retry) {
      const Bytes again = std::move(s_.pending_structs->update);
      s_.pending_structs.reset();
      // The pending structs came from updates already read: they read again.
      auto nested = s_.apply_scratch.lease();
      if (Status st = read_refs(again, UpdateFormat::kV2, *nested); !st.ok()) {
        status = st;
      } else if (Status st2 = integrate_update(txn, *nested); !st2.ok()) {  // joins this transaction
        status = st2;
      }
      nested->release_if_large();
    }
    return status;
  }

  // ---- encoding the state (encoding.js) ------------------------------------------

  template <class Enc>
  Bytes write_state(const StateVector& target) const {
    std::vector<std::pair<ClientSlot, std::uint64_t>> starts;
    for (ClientSlot slot = 0; slot < s_.store.slots(); ++slot) {
      const std::uint64_t clock = target.get(s_.store.client(slot));
      if (s_.store.state(slot) > clock) starts.emplace_back(slot, clock);
    }
    if constexpr (std::is_same_v<Enc, EncoderV1>) {
      return write_update_v1(s_, starts, nullptr);
    } else {
      return write_structs_and_ds<Enc>(std::move(starts), delete_set_of_store());
    }
  }

  // writeClientsStructs for the clients in `starts` (slot, first clock; each
  // below the client's state), followed by `ds`.
  template <class Enc>
  Bytes write_structs_and_ds(std::vector<std::pair<ClientSlot, std::uint64_t>> starts, const DeleteSet& ds) const {
    std::sort(starts.begin(), starts.end(),
              [&](const auto& a, const auto& b) { return s_.store.client(a.first) > s_.store.client(b.first); });
    Enc enc;
    LazyWriter<Enc> writer(enc);
    for (const auto& [slot, from] : starts) {
      const ClientStructs& structs = s_.store.structs(slot);
      const auto clock = static_cast<std::uint32_t>(std::max<std::uint64_t>(from, structs.clock_at(0)));
      std::size_t i = structs.find(clock);
      write_struct(writer, at(structs[i]), clock - structs.clock_at(i));
      for (++i; i < structs.size(); ++i) write_struct(writer, at(structs[i]), 0);
    }
    writer.finish();
    write_delete_set(enc, ds);
    return enc.finish();
  }

  // createDeleteSetFromStructStore
  [[nodiscard]] DeleteSet delete_set_of_store() const {
    DeleteSet ds;
    for (ClientSlot slot = 0; slot < s_.store.slots(); ++slot) {
      const ClientStructs& structs = s_.store.structs(slot);
      for (std::size_t i = 0; i < structs.size(); ++i) {
        if (!at(structs[i]).is_deleted()) continue;
        const std::uint64_t clock = structs.clock_at(i);
        std::uint64_t len = at(structs[i]).length;
        while (i + 1 < structs.size() && at(structs[i + 1]).is_deleted()) len += at(structs[++i]).length;
        ds.add(s_.store.client(slot), {clock, len});
      }
    }
    return ds;
  }

 private:
  DocState& s_;
};

}  // namespace quire::crdt::detail
