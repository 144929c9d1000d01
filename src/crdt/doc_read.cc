// Reading a document: Yjs's toString / toDelta / toJSON of each type, and the
// root-kind inference of `quire doc json` (yjs-behaviours.md).
#include <algorithm>

#include "crdt/doc.h"
#include "crdt/doc_internal.h"
#include "crdt/utf.h"

namespace quire::crdt {

using detail::DocState;
using detail::Item;
using detail::ItemRef;
using detail::Type;

namespace {

const Item* first(const DocState& s, const Type& t) {
  return t.start != 0 ? &s.at(t.start) : nullptr;
}
const Item* next(const DocState& s, const Item& n) {
  return n.right != 0 ? &s.at(n.right) : nullptr;
}

Any type_json(const DocState& s, const Type& type, RootKind as);

// How a nested type's toJSON() reads: by its class.
RootKind kind_of_nested(const Type& t) {
  switch (t.type_ref) {
    case 0:
      return RootKind::kArray;
    case 1:
    case 5:  // XmlHook extends YMap
      return RootKind::kMap;
    case 2:
      return RootKind::kText;
    default:
      return RootKind::kXmlFragment;  // XmlElement, XmlFragment, XmlText: their XML string
  }
}

// A value as JavaScript holds it in a type's content, ready for JSON.stringify:
// nested types become their toJSON(), sub-documents {}.
Any content_value(const DocState& s, const Item& item, std::size_t index) {
  switch (item.ref) {
    case ContentRef::kAny:
    case ContentRef::kJson:
      return s.values(item)[index];
    case ContentRef::kEmbed:
      return s.values(item)[0];
    case ContentRef::kBinary: {
      Any b = Any::make(Any::Kind::kBytes);
      b.str = s.key(item);
      return b;
    }
    case ContentRef::kType:
      return type_json(s, *s.type_of(item), kind_of_nested(*s.type_of(item)));
    case ContentRef::kDoc:
      return Any::make(Any::Kind::kObject);
    case ContentRef::kString: {
      // getContent() of a string is its UTF-16 units, one element each.
      std::size_t i = 0;
      bool inside = false;
      const std::string_view text = s.text_of(item);
      const std::size_t pos = utf16_to_byte_offset(text, index, inside);
      i = pos;
      std::string unit;
      const std::uint32_t cp = next_code_point(text, i);
      if (cp >= 0x10000) {
        append_code_point(unit, inside ? low_surrogate(cp) : high_surrogate(cp));
      } else {
        append_code_point(unit, cp);
      }
      return Any::from_string(std::move(unit));
    }
    default:
      return Any::undefined();
  }
}

std::string text_string(const DocState& s, const Type& t) {
  std::string out;
  for (const Item* n = first(s, t); n != nullptr; n = next(s, *n)) {
    if (!n->deleted() && n->ref == ContentRef::kString) out += s.text_of(*n);
  }
  return out;
}

Any map_json(const DocState& s, const Type& t) {
  Any obj = Any::make(Any::Kind::kObject);
  for (const auto& [key, ref] : t.map) {
    const Item* item = &s.at(ref);
    if (item->deleted()) continue;
    obj.object.emplace_back(s.key_name(key), content_value(s, *item, item->length - 1));
  }
  normalize_object(obj.object);  // a JavaScript object: integer-like keys first
  return obj;
}

Any array_json(const DocState& s, const Type& t) {
  Any arr = Any::make(Any::Kind::kArray);
  for (const Item* n = first(s, t); n != nullptr; n = next(s, *n)) {
    if (n->deleted() || !n->countable()) continue;
    for (std::size_t i = 0; i < n->length; ++i) arr.array.push_back(content_value(s, *n, i));
  }
  return arr;
}

// Yjs's toDelta(): runs of text with their formatting; embeds and embedded types
// as their own ops.
Any text_delta(const DocState& s, const Type& t) {
  Any ops = Any::make(Any::Kind::kArray);
  std::vector<std::pair<std::string, const Any*>> attrs;
  std::string str;
  auto attributes_object = [&]() {
    Any a = Any::make(Any::Kind::kObject);
    for (const auto& [k, v] : attrs) a.object.emplace_back(k, *v);
    normalize_object(a.object);
    return a;
  };
  auto pack = [&]() {
    if (str.empty()) return;
    Any op = Any::make(Any::Kind::kObject);
    op.object.emplace_back("insert", Any::from_string(std::move(str)));
    if (!attrs.empty()) op.object.emplace_back("attributes", attributes_object());
    ops.array.push_back(std::move(op));
    str.clear();
  };
  for (const Item* n = first(s, t); n != nullptr; n = next(s, *n)) {
    if (n->deleted()) continue;
    switch (n->ref) {
      case ContentRef::kString:
        str += s.text_of(*n);
        break;
      case ContentRef::kType:
      case ContentRef::kEmbed: {
        pack();
        Any op = Any::make(Any::Kind::kObject);
        op.object.emplace_back("insert", content_value(s, *n, 0));
        if (!attrs.empty()) op.object.emplace_back("attributes", attributes_object());
        ops.array.push_back(std::move(op));
        break;
      }
      case ContentRef::kFormat: {
        pack();
        // updateCurrentAttributes on a JS Map: set keeps an existing key's place,
        // null deletes it (and a later set appends it again).
        const Any& value = s.values(*n)[0];
        const auto it = std::find_if(attrs.begin(), attrs.end(), [&](const auto& e) { return e.first == s.key(*n); });
        if (value.kind == Any::Kind::kNull) {
          if (it != attrs.end()) attrs.erase(it);
        } else if (it != attrs.end()) {
          it->second = &value;
        } else {
          attrs.emplace_back(s.key(*n), &value);
        }
        break;
      }
      default:
        break;
    }
  }
  pack();
  return ops;
}

// String(value) in JavaScript, for XML attribute values and inserts.
std::string js_string(const Any& v) {
  switch (v.kind) {
    case Any::Kind::kUndefined:
      return "undefined";
    case Any::Kind::kNull:
      return "null";
    case Any::Kind::kBool:
      return v.boolean ? "true" : "false";
    case Any::Kind::kNumber:
      return js_number_to_string(v.number);
    case Any::Kind::kBigInt:
      return std::to_string(v.bigint);
    case Any::Kind::kString:
      return v.str;
    case Any::Kind::kArray: {
      std::string out;
      for (std::size_t i = 0; i < v.array.size(); ++i) {
        if (i) out += ',';
        const Any& e = v.array[i];
        if (e.kind != Any::Kind::kUndefined && e.kind != Any::Kind::kNull) out += js_string(e);
      }
      return out;
    }
    case Any::Kind::kBytes: {
      std::string out;
      for (std::size_t i = 0; i < v.str.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(static_cast<unsigned char>(v.str[i]));
      }
      return out;
    }
    case Any::Kind::kObject:
      return "[object Object]";
  }
  return "";
}

// JavaScript's default sort of strings: by UTF-16 code units.
bool utf16_less(const std::string& a, const std::string& b) {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    const std::uint32_t ca = next_code_point(a, i);
    const std::uint32_t cb = next_code_point(b, j);
    if (ca == cb) continue;
    // Compare the first UTF-16 unit of each.
    const std::uint32_t ua = ca >= 0x10000 ? high_surrogate(ca) : ca;
    const std::uint32_t ub = cb >= 0x10000 ? high_surrogate(cb) : cb;
    if (ua != ub) return ua < ub;
    const std::uint32_t la = ca >= 0x10000 ? low_surrogate(ca) : 0;
    const std::uint32_t lb = cb >= 0x10000 ? low_surrogate(cb) : 0;
    return la < lb;
  }
  return a.size() - i < b.size() - j;
}

std::string xml_string(const DocState& s, const Type& t);

std::string lower_ascii(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// YXmlText.toString: every delta op wrapped in tags named after its attributes.
std::string xml_text_string(const DocState& s, const Type& t) {
  std::string out;
  const Any delta = text_delta(s, t);
  for (const Any& op : delta.array) {
    struct Node {
      std::string name;
      std::vector<std::pair<std::string, std::string>> attrs;
    };
    std::vector<Node> nodes;
    if (const Any* a = op.get("attributes")) {
      for (const auto& [name, value] : a->object) {
        Node node{name, {}};
        if (value.kind == Any::Kind::kObject) {
          for (const auto& [k, v] : value.object) node.attrs.emplace_back(k, js_string(v));
        }
        std::stable_sort(node.attrs.begin(), node.attrs.end(),
                         [](const auto& x, const auto& y) { return utf16_less(x.first, y.first); });
        nodes.push_back(std::move(node));
      }
    }
    std::stable_sort(nodes.begin(), nodes.end(),
                     [](const Node& x, const Node& y) { return utf16_less(x.name, y.name); });
    for (const Node& node : nodes) {
      out += '<' + node.name;
      for (const auto& [k, v] : node.attrs) out += ' ' + k + "=\"" + v + '"';
      out += '>';
    }
    const Any* insert = op.get("insert");
    out += js_string(*insert);
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) out += "</" + it->name + '>';
  }
  return out;
}

std::string xml_children_string(const DocState& s, const Type& t) {
  std::string out;
  for (const Item* n = first(s, t); n != nullptr; n = next(s, *n)) {
    if (n->deleted() || !n->countable()) continue;
    if (n->ref == ContentRef::kType) {
      out += xml_string(s, *s.type_of(*n));
    } else {
      for (std::size_t i = 0; i < n->length; ++i) out += js_string(content_value(s, *n, i));
    }
  }
  return out;
}

std::string xml_string(const DocState& s, const Type& t) {
  switch (t.type_ref) {
    case 3: {
      std::vector<std::pair<std::string, std::string>> attrs;
      for (const auto& [key, ref] : t.map) {
        const Item* item = &s.at(ref);
        if (!item->deleted()) attrs.emplace_back(s.key_name(key), js_string(content_value(s, *item, item->length - 1)));
      }
      std::sort(attrs.begin(), attrs.end(), [](const auto& x, const auto& y) { return utf16_less(x.first, y.first); });
      const std::string name = lower_ascii(t.name);
      std::string out = '<' + name;
      for (const auto& [k, v] : attrs) out += ' ' + k + "=\"" + v + '"';
      return out + '>' + xml_children_string(s, t) + "</" + name + '>';
    }
    case 2:
    case 6:
      return xml_text_string(s, t);
    case 0:
    case 1:
    case 5:
      return "[object Object]";
    default:
      return xml_children_string(s, t);
  }
}

Any type_json(const DocState& s, const Type& type, RootKind as) {
  switch (as) {
    case RootKind::kText:
      return Any::from_string(text_string(s, type));
    case RootKind::kMap:
      return map_json(s, type);
    case RootKind::kArray:
      return array_json(s, type);
    case RootKind::kXmlFragment:
      return Any::from_string(type.item == 0 ? xml_children_string(s, type) : xml_string(s, type));
    case RootKind::kUnknown:
      break;
  }
  return Any::undefined();
}

RootKind infer_kind(const DocState& s, const Type& t) {
  bool text = false;
  bool xml = false;
  bool list = false;
  for (const Item* n = first(s, t); n != nullptr; n = next(s, *n)) {
    switch (n->ref) {
      case ContentRef::kString:
      case ContentRef::kEmbed:
      case ContentRef::kFormat:
        text = true;
        break;
      case ContentRef::kType:
        if (s.type_of(*n)->type_ref == 3 || s.type_of(*n)->type_ref == 5 || s.type_of(*n)->type_ref == 6) {
          xml = true;
        } else {
          list = true;
        }
        break;
      case ContentRef::kAny:
      case ContentRef::kJson:
      case ContentRef::kBinary:
      case ContentRef::kDoc:
        list = true;
        break;
      default:
        break;
    }
  }
  if (text) return RootKind::kText;
  if (xml) return RootKind::kXmlFragment;
  if (list) return RootKind::kArray;
  if (!t.map.empty()) return RootKind::kMap;
  return RootKind::kUnknown;
}

// y-prosemirror's yattr2markname: /(.*)(--[a-zA-Z0-9+/=]{8})$/.exec(name)?.[1] ?? name.
// `.` stops at line terminators, so the match starts after the last one.
std::string mark_name(const std::string& name) {
  constexpr std::size_t kSuffix = 10;
  if (name.size() < kSuffix || name.compare(name.size() - kSuffix, 2, "--") != 0) return name;
  for (std::size_t i = name.size() - 8; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
    if (!ok) return name;
  }
  const std::size_t end = name.size() - kSuffix;
  std::size_t start = 0;
  for (std::size_t i = 0; i < end; ++i) {
    if (name[i] == '\n' || name[i] == '\r') {
      start = i + 1;
    } else if (name.compare(i, 3, "\xE2\x80\xA8") == 0 || name.compare(i, 3, "\xE2\x80\xA9") == 0) {
      start = i + 3;
    }
  }
  return name.substr(start, end - start);
}

Error prosemirror_error(std::string message) {
  return Error{kCrdtDomain, static_cast<int>(CrdtErrc::kMalformed), "prosemirror: " + std::move(message)};
}

Result<std::size_t> prosemirror_children(const DocState& s, const Type& t, const std::string& holder, bool flatten,
                                         Any& content);

// serialize() of yXmlFragmentToProsemirrorJSON: an element's node, or an XmlText's array of text nodes.
Result<Any> prosemirror_node(const DocState& s, const Type& t) {
  if (t.type_ref == 6) {  // XmlText
    // Embedded types reach JSON.stringify, which prints their toJSON(): text_delta
    // already holds them so.
    Any delta = text_delta(s, t);
    for (Any& op : delta.array) {
      Any* insert = nullptr;
      Any* attributes = nullptr;
      for (AnyMember& m : op.object) (m.first == "insert" ? insert : attributes) = &m.second;
      Any text = Any::make(Any::Kind::kObject);
      text.object.emplace_back("type", Any::from_string("text"));
      text.object.emplace_back("text", std::move(*insert));
      if (attributes != nullptr) {
        Any marks = Any::make(Any::Kind::kArray);
        for (AnyMember& a : attributes->object) {
          // Object.keys(attrs) throws on undefined (null formats never reach the delta).
          if (a.second.kind == Any::Kind::kUndefined) return prosemirror_error("mark '" + a.first + "' is undefined");
          Any mark = Any::make(Any::Kind::kObject);
          mark.object.emplace_back("type", Any::from_string(mark_name(a.first)));
          mark.object.emplace_back("attrs", std::move(a.second));
          marks.array.push_back(std::move(mark));
        }
        text.object.emplace_back("marks", std::move(marks));
      }
      op = std::move(text);
    }
    return delta;
  }
  if (t.type_ref != 3) return prosemirror_error("'" + t.name + "' is not an XmlElement or XmlText");
  Any node = Any::make(Any::Kind::kObject);
  node.object.emplace_back("type", Any::from_string(t.name));
  Any attrs = Any::make(Any::Kind::kObject);
  for (const auto& [key, ref] : t.map) {
    const Item* item = &s.at(ref);
    if (item->deleted()) continue;
    attrs.object.emplace_back(s.key_name(key), content_value(s, *item, item->length - 1));
  }
  normalize_object(attrs.object);
  if (!attrs.object.empty()) node.object.emplace_back("attrs", std::move(attrs));
  Any content = Any::make(Any::Kind::kArray);
  const auto children = prosemirror_children(s, t, "element '" + t.name + "'", /*flatten=*/true, content);
  if (!children.ok()) return children.error();
  // `content` is set when the element has children, even if they flatten to nothing.
  if (*children > 0) node.object.emplace_back("content", std::move(content));
  return node;
}

// items.map(serialize) over t.toArray(), appended to `content` (one level
// flattened for an element's children, as a plain array at the top level);
// returns how many children there were.
Result<std::size_t> prosemirror_children(const DocState& s, const Type& t, const std::string& holder, bool flatten,
                                         Any& content) {
  std::size_t count = 0;
  for (const Item* n = first(s, t); n != nullptr; n = next(s, *n)) {
    if (n->deleted() || !n->countable()) continue;
    if (n->ref != ContentRef::kType) return prosemirror_error(holder + " holds a non-XML value");
    auto child = prosemirror_node(s, *s.type_of(*n));
    if (!child.ok()) return child.error();
    ++count;
    if (flatten && child->kind == Any::Kind::kArray) {
      for (Any& c : child->array) content.array.push_back(std::move(c));
    } else {
      content.array.push_back(std::move(*child));
    }
  }
  return count;
}

}  // namespace

