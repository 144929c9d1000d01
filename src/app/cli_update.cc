// `quire update …`: the document-free update algebra on files.
//
// Binary in, binary on stdout. A file given as `--framed FILE` holds many
// updates, each a u32 little-endian length and its bytes. Invalid input: one line
// on stderr and exit status 1.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "app/cli.h"
#include "crdt/framing.h"
#include "crdt/update.h"

namespace quire::app {

namespace {

using crdt::UpdateFormat;

struct Options {
  std::vector<std::string> files;   // positional
  std::vector<bool> framed;         // per positional file
  UpdateFormat format = UpdateFormat::kV1;
  UpdateFormat to = UpdateFormat::kV1;
  bool to_given = false;
  crdt::Limits limits{.max_structs = 1u << 26, .max_depth = 64};
};

int fail(const std::string& message) {
  std::fprintf(stderr, "quire: %s\n", message.c_str());
  return kExitFailure;
}

int usage(const std::string& message) {
  std::fprintf(stderr, "quire: %s (try 'quire help')\n", message.c_str());
  return kExitUsage;
}

bool read_all(const std::string& path, Bytes& out) {
  if (path == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin.rdbuf()), std::istreambuf_iterator<char>());
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

bool write_stdout(ByteView bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, bytes.data() + done, bytes.size() - done);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool parse_format(const std::string& s, UpdateFormat& f) {
  if (s == "v1") {
    f = UpdateFormat::kV1;
    return true;
  }
  if (s == "v2") {
    f = UpdateFormat::kV2;
    return true;
  }
  return false;
}

// Parses the words after the verb. Returns an exit code on error, -1 to go on.
int parse_options(const std::vector<std::string>& args, std::size_t first, Options& o) {
  for (std::size_t i = first; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> const std::string* {
      if (i + 1 >= args.size()) return nullptr;
      (void)name;
      return &args[++i];
    };
    if (a == "--framed") {
      const std::string* v = value("--framed");
      if (!v) return usage("--framed needs a file");
      o.files.push_back(*v);
      o.framed.push_back(true);
    } else if (a == "--format") {
      const std::string* v = value("--format");
      if (!v || !parse_format(*v, o.format)) return usage("--format takes v1 or v2");
    } else if (a == "--to") {
      const std::string* v = value("--to");
      if (!v || !parse_format(*v, o.to)) return usage("--to takes v1 or v2");
      o.to_given = true;
    } else if (a == "--max-structs") {
      const std::string* v = value("--max-structs");
      char* end = nullptr;
      const unsigned long long n = v ? std::strtoull(v->c_str(), &end, 10) : 0;
      if (!v || *end != '\0' || n == 0) return usage("--max-structs takes a positive number");
      o.limits.max_structs = n;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      return usage("unknown option '" + a + "'");
    } else {
      o.files.push_back(a);
      o.framed.push_back(false);
    }
  }
  return -1;
}

// Loads every input: a plain file is one update, a framed file many. `storage`
// owns the bytes the views point into.
int load_updates(const Options& o, std::vector<std::unique_ptr<Bytes>>& storage, std::vector<ByteView>& updates) {
  for (std::size_t i = 0; i < o.files.size(); ++i) {
    auto bytes = std::make_unique<Bytes>();
    if (!read_all(o.files[i], *bytes)) return fail("cannot read '" + o.files[i] + "': " + std::strerror(errno));
    if (o.framed[i]) {
      auto frames = crdt::split_frames(*bytes);
      if (!frames) return fail(o.files[i] + ": " + frames.error().message);
      updates.insert(updates.end(), frames->begin(), frames->end());
    } else {
      updates.emplace_back(*bytes);
    }
    storage.push_back(std::move(bytes));
  }
  return -1;
}

int emit(const Result<Bytes>& r, const std::string& what) {
  if (!r) return fail(what + ": " + r.error().message);
  if (!write_stdout(*r)) return fail("cannot write to stdout");
  return kExitOk;
}

}  // namespace

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
      if (updates.size() > 1) listing += "update " + std::to_string(i) + " (" + std::to_string(updates[i].size()) + " bytes)\n";
      listing += crdt::describe_update(*decoded);
    }
    std::fwrite(listing.data(), 1, listing.size(), stdout);
    return kExitOk;
  }
  return usage("unknown update verb '" + verb + "'");
}

}  // namespace quire::app
