// libFuzzer target for every decoder that sees network bytes: v1/v2 update
// decoding, merge, diff, state vectors and conversion. The first byte picks the
// operation; the rest is the input. Any crash, sanitizer report or broken
// property below is a bug. Run with `make fuzz` (long) or `make fuzz-smoke`.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "crdt/update.h"

using namespace quire;
using namespace quire::crdt;

namespace {

const Limits kLimits{.max_structs = 10'000, .max_depth = 64};

// Splits the input in two at a position given by its first byte.
std::pair<ByteView, ByteView> halves(ByteView in) {
  if (in.empty()) return {in, in};
  const std::size_t cut = in.size() > 1 ? (in[0] * (in.size() - 1)) / 255 + 1 : 1;
  return {in.subspan(1, cut - 1), in.subspan(cut)};
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ByteView in(data + 1, size - 1);
  const UpdateFormat fmt = data[0] & 1 ? UpdateFormat::kV2 : UpdateFormat::kV1;
  switch ((data[0] >> 1) % 5) {
    case 0: {
      auto decoded = decode_update(in, fmt, kLimits);
      if (!decoded) break;
      // A decodable update re-encodes, and re-encoding is a fixed point after one pass.
      auto once = encode_update(*decoded, fmt);
      if (fmt == UpdateFormat::kV1) check(once.ok());
      if (!once) break;
      auto again = decode_update(*once, fmt, kLimits);
      check(again.ok());
      auto twice = encode_update(*again, fmt);
      check(twice.ok() && *twice == *once);
      (void)describe_update(*decoded);
      break;
    }
    case 1: {
      const auto [a, b] = halves(in);
      const ByteView both[] = {a, b, a};
      (void)merge_updates(both, fmt, kLimits);
      break;
    }
    case 2: {
      const auto [update, sv] = halves(in);
      (void)diff_update(update, sv, fmt, kLimits);
      break;
    }
    case 3:
      (void)state_vector_from_update(in, fmt, kLimits);
      break;
    case 4:
      (void)convert_update(in, fmt, fmt == UpdateFormat::kV1 ? UpdateFormat::kV2 : UpdateFormat::kV1, kLimits);
      break;
  }
  return 0;
}
