#include "crdt/any.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "crdt/utf.h"

namespace quire::crdt {

namespace {

// Canonical array index: "0" or [1-9][0-9]* up to 2^32-2.
bool array_index(std::string_view k, std::uint64_t& value) {
  if (k.empty() || k.size() > 10) return false;
  if (k.size() > 1 && k[0] == '0') return false;
  std::uint64_t v = 0;
  for (char c : k) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > 4294967294ull) return false;
  value = v;
  return true;
}

}  // namespace

const Any* Any::get(std::string_view key) const {
  for (const auto& [k, v] : object) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool Any::truthy() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNull:
      return false;
    case Kind::kBool:
      return boolean;
    case Kind::kNumber:
      return number != 0 && !std::isnan(number);
    case Kind::kBigInt:
      return bigint != 0;
    case Kind::kString:
      return !str.empty();
    default:
      return true;
  }
}

bool operator==(const Any& a, const Any& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Any::Kind::kUndefined:
    case Any::Kind::kNull:
      return true;
    case Any::Kind::kBool:
      return a.boolean == b.boolean;
    case Any::Kind::kNumber:
      return std::memcmp(&a.number, &b.number, sizeof(double)) == 0 || a.number == b.number;
    case Any::Kind::kBigInt:
      return a.bigint == b.bigint;
    case Any::Kind::kString:
    case Any::Kind::kBytes:
      return a.str == b.str;
    case Any::Kind::kArray:
      return a.array == b.array;
    case Any::Kind::kObject:
      return a.object == b.object;
  }
  return false;
}

void normalize_object(std::vector<AnyMember>& entries) {
  if (entries.size() > 1) {
    // Deduplicate: the first position keeps the last value. The views index the
    // strings inside `unique`, which is reserved up front and never reallocates.
    std::vector<AnyMember> unique;
    unique.reserve(entries.size());
    std::unordered_map<std::string_view, std::size_t> slot;
    slot.reserve(entries.size());
    for (auto& e : entries) {
      const auto it = slot.find(e.first);
      if (it == slot.end()) {
        unique.push_back(std::move(e));
        slot.emplace(unique.back().first, unique.size() - 1);
      } else {
        unique[it->second].second = std::move(e.second);
      }
    }
    entries = std::move(unique);
  }
  // Array-index keys first, ascending; the rest keep insertion order.
  std::uint64_t dummy = 0;
  const bool any_index =
      std::any_of(entries.begin(), entries.end(), [&](const auto& e) { return array_index(e.first, dummy); });
  if (!any_index) return;
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    std::uint64_t va = 0;
    std::uint64_t vb = 0;
    const bool ia = array_index(a.first, va);
    const bool ib = array_index(b.first, vb);
    if (ia != ib) return ia;
    return ia && va < vb;
  });
}

bool read_any(Reader& r, Any& out, int max_depth) {
  if (max_depth <= 0) {
    r.fail();
    return false;
  }
  const std::uint8_t tag = r.read_u8();
  switch (tag) {
    case 127:
      out = Any::undefined();
      break;
    case 126:
      out = Any::null();
      break;
    case 125: {
      // lib0 returns larger magnitudes (rounded to a double) on the last byte;
      // a JavaScript number is all this can be.
      const VarInt v = r.read_var_int();
      const double mag = static_cast<double>(v.magnitude);
      out = Any::from_number(v.negative ? -mag : mag);
      break;
    }
    case 124:
      out = Any::from_number(r.read_f32());
      break;
    case 123:
      out = Any::from_number(r.read_f64());
      break;
    case 122:
      out = Any::make(Any::Kind::kBigInt);
      out.bigint = r.read_i64();
      break;
    case 121:
      out = Any::from_bool(false);
      break;
    case 120:
      out = Any::from_bool(true);
      break;
    case 119:
      out = Any::from_string(std::string(r.read_var_string()));
      break;
    case 118: {
      const std::uint64_t n = r.read_var_uint();
      if (n > r.remaining()) {
        r.fail();
        return false;
      }
      out = Any::make(Any::Kind::kObject);
      out.object.reserve(n);
      for (std::uint64_t i = 0; i < n && !r.failed(); ++i) {
        std::string key(r.read_var_string());
        Any value;
        if (!read_any(r, value, max_depth - 1)) return false;
        // `obj['__proto__'] = v` sets the prototype (or nothing); it never makes an own key.
        if (key == "__proto__") continue;
        out.object.emplace_back(std::move(key), std::move(value));
      }
      normalize_object(out.object);
      break;
    }
    case 117: {
      const std::uint64_t n = r.read_var_uint();
      if (n > r.remaining()) {
        r.fail();
        return false;
      }
      out = Any::make(Any::Kind::kArray);
      out.array.reserve(n);
      for (std::uint64_t i = 0; i < n && !r.failed(); ++i) {
        out.array.emplace_back();
        if (!read_any(r, out.array.back(), max_depth - 1)) return false;
      }
      break;
    }
    case 116: {
      const ByteView b = r.read_var_bytes();
      out = Any::make(Any::Kind::kBytes);
      out.str.assign(as_chars(b));
      break;
    }
    default:
      r.fail();
  }
  return !r.failed();
}

