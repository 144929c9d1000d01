#include "crdt/framing.h"

#include <string>

#include "crdt/update.h"

namespace quire::crdt {

Result<std::vector<ByteView>> split_frames(ByteView data) {
  std::vector<ByteView> frames;
  std::size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 4) {
      return Error{kCrdtDomain, static_cast<int>(CrdtErrc::kMalformed),
                   "framed input: truncated length at byte " + std::to_string(pos)};
    }
    const std::uint32_t n = static_cast<std::uint32_t>(data[pos]) | static_cast<std::uint32_t>(data[pos + 1]) << 8 |
                            static_cast<std::uint32_t>(data[pos + 2]) << 16 |
                            static_cast<std::uint32_t>(data[pos + 3]) << 24;
    pos += 4;
    if (n > data.size() - pos) {
      return Error{kCrdtDomain, static_cast<int>(CrdtErrc::kMalformed),
                   "framed input: frame " + std::to_string(frames.size()) + " runs past the end"};
    }
    frames.push_back(data.subspan(pos, n));
    pos += n;
  }
  return frames;
}

void append_frame(Bytes& out, ByteView frame) {
  const auto n = static_cast<std::uint32_t>(frame.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  out.insert(out.end(), frame.begin(), frame.end());
}

}  // namespace quire::crdt
