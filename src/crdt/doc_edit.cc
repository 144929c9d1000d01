// Local edits: YText.insert / delete / format (insertText, formatText, deleteText
// and their attribute helpers in YText.js), typeMapSet and
// typeListInsertGenericsAfter (AbstractType.js), each as Yjs performs them so
// that the updates they emit are the ones a Yjs client would emit.
#include <algorithm>
#include <utility>

#include "crdt/doc.h"
#include "crdt/doc_engine.h"

namespace quire::crdt {

using detail::ClientSlot;
using detail::Engine;
using detail::Item;
using detail::ItemRef;
using detail::KeyRef;
using detail::StructStore;
using detail::Transaction;
using detail::Type;

namespace {

using detail::attr_delete;
using detail::attr_get;
using detail::attr_set;
using detail::Attributes;
using detail::AttrRef;
using detail::same_value;
using detail::update_attributes;

const Any kNull = Any::null();
const AttrRef kNullRef{&kNull, 0};

bool is_object(const Any& a) {
  return a.kind == Any::Kind::kObject || a.kind == Any::Kind::kArray || a.kind == Any::Kind::kBytes;
}

// `===` between plain values nested in format values (objects are never the same).
bool nested_equal(const Any& a, const Any& b) {
  if (a.kind != b.kind || is_object(a)) return false;
  if (a.kind == Any::Kind::kNumber) return a.number == b.number;
  return a == b;
}

// YText's equalAttrs: `===`, or two objects equal key by key (lib0 equalFlat).
bool equal_attrs(const AttrRef* a, const AttrRef* b) {
  if (same_value(a, b)) return true;
  if (a == nullptr || b == nullptr) return false;
  const Any& x = *a->value;
  const Any& y = *b->value;
  if (!is_object(x) || !is_object(y) || x.kind != y.kind) return false;
  if (x.kind == Any::Kind::kBytes) return x.str == y.str;
  if (x.kind == Any::Kind::kArray) {
    if (x.array.size() != y.array.size()) return false;
    for (std::size_t i = 0; i < x.array.size(); ++i) {
      if (!nested_equal(x.array[i], y.array[i])) return false;
    }
    return true;
  }
  if (x.object.size() != y.object.size()) return false;
  for (const AnyMember& m : x.object) {
    const Any* other = y.get(m.first);
    if (other == nullptr) {
      if (m.second.kind != Any::Kind::kUndefined) return false;
      continue;
    }
    if (!nested_equal(*other, m.second)) return false;
  }
  return true;
}

// An attributes object given to an edit, with which JavaScript object each value is.
struct OwnedAttr {
  std::string key;
  Any value;
  std::uint64_t identity = 0;
  [[nodiscard]] AttrRef ref() const { return {&value, identity}; }
};

// ItemTextListPosition
struct Position {
  ItemRef left = 0;
  ItemRef right = 0;
  std::uint64_t index = 0;
  Attributes current;

  void forward(const detail::DocState& s) {
    const Item& r = s.at(right);
    if (r.ref == ContentRef::kFormat) {
      if (!r.deleted()) update_attributes(current, s.format(r));
    } else if (!r.deleted()) {
      index += r.length;
    }
    left = right;
    right = r.right;
  }
};

class Editor {
 public:
  explicit Editor(Engine& e) : e_(e), s_(e.state()) {}

  // A new local item between `left` and `right`, to fill and integrate.
  ItemRef new_local_item(Type* parent, ItemRef left, ItemRef right, KeyRef key, ContentRef ref, std::uint64_t length) {
    const ClientSlot own = s_.store.slot(s_.client_id);
    const ItemRef r = s_.new_item();
    Item& item = s_.at(r);
    item.kind = Item::Kind::kItem;
    item.id = {own, s_.store.state(own)};
    item.left = left;
    item.set_has_origin(left != 0);
    if (left != 0) item.origin = s_.at(left).last_id();
    item.right = right;
    item.set_has_right_origin(right != 0);
    if (right != 0) item.right_origin = s_.at(right).id;
    item.parent = parent->self;
    item.parent_sub = key;
    item.ref = ref;
    item.length = static_cast<std::uint32_t>(length);
    item.set_countable(detail::countable(ref));
    return r;
  }
  void integrate(Transaction& txn, ItemRef item) { e_.integrate(txn, item, 0); }

