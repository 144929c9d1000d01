// What RedisBus stores and sends in Redis, in one place (docs/cluster.md,
// "Keys and messages"): key and channel names, the Lua script that appends an
// update with the id of the entry before it, stream entry fields, pub/sub
// frames and the session hash. Everything read back from Redis is checked.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "cluster/bus.h"

namespace quire::cluster::redis_format {

using Fields = std::vector<std::pair<std::string_view, std::string_view>>;

std::string stream_key(std::string_view prefix, std::string_view doc);         // <prefix>d:<doc>:u
std::string awareness_channel(std::string_view prefix, std::string_view doc);  // <prefix>d:<doc>:a
std::string wake_key(std::string_view prefix, std::string_view node);          // <prefix>n:<node>:w
std::string session_key(std::string_view prefix, std::string_view key);        // <prefix>s:<key>
std::string revocation_channel(std::string_view prefix);                       // <prefix>revoke

// KEYS[1] = stream, ARGV = maxlen, origin, kind, payload. Appends
// {o: origin, k: kind, v: id of the previous last entry or "0-0", p: payload}
// with XADD MAXLEN ~ and returns the new id (ARGV[5], when given, replaces the
// predecessor: a gap marker names an impossible one, so every reader re-reads). One script, so `v` is exact and a
// reader can tell that entries after its position were trimmed away.
inline constexpr std::string_view kAppendScript = R"lua(
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if last[1] then prev = last[1][1] end
if ARGV[5] then prev = ARGV[5] end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'o', ARGV[2], 'k', ARGV[3], 'v', prev, 'p', ARGV[4])
)lua";

// A stream entry's fields as the append script wrote them.
struct StreamFields {
  std::string_view origin;
  Kind kind = Kind::kUpdate;
  std::string_view prev;
  std::string_view payload;
};
Result<StreamFields> decode_stream_fields(const Fields& fields);

// A pub/sub message body: fields as `<decimal length>:<bytes>`, concatenated.
std::string encode_frame(std::initializer_list<std::string_view> fields);
Result<std::vector<std::string_view>> decode_frame(std::string_view frame, std::size_t count);

// Awareness: [origin, payload]. Revocation: [origin, kind, subject].
std::string encode_awareness(std::string_view origin, std::string_view payload);
std::string encode_revocation(std::string_view origin, const Revocation& revocation);

// The session hash: user, doc, ac (decimal awareness client id), as, sv.
std::vector<std::pair<std::string, std::string>> session_fields(const SessionRecord& record);
Result<SessionRecord> session_from_fields(std::string key, const Fields& fields);

}  // namespace quire::cluster::redis_format
