// The logging facade: one line per event on stderr, as `key=value` text or as
// a JSON object, filtered by level. Events have a fixed name and fields, so the
// lines can be searched and counted ("auth_failed", "room_loaded").
// Never log secrets: tokens, cookies and passwords stay out of fields.
// Thread-safety: every function may be called from any thread; a line is
// written with one call, so lines never interleave.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace quire::log {

enum class Level : std::uint8_t { kDebug, kInfo, kWarn, kError };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, std::int64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, std::uint64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, double v) : key(k), value(std::to_string(v)), number(true) {}
  std::string_view key;
  std::string value;
  bool number = false;
};

// Process-wide settings, set once at start-up.
void configure(Level min_level, bool json);
// Parses "debug" | "info" | "warn" | "error".
bool parse_level(std::string_view text, Level& out);
[[nodiscard]] bool enabled(Level level);

void write(Level level, std::string_view event, std::initializer_list<Field> fields = {});
inline void debug(std::string_view event, std::initializer_list<Field> fields = {}) {
  if (enabled(Level::kDebug)) write(Level::kDebug, event, fields);
}
inline void info(std::string_view event, std::initializer_list<Field> fields = {}) {
  write(Level::kInfo, event, fields);
}
inline void warn(std::string_view event, std::initializer_list<Field> fields = {}) {
  write(Level::kWarn, event, fields);
}
inline void error(std::string_view event, std::initializer_list<Field> fields = {}) {
  write(Level::kError, event, fields);
}

}  // namespace quire::log
