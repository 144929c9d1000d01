// Fail points (failpoint.h).
#include "base/failpoint.h"

#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

namespace quire::failpoint {
namespace {

const std::vector<std::string>& armed_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    const char* env = std::getenv("QUIRE_FAILPOINTS");
    if (env == nullptr) return out;
    const std::string_view all(env);
    std::size_t start = 0;
    while (start <= all.size()) {
      const std::size_t comma = std::min(all.find(',', start), all.size());
      if (comma > start) out.emplace_back(all.substr(start, comma - start));
      start = comma + 1;
    }
    return out;
  }();
  return names;
}

}  // namespace

bool armed(std::string_view name) {
  for (const std::string& n : armed_names()) {
    if (n == name) return true;
  }
  return false;
}

void hit(std::string_view name) {
  if (armed_names().empty() || !armed(name)) return;
  std::raise(SIGKILL);
}

}  // namespace quire::failpoint