  ItemRef format_item(Transaction& txn, Type* parent, Position& pos, const std::string& key, AttrRef value) {
    const ItemRef r = new_local_item(parent, pos.left, pos.right, 0, ContentRef::kFormat, 1);
    detail::ItemExtra& extra = s_.extra(s_.at(r));
    extra.str = key;
    extra.values.assign(1, *value.value);
    extra.value_identity = value.identity;
    integrate(txn, r);
    return r;
  }

  // Identities for the object values of an attributes object passed to an edit.
  std::vector<OwnedAttr> own(const std::vector<AnyMember>& attrs) {
    std::vector<OwnedAttr> out;
    out.reserve(attrs.size());
    for (const AnyMember& m : attrs) out.push_back({m.first, m.second, s_.next_identity++});
    return out;
  }

  // findNextPosition; returns how many items it passed.
  std::size_t advance(Transaction& txn, Position& pos, std::uint64_t count) {
    std::size_t steps = 0;
    for (; pos.right != 0 && count > 0; ++steps) {
      const Item& r = s_.at(pos.right);
      if (r.ref == ContentRef::kFormat) {
        if (!r.deleted()) update_attributes(pos.current, s_.format(r));
      } else if (!r.deleted()) {
        if (count < r.length)
          e_.get_item_clean_start(txn, {r.id.client, r.id.clock + static_cast<std::uint32_t>(count)});
        pos.index += r.length;
        count -= r.length;
      }
      pos.left = pos.right;
      pos.right = r.right;
    }
    return steps;
  }

  // The position of list index `index`, as findNextPosition reaches it from
  // the start: right after the live item holding unit index-1 (split to end
  // there).
  Position find_position(Transaction& txn, Type* parent, std::uint64_t index) {
    Position pos;
    pos.right = parent->start;
    used_marker_ = kNoMarker;
    // In a text without formatting (no attributes to collect on the way) the
    // walk may start at any live item before that unit: the marker nearest to
    // it, or a live item left of that marker, when it is nearer than the start.
    if (!parent->has_formatting && index > 0) {
      std::uint64_t best_distance = index;
      ItemRef from = 0;
      std::uint64_t start = 0;
      for (std::size_t k = 0; k < parent->markers.size(); ++k) {
        const ItemRef r = marker_item(parent, parent->markers[k]);
        if (r == 0) continue;
        const Type::Marker& m = parent->markers[k];
        const std::uint64_t at = m.index - (m.id.clock - s_.at(r).id.clock);
        const std::uint64_t distance = at < index ? index - at : at - index;
        if (distance < best_distance) {
          best_distance = distance;
          from = r;
          start = at;
          used_marker_ = k;
        }
      }
      std::size_t steps = 0;
      while (from != 0 && start >= index) {
        from = s_.at(from).left;
        ++steps;
        while (from != 0 && (s_.at(from).deleted() || !s_.at(from).countable())) {
          from = s_.at(from).left;
          ++steps;
        }
        if (from != 0) start -= s_.at(from).length;
      }
      if (from != 0) {
        pos.left = s_.at(from).left;
        pos.right = from;
        pos.index = start;
      } else {
        used_marker_ = kNoMarker;
      }
      steps += advance(txn, pos, index - pos.index);
      // A marker far from the edit stays for the edits near it (another
      // cursor's): this edit's position becomes a marker of its own.
      if (steps > kNearSteps) used_marker_ = kNoMarker;
      return pos;
    }
    advance(txn, pos, index - pos.index);
    return pos;
  }

  // The live item of this type's text that holds a marker's unit, or 0.
  ItemRef marker_item(const Type* parent, Type::Marker& m) const {
    const Item* it = &s_.at(m.item);
    if (it->id.client != m.id.client || it->id.clock > m.id.clock || m.id.clock >= it->end()) {
      m.item = e_.get_item(m.id);  // merged into the item before it, or split
      it = &s_.at(m.item);
    }
    const ItemRef r = m.item;
    const bool usable =
        it->is_item() && it->parent == parent->self && !it->deleted() && it->countable() && it->parent_sub == 0;
    return usable ? r : 0;
  }

