// `quire update …`: the document-free update algebra on files.
//
// Binary in, binary on stdout. A file given as `--framed FILE` holds many
// updates, each a u32 little-endian length and its bytes. Invalid input: one line
// on stderr and exit status 1.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/cli.h"
#include "crdt/framing.h"
#include "crdt/update.h"

namespace quire::app {

using crdt::UpdateFormat;

void print_update_usage() {
  std::printf(
      "update verbs (binary files in, binary on stdout; FILE may be '-' for stdin):\n"
      "  quire update merge [--framed FILE]... [FILE]...   merge updates into one (v1)\n"
      "  quire update diff UPDATE STATE_VECTOR             the part of UPDATE not covered by STATE_VECTOR\n"
      "  quire update state-vector UPDATE                  the state vector an update brings a document to\n"
      "  quire update inspect FILE | --framed FILE          a readable listing of structs and delete set\n"
      "  quire update convert --to v1|v2 FILE              convert between update formats v1 and v2\n"
      "options:\n"
      "  --framed FILE      FILE holds many updates, each as a u32 little-endian length and its bytes\n"
      "  --format v1|v2     the input format for merge, diff, state-vector and inspect (default v1)\n"
      "  --max-structs N    refuse updates with more than N structs (default 67108864)\n");
}

int run_update(const std::vector<std::string>& args) {
  if (args.empty()) return usage("update needs a verb: merge, diff, state-vector, inspect or convert");
  const std::string& verb = args[0];
  Options o;
  if (const int rc = parse_options(args, 1, o); rc >= 0) return rc;
  std::vector<std::unique_ptr<Bytes>> storage;
  std::vector<ByteView> updates;

  if (verb == "merge") {
    if (o.files.empty()) return usage("merge needs at least one file");
    if (const int rc = load_updates(o, storage, updates); rc >= 0) return rc;
    return emit(crdt::merge_updates(updates, o.format, o.limits), "merge");
  }
  if (verb == "diff") {
    if (o.files.size() != 2 || o.framed[0] || o.framed[1]) return usage("diff takes UPDATE STATE_VECTOR");
    if (const int rc = load_updates(o, storage, updates); rc >= 0) return rc;
    return emit(crdt::diff_update(updates[0], updates[1], o.format, o.limits), "diff");
  }
  if (verb == "state-vector") {
    if (o.files.size() != 1 || o.framed[0]) return usage("state-vector takes one UPDATE");
    if (const int rc = load_updates(o, storage, updates); rc >= 0) return rc;
    return emit(crdt::state_vector_from_update(updates[0], o.format, o.limits), "state-vector");
  }
  if (verb == "convert") {
    if (!o.to_given) return usage("convert needs --to v1 or --to v2");
    if (o.files.size() != 1 || o.framed[0]) return usage("convert takes one FILE");
    if (const int rc = load_updates(o, storage, updates); rc >= 0) return rc;
    const UpdateFormat from = o.to == UpdateFormat::kV1 ? UpdateFormat::kV2 : UpdateFormat::kV1;
    return emit(crdt::convert_update(updates[0], from, o.to, o.limits), "convert");
  }
  if (verb == "inspect") {
    if (o.files.size() != 1) return usage("inspect takes one FILE");
    if (const int rc = load_updates(o, storage, updates); rc >= 0) return rc;
    std::string listing;
    for (std::size_t i = 0; i < updates.size(); ++i) {
      auto decoded = crdt::decode_update(updates[i], o.format, o.limits);
      if (!decoded) return fail("inspect: update " + std::to_string(i) + ": " + decoded.error().message);
      if (updates.size() > 1)
        listing += "update " + std::to_string(i) + " (" + std::to_string(updates[i].size()) + " bytes)\n";
      listing += crdt::describe_update(*decoded);
    }
    std::fwrite(listing.data(), 1, listing.size(), stdout);
    return kExitOk;
  }
  return usage("unknown update verb '" + verb + "'");
}

}  // namespace quire::app
