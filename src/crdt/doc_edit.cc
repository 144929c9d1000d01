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

using Attrs = std::vector<std::pair<std::string, const Any*>>;  // a JS Map of formats

// typeof x === 'object' && x !== null
bool is_object(const Any* a) {
  return a != nullptr && (a->kind == Any::Kind::kObject || a->kind == Any::Kind::kArray || a->kind == Any::Kind::kBytes);
}

// `===` between two JavaScript values (objects: only the very same one).
bool strict_equal(const Any* a, const Any* b) {
  const bool a_undef = a == nullptr || a->kind == Any::Kind::kUndefined;
  const bool b_undef = b == nullptr || b->kind == Any::Kind::kUndefined;
  if (a_undef || b_undef) return a_undef && b_undef;
  if (a == b) return true;
  if (a->kind != b->kind || is_object(a)) return false;
  if (a->kind == Any::Kind::kNumber) return a->number == b->number;
  return *a == *b;
}

// YText's equalAttrs: `===`, or two objects equal key by key (lib0 equalFlat).
bool equal_attrs(const Any* a, const Any* b) {
  if (strict_equal(a, b)) return true;
  if (!is_object(a) || !is_object(b)) return false;
  if (a->kind != Any::Kind::kObject || b->kind != Any::Kind::kObject) {
    if (a->kind != b->kind) return false;
    if (a->kind == Any::Kind::kBytes) return a->str == b->str;
    if (a->array.size() != b->array.size()) return false;
    for (std::size_t i = 0; i < a->array.size(); ++i) {
      if (!strict_equal(&a->array[i], &b->array[i])) return false;
    }
    return true;
  }
  if (a->object.size() != b->object.size()) return false;
  for (const AnyMember& m : a->object) {
    const Any* other = b->get(m.first);
    if (other == nullptr && m.second.kind != Any::Kind::kUndefined) return false;
    if (!strict_equal(other, &m.second)) return false;
  }
  return true;
}

const Any kNull = Any::null();

const Any* attr_get(const Attrs& a, const std::string& key) {
  for (const auto& [k, v] : a) {
    if (k == key) return v;
  }
  return nullptr;
}
void attr_set(Attrs& a, const std::string& key, const Any* value) {
  for (auto& [k, v] : a) {
    if (k == key) {
      v = value;
      return;
    }
  }
  a.emplace_back(key, value);
}
void attr_delete(Attrs& a, const std::string& key) {
  std::erase_if(a, [&](const auto& e) { return e.first == key; });
}
void update_current(Attrs& a, const Item& format) {
  if (format.values[0].kind == Any::Kind::kNull) {
    attr_delete(a, format.text);
  } else {
    attr_set(a, format.text, &format.values[0]);
  }
}

// ItemTextListPosition
struct Position {
  Item* left = nullptr;
  Item* right = nullptr;
  std::uint64_t index = 0;
  Attrs current;

