// Wire messages of the two collaboration protocols Quire speaks: y-protocols
// sync and awareness (inside both), y-websocket framing (one document per
// socket, the name in the URL) and Hocuspocus framing (every frame prefixed by
// its document name). Bytes ↔ messages only; what a message means for a
// document is `room`'s job. Spec: ../shared/spec/yjs-wire-format.md §9,
// docs/protocol.md.
//
// Decoders take untrusted bytes and return an error value, never throw; a
// decoded Frame holds views into the input, valid as long as it is.
// Thread-safety: free functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "crdt/lib0.h"

namespace quire::protocol {

inline constexpr std::string_view kDomain = "protocol";
enum ErrorCode : int {
  kTruncated = 1,      // the frame ends inside a field
  kUnknownType = 2,    // a message or sub-message type this protocol does not have
  kTrailingBytes = 3,  // bytes after a complete message
  kBadString = 4,      // a string field that is not UTF-8
  kBadAwareness = 5,   // an awareness update that does not decode
  kNotAllowed = 6,     // a type clients may not send (BroadcastStateless, SyncStatus)
};

enum class Protocol : std::uint8_t { kYWebsocket, kHocuspocus };

// Hocuspocus's MessageType; y-websocket uses 0–3 with the same meaning.
enum class MessageType : std::uint8_t {
  kSync = 0,
  kAwareness = 1,
  kAuth = 2,
  kQueryAwareness = 3,
  kSyncReply = 4,
  kStateless = 5,
  kBroadcastStateless = 6,
  kClose = 7,
  kSyncStatus = 8,
  kPing = 9,
  kPong = 10,
};

enum class SyncType : std::uint8_t { kStep1 = 0, kStep2 = 1, kUpdate = 2 };

// Hocuspocus AuthMessageType.
enum class AuthType : std::uint8_t { kToken = 0, kPermissionDenied = 1, kAuthenticated = 2 };

struct SyncMessage {
  SyncType type = SyncType::kStep1;
  ByteView payload;  // a state vector (Step1) or a v1 update (Step2, Update)
};

// One inbound frame of either protocol, decoded completely.
struct Frame {
  MessageType type = MessageType::kSync;
  std::string_view document;  // Hocuspocus: the name as sent (maybe a routing key); y-websocket: empty
  SyncMessage sync;           // kSync, kSyncReply
  ByteView awareness;         // kAwareness: an awareness update
  AuthType auth = AuthType::kToken;
  std::string_view
      text;              // kAuth: the token (kToken), scope (kAuthenticated) or reason; kStateless, kClose: the payload
  bool applied = false;  // kSyncStatus
};

// A frame a client sent (what the server reads).
Result<Frame> decode_frame(Protocol protocol, ByteView frame);
// A frame a server sent (what a client reads: the load generator, tools/loadgen):
// Authenticated and PermissionDenied instead of Token, SyncStatus, Ping, BroadcastStateless.
Result<Frame> decode_server_frame(Protocol protocol, ByteView frame);

// The document a Hocuspocus name refers to: a routing key `name \0 session`
// names `name`; the reply goes to the raw key.
std::string_view document_of(std::string_view key);

// Outbound frames. `key` is the Hocuspocus document name (ignored for y-websocket).
Bytes sync_frame(Protocol protocol, std::string_view key, SyncType type, ByteView payload);
Bytes awareness_frame(Protocol protocol, std::string_view key, ByteView awareness_update);
Bytes query_awareness_frame(Protocol protocol, std::string_view key);
Bytes sync_status_frame(std::string_view key, bool applied);
Bytes authenticated_frame(std::string_view key, bool read_only);
Bytes permission_denied_frame(Protocol protocol, std::string_view key, std::string_view reason);
Bytes stateless_frame(std::string_view key, std::string_view payload);
Bytes ping_frame();
// Client frames: Hocuspocus's Auth Token message and the answer to a Ping.
Bytes auth_token_frame(std::string_view key, std::string_view token);
Bytes pong_frame();

// Awareness (y-protocols awareness.js): entries of (client, clock, JSON state);
// the state text "null" means the client is gone.
struct AwarenessEntry {
  std::uint64_t client = 0;
  std::uint64_t clock = 0;
  std::string_view state;  // JSON text, not validated here
};
// At most `max_entries` entries, else an error.
Result<std::vector<AwarenessEntry>> decode_awareness(ByteView update, std::size_t max_entries);

struct AwarenessState {
  std::uint64_t client = 0;
  std::uint64_t clock = 0;
  std::string state;  // JSON text; "null" = removed
};
Bytes encode_awareness(const std::vector<AwarenessState>& entries);

}  // namespace quire::protocol
