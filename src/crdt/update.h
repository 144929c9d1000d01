// Yjs updates without a document: the struct model, v1/v2 decoding and encoding,
// and the update algebra (merge, diff, state vector, format conversion),
// byte-identical to Yjs 13.6's `mergeUpdates`, `diffUpdate`,
// `encodeStateVectorFromUpdate` and `convertUpdateFormat*`.
// Spec: docs/wire-format.md, ../shared/spec/yjs-wire-format.md §3–§6.
//
// Every function takes untrusted bytes and returns an error value on truncated,
// malformed or oversized input; none of them reads out of bounds or allocates
// out of proportion to its input (the Limits bound what a v2 update's run-length
// columns could otherwise inflate).
// Thread-safety: pure functions over their arguments.
#pragma once

#include <cstdint>
#include <forward_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "crdt/any.h"
#include "crdt/delete_set.h"
#include "crdt/id.h"

namespace quire::crdt {

enum class UpdateFormat : std::uint8_t { kV1, kV2 };

// Bounds applied while decoding (ARCHITECTURE §5). Defaults suit one network message.
struct Limits {
  std::uint64_t max_structs = 100'000;  // structs in one update
  int max_depth = 64;                   // nesting of Any / JSON values
};

enum class BlockKind : std::uint8_t { kGc, kSkip, kItem };

// Item content kinds: the low five bits of the info byte.
enum class ContentRef : std::uint8_t {
  kNone = 0,
  kDeleted = 1,
  kJson = 2,
  kBinary = 3,
  kString = 4,
  kEmbed = 5,
  kFormat = 6,
  kType = 7,
  kAny = 8,
  kDoc = 9,
};

enum class ParentKind : std::uint8_t { kNone, kRoot, kId };

// Owns strings that do not live in an input buffer (sliced strings, v2 column
// pieces split inside a surrogate pair). Views into it stay valid for its lifetime,
// also across moves.
class StringArena {
 public:
  std::string_view keep(std::string s) { return strings_.emplace_front(std::move(s)); }

 private:
  std::forward_list<std::string> strings_;  // allocates nothing until used
};

// One struct as read from an update: GC, Skip or Item. Strings are views into the
// input bytes or into a StringArena. The parent and the map key are known only
// when they were on the wire (neither origin present), as in Yjs's lazy reader.
struct Block {
  BlockKind kind = BlockKind::kGc;
  ContentRef ref = ContentRef::kNone;
  ParentKind parent_kind = ParentKind::kNone;
  bool has_origin = false;
  bool has_right_origin = false;
  bool has_parent_sub = false;
  std::uint8_t type_ref = 0;  // kType: 0 Array … 6 XmlText
  Id id;
  std::uint64_t length = 0;
  Id origin;
  Id right_origin;
  Id parent_id;
  std::string_view parent_name;
  std::string_view parent_sub;
  // kString: the text (WTF-8); kBinary: the bytes; kFormat: the key;
  // kType: the node or hook name (typeRefs 3 and 5); kDoc: the guid.
  std::string_view text;
  // kJson / kAny: the elements; kEmbed / kFormat: the value; kDoc: the options.
  std::vector<Any> values;

  [[nodiscard]] std::uint64_t end() const { return id.clock + length; }
  // A fresh struct at `at`, reset field by field: `values` keeps its capacity
  // from struct to struct.
  void reset(Id at) {
    kind = BlockKind::kGc;
    ref = ContentRef::kNone;
    parent_kind = ParentKind::kNone;
    has_origin = false;
    has_right_origin = false;
    has_parent_sub = false;
    type_ref = 0;
    length = 0;
    origin = {};
    right_origin = {};
    parent_id = {};
    parent_name = {};
    parent_sub = {};
    text = {};
    if (!values.empty()) values.clear();
    id = at;
  }
};

// A fully decoded update. Views point into the decoded input, which must outlive it.
struct DecodedUpdate {
  StringArena arena;
  std::vector<Block> blocks;              // in wire order
  std::vector<std::size_t> group_starts;  // index of the first block of each group (client run)
  DeleteSet delete_set;

  void clear() {  // keeps the vectors' capacity
    arena = StringArena();
    blocks.clear();
    group_starts.clear();
    delete_set.clear();
  }
};

inline constexpr std::string_view kCrdtDomain = "crdt";
enum class CrdtErrc : int { kMalformed = 1, kLimit = 2, kUnencodable = 3 };

Result<DecodedUpdate> decode_update(ByteView update, UpdateFormat format = UpdateFormat::kV1,
                                    const Limits& limits = {});
// decode_update into `out`, reusing its buffers (for callers decoding update after
// update); on failure `out` holds a partial decode.
Status decode_update_into(ByteView update, UpdateFormat format, const Limits& limits, DecodedUpdate& out);
// Writes blocks (grouped into runs of one client, in the order given) and the delete set.
Result<Bytes> encode_update(const DecodedUpdate& update, UpdateFormat format = UpdateFormat::kV1);

// Yjs `mergeUpdates` / `mergeUpdatesV2`. Like Yjs, a single input is returned
// unchanged (after checking that it decodes).
Result<Bytes> merge_updates(std::span<const ByteView> updates, UpdateFormat format = UpdateFormat::kV1,
                            const Limits& limits = {});
// Yjs `diffUpdate` / `diffUpdateV2`: the part of `update` not covered by `state_vector`.
Result<Bytes> diff_update(ByteView update, ByteView state_vector, UpdateFormat format = UpdateFormat::kV1,
                          const Limits& limits = {});
// Yjs `encodeStateVectorFromUpdate` / `…V2`.
Result<Bytes> state_vector_from_update(ByteView update, UpdateFormat format = UpdateFormat::kV1,
                                       const Limits& limits = {});
// Yjs `convertUpdateFormatV1ToV2` / `convertUpdateFormatV2ToV1` (and same-format re-encoding).
Result<Bytes> convert_update(ByteView update, UpdateFormat from, UpdateFormat to, const Limits& limits = {});

// A delete set on its own, as Yjs's writeDeleteSet / readDeleteSet lay it out (a
// snapshot is a delete set followed by a state vector). Decoding keeps clients in
// first-seen order and ranges as given; call sort_and_merge() to normalise.
Result<DeleteSet> decode_delete_set(ByteView bytes, UpdateFormat format = UpdateFormat::kV1);
Result<Bytes> encode_delete_set(const DeleteSet& ds, UpdateFormat format = UpdateFormat::kV1);

// A readable listing of an update's structs and delete set (`quire update inspect`).
std::string describe_update(const DecodedUpdate& update);

}  // namespace quire::crdt
