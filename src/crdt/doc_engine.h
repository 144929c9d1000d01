// Internal: the engine's operations on a DocState — Yjs's Item, StructStore,
// Transaction, encoding and YText functions, each named after and following its
// Yjs 13.6 counterpart step by step. Used by doc.cc (applying and encoding) and
// doc_edit.cc (local edits). Thread-safety: none (see doc.h).
#pragma once

#include <algorithm>
#include <cassert>
#include <optional>
#include <random>
#include <string>
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

// ---- struct store (StructStore.js) -------------------------------------------

// findIndexSS: the struct containing `clock`.
inline std::size_t find_index(const ClientStructs& structs, std::uint64_t clock) {
  return structs.find(clock);
}

inline Item* get_item(StructStore& store, Id id) {
  auto& structs = *store.structs(id.client);
  return structs[find_index(structs, id.clock)];
}

inline void add_struct(Transaction& txn, StructStore& store, Item* s) {
  ClientStructs& structs = store.add_client(s->id.client);
  if (!txn.grown.contains(s->id.client)) txn.grown[s->id.client] = structs.empty() ? 0 : structs.back()->end();
  structs.push_back(s);
}

inline void add_changed_type(Transaction& txn, Type* type) {
  const Item* item = type->item;
  if (item == nullptr || (item->id.clock < txn.before(item->id.client) && !item->deleted)) {
    txn.changed[type] = true;
  }
}

class Engine {
 public:
  explicit Engine(DocState& s) : s_(s) {}

  // ---- content (structs/Content*.js) -------------------------------------------

