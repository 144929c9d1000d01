// describe_update: the listing printed by `quire update inspect`.
#include <string>

#include "crdt/update.h"

namespace quire::crdt {

namespace {

constexpr const char* kTypeNames[] = {"Array", "Map", "Text", "XmlElement", "XmlFragment", "XmlHook", "XmlText"};

std::string id_string(Id id) {
  return std::to_string(id.client) + ":" + std::to_string(id.clock);
}

std::string quoted(std::string_view s) {
  std::string out;
  quote_json_string(out, s);
  return out;
}

std::string values_string(const std::vector<Any>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ", ";
    out += describe_any(values[i]);
  }
  return out + "]";
}

std::string content_string(const Block& b) {
  switch (b.ref) {
    case ContentRef::kDeleted:
      return "Deleted";
    case ContentRef::kJson:
      return "JSON " + values_string(b.values);
    case ContentRef::kBinary:
      return "Binary " + to_hex(as_bytes(b.text));
    case ContentRef::kString:
      return "String " + quoted(b.text);
    case ContentRef::kEmbed:
      return "Embed " + describe_any(b.values[0]);
    case ContentRef::kFormat:
      return "Format " + quoted(b.text) + "=" + describe_any(b.values[0]);
    case ContentRef::kType: {
      std::string out = std::string("Type ") + kTypeNames[b.type_ref];
      if (b.type_ref == 3 || b.type_ref == 5) {
        out += ' ';
        quote_json_string(out, b.text);
      }
      return out;
    }
    case ContentRef::kAny:
      return "Any " + values_string(b.values);
    case ContentRef::kDoc:
      return "Doc guid=" + quoted(b.text) + " opts=" + describe_any(b.values[0]);
    case ContentRef::kNone:
      break;
  }
  return "?";
}

}  // namespace

std::string describe_update(const DecodedUpdate& update) {
  std::string out = "structs: " + std::to_string(update.blocks.size()) + "\n";
  for (const Block& b : update.blocks) {
    out += "  ";
    switch (b.kind) {
      case BlockKind::kGc:
        out += "GC   " + id_string(b.id) + " len=" + std::to_string(b.length);
        break;
      case BlockKind::kSkip:
        out += "Skip " + id_string(b.id) + " len=" + std::to_string(b.length);
        break;
      case BlockKind::kItem:
        out += "Item " + id_string(b.id) + " len=" + std::to_string(b.length);
        if (b.has_origin) out += " origin=" + id_string(b.origin);
        if (b.has_right_origin) out += " right=" + id_string(b.right_origin);
        if (b.parent_kind == ParentKind::kRoot) out += " parent=" + quoted(b.parent_name);
        if (b.parent_kind == ParentKind::kId) out += " parent=" + id_string(b.parent_id);
        if (b.has_parent_sub) out += " key=" + quoted(b.parent_sub);
        out += " " + content_string(b);
        break;
    }
    out += "\n";
  }
  out += "delete set: " + std::to_string(update.delete_set.clients().size()) + " clients\n";
  for (const DeleteSet::Client* c : update.delete_set.sorted_for_write()) {
    out += "  client " + std::to_string(c->client) + ":";
    for (const DeleteRange& r : c->ranges) {
      out += " [" + std::to_string(r.clock) + "," + std::to_string(r.clock + r.len) + ")";
    }
    out += "\n";
  }
  return out;
}

}  // namespace quire::crdt
