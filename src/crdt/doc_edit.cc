// Local edits: YText.insert / delete / format (insertText, formatText, deleteText
// and their attribute helpers in YText.js), typeMapSet and
// typeListInsertGenericsAfter (AbstractType.js), each as Yjs performs them so
// that the updates they emit are the ones a Yjs client would emit.
#include <algorithm>

#include "crdt/doc.h"
#include "crdt/doc_engine.h"

namespace quire::crdt {

using detail::Engine;
using detail::Item;
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
  Item* left = nullptr;
  Item* right = nullptr;
  std::uint64_t index = 0;
  Attributes current;

  void forward() {
    if (right->ref == ContentRef::kFormat) {
      if (!right->deleted) update_attributes(current, *right);
    } else if (!right->deleted) {
      index += right->length;
    }
    left = right;
    right = right->right;
  }
};

class Editor {
 public:
  explicit Editor(Engine& e) : e_(e), s_(e.state()) {}

  // A new local item between `left` and `right`, to fill and integrate.
  Item* new_local_item(Type* parent, Item* left, Item* right, const std::string* key, ContentRef ref,
                       std::uint64_t length) {
    Item* item = s_.new_item();
    item->kind = Item::Kind::kItem;
    item->id = {s_.client_id, s_.store.state(s_.client_id)};
    item->left = left;
    item->has_origin = left != nullptr;
    if (left != nullptr) item->origin = left->last_id();
    item->right = right;
    item->has_right_origin = right != nullptr;
    if (right != nullptr) item->right_origin = right->id;
    item->parent = parent;
    item->parent_sub = key;
    item->ref = ref;
    item->length = length;
    item->countable = detail::countable(ref);
    return item;
  }
  void integrate(Transaction& txn, Item* item) { e_.integrate(txn, *item, 0); }

  Item* format_item(Transaction& txn, Type* parent, Position& pos, const std::string& key, AttrRef value) {
    Item* item = new_local_item(parent, pos.left, pos.right, nullptr, ContentRef::kFormat, 1);
    item->ensure_extra().str = key;
    item->extra->values.assign(1, *value.value);
    item->extra->value_identity = value.identity;
    integrate(txn, item);
    return item;
  }

  // Identities for the object values of an attributes object passed to an edit.
  std::vector<OwnedAttr> own(const std::vector<AnyMember>& attrs) {
    std::vector<OwnedAttr> out;
    out.reserve(attrs.size());
    for (const AnyMember& m : attrs) out.push_back({m.first, m.second, s_.next_identity++});
    return out;
  }

  // findNextPosition
  void advance(Transaction& txn, Position& pos, std::uint64_t count) {
    while (pos.right != nullptr && count > 0) {
      if (pos.right->ref == ContentRef::kFormat) {
        if (!pos.right->deleted) update_attributes(pos.current, *pos.right);
      } else if (!pos.right->deleted) {
        if (count < pos.right->length)
          e_.get_item_clean_start(txn, {pos.right->id.client, pos.right->id.clock + count});
        pos.index += pos.right->length;
        count -= pos.right->length;
      }
      pos.left = pos.right;
      pos.right = pos.right->right;
    }
  }

  Position find_position(Transaction& txn, Type* parent, std::uint64_t index) {
    Position pos;
    pos.right = parent->start;
    // Start from the last edit's position when it lies strictly before `index`
    // in a text without formatting (no attributes to collect on the way): the
    // walk then reaches the same place it reaches from the start.
    if (parent->hint_valid && !parent->has_formatting && parent->hint_index < index) {
      Item* it = detail::get_item(s_.store, parent->hint_id);
      if (it->is_item() && it->parent == parent && !it->deleted && it->countable && it->parent_sub == nullptr) {
        pos.left = it->left;
        pos.right = it;
        pos.index = parent->hint_index - (parent->hint_id.clock - it->id.clock);
      }
    }
    advance(txn, pos, index - pos.index);
    return pos;
  }

  static void set_hint(Type* parent, const Item* item, std::uint64_t index) {
    parent->hint_valid = true;
    parent->hint_id = item->id;
    parent->hint_index = index;
  }