  // content.splice(diff): moves the tail of `left`'s content into `right`.
  void splice_content(Item& left, Item& right, std::uint64_t diff) {
    right.ref = left.ref;
    right.type_ref = left.type_ref;
    switch (left.ref) {
      case ContentRef::kString:
        s_.text.split(left, right, diff);
        break;
      case ContentRef::kJson:
      case ContentRef::kAny: {
        std::vector<Any>& values = left.extra->values;
        right.ensure_extra().values.assign(std::make_move_iterator(values.begin() + static_cast<std::ptrdiff_t>(diff)),
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
      case ContentRef::kAny:
        left.extra->values.insert(left.extra->values.end(), std::make_move_iterator(right.extra->values.begin()),
                                  std::make_move_iterator(right.extra->values.end()));
        return true;
      case ContentRef::kDeleted:
        return true;
      default:
        return false;
    }
  }

  void integrate_content(Transaction& txn, Item& item) {
    switch (item.ref) {
      case ContentRef::kDeleted:
        txn.delete_set.add_joining(item.id.client, {item.id.clock, item.length});
        item.deleted = true;
        break;
      case ContentRef::kFormat:
        item.parent->has_formatting = true;
        break;
      case ContentRef::kType:
        item.type()->item = &item;
        break;
      default:
        break;
    }
  }

  // ContentType.delete: deletes every child; deleted children that predate the
  // transaction are queued for merging.
  void delete_content(Transaction& txn, Item& item) {
    if (item.ref != ContentRef::kType) return;
    Type* type = item.type();
    for (Item* child = type->start; child != nullptr; child = child->right) {
      if (!child->deleted) {
        delete_item(txn, *child);
      } else if (child->id.clock < txn.before(child->id.client)) {
        txn.merge_structs.push_back(child);
      }
    }
    for (const auto& [key, tail] : type->map) {
      if (!tail->deleted) {
        delete_item(txn, *tail);
      } else if (tail->id.clock < txn.before(tail->id.client)) {
        txn.merge_structs.push_back(tail);
      }
    }
    txn.changed.erase(type);
  }

  // ---- items (Item.js) ---------------------------------------------------------

  // splitItem
  Item* split_item(Transaction& txn, Item* left, std::uint64_t diff) {
    Item* right = s_.new_item();
    right->kind = Item::Kind::kItem;
    right->id = {left->id.client, left->id.clock + diff};
    right->left = left;
    right->has_origin = true;
    right->origin = {left->id.client, left->id.clock + diff - 1};
    right->right = left->right;
    right->has_right_origin = left->has_right_origin;
    right->right_origin = left->right_origin;
    right->parent = left->parent;
    right->parent_sub = left->parent_sub;
    splice_content(*left, *right, diff);
    right->length = left->length - diff;
    right->countable = countable(right->ref);
    right->deleted = left->deleted;
    right->keep = left->keep;
    left->right = right;
    if (right->right != nullptr) right->right->left = right;
    txn.merge_structs.push_back(right);
    if (right->parent_sub != nullptr && right->right == nullptr) right->parent->map_set(right->parent_sub, right);
    left->length = diff;
    return right;
  }

  // findIndexCleanStart
  std::size_t find_index_clean_start(Transaction& txn, ClientStructs& structs, std::uint64_t clock) {
    const std::size_t index = find_index(structs, clock);
    Item* s = structs[index];
    if (s->id.clock < clock && s->is_item()) {
      structs.insert(index + 1, split_item(txn, s, clock - s->id.clock));
      return index + 1;
    }
    return index;
  }

  Item* get_item_clean_start(Transaction& txn, Id id) {
    auto& structs = *s_.store.structs(id.client);
    return structs[find_index_clean_start(txn, structs, id.clock)];
  }

  Item* get_item_clean_end(Transaction& txn, Id id) {
    auto& structs = *s_.store.structs(id.client);
    const std::size_t index = find_index(structs, id.clock);
    Item* s = structs[index];
    if (id.clock != s->id.clock + s->length - 1 && !s->is_gc()) {
      structs.insert(index + 1, split_item(txn, s, id.clock - s->id.clock + 1));
    }
    return s;
  }

  // Item.getMissing: the client of a missing dependency, or resolves the item's
  // neighbours and parent and returns nullopt.
  std::optional<std::uint64_t> get_missing(Transaction& txn, Item& item) {
    StructStore& store = s_.store;
    if (item.has_origin && item.origin.client != item.id.client &&
        item.origin.clock >= store.state(item.origin.client)) {
      return item.origin.client;
    }
    if (item.has_right_origin && item.right_origin.client != item.id.client &&
        item.right_origin.clock >= store.state(item.right_origin.client)) {
      return item.right_origin.client;
    }
    if (item.parent_is_id && item.id.client != item.parent_id().client &&
        item.parent_id().clock >= store.state(item.parent_id().client)) {
      return item.parent_id().client;
    }
    if (item.has_origin) {
      item.left = get_item_clean_end(txn, item.origin);
      item.origin = item.left->last_id();
    }
    if (item.has_right_origin) {
      item.right = get_item_clean_start(txn, item.right_origin);
      item.right_origin = item.right->id;
    }
    if ((item.left != nullptr && item.left->is_gc()) || (item.right != nullptr && item.right->is_gc())) {
      item.parent = nullptr;
      item.parent_is_id = false;
    } else if (item.parent == nullptr && !item.parent_is_id) {
      if (item.left != nullptr && item.left->is_item()) {
        item.parent = item.left->parent;
        item.parent_sub = item.left->parent_sub;
      } else if (item.right != nullptr && item.right->is_item()) {
        item.parent = item.right->parent;
        item.parent_sub = item.right->parent_sub;
      }
    } else if (item.parent_is_id) {
      Item* parent_item = get_item(store, item.parent_id());
      item.parent_is_id = false;
      if (item.ref == ContentRef::kString || item.ref == ContentRef::kDeleted) {
        item.extra.reset();  // it held only the parent id
      }
      // A GC'd parent, or one whose type was garbage-collected to ContentDeleted,
      // has no type: the item becomes GC.
      item.parent = parent_item->is_item() && parent_item->ref == ContentRef::kType ? parent_item->type() : nullptr;
    }
    return std::nullopt;
  }

  static bool same_origin(bool has_a, Id a, bool has_b, Id b) { return has_a == has_b && (!has_a || a == b); }

  // Item.integrate: YATA.
  void integrate(Transaction& txn, Item& item, std::uint64_t offset) {
    if (offset > 0) {
      item.id.clock += offset;
      item.left = get_item_clean_end(txn, {item.id.client, item.id.clock - 1});
      item.has_origin = true;
      item.origin = item.left->last_id();
      Item tail;
      splice_content(item, tail, offset);  // `item` keeps the head, `tail` gets the rest
      s_.text.release(item);
      item.text_data = tail.text_data;
      item.text_size = tail.text_size;
      item.extra = std::move(tail.extra);
      item.length -= offset;
    }
    if (item.parent == nullptr) {
      // GC.integrate: the item's position or parent is gone.
      item.kind = Item::Kind::kGc;
      s_.text.release(item);
      item.extra.reset();
      add_struct(txn, s_.store, &item);
      return;
    }
    Type* parent = item.parent;
    parent->hint_valid = false;
    if ((item.left == nullptr && (item.right == nullptr || item.right->left != nullptr)) ||
        (item.left != nullptr && item.left->right != item.right)) {
      Item* left = item.left;
      Item* o;
      if (left != nullptr) {
        o = left->right;
      } else if (item.parent_sub != nullptr) {
        o = parent->map_get(item.parent_sub);
        while (o != nullptr && o->left != nullptr) o = o->left;
      } else {
        o = parent->start;
      }
      ItemSet& conflicting = s_.conflicting;
      ItemSet& before_origin = s_.before_origin;
      conflicting.clear();
      before_origin.clear();
      while (o != nullptr && o != item.right) {
        before_origin.insert(o);
        conflicting.insert(o);
        if (same_origin(item.has_origin, item.origin, o->has_origin, o->origin)) {
          if (o->id.client < item.id.client) {
            left = o;
            conflicting.clear();
          } else if (same_origin(item.has_right_origin, item.right_origin, o->has_right_origin, o->right_origin)) {
            break;
          }
        } else if (o->has_origin && before_origin.contains(get_item(s_.store, o->origin))) {
          if (!conflicting.contains(get_item(s_.store, o->origin))) {
            left = o;
            conflicting.clear();
          }
        } else {
          break;
        }
        o = o->right;
      }
      item.left = left;
    }
    if (item.left != nullptr) {
      item.right = item.left->right;
      item.left->right = &item;
    } else {
      Item* r;
      if (item.parent_sub != nullptr) {
        r = parent->map_get(item.parent_sub);
        while (r != nullptr && r->left != nullptr) r = r->left;
      } else {
        r = parent->start;
        parent->start = &item;
      }
      item.right = r;
    }
    if (item.right != nullptr) {
      item.right->left = &item;
    } else if (item.parent_sub != nullptr) {
      parent->map_set(item.parent_sub, &item);
      if (item.left != nullptr) delete_item(txn, *item.left);  // the previous value is overwritten
    }
    if (item.parent_sub == nullptr && item.countable && !item.deleted) parent->length += item.length;
    add_struct(txn, s_.store, &item);
    integrate_content(txn, item);
    add_changed_type(txn, parent);
    if ((parent->item != nullptr && parent->item->deleted) || (item.parent_sub != nullptr && item.right != nullptr)) {
      delete_item(txn, item);
    }
  }

  // Item.delete
  void delete_item(Transaction& txn, Item& item) {
    if (item.deleted || !item.is_item()) return;
    Type* parent = item.parent;
    parent->hint_valid = false;
    if (item.countable && item.parent_sub == nullptr) parent->length -= item.length;
    item.deleted = true;
    txn.delete_set.add_joining(item.id.client, {item.id.clock, item.length});
    add_changed_type(txn, parent);
    delete_content(txn, item);
  }

  // Item.gc: a deleted item keeps its place but loses its content; the
  // descendants of a deleted type become GC structs.
  void gc_item(Item& item, bool parent_gcd) {
    if (item.ref == ContentRef::kType) {
      Type* type = item.type();
      for (Item* child = type->start; child != nullptr;) {
        Item* next = child->right;
        gc_item(*child, true);
        child = next;
      }
      type->start = nullptr;
      for (const auto& [key, tail] : type->map) {
        for (Item* n = tail; n != nullptr;) {
          Item* next = n->left;
          gc_item(*n, true);
          n = next;
        }
      }
      type->map_clear();
    }
    if (parent_gcd) {
      // replaceStruct(store, item, new GC(item.id, item.length))
      item.kind = Item::Kind::kGc;
      item.ref = ContentRef::kNone;
      s_.text.release(item);
      item.extra.reset();
    } else {
      item.ref = ContentRef::kDeleted;
      item.countable = false;
      s_.text.release(item);
      item.extra.reset();
    }
  }

  // Item.mergeWith / GC.mergeWith
  bool merge_with(Item& left, Item& right) {
    if (left.is_gc()) {
      if (!right.is_gc()) return false;
      left.length += right.length;
      return true;
    }
    if (!right.is_item() || !right.has_origin || !(right.origin == left.last_id()) || left.right != &right ||
        !same_origin(left.has_right_origin, left.right_origin, right.has_right_origin, right.right_origin) ||
        left.id.client != right.id.client || left.end() != right.id.clock || left.deleted != right.deleted ||
        left.ref != right.ref || !merge_content(left, right)) {
      return false;
    }
    if (right.keep) left.keep = true;
    left.right = right.right;
    if (left.right != nullptr) left.right->left = &left;
    left.length += right.length;
    return true;
  }

  // ---- transactions (Transaction.js) -------------------------------------------

  // tryToMergeWithLefts: merges structs[pos] into its left neighbours while they
  // allow it; returns how many were merged away.
  std::size_t try_merge_with_lefts(ClientStructs& structs, std::size_t pos) {
    Item* right = structs[pos];
    Item* left = structs[pos - 1];
    std::size_t i = pos;
    for (; i > 0; right = left, left = i - 1 > 0 ? structs[i - 2] : nullptr, --i) {
      if (left->is_deleted() == right->is_deleted() && left->kind == right->kind) {
        if (merge_with(*left, *right)) {
          if (right->is_item() && right->parent_sub != nullptr && right->parent->map_get(right->parent_sub) == right) {
            right->parent->map_set(right->parent_sub, left);
          }
          s_.dead.push_back(right);
          continue;
        }
      }
      break;
    }
    const std::size_t merged = pos - i;
    if (merged > 0) {
      structs.erase(pos + 1 - merged, pos + 1);
    }
    return merged;
  }

  void try_gc_delete_set(const DeleteSet& ds) {
    for (const auto& c : ds.clients()) {
      auto& structs = *s_.store.structs(c.client);
      std::size_t hint = structs.size() - 1;  // the ranges are sorted: each search starts at the last
      for (std::size_t di = c.ranges.size(); di-- > 0;) {
        const DeleteRange& d = c.ranges[di];
        const std::uint64_t end = d.clock + d.len;
        hint = structs.find_near(d.clock, hint);
        for (std::size_t si = hint; si < structs.size() && structs.clock_at(si) < end; ++si) {
          Item* s = structs[si];
          if (s->is_item() && s->deleted && !s->keep) gc_item(*s, false);
        }
      }
    }
  }

  void try_merge_delete_set(const DeleteSet& ds) {
    for (const auto& c : ds.clients()) {
      auto& structs = *s_.store.structs(c.client);
      auto si = static_cast<std::ptrdiff_t>(structs.size() - 1);
      for (std::size_t di = c.ranges.size(); di-- > 0;) {
        const DeleteRange& d = c.ranges[di];
        const std::size_t last =
            structs.find_near(d.clock + d.len - 1, static_cast<std::size_t>(std::max<std::ptrdiff_t>(si, 0)));
        si = static_cast<std::ptrdiff_t>(std::min(structs.size() - 1, 1 + last));
        while (si > 0 && structs.clock_at(static_cast<std::size_t>(si)) >= d.clock) {
          si -= 1 + static_cast<std::ptrdiff_t>(try_merge_with_lefts(structs, static_cast<std::size_t>(si)));
        }
      }
    }
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
    for (Item* item : s_.dead) s_.free_item(item);
    s_.dead.clear();
    if (s_.text.wants_compaction(s_.pool.size())) s_.compact_text();
  }

  DocState& state() { return s_; }

  // writeUpdateMessageFromTransaction: the structs added since the transaction
  // began and what it deleted; nullopt when it changed nothing.
  std::optional<Bytes> transaction_update(const Transaction& txn) const {
    if (txn.delete_set.empty() && txn.grown.empty()) return std::nullopt;
    StateVector before;
    for (const auto& [client, clock] : txn.grown.entries()) before.set(client, clock);
    return write_structs_and_ds<EncoderV1>(before, txn.delete_set, /*only_target=*/true);
  }

  static void reset(Transaction& txn) {
    txn.grown.clear();
    txn.delete_set.clear();
    txn.merge_structs.clear();
    txn.changed.clear();
    txn.need_formatting_cleanup = false;
  }

  void cleanup(Transaction& txn) {
    txn.delete_set.sort_and_merge();
    // Observers: only YText's matters to the document — after a remote change to a
    // text that ever held formatting, Yjs cleans up formatting markers.
    for (const auto& [type, unused] : txn.changed.entries()) {
      if (type->item == nullptr || !type->item->deleted) {
        if (!txn.local && type->is_text_class() && type->has_formatting) txn.need_formatting_cleanup = true;
      }
    }
    if (txn.need_formatting_cleanup) cleanup_text_after_transaction(txn);
    if (s_.gc) try_gc_delete_set(txn.delete_set);
    try_merge_delete_set(txn.delete_set);
    for (const auto& [client, before] : txn.grown.entries()) {
      auto& structs = *s_.store.structs(client);
      const std::size_t first = std::max<std::size_t>(find_index(structs, before), 1);
      for (std::size_t i = structs.size() - 1; i >= first;) {
        const std::size_t merged = try_merge_with_lefts(structs, i);
        if (i < first + 1 + merged) break;
        i -= 1 + merged;
      }
      // A transaction that more than doubled the client's structs (loading a
      // document) leaves up to half the arrays' capacity unused; give it back.
      if (2 * first < structs.size()) structs.shrink_to_fit();
    }
    // Splits are mostly recorded in clock order, one client after another, so
    // each search starts where the previous one of the same client ended.
    ClientStructs* hint_structs = nullptr;
    std::size_t hint = 0;
    for (std::size_t k = txn.merge_structs.size(); k-- > 0;) {
      const Id id = txn.merge_structs[k]->id;
      auto& structs = *s_.store.structs(id.client);
      const std::size_t pos =
          &structs == hint_structs ? structs.find_near(id.clock, hint) : find_index(structs, id.clock);
      hint_structs = &structs;
      hint = pos;
      if (pos + 1 < structs.size() && try_merge_with_lefts(structs, pos + 1) > 1) continue;
      if (pos > 0) try_merge_with_lefts(structs, pos);
    }
    // Another peer uses our client id: take a fresh one, as Yjs does.
    if (!txn.local && txn.grown.contains(s_.client_id)) {
      s_.client_id = random_client_id();
    }
    if (s_.on_update) {
      if (auto update = transaction_update(txn)) s_.on_update(*update);
    }
  }

  // ---- the rich-text formatting cleanup (YText.js) -----------------------------

  // cleanupFormattingGap
  std::size_t cleanup_formatting_gap(Transaction& txn, Item* start, Item* curr, const Attributes& start_attrs,
                                     Attributes& curr_attrs) {
    Item* end = start;
    std::vector<std::pair<std::string, Item*>> end_formats;
    while (end != nullptr && (!end->countable || end->deleted)) {
      if (!end->deleted && end->ref == ContentRef::kFormat) {
        bool found = false;
        for (auto& [k, v] : end_formats) {
          if (k == end->key()) {
            v = end;
            found = true;
          }
        }
        if (!found) end_formats.emplace_back(end->key(), end);
      }
      end = end->right;
    }
    std::size_t cleanups = 0;
    bool reached_curr = false;
    while (start != end) {
      if (curr == start) reached_curr = true;
      if (!start->deleted && start->ref == ContentRef::kFormat) {
        const std::string& key = start->key();
        const AttrRef value_ref = format_value(*start);
        const AttrRef* value = &value_ref;
        const AttrRef* start_value = attr_get(start_attrs, key);
        Item* end_format = nullptr;
        for (auto& [k, v] : end_formats) {
          if (k == key) end_format = v;
        }
        if (end_format != start || same_value(start_value, value)) {
          delete_item(txn, *start);
          ++cleanups;
          if (!reached_curr && same_value(attr_get(curr_attrs, key), value) && !same_value(start_value, value)) {
            if (start_value == nullptr) {
              attr_delete(curr_attrs, key);
            } else {
              attr_set(curr_attrs, key, *start_value);
            }
          }
        }
        if (!reached_curr && !start->deleted) update_attributes(curr_attrs, *start);
      }
      start = start->right;
    }
    return cleanups;
  }

  // cleanupContextlessFormattingGap
  void cleanup_contextless_gap(Transaction& txn, Item* item) {
    while (item != nullptr && item->right != nullptr && (item->right->deleted || !item->right->countable)) {
      item = item->right;
    }
    std::vector<std::string> seen;
    while (item != nullptr && (item->deleted || !item->countable)) {
      if (!item->deleted && item->ref == ContentRef::kFormat) {
        if (std::find(seen.begin(), seen.end(), item->key()) != seen.end()) {
          delete_item(txn, *item);
        } else {
          seen.push_back(item->key());
        }
      }
      item = item->left;
    }
  }

  // cleanupYTextFormatting
  void cleanup_text_formatting(Transaction& txn, Type* type) {
    Item* start = type->start;
    Item* end = type->start;
    Attributes start_attrs;
    Attributes curr_attrs;
    while (end != nullptr) {
      if (!end->deleted) {
        if (end->ref == ContentRef::kFormat) {
          update_attributes(curr_attrs, *end);
        } else {
          cleanup_formatting_gap(txn, start, end, start_attrs, curr_attrs);
          start_attrs = curr_attrs;
          start = end;
        }
      }
      end = end->right;
    }
  }

  // iterateStructs(transaction, structs, clockStart, len, f)
  template <class F>
  void iterate_structs(Transaction& txn, ClientStructs& structs, std::uint64_t clock_start, std::uint64_t len, F&& f) {
    if (len == 0) return;
    const std::uint64_t clock_end = clock_start + len;
    std::size_t index = find_index_clean_start(txn, structs, clock_start);
    Item* s;
    do {
      s = structs[index++];
      if (clock_end < s->end()) find_index_clean_start(txn, structs, clock_end);
      f(s);
    } while (index < structs.size() && structs[index]->id.clock < clock_end);
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
      iterate_structs(txn, *s_.store.structs(client), clock, after, [&](Item* s) {
        if (!s->is_deleted() && s->ref == ContentRef::kFormat) add_full(s->parent);
      });
    }
    transact(
        [&](Transaction& t) {
          for (const auto& c : txn.delete_set.clients()) {
            auto* structs = s_.store.structs(c.client);
            if (structs == nullptr) continue;
            const std::uint64_t state = structs->back()->end();
            for (const DeleteRange& d : c.ranges) {
              if (d.clock >= state) break;
              iterate_structs(txn, *structs, d.clock, d.len, [&](Item* s) {
                if (s->is_gc() || !s->parent->has_formatting ||
                    std::find(full.begin(), full.end(), s->parent) != full.end()) {
                  return;
                }
                if (s->ref == ContentRef::kFormat) {
                  add_full(s->parent);
                } else {
                  cleanup_contextless_gap(t, s);
                }
              });
            }
          }
          for (Type* type : full) cleanup_text_formatting(t, type);
        },
        true);
  }

  // ---- applying updates (encoding.js, DeleteSet.js) ------------------------------

  // readClientsStructRefs: the update's structs as unintegrated items, by client
  // (a later group of the same client replaces an earlier one, as in Yjs).
  // Fills `scratch.refs` and `scratch.items`.
  void make_refs(const DecodedUpdate& update, ApplyScratch& scratch) {
    auto& refs = scratch.refs;
    auto& items = scratch.items;
    std::size_t text_bytes = 0;
    for (const Block& b : update.blocks) {
      if (b.kind == BlockKind::kItem && b.ref == ContentRef::kString) text_bytes += b.text.size();
    }
    s_.text.make_room(text_bytes);
    std::size_t next_group = 0;
    std::uint64_t group_client = 0;
    for (std::size_t k = 0; k < update.blocks.size(); ++k) {
      const Block& b = update.blocks[k];
      if (next_group < update.group_starts.size() && update.group_starts[next_group] == k) {
        ++next_group;
        group_client = b.id.client;
        ClientRefs& r = refs[group_client];
        for (std::size_t k2 = r.i; k2 < r.end; ++k2) s_.discard.push_back(items[k2]);
        r = ClientRefs{items.size(), items.size(), false};  // a second group of a client replaces the first
      }
      Item* item = s_.new_item();
      item->id = b.id;
      item->length = b.length;
      if (b.kind == BlockKind::kGc) {
        item->kind = Item::Kind::kGc;
      } else if (b.kind == BlockKind::kSkip) {
        item->kind = Item::Kind::kSkip;
      } else {
        item->kind = Item::Kind::kItem;
        item->has_origin = b.has_origin;
        item->origin = b.origin;
        item->has_right_origin = b.has_right_origin;
        item->right_origin = b.right_origin;
        if (b.parent_kind == ParentKind::kRoot) {
          item->parent = s_.get_root(b.parent_name);
        } else if (b.parent_kind == ParentKind::kId) {
          item->parent_is_id = true;
          item->ensure_extra().parent_id = b.parent_id;
        }
        if (b.has_parent_sub) item->parent_sub = s_.intern(b.parent_sub);
        item->ref = b.ref;
        item->type_ref = b.type_ref;
        item->countable = countable(b.ref);
        if (b.ref == ContentRef::kString) {
          s_.text.assign(*item, b.text);
        } else if (b.ref == ContentRef::kBinary || b.ref == ContentRef::kFormat || b.ref == ContentRef::kDoc) {
          item->ensure_extra().str.assign(b.text);
        }
        if (!b.values.empty()) item->ensure_extra().values.assign(b.values.begin(), b.values.end());
        if (b.ref == ContentRef::kFormat) item->ensure_extra().value_identity = s_.next_identity++;
        if (b.ref == ContentRef::kType) {
          auto type = std::make_unique<Type>();
          type->type_ref = b.type_ref;
          type->name.assign(b.text);
          item->ensure_extra().type = std::move(type);
        }
      }
      items.push_back(item);
      refs[group_client].end = items.size();
    }
  }

  // Blocks of structs that could not be integrated, grouped by client, for the
  // pending update (they are written, like Yjs's restStructs, with offset 0).
  struct Rest {
    std::vector<std::pair<std::uint64_t, std::vector<Item*>>> clients;
    void set(std::uint64_t client, std::vector<Item*> items) {
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
    for (const auto& [client, r] : refs.entries()) ids.push_back(client);
    std::sort(ids.begin(), ids.end());
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
    auto update_missing = [&](std::uint64_t client, std::uint64_t clock) {
      if (!missing.has(client) || missing.get(client) > clock) missing.set(client, clock);
    };
    Item* head = items[cur->i++];
    auto& state = scratch.state;
    auto add_stack_to_rest = [&]() {
      for (Item* item : stack) {
        const std::uint64_t client = item->id.client;
        ClientRefs* found = refs.find(client);
        if (found != nullptr && !found->removed) {
          ClientRefs& r = *found;
          --r.i;
          rest.set(client, std::vector<Item*>(items.begin() + static_cast<std::ptrdiff_t>(r.i),
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
      if (head->kind != Item::Kind::kSkip) {
        const std::uint64_t* cached = state.find(head->id.client);
        const std::uint64_t st =
            cached != nullptr ? *cached : (state[head->id.client] = s_.store.state(head->id.client));
        const bool behind = st < head->id.clock;
        if (behind) {
          stack.push_back(head);
          update_missing(head->id.client, head->id.clock - 1);
          add_stack_to_rest();
        } else {
          const std::uint64_t offset = st - head->id.clock;
          const auto miss = head->is_item() ? get_missing(txn, *head) : std::nullopt;
          if (miss) {
            stack.push_back(head);
            ClientRefs* dep = refs.find(*miss);
            if (dep == nullptr || dep->removed || dep->i == dep->end) {
              update_missing(*miss, s_.store.state(*miss));
              add_stack_to_rest();
            } else {
              head = items[dep->i++];
              continue;
            }
          } else if (offset == 0 || offset < head->length) {
            integrate_struct(txn, *head, offset);
            state[head->id.client] = head->end();
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
      for (Item* item : pending_items) s_.discard.push_back(item);
    }
    return pending;
  }

  void integrate_struct(Transaction& txn, Item& s, std::uint64_t offset) {
    if (s.is_gc()) {
      // GC.integrate
      if (offset > 0) {
        s.id.clock += offset;
        s.length -= offset;
      }
      add_struct(txn, s_.store, &s);
      return;
    }
    integrate(txn, s, offset);
  }

  // writeClientsStructs(encoder, restStructs, new Map()) + "0 deletes", as v2.
  Bytes encode_rest(Rest& rest) {
    std::sort(rest.clients.begin(), rest.clients.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    detail::EncoderV2 enc;
    detail::LazyWriter<detail::EncoderV2> writer(enc);
    for (const auto& [client, items] : rest.clients) {
      for (const Item* item : items) write_struct(writer, *item, 0);
    }
    writer.finish();
    enc.rest().write_var_uint(0);
    return enc.finish();
  }

  template <class W>
  void write_struct(W& writer, const Item& s, std::uint64_t offset) const {
    if (!s.is_item()) {
      writer.write(s.is_gc() ? BlockKind::kGc : BlockKind::kSkip, s.id, s.length, nullptr, offset);
      return;
    }
    detail::ItemView v;
    v.id = s.id;
    v.length = s.length;
    v.ref = s.ref;
    v.type_ref = s.type_ref;
    v.has_origin = s.has_origin;
    v.origin = s.origin;
    v.has_right_origin = s.has_right_origin;
    v.right_origin = s.right_origin;
    v.has_parent_sub = s.parent_sub != nullptr;
    if (s.parent_sub != nullptr) v.parent_sub = *s.parent_sub;
    if (s.parent_is_id) {
      v.parent_kind = ParentKind::kId;
      v.parent_id = s.parent_id();
    } else if (s.parent != nullptr) {
      if (s.parent->item == nullptr) {
        v.parent_kind = ParentKind::kRoot;
        v.parent_name = *s_.root_name(s.parent);
      } else {
        v.parent_kind = ParentKind::kId;
        v.parent_id = s.parent->item->id;
      }
    }
    switch (s.ref) {
      case ContentRef::kString:
        v.text = s.text();
        break;
      case ContentRef::kType:
        v.text = s.type()->name;
        break;
      case ContentRef::kBinary:
      case ContentRef::kFormat:
      case ContentRef::kDoc:
        v.text = s.key();
        break;
      default:
        break;
    }
    v.values = s.values();
    writer.write(BlockKind::kItem, s.id, s.length, &v, offset);
  }

  // readAndApplyDeleteSet: returns the ranges that could not be applied yet.
  DeleteSet apply_delete_set(Transaction& txn, const DeleteSet& ds) {
    DeleteSet unapplied;
    for (const auto& c : ds.clients()) {
      const std::uint64_t state = s_.store.state(c.client);
      ClientStructs* structs = s_.store.structs(c.client);
      std::size_t hint = 0;  // the ranges are sorted (if the update is Yjs's): each search starts at the last
      for (const DeleteRange& d : c.ranges) {
        const std::uint64_t clock = d.clock;
        const std::uint64_t end = d.clock + d.len;
        if (clock < state) {
          if (state < end) unapplied.add(c.client, {state, end - state});
          std::size_t index = structs->find_near(clock, hint);
          Item* s = (*structs)[index];
          if (!s->is_deleted() && s->id.clock < clock) {
            structs->insert(index + 1, split_item(txn, s, clock - s->id.clock));
            ++index;
          }
          while (index < structs->size()) {
            if (structs->clock_at(index) >= end) break;
            s = (*structs)[index++];
            if (!s->is_deleted()) {
              if (end < s->end()) {
                structs->insert(index, split_item(txn, s, end - s->id.clock));
              }
              delete_item(txn, *s);
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

  // readUpdateV2 for an already decoded update.
  Status read_update(const DecodedUpdate& update) {
    Status status;
    transact(
        [&](Transaction& txn) {
          txn.local = false;
          bool retry = false;
          auto scratch = s_.apply_scratch.lease();
          make_refs(update, *scratch);
          auto rest = integrate_structs(txn, *scratch);
          for (auto& [client, r] : scratch->refs.entries()) {
            for (std::size_t k = r.i; k < r.end; ++k) s_.discard.push_back(scratch->items[k]);
          }
          scratch->release_if_large();
          if (s_.pending_structs) {
            PendingStructs& pending = *s_.pending_structs;
            for (const auto& [client, clock] : pending.missing.entries()) {
              if (clock < s_.store.state(client)) {
                retry = true;
                break;
              }
            }
            if (rest) {
              for (const auto& [client, clock] : rest->missing.entries()) {
                if (!pending.missing.has(client) || pending.missing.get(client) > clock)
                  pending.missing.set(client, clock);
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
          DeleteSet unapplied = apply_delete_set(txn, update.delete_set);
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
            Bytes again = std::move(s_.pending_structs->update);
            s_.pending_structs.reset();
            auto decoded = decode_update(again, UpdateFormat::kV2, s_.limits);
            if (decoded) {
              Status st = read_update(*decoded);  // joins this transaction
              if (!st.ok()) status = st;
            } else {
              status = decoded.error();
            }
          }
        },
        false);
    for (Item* item : s_.discard) s_.free_item(item);
    s_.discard.clear();
    return status;
  }

  // ---- encoding the state (encoding.js) ------------------------------------------

  template <class Enc>
  Bytes write_state(const StateVector& target) const {
    return write_structs_and_ds<Enc>(target, delete_set_of_store());
  }

  // writeClientsStructs(encoder, store, target) followed by `ds`.
  template <class Enc>
  Bytes write_structs_and_ds(const StateVector& target, const DeleteSet& ds, bool only_target = false) const {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> starts;
    for (const auto& [client, clock] : target.entries()) {
      if (s_.store.state(client) > clock) starts.emplace_back(client, clock);
    }
    for (std::uint64_t client : s_.store.order) {
      if (only_target) break;
      if (target.entries().count(client) == 0 && !s_.store.clients.at(client).empty()) starts.emplace_back(client, 0);
    }
    std::sort(starts.begin(), starts.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    Enc enc;
    LazyWriter<Enc> writer(enc);
    for (const auto& [client, from] : starts) {
      const auto& structs = s_.store.clients.at(client);
      const std::uint64_t clock = std::max(from, structs[0]->id.clock);
      std::size_t i = find_index(structs, clock);
      write_struct(writer, *structs[i], clock - structs[i]->id.clock);
      for (++i; i < structs.size(); ++i) write_struct(writer, *structs[i], 0);
    }
    writer.finish();
    write_delete_set(enc, ds);
    return enc.finish();
  }

  // createDeleteSetFromStructStore
  DeleteSet delete_set_of_store() const {
    DeleteSet ds;
    for (std::uint64_t client : s_.store.order) {
      const auto& structs = s_.store.clients.at(client);
      for (std::size_t i = 0; i < structs.size(); ++i) {
        if (!structs[i]->is_deleted()) continue;
        const std::uint64_t clock = structs[i]->id.clock;
        std::uint64_t len = structs[i]->length;
        while (i + 1 < structs.size() && structs[i + 1]->is_deleted()) len += structs[++i]->length;
        ds.add(client, {clock, len});
      }
    }
    return ds;
  }

 private:
  DocState& s_;
};

}  // namespace quire::crdt::detail