  // After a local text edit at list index `index` that inserted (`delta` > 0)
  // or deleted (< 0) units: markers after it shift, markers on deleted units
  // go, and `item` (0: none) starting at `item_index` becomes the marker this
  // edit started from, or a new one (replacing the oldest beyond kMarkers).
  void update_markers(Type* parent, std::uint64_t index, std::int64_t delta, ItemRef item, std::uint64_t item_index) {
    if (parent->has_formatting) {
      parent->markers.clear();
      return;
    }
    auto& markers = parent->markers;
    std::size_t replace = used_marker_;
    for (std::size_t k = 0; k < markers.size();) {
      Type::Marker& m = markers[k];
      if (delta < 0 && m.index >= index && m.index < index + static_cast<std::uint64_t>(-delta)) {
        if (replace == k) {
          replace = kNoMarker;
        } else if (replace == markers.size() - 1) {
          replace = k;
        }
        markers[k] = markers.back();  // its unit was deleted
        markers.pop_back();
        continue;
      }
      if (m.index >= index) m.index = static_cast<std::uint64_t>(static_cast<std::int64_t>(m.index) + delta);
      ++k;
    }
    if (item == 0) return;
    const Type::Marker marker{item, s_.at(item).id, item_index, ++s_.marker_clock};
    if (replace == kNoMarker && markers.size() < kMarkers) {
      markers.push_back(marker);
      return;
    }
    if (replace == kNoMarker) {
      replace = 0;
      for (std::size_t k = 1; k < markers.size(); ++k) {
        if (markers[k].used < markers[replace].used) replace = k;
      }
    }
    markers[replace] = marker;
  }

  // minimizeAttributeChanges
  static const OwnedAttr* find_attr(const std::vector<OwnedAttr>& attrs, const std::string& key) {
    for (const OwnedAttr& a : attrs) {
      if (a.key == key) return &a;
    }
    return nullptr;
  }
  void minimize_changes(Position& pos, const std::vector<OwnedAttr>& attrs) {
    while (pos.right != 0) {
      const Item& r = s_.at(pos.right);
      if (!r.deleted()) {
        if (r.ref != ContentRef::kFormat) break;
        const detail::ItemExtra& format = s_.format(r);
        const OwnedAttr* want = find_attr(attrs, format.str);
        const AttrRef want_ref = want != nullptr ? want->ref() : kNullRef;
        const AttrRef have = detail::format_value(format);
        if (!equal_attrs(&want_ref, &have)) break;
      }
      pos.forward(s_);
    }
  }

  // insertAttributes: opens the formats that differ; returns what closes them.
  Attributes insert_attributes(Transaction& txn, Type* parent, Position& pos, const std::vector<OwnedAttr>& attrs) {
    Attributes negated;
    for (const OwnedAttr& a : attrs) {
      const AttrRef* current = attr_get(pos.current, a.key);
      const AttrRef current_ref = current != nullptr ? *current : kNullRef;
      const AttrRef value = a.ref();
      if (!equal_attrs(&current_ref, &value)) {
        attr_set(negated, a.key, current_ref);
        pos.right = format_item(txn, parent, pos, a.key, value);
        pos.forward(s_);
      }
    }
    return negated;
  }

  // insertNegatedAttributes
  void insert_negated(Transaction& txn, Type* parent, Position& pos, Attributes& negated) {
    while (pos.right != 0) {
      const Item& r = s_.at(pos.right);
      if (!r.deleted()) {
        if (r.ref != ContentRef::kFormat) break;
        // negatedAttributes.get(key) is undefined for a key it lacks: equal to nothing
        // a format holds (unlike the `?? null` reads elsewhere).
        const detail::ItemExtra& format = s_.format(r);
        const AttrRef have = detail::format_value(format);
        const AttrRef* want = attr_get(negated, format.str);
        if (want == nullptr || !equal_attrs(want, &have)) break;
        attr_delete(negated, format.str);
      }
      pos.forward(s_);
    }
    for (const auto& [key, value] : negated) {
      pos.right = format_item(txn, parent, pos, key, value);
      pos.forward(s_);
    }
  }

