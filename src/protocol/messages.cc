// Frame decoding and encoding for y-websocket and Hocuspocus (messages.h).
#include "protocol/messages.h"

namespace quire::protocol {
namespace {

using crdt::Reader;
using crdt::Writer;

Error error(ErrorCode code, std::string message) {
  return Error{kDomain, code, std::move(message)};
}

Error truncated(std::string_view what) {
  return error(kTruncated, "truncated " + std::string(what));
}

// A sync message body: varUint(type) varBytes(payload).
Status read_sync(Reader& r, SyncMessage& out) {
  const std::uint64_t type = r.read_var_uint();
  if (r.failed()) return truncated("sync message");
  if (type > 2) return error(kUnknownType, "unknown sync message type " + std::to_string(type));
  out.type = static_cast<SyncType>(type);
  out.payload = r.read_var_bytes();
  if (r.failed()) return truncated("sync payload");
  return {};
}

Status read_string(Reader& r, std::string_view& out, std::string_view what) {
  // read_var_string fails both on a short input and on invalid UTF-8; a copy of
  // the reader tells them apart.
  Reader probe = r;
  const std::uint64_t n = probe.read_var_uint();
  if (probe.failed() || n > probe.remaining()) return truncated(what);
  out = r.read_var_string();
  if (r.failed()) return error(kBadString, std::string(what) + " is not UTF-8");
  return {};
}

Status finish(const Reader& r) {
  if (!r.empty()) return error(kTrailingBytes, std::to_string(r.remaining()) + " bytes after the message");
  return {};
}

enum class Sender : std::uint8_t { kClient, kServer };

// The body of a frame once its prefix (document name, if any) and type are read.
Status read_body(Protocol protocol, Sender from, Reader& r, Frame& f) {
  switch (f.type) {
    case MessageType::kSync:
    case MessageType::kSyncReply:
      if (Status s = read_sync(r, f.sync); !s) return s;
      return finish(r);
    case MessageType::kAwareness:
      f.awareness = r.read_var_bytes();
      if (r.failed()) return truncated("awareness update");
      return finish(r);
    case MessageType::kQueryAwareness:
      return finish(r);
    case MessageType::kAuth: {
      const std::uint64_t sub = r.read_var_uint();
      if (r.failed()) return truncated("auth message");
      if (protocol == Protocol::kYWebsocket) {
        // y-protocols auth: only permissionDenied(0) exists, and only servers send it.
        if (sub != 0) return error(kUnknownType, "unknown auth message type " + std::to_string(sub));
        f.auth = AuthType::kPermissionDenied;
        return read_string(r, f.text, "auth reason");
      }
      if (sub > 2) return error(kUnknownType, "unknown auth message type " + std::to_string(sub));
      f.auth = static_cast<AuthType>(sub);
      if ((f.auth == AuthType::kToken) != (from == Sender::kClient)) {
        return error(kNotAllowed, "auth message type " + std::to_string(sub) + " is not accepted from " +
                                      (from == Sender::kClient ? "clients" : "servers"));
      }
      // Token, then an optional provider version that newer providers append; or
      // the server's scope or reason.
      return read_string(r, f.text, "auth token");
    }
    case MessageType::kClose:
      // @hocuspocus/provider sends CLOSE without its reason string.
      if (r.empty()) return {};
      if (Status s = read_string(r, f.text, "close reason"); !s) return s;
      return finish(r);
    case MessageType::kStateless:
      if (Status s = read_string(r, f.text, "message text"); !s) return s;
      return finish(r);
    case MessageType::kBroadcastStateless:
      if (from != Sender::kServer) break;
      if (Status s = read_string(r, f.text, "message text"); !s) return s;
      return finish(r);
    case MessageType::kSyncStatus:
      if (from != Sender::kServer) break;
      f.applied = r.read_var_uint() == 1;
      if (r.failed()) return truncated("sync status");
      return finish(r);
    case MessageType::kPing:
    case MessageType::kPong:
      break;  // a single byte without a document name: see decode()
  }
  return error(kNotAllowed, "message type " + std::to_string(static_cast<int>(f.type)) + " is not accepted from " +
                                (from == Sender::kClient ? "clients" : "servers"));
}

void begin(Writer& w, Protocol protocol, std::string_view key, MessageType type) {
  if (protocol == Protocol::kHocuspocus) w.write_var_string(key);
  w.write_var_uint(static_cast<std::uint8_t>(type));
}

Result<Frame> decode(Protocol protocol, Sender from, ByteView bytes) {
  Frame f;
  Reader r(bytes);
  if (protocol == Protocol::kHocuspocus) {
    // Pong (from clients) and Ping (from servers) are the single bytes 0a and 09
    // with no document name (a name starts with its length, and no frame is a
    // 10- or 9-byte name followed by nothing).
    const MessageType bare = from == Sender::kClient ? MessageType::kPong : MessageType::kPing;
    if (bytes.size() == 1 && bytes[0] == static_cast<std::uint8_t>(bare)) {
      f.type = bare;
      return f;
    }
    if (Status s = read_string(r, f.document, "document name"); !s) return s.error();
  }
  const std::uint64_t type = r.read_var_uint();
  if (r.failed()) return truncated("message type");
  const std::uint64_t max_type = protocol == Protocol::kHocuspocus ? 10 : 3;
  if (type > max_type) return error(kUnknownType, "unknown message type " + std::to_string(type));
  f.type = static_cast<MessageType>(type);
  if (Status s = read_body(protocol, from, r, f); !s) return s.error();
  return f;
}

}  // namespace

Result<Frame> decode_frame(Protocol protocol, ByteView bytes) {
  return decode(protocol, Sender::kClient, bytes);
}

Result<Frame> decode_server_frame(Protocol protocol, ByteView bytes) {
  return decode(protocol, Sender::kServer, bytes);
}

std::string_view document_of(std::string_view key) {
  return key.substr(0, key.find('\0'));
}

Bytes sync_frame(Protocol protocol, std::string_view key, SyncType type, ByteView payload) {
  Writer w;
  begin(w, protocol, key, MessageType::kSync);
  w.write_var_uint(static_cast<std::uint8_t>(type));
  w.write_var_bytes(payload);
  return w.take();
}

Bytes awareness_frame(Protocol protocol, std::string_view key, ByteView awareness_update) {
  Writer w;
  begin(w, protocol, key, MessageType::kAwareness);
  w.write_var_bytes(awareness_update);
  return w.take();
}

Bytes query_awareness_frame(Protocol protocol, std::string_view key) {
  Writer w;
  begin(w, protocol, key, MessageType::kQueryAwareness);
  return w.take();
}

Bytes sync_status_frame(std::string_view key, bool applied) {
  Writer w;
  begin(w, Protocol::kHocuspocus, key, MessageType::kSyncStatus);
  w.write_var_uint(applied ? 1 : 0);
  return w.take();
}

Bytes authenticated_frame(std::string_view key, bool read_only) {
  Writer w;
  begin(w, Protocol::kHocuspocus, key, MessageType::kAuth);
  w.write_var_uint(static_cast<std::uint8_t>(AuthType::kAuthenticated));
  w.write_var_string(read_only ? "readonly" : "read-write");
  return w.take();
}

Bytes permission_denied_frame(Protocol protocol, std::string_view key, std::string_view reason) {
  Writer w;
  begin(w, protocol, key, MessageType::kAuth);
  // y-protocols' permissionDenied is 0; Hocuspocus's is 1.
  w.write_var_uint(protocol == Protocol::kHocuspocus ? static_cast<std::uint8_t>(AuthType::kPermissionDenied) : 0);
  w.write_var_string(reason);
  return w.take();
}

Bytes stateless_frame(std::string_view key, std::string_view payload) {
  Writer w;
  begin(w, Protocol::kHocuspocus, key, MessageType::kStateless);
  w.write_var_string(payload);
  return w.take();
}

Bytes ping_frame() {
  return Bytes{static_cast<std::uint8_t>(MessageType::kPing)};
}

Bytes auth_token_frame(std::string_view key, std::string_view token) {
  Writer w;
  begin(w, Protocol::kHocuspocus, key, MessageType::kAuth);
  w.write_var_uint(static_cast<std::uint8_t>(AuthType::kToken));
  w.write_var_string(token);
  return w.take();
}

Bytes pong_frame() {
  return Bytes{static_cast<std::uint8_t>(MessageType::kPong)};
}

Result<std::vector<AwarenessEntry>> decode_awareness(ByteView update, std::size_t max_entries) {
  Reader r(update);
  const std::uint64_t n = r.read_var_uint();
  if (r.failed()) return error(kBadAwareness, "truncated awareness update");
  // Each entry takes at least 3 bytes, so a count beyond that cannot be honest.
  if (n > max_entries || n > r.remaining() / 3 + 1) {
    return error(kBadAwareness, "awareness update with " + std::to_string(n) + " entries");
  }
  std::vector<AwarenessEntry> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) {
    AwarenessEntry e;
    e.client = r.read_var_uint();
    e.clock = r.read_var_uint();
    std::string_view state;
    if (Status s = read_string(r, state, "awareness state"); !s) {
      return error(kBadAwareness, s.error().message);
    }
    if (r.failed()) return error(kBadAwareness, "truncated awareness update");
    e.state = state;
    out.push_back(e);
  }
  if (!r.empty()) return error(kBadAwareness, "bytes after the awareness update");
  return out;
}

Bytes encode_awareness(const std::vector<AwarenessState>& entries) {
  Writer w;
  w.write_var_uint(entries.size());
  for (const AwarenessState& e : entries) {
    w.write_var_uint(e.client);
    w.write_var_uint(e.clock);
    w.write_var_string(e.state);
  }
  return w.take();
}

}  // namespace quire::protocol
