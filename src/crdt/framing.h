// Framed update streams: repeated { u32 little-endian length, bytes }, the layout
// of ../shared/traces/yjs/*.updates.bin and of `quire update … --framed` files.
// Thread-safety: pure functions.
#pragma once

#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace quire::crdt {

// Views into `data`, which must outlive them.
Result<std::vector<ByteView>> split_frames(ByteView data);
void append_frame(Bytes& out, ByteView frame);

}  // namespace quire::crdt