namespace {
bool is_float32(double d) {
  if (std::isnan(d)) return false;
  return static_cast<double>(static_cast<float>(d)) == d;
}
}  // namespace

void write_any(Writer& w, const Any& v) {
  switch (v.kind) {
    case Any::Kind::kUndefined:
      w.write_u8(127);
      break;
    case Any::Kind::kNull:
      w.write_u8(126);
      break;
    case Any::Kind::kBool:
      w.write_u8(v.boolean ? 120 : 121);
      break;
    case Any::Kind::kNumber: {
      const double d = v.number;
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= 2147483647.0) {
        w.write_u8(125);
        w.write_var_int(std::signbit(d), static_cast<std::uint64_t>(std::fabs(d)));
      } else if (is_float32(d)) {
        w.write_u8(124);
        w.write_f32(static_cast<float>(d));
      } else {
        w.write_u8(123);
        // Canonical quiet NaN, as V8 writes it.
        w.write_f64(std::isnan(d) ? std::bit_cast<double>(0x7FF8000000000000ull) : d);
      }
      break;
    }
    case Any::Kind::kBigInt:
      w.write_u8(122);
      w.write_i64(v.bigint);
      break;
    case Any::Kind::kString:
      w.write_u8(119);
      w.write_var_string(v.str);
      break;
    case Any::Kind::kBytes:
      w.write_u8(116);
      w.write_var_bytes(as_bytes(v.str));
      break;
    case Any::Kind::kArray:
      w.write_u8(117);
      w.write_var_uint(v.array.size());
      for (const Any& e : v.array) write_any(w, e);
      break;
    case Any::Kind::kObject:
      w.write_u8(118);
      w.write_var_uint(v.object.size());
      for (const auto& [k, e] : v.object) {
        w.write_var_string(k);
        write_any(w, e);
      }
      break;
  }
}

// ---- JSON ----------------------------------------------------------------

namespace {

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  bool parse(Any& out, int max_depth) {
    skip_ws();
    if (!value(out, max_depth)) return false;
    skip_ws();
    return i_ == s_.size();
  }

 private:
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  bool value(Any& out, int depth) {
    if (depth <= 0 || i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (c == '"') {
      out = Any::make(Any::Kind::kString);
      return string(out.str);
    }
    if (c == 't') {
      out = Any::from_bool(true);
      return literal("true");
    }
    if (c == 'f') {
      out = Any::from_bool(false);
      return literal("false");
    }
    if (c == 'n') {
      out = Any::null();
      return literal("null");
    }
    return number(out);
  }

  bool digits() {
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }

  bool number(Any& out) {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (!digits()) {
      return false;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return false;
    }
    double d = 0;
    const char* first = s_.data() + start;
    const char* last = s_.data() + i_;
    const auto res = std::from_chars(first, last, d);
    if (res.ec == std::errc::result_out_of_range) {
      // Overflow gives ±Infinity, underflow ±0, as JavaScript does.
      const bool neg = *first == '-';
      bool big = false;
      // Decide by the exponent's sign: an out-of-range value with a negative
      // exponent (and small mantissa) underflows.
      const std::string_view tok(first, static_cast<std::size_t>(last - first));
      const auto e = tok.find_first_of("eE");
      big = e == std::string_view::npos || tok[e + 1] != '-';
      d = big ? (neg ? -HUGE_VAL : HUGE_VAL) : (neg ? -0.0 : 0.0);
    } else if (res.ec != std::errc() || res.ptr != last) {
      return false;
    }
    out = Any::from_number(d);
    return true;
  }

  bool hex4(std::uint32_t& v) {
    if (i_ + 4 > s_.size()) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  bool string(std::string& out) {
    ++i_;  // opening quote
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++i_;
        continue;
      }
      if (++i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          // A high surrogate escape followed by a low one is a single code point.
          if (cp >= 0xD800 && cp < 0xDC00 && i_ + 6 <= s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
            const std::size_t save = i_;
            i_ += 2;
            std::uint32_t lo = 0;
            if (hex4(lo) && lo >= 0xDC00 && lo < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              i_ = save;
            }
          }
          append_code_point(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  bool array(Any& out, int depth) {
    ++i_;
    out = Any::make(Any::Kind::kArray);
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      out.array.emplace_back();
      if (!value(out.array.back(), depth - 1)) return false;
      skip_ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] == ']') {
        ++i_;
        return true;
      }
      return false;
    }
  }

  bool object(Any& out, int depth) {
    ++i_;
    out = Any::make(Any::Kind::kObject);
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') return false;
      std::string key;
      if (!string(key)) return false;
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != ':') return false;
      ++i_;
      skip_ws();
      Any v;
      if (!value(v, depth - 1)) return false;
      out.object.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] == '}') {
        ++i_;
        normalize_object(out.object);
        return true;
      }
      return false;
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