RootKind Doc::root_kind(std::string_view name) const {
  const auto it = s_->share_index.find(std::string(name));
  return it == s_->share_index.end() ? RootKind::kUnknown : infer_kind(*s_, *it->second);
}

std::string Doc::text(std::string_view name) const {
  const auto it = s_->share_index.find(std::string(name));
  return it == s_->share_index.end() ? std::string() : text_string(*s_, *it->second);
}

Any Doc::text_delta(std::string_view name) const {
  const auto it = s_->share_index.find(std::string(name));
  return it == s_->share_index.end() ? Any::make(Any::Kind::kArray) : crdt::text_delta(*s_, *it->second);
}

Any Doc::root_json(std::string_view name, RootKind kind) const {
  const auto it = s_->share_index.find(std::string(name));
  if (it != s_->share_index.end()) return type_json(*s_, *it->second, kind);
  const Type empty;
  return type_json(*s_, empty, kind);
}

Result<Any> Doc::prosemirror_json(std::string_view fragment) const {
  Any content = Any::make(Any::Kind::kArray);
  const auto it = s_->share_index.find(std::string(fragment));
  if (it != s_->share_index.end()) {
    const auto children = prosemirror_children(*s_, *it->second, "the fragment", /*flatten=*/false, content);
    if (!children.ok()) return children.error();
  }
  Any doc = Any::make(Any::Kind::kObject);
  doc.object.emplace_back("type", Any::from_string("doc"));
  doc.object.emplace_back("content", std::move(content));
  return doc;
}

Any Doc::to_json() const {
  Any out = Any::make(Any::Kind::kObject);
  for (const auto& [name, type] : s_->share) {
    const RootKind kind = infer_kind(*s_, *type);
    if (kind != RootKind::kUnknown) out.object.emplace_back(name, type_json(*s_, *type, kind));
  }
  normalize_object(out.object);
  return out;
}

}  // namespace quire::crdt
