// quire: the Quire binary — the collaboration server (`quire serve`), its
// administration (users, signing keys) and the update and document tools.
#include <cstdio>
#include <string>
#include <vector>

#include "app/cli.h"

namespace {

void print_usage() {
  std::printf(
      "quire — self-hosted real-time collaborative documents, Yjs-compatible\n"
      "\n"
      "usage: quire <command> [args]\n"
      "\n"
      "commands:\n"
      "  serve     run the collaboration server (quire serve --help)\n"
      "  update    work with Yjs updates (merge, diff, state-vector, inspect, convert)\n"
      "  doc       build a document from updates (apply, text, json, prosemirror)\n"
      "  user      manage accounts (create, list, disable, enable)\n"
      "  key       manage the access-token signing keys (rotate, list)\n"
      "  version   print the version\n"
      "  help      show this help\n"
      "\n");
  quire::app::print_update_usage();
  std::printf("\n");
  quire::app::print_doc_usage();
  std::printf("\n");
  quire::app::print_admin_usage();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    print_usage();
    return args.empty() ? quire::app::kExitUsage : quire::app::kExitOk;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::printf("quire 0.1.0\n");
    return quire::app::kExitOk;
  }
  if (args[0] == "update") return quire::app::run_update({args.begin() + 1, args.end()});
  if (args[0] == "serve") return quire::app::run_serve({args.begin() + 1, args.end()});
  if (args[0] == "doc") return quire::app::run_doc({args.begin() + 1, args.end()});
  if (args[0] == "user") return quire::app::run_user({args.begin() + 1, args.end()});
  if (args[0] == "key") return quire::app::run_key({args.begin() + 1, args.end()});
  std::fprintf(stderr, "quire: unknown command '%s' (try 'quire help')\n", args[0].c_str());
  return quire::app::kExitUsage;
}