  void forward() {
    if (right->ref == ContentRef::kFormat) {
      if (!right->deleted) update_current(current, *right);
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
  void integrate(Transaction& txn, Item* item) {
    e_.integrate(txn, *item, 0);
  }

  Item* format_item(Transaction& txn, Type* parent, Position& pos, const std::string& key, const Any& value) {
    Item* item = new_local_item(parent, pos.left, pos.right, nullptr, ContentRef::kFormat, 1);
    item->text = key;
    item->values.assign(1, value);
    integrate(txn, item);
    return item;
  }

  // findNextPosition
  void advance(Transaction& txn, Position& pos, std::uint64_t count) {
    while (pos.right != nullptr && count > 0) {
      if (pos.right->ref == ContentRef::kFormat) {
        if (!pos.right->deleted) update_current(pos.current, *pos.right);
      } else if (!pos.right->deleted) {
        if (count < pos.right->length) e_.get_item_clean_start(txn, {pos.right->id.client, pos.right->id.clock + count});
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
    advance(txn, pos, index);
    return pos;
  }

  // minimizeAttributeChanges
  static void minimize_changes(Position& pos, const std::vector<AnyMember>& attrs) {
    while (pos.right != nullptr) {
      if (!pos.right->deleted) {
        if (pos.right->ref != ContentRef::kFormat) break;
        const Any* want = nullptr;
        for (const AnyMember& m : attrs) {
          if (m.first == pos.right->text) want = &m.second;
        }
        if (!equal_attrs(want != nullptr ? want : &kNull, &pos.right->values[0])) break;
      }
      pos.forward();
    }
  }

  // insertAttributes: opens the formats that differ; returns what closes them.
  Attrs insert_attributes(Transaction& txn, Type* parent, Position& pos, const std::vector<AnyMember>& attrs) {
    Attrs negated;
    for (const AnyMember& m : attrs) {
      const Any* current = attr_get(pos.current, m.first);
      if (!equal_attrs(current != nullptr ? current : &kNull, &m.second)) {
        attr_set(negated, m.first, current != nullptr ? current : &kNull);
        Item* f = format_item(txn, parent, pos, m.first, m.second);
        pos.right = f;
        pos.forward();
      }
    }
    return negated;
  }

  // insertNegatedAttributes
  void insert_negated(Transaction& txn, Type* parent, Position& pos, Attrs& negated) {
    while (pos.right != nullptr &&
           (pos.right->deleted ||
            (pos.right->ref == ContentRef::kFormat &&
             equal_attrs(attr_get(negated, pos.right->text), &pos.right->values[0])))) {
      if (!pos.right->deleted) attr_delete(negated, pos.right->text);
      pos.forward();
    }
    for (const auto& [key, value] : negated) {
      // Copy: `value` may point into an item that formatting below deletes.
      const Any v = *value;
      Item* f = format_item(txn, parent, pos, key, v);
      pos.right = f;
      pos.forward();
    }
  }

  // insertText (attributes already completed by the caller)
  void insert_text(Transaction& txn, Type* parent, Position& pos, std::string_view text, std::vector<AnyMember> attrs) {
    for (const auto& entry : pos.current) {
      const std::string& key = entry.first;
      const bool mentioned = std::any_of(attrs.begin(), attrs.end(), [&](const AnyMember& m) { return m.first == key; });
      if (!mentioned) attrs.emplace_back(key, Any::null());
    }
    normalize_object(attrs);  // `for (key in attributes)` order
    minimize_changes(pos, attrs);
    Attrs negated = insert_attributes(txn, parent, pos, attrs);
    Item* item = new_local_item(parent, pos.left, pos.right, nullptr, ContentRef::kString, utf16_length(text));
    item->text.assign(text);
    integrate(txn, item);
    const std::uint64_t index = pos.index;
    pos.right = item;
    pos.index = index;
    pos.forward();
    insert_negated(txn, parent, pos, negated);
  }

  // deleteText
  void delete_text(Transaction& txn, Position& pos, std::uint64_t length) {
    const Attrs start_attrs = pos.current;
    Item* start = pos.right;
    while (length > 0 && pos.right != nullptr) {
      Item* r = pos.right;
      if (!r->deleted && (r->ref == ContentRef::kType || r->ref == ContentRef::kEmbed || r->ref == ContentRef::kString)) {
        if (length < r->length) e_.get_item_clean_start(txn, {r->id.client, r->id.clock + length});
        length -= std::min(length, r->length);
        e_.delete_item(txn, *r);
      }
      pos.forward();
    }
    if (start != nullptr) {
      Engine::Attributes curr(pos.current.begin(), pos.current.end());
      const Engine::Attributes start_copy(start_attrs.begin(), start_attrs.end());
      e_.cleanup_formatting_gap(txn, start, pos.right, start_copy, curr);
      pos.current.assign(curr.begin(), curr.end());
    }
  }

  // formatText
  void format_text(Transaction& txn, Type* parent, Position& pos, std::uint64_t length, std::vector<AnyMember> attrs) {
    normalize_object(attrs);
    minimize_changes(pos, attrs);
    Attrs negated = insert_attributes(txn, parent, pos, attrs);
    while (pos.right != nullptr &&
           (length > 0 || (!negated.empty() && (pos.right->deleted || pos.right->ref == ContentRef::kFormat)))) {
      Item* r = pos.right;
      if (!r->deleted) {
        if (r->ref == ContentRef::kFormat) {
          const Any* want = nullptr;
          for (const AnyMember& m : attrs) {
            if (m.first == r->text) want = &m.second;
          }
          if (want != nullptr) {
            if (equal_attrs(want, &r->values[0])) {
              attr_delete(negated, r->text);
            } else {
              if (length == 0) break;
              attr_set(negated, r->text, &r->values[0]);
            }
            e_.delete_item(txn, *r);
          } else {
            attr_set(pos.current, r->text, &r->values[0]);
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
      item->text.assign(length, '\n');
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
      item->text = value.str;
    } else {
      item->values.assign(1, value);
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
    item->type = std::make_unique<Type>();
    item->type->type_ref = type_ref;
    item->type->name = std::move(name);
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

Result<Bytes> Doc::insert_text(std::string_view root, std::uint64_t index, std::string_view text, const Any* attributes) {
  if (!is_valid_utf8(text)) return edit_error("insert_text: text is not valid UTF-8");
  if (attributes != nullptr && attributes->kind != Any::Kind::kObject) return edit_error("insert_text: attributes must be an object");
  if (text.empty()) return Bytes{};
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Type* type = s_->get_root(root);
    if (index > type->length) return edit_error("insert_text: index past the end");
    Editor ed(e);
    Position pos = ed.find_position(txn, type, index);
    std::vector<AnyMember> attrs;
    if (attributes != nullptr) {
      attrs = attributes->object;
    } else {
      for (const auto& [k, v] : pos.current) attrs.emplace_back(k, *v);
    }
    ed.insert_text(txn, type, pos, text, std::move(attrs));
    return {};
  });
}

Result<Bytes> Doc::delete_text(std::string_view root, std::uint64_t index, std::uint64_t length) {
  if (length == 0) return Bytes{};
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Type* type = s_->get_root(root);
    if (index + length > type->length) return edit_error("delete_text: range past the end");
    Editor ed(e);
    Position pos = ed.find_position(txn, type, index);
    ed.delete_text(txn, pos, length);
    return {};
  });
}

Result<Bytes> Doc::format_text(std::string_view root, std::uint64_t index, std::uint64_t length, const Any& attributes) {
  if (attributes.kind != Any::Kind::kObject) return edit_error("format_text: attributes must be an object");
  if (length == 0) return Bytes{};
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Type* type = s_->get_root(root);
    if (index > type->length) return edit_error("format_text: index past the end");
    Editor ed(e);
    Position pos = ed.find_position(txn, type, index);
    if (pos.right == nullptr) return {};
    ed.format_text(txn, type, pos, length, attributes.object);
    return {};
  });
}

Result<Bytes> Doc::map_set(std::string_view root, std::string_view key, const Any& value) {
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Editor(e).map_set(txn, s_->get_root(root), key, value);
    return {};
  });
}

Result<Bytes> Doc::append_paragraph(std::string_view fragment, std::string_view text) {
  if (!is_valid_utf8(text)) return edit_error("append_paragraph: text is not valid UTF-8");
  return run_local(*s_, [&](Engine& e, Transaction& txn) -> Status {
    Type* root = s_->get_root(fragment);
    Editor ed(e);
    Item* left = ed.list_position(txn, root, root->length);  // push = insert(length, …)
    Item* paragraph = ed.insert_type(txn, root, left, left != nullptr ? left->right : root->start, 3, "paragraph");
    if (!text.empty()) {
      // The element's prelim content is integrated with it: an XmlText holding the text.
      Item* xml_text = ed.insert_type(txn, paragraph->type.get(), nullptr, nullptr, 6, "");
      Position pos;
      pos.right = xml_text->type->start;
      ed.insert_text(txn, xml_text->type.get(), pos, text, {});
    }
    return {};
  });
}

}  // namespace quire::crdt
