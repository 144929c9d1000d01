// Fail points: named places where a test can make the process die on the spot,
// as `kill -9` would, to prove crash safety (SECURITY.md §2 row 12). Armed only
// by the environment variable QUIRE_FAILPOINTS, a comma-separated list of
// names, read once; in production it is unset and a fail point costs one load.
// Besides the crash points (compact.*), `relay.drop_updates` makes a cluster
// node ignore the updates other nodes relay (a node whose deliveries are late).
//
// Thread-safety: any thread.
#pragma once

#include <string_view>

namespace quire::failpoint {

// True when `name` is armed.
bool armed(std::string_view name);

// Dies with SIGKILL (no destructors, no flush, like a crash) if `name` is armed.
void hit(std::string_view name);

}  // namespace quire::failpoint