  // insertText
  void insert_text(Transaction& txn, Type* parent, Position& pos, std::string_view text, std::vector<OwnedAttr> attrs) {
    for (const auto& entry : pos.current) {
      const std::string& key = entry.first;
      if (find_attr(attrs, key) == nullptr) attrs.push_back({key, Any::null(), 0});
    }
    order_like_js_object(attrs);
    minimize_changes(pos, attrs);
    Attributes negated = insert_attributes(txn, parent, pos, attrs);
    const ItemRef item = new_local_item(parent, pos.left, pos.right, 0, ContentRef::kString, utf16_length(text));
    s_.text.assign(s_.at(item), text);
    integrate(txn, item);
    const std::uint64_t index = pos.index;
    update_markers(parent, index, static_cast<std::int64_t>(s_.at(item).length), item, index);
    pos.right = item;
    pos.index = index;
    pos.forward(s_);
    insert_negated(txn, parent, pos, negated);
  }

  // `for (key in attributes)` order: integer-like keys first.
  static void order_like_js_object(std::vector<OwnedAttr>& attrs) {
    if (attrs.size() < 2) return;
    std::vector<AnyMember> keys;
    for (const OwnedAttr& a : attrs) keys.emplace_back(a.key, Any());
    normalize_object(keys);
    std::vector<OwnedAttr> ordered;
    for (const AnyMember& k : keys) {
      for (OwnedAttr& a : attrs) {
        if (a.key == k.first) ordered.push_back(std::move(a));
      }
    }
    attrs = std::move(ordered);
  }

  // deleteText
  void delete_text(Transaction& txn, Type* parent, Position& pos, std::uint64_t length) {
    // The live item that ends where the deletion starts stays where it is: the
    // next edit can resume from it.
    const ItemRef before = pos.left;
    const Item* b = before != 0 ? &s_.at(before) : nullptr;
    const bool keep_marker = b != nullptr && !b->deleted() && b->countable() && pos.index >= b->length;
    const std::uint64_t before_index = keep_marker ? pos.index - b->length : 0;
    const std::uint64_t index = pos.index;
    const std::uint64_t deleted = length;
    const Attributes start_attrs = pos.current;
    const ItemRef start = pos.right;
    while (length > 0 && pos.right != 0) {
      const Item& r = s_.at(pos.right);
      if (!r.deleted() && (r.ref == ContentRef::kType || r.ref == ContentRef::kEmbed || r.ref == ContentRef::kString)) {
        if (length < r.length) {
          e_.get_item_clean_start(txn, {r.id.client, r.id.clock + static_cast<std::uint32_t>(length)});
        }
        length -= std::min<std::uint64_t>(length, r.length);
        e_.delete_item(txn, pos.right);
      }
      pos.forward(s_);
    }
    if (start != 0) e_.cleanup_formatting_gap(txn, start, pos.right, start_attrs, pos.current);
    update_markers(parent, index, -static_cast<std::int64_t>(deleted - length), keep_marker ? before : 0, before_index);
  }

  // formatText
  void format_text(Transaction& txn, Type* parent, Position& pos, std::uint64_t length, std::vector<OwnedAttr> attrs) {
    order_like_js_object(attrs);
    minimize_changes(pos, attrs);
    Attributes negated = insert_attributes(txn, parent, pos, attrs);
    while (pos.right != 0) {
      const Item& r = s_.at(pos.right);
      if (!(length > 0 || (!negated.empty() && (r.deleted() || r.ref == ContentRef::kFormat)))) break;
      if (!r.deleted()) {
        if (r.ref == ContentRef::kFormat) {
          const detail::ItemExtra& format = s_.format(r);
          const OwnedAttr* want = find_attr(attrs, format.str);
          const AttrRef have = detail::format_value(format);
          if (want != nullptr) {
            const AttrRef want_ref = want->ref();
            if (equal_attrs(&want_ref, &have)) {
              attr_delete(negated, format.str);
            } else {
              if (length == 0) break;
              attr_set(negated, format.str, have);
            }
            e_.delete_item(txn, pos.right);
          } else {
            attr_set(pos.current, format.str, have);
          }
        } else {
          if (length < r.length) {
            e_.get_item_clean_start(txn, {r.id.client, r.id.clock + static_cast<std::uint32_t>(length)});
          }
          length -= std::min<std::uint64_t>(length, r.length);
        }
      }
      pos.forward(s_);
    }
    // Quill's convention: formatting past the end appends newlines.
    if (length > 0) {
      const ItemRef item = new_local_item(parent, pos.left, pos.right, 0, ContentRef::kString, length);
      s_.text.assign(s_.at(item), std::string(length, '\n'));
      integrate(txn, item);
      pos.right = item;
      pos.forward(s_);
    }
    insert_negated(txn, parent, pos, negated);
  }