  // minimizeAttributeChanges
  static const OwnedAttr* find_attr(const std::vector<OwnedAttr>& attrs, const std::string& key) {
    for (const OwnedAttr& a : attrs) {
      if (a.key == key) return &a;
    }
    return nullptr;
  }
  static void minimize_changes(Position& pos, const std::vector<OwnedAttr>& attrs) {
    while (pos.right != nullptr) {
      if (!pos.right->deleted) {
        if (pos.right->ref != ContentRef::kFormat) break;
        const OwnedAttr* want = find_attr(attrs, pos.right->key());
        const AttrRef want_ref = want != nullptr ? want->ref() : kNullRef;
        const AttrRef have = detail::format_value(*pos.right);
        if (!equal_attrs(&want_ref, &have)) break;
      }
      pos.forward();
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
        Item* f = format_item(txn, parent, pos, a.key, value);
        pos.right = f;
        pos.forward();
      }
    }
    return negated;
  }

  // insertNegatedAttributes
  void insert_negated(Transaction& txn, Type* parent, Position& pos, Attributes& negated) {
    while (pos.right != nullptr) {
      if (!pos.right->deleted) {
        if (pos.right->ref != ContentRef::kFormat) break;
        // negatedAttributes.get(key) is undefined for a key it lacks: equal to nothing
        // a format holds (unlike the `?? null` reads elsewhere).
        const AttrRef have = detail::format_value(*pos.right);
        const AttrRef* want = attr_get(negated, pos.right->key());
        if (want == nullptr || !equal_attrs(want, &have)) break;
        attr_delete(negated, pos.right->key());
      }
      pos.forward();
    }
    for (const auto& [key, value] : negated) {
      Item* f = format_item(txn, parent, pos, key, value);
      pos.right = f;
      pos.forward();
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
    Item* item = new_local_item(parent, pos.left, pos.right, nullptr, ContentRef::kString, utf16_length(text));
    s_.text.assign(*item, text);
    integrate(txn, item);
    const std::uint64_t index = pos.index;
    set_hint(parent, item, index);
    pos.right = item;
    pos.index = index;
    pos.forward();
    insert_negated(txn, parent, pos, negated);
  }

  // `for (key in attributes)` order: integer-like keys first.
  static void order_like_js_object(std::vector<OwnedAttr>& attrs) {
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
    Item* before = pos.left;
    const bool keep_hint = before != nullptr && !before->deleted && before->countable && pos.index >= before->length;
    const std::uint64_t before_index = keep_hint ? pos.index - before->length : 0;
    const Attributes start_attrs = pos.current;
    Item* start = pos.right;
    while (length > 0 && pos.right != nullptr) {
      Item* r = pos.right;
      if (!r->deleted &&
          (r->ref == ContentRef::kType || r->ref == ContentRef::kEmbed || r->ref == ContentRef::kString)) {
        if (length < r->length) e_.get_item_clean_start(txn, {r->id.client, r->id.clock + length});
        length -= std::min(length, r->length);
        e_.delete_item(txn, *r);
      }
      pos.forward();
    }
    if (start != nullptr) e_.cleanup_formatting_gap(txn, start, pos.right, start_attrs, pos.current);
    if (keep_hint) set_hint(parent, before, before_index);
  }

  // formatText
  void format_text(Transaction& txn, Type* parent, Position& pos, std::uint64_t length, std::vector<OwnedAttr> attrs) {
    order_like_js_object(attrs);
    minimize_changes(pos, attrs);
    Attributes negated = insert_attributes(txn, parent, pos, attrs);
    while (pos.right != nullptr &&
           (length > 0 || (!negated.empty() && (pos.right->deleted || pos.right->ref == ContentRef::kFormat)))) {
      Item* r = pos.right;
      if (!r->deleted) {
        if (r->ref == ContentRef::kFormat) {
          const OwnedAttr* want = find_attr(attrs, r->key());
          const AttrRef have = detail::format_value(*r);
          if (want != nullptr) {
            const AttrRef want_ref = want->ref();
            if (equal_attrs(&want_ref, &have)) {
              attr_delete(negated, r->key());
            } else {
              if (length == 0) break;
              attr_set(negated, r->key(), have);
            }
            e_.delete_item(txn, *r);
          } else {
            attr_set(pos.current, r->key(), have);
          }
        } else {
          if (length < r->length) e_.get_item_clean_start(txn, {r->id.client, r->id.clock + length});
          length -= std::min(length, r->length);
        }
      }
      pos.forward();
    }
    // Quill's convention: formatting past the end appends newlines.
    if (length > 0) {
      Item* item = new_local_item(parent, pos.left, pos.right, nullptr, ContentRef::kString, length);
      s_.text.assign(*item, std::string(length, '\n'));
      integrate(txn, item);
      pos.right = item;
      pos.forward();
    }
    insert_negated(txn, parent, pos, negated);
  }

  // typeMapSet
  void map_set(Transaction& txn, Type* parent, std::string_view key, const Any& value) {
    const std::string* k = s_.intern(key);
    Item* left = parent->map_get(k);
    const bool binary = value.kind == Any::Kind::kBytes;
    Item* item = new_local_item(parent, left, nullptr, k, binary ? ContentRef::kBinary : ContentRef::kAny, 1);
    item->has_right_origin = false;
    if (binary) {
      item->ensure_extra().str = value.str;
    } else {
      item->ensure_extra().values.assign(1, value);
    }
    integrate(txn, item);
  }

  // typeListInsertGenerics' walk: the item to insert after for list index
  // `index` (null: the very start), splitting an item the index falls inside.
  Item* list_position(Transaction& txn, Type* parent, std::uint64_t index) {
    if (index == 0) return nullptr;
    Item* n = parent->start;
    for (; n != nullptr; n = n->right) {
      if (!n->deleted && n->countable) {
        if (index <= n->length) {
          if (index < n->length) e_.get_item_clean_start(txn, {n->id.client, n->id.clock + index});
          break;
        }
        index -= n->length;
      }
    }
    return n;
  }

  // A nested type item (typeListInsertGenericsAfter with a single type).
  Item* insert_type(Transaction& txn, Type* parent, Item* left, Item* right, std::uint8_t type_ref, std::string name) {
    Item* item = new_local_item(parent, left, right, nullptr, ContentRef::kType, 1);
    item->type_ref = type_ref;
    auto type = std::make_unique<Type>();
    type->type_ref = type_ref;
    type->name = std::move(name);
    item->ensure_extra().type = std::move(type);
    integrate(txn, item);
    return item;
  }

 private:
  Engine& e_;
  detail::DocState& s_;
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
  auto previous = std::move(s.on_update);
  bool first = true;
  s.on_update = [&](ByteView u) {
    if (first) emitted = Bytes(u.begin(), u.end());
    first = false;
    if (previous) previous(u);
  };
  Status status;
  engine.transact([&](Transaction& txn) { status = f(engine, txn); }, true);
  s.on_update = std::move(previous);
  if (!status.ok()) return status.error();
  return emitted ? std::move(*emitted) : Bytes{};
}

