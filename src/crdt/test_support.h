// Test helpers: files from the shared/ folder (spec vectors, traces).
#pragma once

#include <string>
#include <string_view>

#include "base/bytes.h"

namespace quire::crdt::testing {

std::string shared_path(const std::string& relative);
// Reads a whole file; aborts the test program if it cannot (a missing fixture is a setup bug).
Bytes read_file(const std::string& path);
// Bytes from hex in test literals; aborts on a malformed literal.
Bytes hex(std::string_view h);

}  // namespace quire::crdt::testing