  // typeMapSet
  void map_set(Transaction& txn, Type* parent, std::string_view key, const Any& value) {
    const KeyRef k = s_.intern(key);
    const ItemRef left = parent->map_get(k);
    const bool binary = value.kind == Any::Kind::kBytes;
    const ItemRef item = new_local_item(parent, left, 0, k, binary ? ContentRef::kBinary : ContentRef::kAny, 1);
    detail::ItemExtra& extra = s_.extra(s_.at(item));
    if (binary) {
      extra.str = value.str;
    } else {
      extra.values.assign(1, value);
    }
    integrate(txn, item);
  }

  // typeListInsertGenerics' walk: the item to insert after for list index
  // `index` (0: the very start), splitting an item the index falls inside.
  ItemRef list_position(Transaction& txn, Type* parent, std::uint64_t index) {
    if (index == 0) return 0;
    ItemRef n = parent->start;
    for (; n != 0; n = s_.at(n).right) {
      const Item& item = s_.at(n);
      if (!item.deleted() && item.countable()) {
        if (index <= item.length) {
          if (index < item.length) {
            e_.get_item_clean_start(txn, {item.id.client, item.id.clock + static_cast<std::uint32_t>(index)});
          }
          break;
        }
        index -= item.length;
      }
    }
    return n;
  }

  // A nested type item (typeListInsertGenericsAfter with a single type).
  Type* insert_type(Transaction& txn, Type* parent, ItemRef left, ItemRef right, std::uint8_t type_ref,
                    std::string name) {
    const ItemRef item = new_local_item(parent, left, right, 0, ContentRef::kType, 1);
    Type& type = s_.add_type(s_.at(item), type_ref, std::move(name));
    integrate(txn, item);
    return &type;
  }

  // Whether `units` more clocks of our own (and some formatting items) and
  // `bytes` more text fit the document.
  Status check_room(std::uint64_t units, std::size_t bytes) {
    constexpr std::uint64_t kSlack = 1u << 20;  // formatting items an edit may add besides its content
    if (!s_.text.fits(bytes)) s_.compact_text();
    const ClientSlot own = s_.store.find(s_.client_id);
    const std::uint64_t state = own == StructStore::kNoSlot ? 0 : s_.store.state(own);
    if (!s_.text.fits(bytes) || units > detail::kMaxClock - kSlack - state) {
      return Error{kCrdtDomain, static_cast<int>(CrdtErrc::kLimit), "edit: beyond what a document holds"};
    }
    return {};
  }

 private:
  static constexpr std::size_t kMarkers = 4;
  static constexpr std::size_t kNearSteps = 16;  // items walked from a marker it may move with the edit
  static constexpr std::size_t kNoMarker = static_cast<std::size_t>(-1);

  Engine& e_;
  detail::DocState& s_;
  std::size_t used_marker_ = kNoMarker;  // the marker find_position started from
};

// While it lives, `type` is the one a local text edit changes: the edit keeps
// its markers up to date (DocState::editing).
class Editing {
 public:
  Editing(detail::DocState& s, Type* type) : s_(s), outer_(std::exchange(s.editing, type)) {}
  Editing(const Editing&) = delete;
  Editing& operator=(const Editing&) = delete;
  ~Editing() { s_.editing = outer_; }

