// The `quire` command line: verb dispatch shared by main.cc and the verb files.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "crdt/update.h"

namespace quire::app {

// Exit codes: 0 ok, 1 bad input or failed operation, 2 usage error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Options shared by the verbs.
struct Options {
  std::vector<std::string> files;  // positional
  std::vector<bool> framed;        // per positional file: holds many updates
  crdt::UpdateFormat format = crdt::UpdateFormat::kV1;
  crdt::UpdateFormat to = crdt::UpdateFormat::kV1;
  bool to_given = false;
  std::string name;  // --name
  bool gc = true;    // --no-gc
  crdt::Limits limits{.max_structs = 1u << 26, .max_depth = 64};
};

// One line "quire: message" on stderr; returns kExitFailure / kExitUsage.
int fail(const std::string& message);
int usage(const std::string& message);
bool read_all(const std::string& path, Bytes& out);
bool write_stdout(ByteView bytes);
// Parses the words from `first` on. Returns an exit code on error, -1 to go on.
int parse_options(const std::vector<std::string>& args, std::size_t first, Options& o);
// Loads every input: a plain file is one update, a framed file many. `storage`
// owns the bytes the views point into. Returns an exit code on error, -1 to go on.
int load_updates(const Options& o, std::vector<std::unique_ptr<Bytes>>& storage, std::vector<ByteView>& updates);
// Writes `r` to stdout, or fails with "what: message".
int emit(const Result<Bytes>& r, const std::string& what);

// `quire update …`; args are the words after "update".
int run_update(const std::vector<std::string>& args);
void print_update_usage();
// `quire doc …`
int run_doc(const std::vector<std::string>& args);
void print_doc_usage();
// `quire serve …`
int run_serve(const std::vector<std::string>& args);
// `quire user …` and `quire key …` (cli_admin.cc)
int run_user(const std::vector<std::string>& args);
int run_key(const std::vector<std::string>& args);
void print_admin_usage();

}  // namespace quire::app
