// The document engine: applying updates (readUpdateV2, integrateStructs,
// Item.getMissing / integrate / delete / gc, readAndApplyDeleteSet), the
// transaction cleanup (GC, merging adjacent structs, the rich-text formatting
// cleanup after remote changes) and encodeStateAsUpdate — each function named
// after, and following step by step, its Yjs 13.6 counterpart.
#include "crdt/doc.h"

#include <algorithm>
#include <cassert>

#include "crdt/doc_engine.h"

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
  *item = Item{};
  free_items.push_back(item);
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
  auto decoded = decode_update(update, format, s_->limits);
  if (!decoded) return decoded.error();
  return Engine(*s_).read_update(*decoded);
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
