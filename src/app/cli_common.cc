// Helpers shared by the `quire` verbs: options, file input, stdout output and
// the one-line error convention.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

#include "app/cli.h"
#include "crdt/framing.h"

namespace quire::app {

namespace {

bool parse_format(const std::string& s, crdt::UpdateFormat& f);

}  // namespace

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
    } else if (a == "--name") {
      const std::string* v = value("--name");
      if (!v) return usage("--name needs a root type name");
      o.name = *v;
    } else if (a == "--no-gc") {
      o.gc = false;
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

namespace {

bool parse_format(const std::string& s, crdt::UpdateFormat& f) {
  using crdt::UpdateFormat;
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

}  // namespace

}  // namespace quire::app
