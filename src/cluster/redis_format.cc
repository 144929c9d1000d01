// RedisBus's keys, script, entries and frames (redis_format.h).
#include "cluster/redis_format.h"

#include <charconv>

namespace quire::cluster::redis_format {
namespace {

std::string join(std::string_view prefix, std::string_view middle, std::string_view name, std::string_view suffix) {
  std::string out;
  out.reserve(prefix.size() + middle.size() + name.size() + suffix.size());
  out.append(prefix).append(middle).append(name).append(suffix);
  return out;
}

Error bad_frame(std::string message) {
  return cluster_error(kBadFrame, std::move(message));
}

}  // namespace

std::string stream_key(std::string_view prefix, std::string_view doc) {
  return join(prefix, "d:", doc, ":u");
}
std::string awareness_channel(std::string_view prefix, std::string_view doc) {
  return join(prefix, "d:", doc, ":a");
}
std::string wake_key(std::string_view prefix, std::string_view node) {
  return join(prefix, "n:", node, ":w");
}
std::string session_key(std::string_view prefix, std::string_view key) {
  return join(prefix, "s:", key, "");
}
std::string revocation_channel(std::string_view prefix) {
  return join(prefix, "revoke", "", "");
}

Result<StreamFields> decode_stream_fields(const Fields& fields) {
  StreamFields out;
  bool has_origin = false, has_kind = false, has_prev = false, has_payload = false;
  for (const auto& [name, value] : fields) {
    if (name == "o") {
      out.origin = value;
      has_origin = true;
    } else if (name == "k") {
      if (value == "1") {
        out.kind = Kind::kUpdate;
      } else if (value == "2") {
        out.kind = Kind::kAwareness;
      } else {
        return bad_frame("stream entry: unknown kind");
      }
      has_kind = true;
    } else if (name == "v") {
      out.prev = value;
      has_prev = true;
    } else if (name == "p") {
      out.payload = value;
      has_payload = true;
    }
  }
  if (!has_origin || !has_kind || !has_prev || !has_payload) return bad_frame("stream entry: missing field");
  return out;
}

std::string encode_frame(std::initializer_list<std::string_view> fields) {
  std::string out;
  for (const std::string_view field : fields) {
    out += std::to_string(field.size());
    out += ':';
    out += field;
  }
  return out;
}

Result<std::vector<std::string_view>> decode_frame(std::string_view frame, std::size_t count) {
  std::vector<std::string_view> fields;
  while (!frame.empty()) {
    const std::size_t colon = frame.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 10) return bad_frame("frame: bad length");
    std::size_t length = 0;
    const auto [end, ec] = std::from_chars(frame.data(), frame.data() + colon, length);
    if (ec != std::errc() || end != frame.data() + colon) return bad_frame("frame: bad length");
    if (length > frame.size() - colon - 1) return bad_frame("frame: truncated");
    fields.push_back(frame.substr(colon + 1, length));
    frame.remove_prefix(colon + 1 + length);
  }
  if (fields.size() != count) return bad_frame("frame: wrong number of fields");
  return fields;
}

std::string encode_awareness(std::string_view origin, std::string_view payload) {
  return encode_frame({origin, payload});
}

std::string encode_revocation(std::string_view origin, const Revocation& revocation) {
  return encode_frame({origin, revocation.kind, revocation.subject});
}

std::vector<std::pair<std::string, std::string>> session_fields(const SessionRecord& record) {
  return {{"user", record.user_id},
          {"doc", record.doc},
          {"ac", std::to_string(record.awareness_client)},
          {"as", std::string(as_chars(record.awareness_state))},
          {"sv", std::string(as_chars(record.state_vector))}};
}

Result<SessionRecord> session_from_fields(std::string key, const Fields& fields) {
  SessionRecord record;
  record.key = std::move(key);
  unsigned seen = 0;
  for (const auto& [name, value] : fields) {
    if (name == "user") {
      record.user_id = std::string(value);
      seen |= 1;
    } else if (name == "doc") {
      record.doc = std::string(value);
      seen |= 2;
    } else if (name == "ac") {
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), record.awareness_client);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
        return bad_frame("session: bad awareness client id");
      }
      seen |= 4;
    } else if (name == "as") {
      const ByteView bytes = as_bytes(value);
      record.awareness_state.assign(bytes.begin(), bytes.end());
      seen |= 8;
    } else if (name == "sv") {
      const ByteView bytes = as_bytes(value);
      record.state_vector.assign(bytes.begin(), bytes.end());
      seen |= 16;
    }
  }
  if (seen != 31) return bad_frame("session: missing field");
  return record;
}

}  // namespace quire::cluster::redis_format