void quote_json_string(std::string& out, std::string_view wtf8) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < wtf8.size()) {
    const auto c = static_cast<unsigned char>(wtf8[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    const std::size_t start = i;
    const std::uint32_t cp = next_code_point(wtf8, i);
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (cp < 0x20 || (cp >= 0xD800 && cp < 0xE000)) {
          out += "\\u";
          out.push_back(kHex[(cp >> 12) & 0xF]);
          out.push_back(kHex[(cp >> 8) & 0xF]);
          out.push_back(kHex[(cp >> 4) & 0xF]);
          out.push_back(kHex[cp & 0xF]);
        } else {
          out.append(wtf8.substr(start, i - start));
        }
    }
  }
  out.push_back('"');
}

namespace {

bool stringify(const Any& v, std::string& out) {
  switch (v.kind) {
    case Any::Kind::kUndefined:
      return false;
    case Any::Kind::kNull:
      out += "null";
      return true;
    case Any::Kind::kBool:
      out += v.boolean ? "true" : "false";
      return true;
    case Any::Kind::kNumber:
      out += std::isfinite(v.number) ? js_number_to_string(v.number) : "null";
      return true;
    case Any::Kind::kBigInt:
      return false;
    case Any::Kind::kString:
      quote_json_string(out, v.str);
      return true;
    case Any::Kind::kBytes: {
      // A Uint8Array stringifies as an object of its indices.
      out.push_back('{');
      for (std::size_t i = 0; i < v.str.size(); ++i) {
        if (i) out.push_back(',');
        out += '"' + std::to_string(i) + "\":" + std::to_string(static_cast<unsigned char>(v.str[i]));
      }
      out.push_back('}');
      return true;
    }
    case Any::Kind::kArray: {
      out.push_back('[');
      for (std::size_t i = 0; i < v.array.size(); ++i) {
        if (i) out.push_back(',');
        const Any& e = v.array[i];
        if (e.kind == Any::Kind::kUndefined) {
          out += "null";
        } else if (!stringify(e, out)) {
          return false;
        }
      }
      out.push_back(']');
      return true;
    }
    case Any::Kind::kObject: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, e] : v.object) {
        if (e.kind == Any::Kind::kUndefined) continue;
        if (!first) out.push_back(',');
        first = false;
        quote_json_string(out, k);
        out.push_back(':');
        if (!stringify(e, out)) return false;
      }
      out.push_back('}');
      return true;
    }
  }
  return false;
}

}  // namespace

bool parse_json(std::string_view text, Any& out, int max_depth) {
  JsonParser p(text);
  return p.parse(out, max_depth);
}

bool stringify_json(const Any& v, std::string& out) {
  return stringify(v, out);
}

std::string describe_any(const Any& v) {
  switch (v.kind) {
    case Any::Kind::kUndefined:
      return "undefined";
    case Any::Kind::kNumber:
      return js_number_to_string(v.number);
    case Any::Kind::kBigInt:
      return std::to_string(v.bigint) + "n";
    case Any::Kind::kBytes:
      return "bytes " + to_hex(as_bytes(v.str));
    case Any::Kind::kArray: {
      std::string out = "[";
      for (std::size_t i = 0; i < v.array.size(); ++i) {
        if (i) out += ",";
        out += describe_any(v.array[i]);
      }
      return out + "]";
    }
    case Any::Kind::kObject: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, e] : v.object) {
        if (!first) out += ",";
        first = false;
        quote_json_string(out, k);
        out += ":" + describe_any(e);
      }
      return out + "}";
    }
    default: {
      std::string out;
      stringify(v, out);
      return out;
    }
  }
}

std::string js_number_to_string(double d) {
  if (std::isnan(d)) return "NaN";
  if (d == 0) return "0";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  std::string sign;
  if (d < 0) {
    sign = "-";
    d = -d;
  }
  // Shortest round-trip digits and exponent, then JavaScript's layout rules
  // (ECMA-262 Number::toString).
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  const std::size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exp10 = 0;
  std::from_chars(sci.data() + e_pos + (sci[e_pos + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp10);
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;
  std::string out = sign;
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<std::size_t>(n));
    out.push_back('.');
    out += digits.substr(static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out += digits.substr(1);
    }
    out.push_back('e');
    out.push_back(n - 1 >= 0 ? '+' : '-');
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

}  // namespace quire::crdt
