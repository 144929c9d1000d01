// The document engine: applying updates (readUpdateV2, integrateStructs,
// Item.getMissing / integrate / delete / gc, readAndApplyDeleteSet), the
// transaction cleanup (GC, merging adjacent structs, the rich-text formatting
// cleanup after remote changes) and encodeStateAsUpdate — each function named
// after, and following step by step, its Yjs 13.6 counterpart.
#include "crdt/doc.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <string>

#include "crdt/doc_engine.h"
#include "crdt/utf.h"

namespace quire::crdt {

using detail::DocState;
using detail::Engine;

namespace detail {

void DocState::free_item(ItemRef r) {
  release_content(at(r));
  items.release(r);
}

void DocState::release_content(Item& item) {
  if (item.ref == ContentRef::kString) {
    text.release(item);
    return;
  }
  if (item.content == 0) return;
  if (const Type* type = extras[item.content].type.get()) types[type->self] = nullptr;
  extras.release(item.content);
  item.content = 0;
}

Type& DocState::add_type(Item& holder, std::uint8_t type_ref, std::string name) {
  auto type = std::make_unique<Type>();
  type->self = static_cast<TypeRef>(types.size());
  type->type_ref = type_ref;
  type->name = std::move(name);
  Type& added = *type;
  types.push_back(type.get());
  extra(holder).type = std::move(type);
  return added;
}

KeyRef DocState::intern(std::string_view key) {
  const auto [it, inserted] = key_index.emplace(std::string(key), static_cast<KeyRef>(key_names.size()));
  if (inserted) key_names.push_back(&it->first);
  return it->second;
}

void DocState::compact_text() {
  std::vector<Item*> strings;
  items.for_each([&](ItemRef, Item& item) {
    if (item.ref == ContentRef::kString && item.text_size != 0) strings.push_back(&item);
  });
  text.compact(strings);
}

// ---- TextArena ------------------------------------------------------------------

namespace {

// A WTF-8 string ending in a lone high surrogate (ED A0..AF xx).
bool ends_in_high_surrogate(std::string_view s) {
  const std::size_t n = s.size();
  return n >= 3 && static_cast<unsigned char>(s[n - 3]) == 0xED && static_cast<unsigned char>(s[n - 2]) >= 0xA0 &&
         static_cast<unsigned char>(s[n - 2]) <= 0xAF;
}

}  // namespace

std::unique_ptr<char[]> TextArena::allocate(std::size_t capacity) {
  auto data = std::make_unique_for_overwrite<char[]>(capacity + kPadding);
  std::fill_n(data.get() + capacity, kPadding, '\0');
  return data;
}

void TextArena::grow(std::size_t n) {
  const std::size_t capacity = std::max({size_ + n, 2 * capacity_, kFirstCapacity});
  auto data = allocate(capacity);
  if (size_ != 0) std::copy(data_.get(), data_.get() + size_, data.get());
  data_ = std::move(data);
  capacity_ = capacity;
}

void TextArena::make_room(std::size_t n) {
  if (n <= capacity_ - size_) return;
  if (size_ == 0) {
    // An empty arena (a document being loaded) gets exactly what it asks for.
    data_ = allocate(n);
    capacity_ = n;
    return;
  }
  grow(n);
}

std::uint32_t TextArena::store(std::string_view bytes) {
  if (bytes.empty()) return 0;
  const std::size_t n = bytes.size();
  if (n > capacity_ - size_) {
    // The bytes may be the arena's own (a copy of another item's text).
    const char* old = data_.get();
    const bool inside = old != nullptr && bytes.data() >= old && bytes.data() < old + size_;
    const std::size_t from = inside ? static_cast<std::size_t>(bytes.data() - old) : 0;
    grow(n);
    if (inside) bytes = std::string_view(data_.get() + from, n);
  }
  const auto at = static_cast<std::uint32_t>(size_);
  std::copy(bytes.begin(), bytes.end(), data_.get() + size_);
  size_ += n;
  return at;
}

void TextArena::split(Item& left, Item& right, std::uint64_t units) {
  const std::string_view text = view(left);
  bool inside = false;
  // Text as long in bytes as in UTF-16 units is ASCII: a unit is a byte.
  const std::size_t pos = text.size() == left.length ? units : utf16_to_byte_offset(text, units, inside);
  if (!inside && !ends_in_high_surrogate(text.substr(0, pos))) {
    right.content = pos < text.size() ? left.content + static_cast<std::uint32_t>(pos) : 0;
    right.text_size = static_cast<std::uint32_t>(text.size() - pos);
    left.text_size = static_cast<std::uint32_t>(pos);
    return;
  }
  // A surrogate pair cut in two: both halves get U+FFFD, so new bytes.
  std::string l;
  std::string r;
  splice_js_string(text, units, l, r);
  assign(left, l);
  assign(right, r);
}

bool TextArena::merge(Item& left, Item& right) {
  const std::size_t size = std::size_t{left.text_size} + right.text_size;
  if (right.text_size == 0 || std::size_t{left.content} + left.text_size == right.content) {
    // Adjacent already: left's view widens over right's bytes.
  } else if (left.text_size == 0) {
    left.content = right.content;
  } else if (std::size_t{left.content} + left.text_size == size_ && right.text_size <= capacity_ - size_) {
    const std::string_view r = view(right);
    garbage_ += r.size();
    store(r);  // lands right after left's bytes
  } else {
    if (!fits(size)) return false;  // beyond what the arena can address
    if (size > capacity_ - size_) grow(size);
    garbage_ += size;
    char* out = data_.get() + size_;
    std::copy_n(data_.get() + right.content, right.text_size,
                std::copy_n(data_.get() + left.content, left.text_size, out));
    left.content = static_cast<std::uint32_t>(size_);
    size_ += size;
  }
  left.text_size = static_cast<std::uint32_t>(size);
  right.content = 0;
  right.text_size = 0;
  return true;
}

void TextArena::compact(std::vector<Item*>& items) {
  std::sort(items.begin(), items.end(), [](const Item* a, const Item* b) { return a->content < b->content; });
  std::size_t live = 0;
  for (const Item* item : items) live += item->text_size;
  auto data = allocate(live);
  std::size_t at = 0;
  for (Item* item : items) {
    const std::string_view t = view(*item);
    std::copy(t.begin(), t.end(), data.get() + at);
    item->content = static_cast<std::uint32_t>(at);
    at += t.size();
  }
  data_ = std::move(data);
  size_ = live;
  capacity_ = std::max<std::size_t>(live, 1);
  garbage_ = 0;
}

Type* DocState::get_root(std::string_view name) {
  if (last_root != nullptr && last_root->name == name) return last_root;
  const auto it = share_index.find(std::string(name));
  if (it != share_index.end()) return last_root = it->second;
  auto type = std::make_unique<Type>();
  type->self = static_cast<TypeRef>(types.size());
  type->name = std::string(name);
  Type* raw = type.get();
  types.push_back(raw);
  share.emplace_back(std::string(name), std::move(type));
  share_index.emplace(std::string(name), raw);
  return raw;
}

}  // namespace detail

// ---- Doc ------------------------------------------------------------------------

Doc::Doc(DocOptions options) : s_(std::make_unique<DocState>()) {
  s_->gc = options.gc;
  s_->limits = options.limits;
  s_->client_id = options.client_id;
  if (s_->client_id == 0) s_->client_id = detail::random_client_id();
}

Doc::~Doc() = default;
Doc::Doc(Doc&&) noexcept = default;
Doc& Doc::operator=(Doc&&) noexcept = default;

std::uint64_t Doc::client_id() const {
  return s_->client_id;
}

Status Doc::apply_update(ByteView update, UpdateFormat format) {
  // The text arena addresses its bytes with 32 bits: an update's text is no
  // larger than the update, so that much room must be left (after dropping the
  // arena's garbage if it does not fit otherwise).
  if (!s_->text.fits(update.size())) s_->compact_text();
  if (!s_->text.fits(update.size())) {
    return detail::engine_error(CrdtErrc::kLimit, "document text beyond 4 GiB");
  }
  return Engine(*s_).apply_update(update, format);
}

Result<Bytes> Doc::encode_state_as_update(ByteView state_vector, UpdateFormat format) const {
  static const std::uint8_t kEmpty[] = {0};
  const ByteView sv_bytes = state_vector.empty() ? ByteView(kEmpty) : state_vector;
  auto target = decode_state_vector(sv_bytes);
  if (!target) return target.error();
  Engine engine(*s_);
  Bytes state = format == UpdateFormat::kV1 ? engine.write_state<detail::EncoderV1>(*target)
                                            : engine.write_state<detail::EncoderV2>(*target);
  if (!s_->pending_ds && !s_->pending_structs) return state;
  // Pending data is merged in (converted to v1 first for a v1 result).
  std::vector<Bytes> parts;
  parts.push_back(std::move(state));
  auto add = [&](Result<Bytes> v2) -> Status {
    if (!v2) return v2.error();
    if (format == UpdateFormat::kV2) {
      parts.push_back(std::move(*v2));
      return {};
    }
    auto v1 = convert_update(*v2, UpdateFormat::kV2, UpdateFormat::kV1, s_->limits);
    if (!v1) return v1.error();
    parts.push_back(std::move(*v1));
    return {};
  };
  if (s_->pending_ds) {
    if (Status st = add(*s_->pending_ds); !st.ok()) return st.error();
  }
  if (s_->pending_structs) {
    if (Status st = add(diff_update(s_->pending_structs->update, sv_bytes, UpdateFormat::kV2, s_->limits)); !st.ok()) {
      return st.error();
    }
  }
  std::vector<ByteView> views(parts.begin(), parts.end());
  return merge_updates(views, format, s_->limits);
}

Bytes Doc::encode_state_vector() const {
  StateVector sv;
  for (detail::ClientSlot slot = 0; slot < s_->store.slots(); ++slot) {
    const std::uint32_t state = s_->store.state(slot);
    if (state != 0) sv.set(s_->store.client(slot), state);
  }
  return crdt::encode_state_vector(sv);
}

std::uint64_t Doc::state_of(std::uint64_t client) const {
  return s_->store.state_of(client);
}

namespace {

// Whether the client's clocks [clock, clock + len) are all deleted in `s`; for
// len 0, whether a deleted run covers or ends at `clock` (mergeDeleteSets
// absorbs an empty range there, and keeps it anywhere else).
bool all_deleted(const DocState& s, std::uint64_t client, std::uint64_t clock, std::uint64_t len) {
  const detail::ClientSlot slot = s.store.find(client);
  if (slot == detail::StructStore::kNoSlot) return false;
  const std::uint64_t state = s.store.state(slot);
  const detail::ClientStructs& structs = s.store.structs(slot);
  if (len == 0) {
    const auto deleted_at = [&](std::uint64_t c) {
      return c < state && s.at(structs[structs.find(static_cast<std::uint32_t>(c))]).is_deleted();
    };
    return deleted_at(clock) || (clock > 0 && deleted_at(clock - 1));
  }
  const std::uint64_t end = clock + len;
  if (end > state) return false;
  for (std::size_t i = structs.find(static_cast<std::uint32_t>(clock)); i < structs.size() && structs.clock_at(i) < end;
       ++i) {
    if (!s.at(structs[i]).is_deleted()) return false;
  }
  return true;
}

template <class Dec>
Result<bool> contains_update_impl(const DocState& s, ByteView update) {
  StringArena arena;
  Dec dec(update, arena, s.limits);
  detail::LazyReader<Dec> reader(dec, false);
  bool contained = true;
  for (; reader.has_curr(); reader.next()) {
    if (s.store.state_of(reader.curr().id.client) < reader.curr().end()) contained = false;
  }
  if (dec.failed()) {
    return detail::engine_error(CrdtErrc::kMalformed,
                                "update: truncated, malformed or over the limits in the struct section");
  }
  DeleteSet ds;
  if (!detail::read_delete_set(dec, ds)) {
    return detail::engine_error(CrdtErrc::kMalformed, "update: truncated or malformed delete set");
  }
  if (!contained) return false;
  for (const DeleteSet::Client& c : ds.clients()) {
    for (const DeleteRange& r : c.ranges) {
      if (!all_deleted(s, c.client, r.clock, r.len)) return false;
    }
  }
  return true;
}

}  // namespace

Result<bool> Doc::contains_update(ByteView update, UpdateFormat format) const {
  return format == UpdateFormat::kV1 ? contains_update_impl<detail::DecoderV1>(*s_, update)
                                     : contains_update_impl<detail::DecoderV2>(*s_, update);
}

void Doc::declare(std::string_view name, RootKind kind) {
  detail::Type* type = s_->get_root(name);
  if (kind == RootKind::kText) type->declared_text = true;
}

void Doc::set_update_handler(std::function<void(ByteView)> handler) {
  s_->on_update = std::move(handler);
}

bool Doc::has_pending_structs() const {
  return s_->pending_structs.has_value();
}
bool Doc::has_pending_delete_set() const {
  return s_->pending_ds.has_value();
}

std::vector<std::string> Doc::root_names() const {
  std::vector<std::string> names;
  for (const auto& [name, type] : s_->share) names.push_back(name);
  return names;
}

}  // namespace quire::crdt