Result<Bytes> Doc::insert_text(std::string_view root, std::uint64_t index, std::string_view text,
                               const Any* attributes) {
  if (!is_valid_utf8(text)) return edit_error("insert_text: text is not valid UTF-8");
  if (text.size() > detail::TextArena::kMaxItemBytes) return edit_error("insert_text: text longer than 4 GiB");
  if (attributes != nullptr && attributes->kind != Any::Kind::kObject)
    return edit_error("insert_text: attributes must be an object");
  if (text.empty()) return Bytes{};
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Type* type = s_->get_root(root);
    type->declared_text = true;
    if (index > type->length) return edit_error("insert_text: index past the end");
    Editor ed(e);
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
    Position pos = ed.find_position(txn, type, index);
    ed.delete_text(txn, type, pos, length);
    return {};
  });
}

Result<Bytes> Doc::format_text(std::string_view root, std::uint64_t index, std::uint64_t length,
                               const Any& attributes) {
  if (attributes.kind != Any::Kind::kObject) return edit_error("format_text: attributes must be an object");
  if (length == 0) return Bytes{};
  // Formatting past the end appends that many newlines, as one item.
  if (length > detail::TextArena::kMaxItemBytes) return edit_error("format_text: length above 2^32");
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Type* type = s_->get_root(root);
    type->declared_text = true;
    if (index > type->length) return edit_error("format_text: index past the end");
    Editor ed(e);
    Position pos = ed.find_position(txn, type, index);
    if (pos.right == nullptr) return {};
    ed.format_text(txn, type, pos, length, ed.own(attributes.object));
    return {};
  });
}

Result<Bytes> Doc::transact(const std::function<Status()>& edits) {
  return run_local(*s_, [&](Engine&, Transaction&) -> Status { return edits(); });
}

Result<Bytes> Doc::map_set(std::string_view root, std::string_view key, const Any& value) {
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Editor(e).map_set(txn, s_->get_root(root), key, value);
    return {};
  });
}

Result<Bytes> Doc::append_paragraph(std::string_view fragment, std::string_view text) {
  if (!is_valid_utf8(text)) return edit_error("append_paragraph: text is not valid UTF-8");
  if (text.size() > detail::TextArena::kMaxItemBytes) return edit_error("append_paragraph: text longer than 4 GiB");
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Type* root = s_->get_root(fragment);
    Editor ed(e);
    Item* left = ed.list_position(txn, root, root->length);  // push = insert(length, …)
    Item* paragraph = ed.insert_type(txn, root, left, left != nullptr ? left->right : root->start, 3, "paragraph");
    if (!text.empty()) {
      // The element's prelim content is integrated with it: an XmlText holding the text.
      Item* xml_text = ed.insert_type(txn, paragraph->type(), nullptr, nullptr, 6, "");
      Position pos;
      pos.right = xml_text->type()->start;
      ed.insert_text(txn, xml_text->type(), pos, text, {});
    }
    return {};
  });
}

}  // namespace quire::crdt
