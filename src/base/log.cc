// The logging facade (log.h).
#include "base/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace quire::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<bool> g_json{false};

constexpr std::string_view kNames[] = {"debug", "info", "warn", "error"};

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// Text values are quoted when they hold spaces, quotes or '=' so a line stays parseable.
void append_text_value(std::string& out, std::string_view v) {
  if (!v.empty() && v.find_first_of(" \"=\n\t") == std::string_view::npos) {
    out += v;
  } else {
    append_json_string(out, v);
  }
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

void configure(Level min_level, bool json) {
  g_level = min_level;
  g_json = json;
}

bool parse_level(std::string_view text, Level& out) {
  for (std::size_t i = 0; i < std::size(kNames); ++i) {
    if (text == kNames[i]) {
      out = static_cast<Level>(i);
      return true;
    }
  }
  return false;
}

bool enabled(Level level) {
  return level >= g_level.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line;
  const std::string_view name = kNames[static_cast<int>(level)];
  if (g_json) {
    line += "{\"ts\":\"" + timestamp() + "\",\"level\":\"" + std::string(name) + "\",\"event\":";
    append_json_string(line, event);
    for (const Field& f : fields) {
      line += ',';
      append_json_string(line, f.key);
      line += ':';
      if (f.number) {
        line += f.value;
      } else {
        append_json_string(line, f.value);
      }
    }
    line += "}\n";
  } else {
    line += timestamp() + ' ' + std::string(name) + ' ' + std::string(event);
    for (const Field& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      append_text_value(line, f.value);
    }
    line += '\n';
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace quire::log
