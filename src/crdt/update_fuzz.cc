// libFuzzer target for every decoder that sees network bytes: v1/v2 update
// decoding, merge, diff, state vectors, conversion, and applying updates to an
// empty and to a seeded document. The first byte picks the
// operation; the rest is the input. Any crash, sanitizer report or broken
// property below is a bug. Run with `make fuzz` (long) or `make fuzz-smoke`.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "crdt/doc.h"
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

// Aborts (a finding) naming the failed check's line.
// (__builtin_LINE: clang 16 with libstdc++ 12 has no std::source_location.)
void check(bool ok, int line = __builtin_LINE()) {
  if (ok) return;
  std::fprintf(stderr, "check failed at update_fuzz.cc:%d\n", line);
  std::abort();
}

// A document with some history to apply fuzzed updates onto: "abc" in root text
// "t" by client 1 with "b" deleted, and a map entry by client 2.
const Bytes& seed_state() {
  static const Bytes seed = [] {
    Doc d;
    Bytes out;
    const std::uint8_t text[] = {0x01, 0x01, 0x01, 0x00, 0x04, 0x01, 0x01, 0x74, 0x03, 0x61, 0x62, 0x63, 0x00};
    const std::uint8_t del[] = {0x00, 0x01, 0x01, 0x01, 0x01, 0x01};
    const std::uint8_t map[] = {0x01, 0x01, 0x02, 0x00, 0x28, 0x01, 0x01, 0x6d,
                                0x01, 0x6b, 0x01, 0x77, 0x01, 0x76, 0x00};
    (void)d.apply_update(text);
    (void)d.apply_update(del);
    (void)d.apply_update(map);
    return *d.encode_state_as_update();
  }();
  return seed;
}

void canonical_order(Any& v) {
  for (Any& e : v.array) canonical_order(e);
  for (AnyMember& m : v.object) canonical_order(m.second);
  std::sort(v.object.begin(), v.object.end(), [](const AnyMember& x, const AnyMember& y) { return x.first < y.first; });
}

// Applies `update` (and whatever the document already holds); the resulting state
// must encode, and loading it into a fresh document must give the same content
// and state vector. (Not always the same bytes: which items Yjs joins after a
// transaction depends on the order they arrived in.)
void apply_and_check(ByteView update, UpdateFormat fmt, bool seeded) {
  Doc d({.gc = (update.size() & 1) == 0, .client_id = 7, .limits = kLimits});
  if (seeded) check(d.apply_update(seed_state()).ok());
  // Asking whether the bytes are contained reads them as applying does.
  check(d.contains_update(update, fmt).ok() == decode_update(update, fmt, kLimits).ok());
  if (!d.apply_update(update, fmt).ok()) return;
  // Applying reads v1 structs with its own reader: it accepts nothing the
  // codec's reader refuses.
  check(decode_update(update, fmt, kLimits).ok());
  auto state = d.encode_state_as_update();
  check(state.ok());
  if (d.has_pending_structs() || d.has_pending_delete_set()) return;
  // A document contains its own state.
  const auto contained = d.contains_update(*state);
  check(contained.ok() && *contained);
  Doc again({.gc = (update.size() & 1) == 0, .client_id = 7, .limits = kLimits});
  check(again.apply_update(*state).ok());
  // Byzantine updates make replicas diverge, in Yjs too; only honest ones must
  // reload the same: ids reusing the seed's clients (1 and 2) for other content,
  // and an item whose origin is also its right origin (no editor writes one; after
  // a reload the neighbours it names are merged, so it lands elsewhere — Yjs
  // 13.6.33 puts it at the same two places as Quire).
  auto decoded = decode_update(update, fmt, kLimits);
  for (const Block& b : decoded->blocks) {
    if (seeded && (b.id.client == 1 || b.id.client == 2)) return;
    if (b.has_origin && b.has_right_origin && b.origin == b.right_origin) return;
  }
  check(again.encode_state_as_update().ok());
  check(again.encode_state_vector() == d.encode_state_vector());
  // Roots and map keys appear in the order a document first met them, which
  // differs with arrival order; compare with every object's keys sorted.
  auto by_name = [](Any json) {
    canonical_order(json);
    std::string out;
    stringify_json(json, out);
    return out;
  };
  check(by_name(d.to_json()) == by_name(again.to_json()));
  // Every root read as ProseMirror JSON either prints or is refused, never crashes;
  // attribute order may differ with arrival order, so compare canonically.
  for (const std::string& root : d.root_names()) {
    const auto pm = d.prosemirror_json(root);
    const auto pm_again = again.prosemirror_json(root);
    check(pm.ok() == pm_again.ok());
    if (pm.ok()) check(by_name(*pm) == by_name(*pm_again));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ByteView in(data + 1, size - 1);
  const UpdateFormat fmt = data[0] & 1 ? UpdateFormat::kV2 : UpdateFormat::kV1;
  switch ((data[0] >> 1) % 7) {
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
    case 5:
      apply_and_check(in, fmt, false);
      break;
    case 6:
      apply_and_check(in, fmt, true);
      break;
  }
  return 0;
}
