// A JavaScript value as Yjs sees it: what lib0's readAny returns and JSON.parse
// produces, and what writeAny / JSON.stringify accept.
//
// Yjs re-encodes every value it reads (numbers pick the smallest lib0 form,
// JSON text is parsed and re-stringified, objects follow JavaScript's property
// order), so a byte-compatible engine keeps values in this model rather than as
// the bytes it received. Strings are WTF-8 (see utf.h).
// Thread-safety: plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crdt/lib0.h"

namespace quire::crdt {

struct AnyMember;

struct Any {
  enum class Kind : std::uint8_t { kUndefined, kNull, kBool, kNumber, kBigInt, kString, kBytes, kArray, kObject };

  Kind kind = Kind::kUndefined;
  bool boolean = false;
  double number = 0;
  std::int64_t bigint = 0;
  std::string str;                // kString (WTF-8) and kBytes
  std::vector<Any> array;         // kArray
  std::vector<AnyMember> object;  // kObject, in JavaScript property order

  static Any undefined();
  static Any null();
  static Any from_bool(bool b);
  static Any from_number(double d);
  static Any from_string(std::string s);
  static Any make(Kind k);

  // Own property `key` of an object, or nullptr.
  [[nodiscard]] const Any* get(std::string_view key) const;
  // JavaScript truthiness.
  [[nodiscard]] bool truthy() const;

  friend bool operator==(const Any& a, const Any& b);
};

// An object property. (Not std::pair: clang instantiates pair<…, Any> while Any
// is still incomplete.)
struct AnyMember {
  AnyMember() = default;
  AnyMember(std::string k, Any v) : first(std::move(k)), second(std::move(v)) {}
  std::string first;
  Any second;
  friend bool operator==(const AnyMember&, const AnyMember&) = default;
};

// Defined out of the class: the members' containers need Any complete.
inline Any Any::make(Kind k) {
  Any a;
  a.kind = k;
  return a;
}
inline Any Any::undefined() {
  return {};
}
inline Any Any::null() {
  return make(Kind::kNull);
}
inline Any Any::from_bool(bool b) {
  Any a = make(Kind::kBool);
  a.boolean = b;
  return a;
}
inline Any Any::from_number(double d) {
  Any a = make(Kind::kNumber);
  a.number = d;
  return a;
}
inline Any Any::from_string(std::string s) {
  Any a = make(Kind::kString);
  a.str = std::move(s);
  return a;
}

// Puts an object's entries in JavaScript property order: duplicate keys keep
// the first position and the last value; array-index keys ("0".."4294967294")
// first in ascending numeric order, then the others in insertion order.
void normalize_object(std::vector<AnyMember>& entries);

// lib0 readAny. Fails (returns false, reader failed) on unknown tags, invalid
// UTF-8, truncation, or nesting deeper than `max_depth`.
bool read_any(Reader& r, Any& out, int max_depth);
// lib0 writeAny, including its number rule (int32 → varInt, exact float32 → f32, else f64).
void write_any(Writer& w, const Any& v);

// JSON.parse. Input may be WTF-8. Fails on any syntax error or excess nesting.
bool parse_json(std::string_view text, Any& out, int max_depth);
// JSON.stringify. Returns false where JavaScript would throw or return undefined
// (a BigInt anywhere; undefined at the top level).
bool stringify_json(const Any& v, std::string& out);

// Appends `s` as a JSON string literal, escaped as JSON.stringify does.
void quote_json_string(std::string& out, std::string_view wtf8);
// A readable one-line form for listings: JSON where possible, else a tagged form
// (undefined, 10n, bytes 0a0b).
std::string describe_any(const Any& v);

// Number.prototype.toString() for finite and non-finite doubles.
std::string js_number_to_string(double d);

}  // namespace quire::crdt
