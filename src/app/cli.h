// The `quire` command line: verb dispatch shared by main.cc and the verb files.
#pragma once

#include <string>
#include <vector>

namespace quire::app {

// Exit codes: 0 ok, 1 bad input or failed operation, 2 usage error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// `quire update …`; args are the words after "update".
int run_update(const std::vector<std::string>& args);
void print_update_usage();

}  // namespace quire::app
