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

Item* DocState::new_item() {
  if (!free_items.empty()) {
    Item* item = free_items.back();
    free_items.pop_back();
    return item;
  }
  return pool.emplace_back();
}

void DocState::free_item(Item* item) {
  text.release(*item);
  *item = Item{};
  free_items.push_back(item);
}

void DocState::compact_text() {
  std::vector<Item*> items;
  pool.for_each([&](Item& item) {
    if (item.text_size != 0) items.push_back(&item);
  });
  text.compact(items);
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

void TextArena::make_room(std::size_t n) {
  if (n <= room_) return;
  chunk_size_ = std::clamp(2 * chunk_size_, kFirstChunk, kMaxChunk);
  const std::size_t size = std::max(chunk_size_, n);
  chunks_.push_back(std::make_unique_for_overwrite<char[]>(size + 1));
  next_ = chunks_.back().get();
  room_ = size;
}

char* TextArena::reserve(std::size_t n) {
  held_ += n;
  if (n > room_ && n > kMaxChunk / 4) {  // a long text gets a chunk of its own; the current one stays open
    chunks_.push_back(std::make_unique_for_overwrite<char[]>(n + 1));
    return chunks_.back().get();
  }
  make_room(n);
  char* p = next_;
  next_ += n;
  room_ -= n;
  return p;
}

void TextArena::split(Item& left, Item& right, std::uint64_t units) {
  const std::string_view text = left.text();
  bool inside = false;
  const std::size_t pos = utf16_to_byte_offset(text, units, inside);
  if (!inside && !ends_in_high_surrogate(text.substr(0, pos))) {
    right.text_data = pos < text.size() ? left.text_data + pos : nullptr;
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
  if (size > kMaxItemBytes) return false;  // beyond any JavaScript string
  const char* left_end = left.text_data + left.text_size;
  if (right.text_size == 0 || left_end == right.text_data) {
    // Adjacent already: left's view widens over right's bytes.
  } else if (left.text_size == 0) {
    left.text_data = right.text_data;
  } else if (left_end == next_ && right.text_size <= room_) {
    const std::string_view r = right.text();
    garbage_ += r.size();
    store(r);  // lands right after left's bytes
  } else {
    const std::string_view l = left.text();
    const std::string_view r = right.text();
    garbage_ += size;
    char* p = reserve(size);
    std::copy(r.begin(), r.end(), std::copy(l.begin(), l.end(), p));
    left.text_data = p;
  }
  left.text_size = static_cast<std::uint32_t>(size);
  right.text_data = nullptr;
  right.text_size = 0;
  return true;
}

void TextArena::compact(std::vector<Item*>& items) {
  std::sort(items.begin(), items.end(),
            [](const Item* a, const Item* b) { return std::less<const char*>()(a->text_data, b->text_data); });
  std::size_t live = 0;
  for (const Item* item : items) live += item->text_size;
  auto chunk = std::make_unique_for_overwrite<char[]>(live + 1);
  char* p = chunk.get();
  for (Item* item : items) {
    const std::string_view t = item->text();
    item->text_data = p;
    p = std::copy(t.begin(), t.end(), p);
  }
  chunks_.clear();
  chunks_.push_back(std::move(chunk));
  next_ = p;
  room_ = 0;
  held_ = live;
  garbage_ = 0;
}

Type* DocState::get_root(std::string_view name) {
  const auto it = share_index.find(std::string(name));
  if (it != share_index.end()) return it->second;
  auto type = std::make_unique<Type>();
  type->name = std::string(name);
  Type* raw = type.get();
  share.emplace_back(std::string(name), std::move(type));
  share_index.emplace(std::string(name), raw);
  return raw;
}

const std::string* DocState::root_name(const Type* type) const {
  for (const auto& [name, t] : share) {
    if (t.get() == type) return &name;
  }
  return nullptr;
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
  // An item's text is at most 4 GiB (TextArena), so no update may be larger.
  if (update.size() > detail::TextArena::kMaxItemBytes) {
    return detail::engine_error(CrdtErrc::kLimit, "update larger than 4 GiB");
  }
  auto decoded = s_->decoded.lease();
  if (Status st = decode_update_into(update, format, s_->limits, *decoded); !st.ok()) return st;
  Status st = Engine(*s_).read_update(*decoded);
  if (decoded->blocks.capacity() > detail::kKeptScratch) *decoded = DecodedUpdate();  // not kept for a large update
  return st;
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
  for (std::uint64_t client : s_->store.order) {
    const auto& structs = s_->store.clients.at(client);
    if (!structs.empty()) sv.set(client, structs.back()->end());
  }
  return crdt::encode_state_vector(sv);
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