 private:
  detail::DocState& s_;
  Type* outer_;
};

Error edit_error(std::string message) {
  return Error{kCrdtDomain, static_cast<int>(CrdtErrc::kMalformed), std::move(message)};
}

}  // namespace

// Runs `f` as one local transaction and returns the update it emitted.
template <class F>
Result<Bytes> run_local(detail::DocState& s, F&& f) {
  Engine engine(s);
  std::optional<Bytes> emitted;
  // Edits inside Doc::transact join its transaction: only the outermost one
  // is cleaned up, emits, and returns the update.
  std::optional<Bytes>* const outer = std::exchange(s.capture, &emitted);
  Status status;
  engine.transact([&](Transaction& txn) { status = f(engine, txn); }, true);
  s.capture = outer;
  if (!status.ok()) return status.error();
  return emitted ? std::move(*emitted) : Bytes{};
}

Result<Bytes> Doc::insert_text(std::string_view root, std::uint64_t index, std::string_view text,
                               const Any* attributes) {
  if (!is_valid_utf8(text)) return edit_error("insert_text: text is not valid UTF-8");
  if (attributes != nullptr && attributes->kind != Any::Kind::kObject)
    return edit_error("insert_text: attributes must be an object");
  if (text.empty()) return Bytes{};
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Editor ed(e);
    if (Status st = ed.check_room(text.size(), text.size()); !st.ok()) return st;
    Type* type = s_->get_root(root);
    type->declared_text = true;
    if (index > type->length) return edit_error("insert_text: index past the end");
    const Editing editing(*s_, type);
    Position pos = ed.find_position(txn, type, index);
    // Without attributes, YText.insert copies the current ones: the same objects.
    std::vector<OwnedAttr> attrs;
    if (attributes != nullptr) {
      attrs = ed.own(attributes->object);
    } else {
      for (const auto& [k, v] : pos.current) attrs.push_back({k, *v.value, v.identity});
    }
    ed.insert_text(txn, type, pos, text, std::move(attrs));
    return {};
  });
}

Result<Bytes> Doc::delete_text(std::string_view root, std::uint64_t index, std::uint64_t length) {
  if (length == 0) return Bytes{};
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Type* type = s_->get_root(root);
    type->declared_text = true;
    if (index + length > type->length) return edit_error("delete_text: range past the end");
    Editor ed(e);
    const Editing editing(*s_, type);
    Position pos = ed.find_position(txn, type, index);
    ed.delete_text(txn, type, pos, length);
    return {};
  });
}

Result<Bytes> Doc::format_text(std::string_view root, std::uint64_t index, std::uint64_t length,
                               const Any& attributes) {
  if (attributes.kind != Any::Kind::kObject) return edit_error("format_text: attributes must be an object");
  if (length == 0) return Bytes{};
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Editor ed(e);
    // Formatting past the end appends up to `length` newlines, as one item.
    if (Status st = ed.check_room(length, length); !st.ok()) return st;
    Type* type = s_->get_root(root);
    type->declared_text = true;
    if (index > type->length) return edit_error("format_text: index past the end");
    Position pos = ed.find_position(txn, type, index);
    if (pos.right == 0) return {};
    ed.format_text(txn, type, pos, length, ed.own(attributes.object));
    return {};
  });
}

Result<Bytes> Doc::transact(const std::function<Status()>& edits) {
  return run_local(*s_, [&](Engine&, Transaction&) -> Status { return edits(); });
}

Result<Bytes> Doc::map_set(std::string_view root, std::string_view key, const Any& value) {
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Editor ed(e);
    if (Status st = ed.check_room(1, 0); !st.ok()) return st;
    ed.map_set(txn, s_->get_root(root), key, value);
    return {};
  });
}

Result<Bytes> Doc::append_paragraph(std::string_view fragment, std::string_view text) {
  if (!is_valid_utf8(text)) return edit_error("append_paragraph: text is not valid UTF-8");
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Editor ed(e);
    if (Status st = ed.check_room(text.size() + 2, text.size()); !st.ok()) return st;
    Type* root = s_->get_root(fragment);
    const ItemRef left = ed.list_position(txn, root, root->length);  // push = insert(length, …)
    Type* paragraph = ed.insert_type(txn, root, left, left != 0 ? s_->at(left).right : root->start, 3, "paragraph");
    if (!text.empty()) {
      // The element's prelim content is integrated with it: an XmlText holding the text.
      Type* xml_text = ed.insert_type(txn, paragraph, 0, 0, 6, "");
      Position pos;
      pos.right = xml_text->start;
      ed.insert_text(txn, xml_text, pos, text, {});
    }
    return {};
  });
}

}  // namespace quire::crdt
