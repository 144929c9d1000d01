#include "crdt/test_support.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace quire::crdt::testing {

std::string shared_path(const std::string& relative) {
#ifdef QUIRE_SHARED_DIR
  return std::string(QUIRE_SHARED_DIR) + "/" + relative;
#else
  return "../shared/" + relative;
#endif
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::abort();
  }
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes hex(std::string_view h) {
  Bytes b;
  if (!from_hex(h, b)) {
    std::fprintf(stderr, "bad hex literal %.*s\n", static_cast<int>(h.size()), h.data());
    std::abort();
  }
  return b;
}

}  // namespace quire::crdt::testing
