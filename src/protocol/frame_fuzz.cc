// libFuzzer target: every inbound frame decoder (y-websocket, Hocuspocus) and
// the awareness decoder on arbitrary bytes. Decoders must return errors, never
// crash, and what they accept must re-encode to a frame that decodes the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/messages.h"

using namespace quire;
using namespace quire::protocol;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void round_trip(Protocol p, const Frame& f) {
  Bytes again;
  switch (f.type) {
    case MessageType::kSync:
      again = sync_frame(p, f.document, f.sync.type, f.sync.payload);
      break;
    case MessageType::kAwareness:
      again = awareness_frame(p, f.document, f.awareness);
      break;
    case MessageType::kQueryAwareness:
      again = query_awareness_frame(p, f.document);
      break;
    default:
      return;
  }
  auto back = decode_frame(p, again);
  check(back.ok());
  check(back->type == f.type && back->document == f.document);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView bytes(data, size);
  for (Protocol p : {Protocol::kYWebsocket, Protocol::kHocuspocus}) {
    auto frame = decode_frame(p, bytes);
    if (!frame) continue;
    round_trip(p, *frame);
    if (frame->type == MessageType::kAwareness) {
      auto entries = decode_awareness(frame->awareness, 1000);
      if (entries) {
        std::vector<AwarenessState> states;
        for (const AwarenessEntry& e : *entries) states.push_back({e.client, e.clock, std::string(e.state)});
        auto again = decode_awareness(encode_awareness(states), 1000);
        check(again.ok() && again->size() == entries->size());
      }
    }
  }
  auto entries = decode_awareness(bytes, 1000);
  (void)entries;
  return 0;
}
