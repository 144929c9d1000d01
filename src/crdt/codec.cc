#include "crdt/codec.h"

#include <cassert>

namespace quire::crdt::detail {

namespace {

// ContentDoc keeps only what `new ContentDoc(createDocFromOpts(guid, opts))` keeps:
// `{ gc: false }` when gc is falsy, `{ autoLoad: true }`, and `meta` when set; an
// own `guid` option replaces the guid.
bool normalize_doc(Block& b, Any& opts, StringArena& arena) {
  if (opts.kind == Any::Kind::kNull || opts.kind == Any::Kind::kUndefined) return false;  // TypeError in Yjs
  Any out = Any::make(Any::Kind::kObject);
  if (opts.kind == Any::Kind::kObject) {
    if (const Any* guid = opts.get("guid")) {
      if (guid->kind != Any::Kind::kString) return false;  // Yjs would draw a random guid or write a non-string
      b.text = arena.keep(guid->str);
    }
    const Any* gc = opts.get("gc");
    const bool gc_on = gc == nullptr || gc->kind == Any::Kind::kUndefined || gc->truthy();
    const Any* auto_load = opts.get("autoLoad");
    const Any* meta = opts.get("meta");
    if (!gc_on) out.object.emplace_back("gc", Any::from_bool(false));
    if (auto_load != nullptr && auto_load->truthy()) out.object.emplace_back("autoLoad", Any::from_bool(true));
    if (meta != nullptr && meta->kind != Any::Kind::kUndefined && meta->kind != Any::Kind::kNull) {
      out.object.emplace_back("meta", *meta);
    }
  }
  opts = std::move(out);
  return true;
}

}  // namespace

// ---- v2 decoder ------------------------------------------------------------

std::string_view StringColumnDecoder::read() {
  std::uint64_t n = lens_.read();
  if (lens_.failed() || failed_) return {};
  std::string owned;
  bool use_owned = false;
  if (half_ && n > 0) {
    // The previous string ended with this pair's high half: this one starts with the low half.
    std::size_t i = pos_;
    append_code_point(owned, low_surrogate(next_code_point(str_, i)));
    use_owned = true;
    pos_ = i;
    half_ = false;
    --n;
  }
  const std::size_t start = pos_;
  std::size_t i = pos_;
  while (n > 0) {
    if (i >= str_.size()) {
      failed_ = true;  // lengths run past the column (JavaScript would silently clamp)
      return {};
    }
    const auto b = static_cast<unsigned char>(str_[i]);
    if (b >= 0xF0) {
      if (n == 1) {
        std::size_t j = i;
        const std::uint32_t cp = next_code_point(str_, j);
        owned.append(str_.substr(start, i - start));
        append_code_point(owned, high_surrogate(cp));
        pos_ = i;
        half_ = true;
        return arena_->keep(std::move(owned));
      }
      i += 4;
      n -= 2;
    } else {
      i += b < 0x80 ? 1 : b < 0xE0 ? 2 : 3;
      n -= 1;
    }
  }
  pos_ = i;
  if (use_owned) {
    owned.append(str_.substr(start, i - start));
    return arena_->keep(std::move(owned));
  }
  return str_.substr(start, i - start);
}

DecoderV2::DecoderV2(ByteView data, StringArena& arena, const Limits& limits)
    : input_size_(data.size()), arena_(arena), limits_(limits) {
  Reader r(data);
  r.read_var_uint();  // feature flag, unused
  key_clock_ = IntDiffOptRleDecoder(r.read_var_bytes());
  client_ = UintOptRleDecoder(r.read_var_bytes());
  left_clock_ = IntDiffOptRleDecoder(r.read_var_bytes());
  right_clock_ = IntDiffOptRleDecoder(r.read_var_bytes());
  info_ = RleU8Decoder(r.read_var_bytes());
  string_ = StringColumnDecoder(r.read_var_bytes(), &arena_);
  parent_info_ = RleU8Decoder(r.read_var_bytes());
  type_ref_ = UintOptRleDecoder(r.read_var_bytes());
  len_ = UintOptRleDecoder(r.read_var_bytes());
  if (r.failed()) fail();
  rest_ = r;
}

std::string_view DecoderV2::read_key() {
  const std::int64_t clock = key_clock_.read();
  if (static_cast<std::uint64_t>(clock) < keys_.size()) return keys_[static_cast<std::size_t>(clock)];
  const std::string_view key = string_.read();
  keys_.push_back(key);
  return key;
}

Bytes EncoderV2::finish() {
  Writer out;
  out.write_var_uint(0);  // feature flag
  out.write_var_bytes(key_clock_.finish());
  out.write_var_bytes(client_.finish());
  out.write_var_bytes(left_clock_.finish());
  out.write_var_bytes(right_clock_.finish());
  out.write_var_bytes(info_.bytes());
  out.write_var_bytes(string_.finish());
  out.write_var_bytes(parent_info_.bytes());
  out.write_var_bytes(type_ref_.finish());
  out.write_var_bytes(len_.finish());
  out.write_raw(rest_.bytes());  // not length-prefixed: runs to the end
  return out.take();
}

// ---- lazy reader -----------------------------------------------------------

namespace {

// The content of an item (Content*.read) with content ref `ref`.
template <class Dec>
bool read_content(Dec& dec_, Block& b, std::uint8_t ref) {
  switch (static_cast<ContentRef>(ref)) {
    case ContentRef::kDeleted:
      b.length = dec_.read_len();
      return true;
    case ContentRef::kJson: {
      const std::uint64_t n = dec_.read_len();
      if (n > dec_.input_size()) return false;  // every element takes at least one input byte
      b.values.resize(static_cast<std::size_t>(n));
      for (Any& v : b.values) {
        const std::string_view text = dec_.read_string();
        if (dec_.failed()) return false;
        if (text != "undefined" && !parse_json(text, v, dec_.limits().max_depth)) return false;
      }
      b.length = n;
      return true;
    }
    case ContentRef::kBinary:
      b.text = dec_.read_buf();
      b.length = 1;
      return true;
    case ContentRef::kString:
      b.text = dec_.read_text(b.length);
      return true;
    case ContentRef::kEmbed:
      b.values.resize(1);
      b.length = 1;
      return dec_.read_json(b.values[0]);
    case ContentRef::kFormat:
      b.text = dec_.read_key();
      b.values.resize(1);
      b.length = 1;
      return dec_.read_json(b.values[0]);
    case ContentRef::kType: {
      const std::uint64_t type_ref = dec_.read_type_ref();
      if (type_ref > 6) return false;
      b.type_ref = static_cast<std::uint8_t>(type_ref);
      if (type_ref == 3 || type_ref == 5) b.text = dec_.read_key();
      b.length = 1;
      return true;
    }
    case ContentRef::kAny: {
      const std::uint64_t n = dec_.read_len();
      if (n > dec_.input_size()) return false;
      b.values.resize(static_cast<std::size_t>(n));
      for (Any& v : b.values) {
        if (!dec_.read_any(v)) return false;
      }
      b.length = n;
      return true;
    }
    case ContentRef::kDoc: {
      b.text = dec_.read_string();
      b.values.resize(1);
      b.length = 1;
      return dec_.read_any(b.values[0]) && normalize_doc(b, b.values[0], dec_.arena());
    }
    case ContentRef::kNone:
      break;
  }
  return false;
}

}  // namespace

template <class Dec>
bool read_item(Dec& dec, Block& b, std::uint8_t info) {
  const std::uint8_t ref = info & 0x1f;
  if (ref == 0 || ref > 9) {
    dec.fail();
    return false;
  }
  b.kind = BlockKind::kItem;
  b.ref = static_cast<ContentRef>(ref);
  if (info & 0x80) {
    b.has_origin = true;
    b.origin = dec.read_left_id();
  }
  if (info & 0x40) {
    b.has_right_origin = true;
    b.right_origin = dec.read_right_id();
  }
  if ((info & 0xC0) == 0) {
    if (dec.read_parent_info()) {
      b.parent_kind = ParentKind::kRoot;
      b.parent_name = dec.read_string();
    } else {
      b.parent_kind = ParentKind::kId;
      b.parent_id = dec.read_left_id();
    }
    if (info & 0x20) {
      b.has_parent_sub = true;
      b.parent_sub = dec.read_string();
    }
  }
  if (!read_content(dec, b, ref)) {
    dec.fail();
    return false;
  }
  // A reference to the item's own client must point before it: an item is
  // created after everything it was placed next to or in. (Yjs would throw
  // half-way through applying such an update.)
  const auto ahead = [&](bool has, Id ref_id) {
    return has && ref_id.client == b.id.client && ref_id.clock >= b.id.clock;
  };
  if (ahead(b.has_origin, b.origin) || ahead(b.has_right_origin, b.right_origin) ||
      ahead(b.parent_kind == ParentKind::kId, b.parent_id)) {
    dec.fail();
    return false;
  }
  return true;
}

template <class Dec>
bool LazyReader<Dec>::read_one() {
  Reader& rest = dec_.rest();
  const Limits& limits = dec_.limits();
  while (structs_left_ == 0) {
    if (groups_left_ == 0 || dec_.failed()) return false;
    --groups_left_;
    ++groups_read_;
    structs_left_ = rest.read_var_uint();
    client_ = dec_.read_client();
    clock_ = rest.read_var_uint();
    if (structs_left_ > limits.max_structs - total_structs_) {
      dec_.fail();
      return false;
    }
    total_structs_ += structs_left_;
    // One group per client (spec §3.1): Yjs's document reader would let a second
    // group replace the first, its lazy reader would run them together.
    if (!note_client(client_)) {
      dec_.fail();
      return false;
    }
  }
  --structs_left_;
  Block& b = curr_;
  b.reset({client_, clock_});
  const std::uint8_t info = dec_.read_info();
  if (info == 10) {
    b.kind = BlockKind::kSkip;
    b.length = rest.read_var_uint();
  } else if ((info & 0x1f) != 0) {
    if (!read_item(dec_, b, info)) return false;
  } else {
    b.kind = BlockKind::kGc;
    b.length = dec_.read_len();
  }
  if (dec_.failed() || !valid_struct_length(b.length, clock_)) {
    dec_.fail();
    return false;
  }
  clock_ += b.length;
  return true;
}

template <class Dec>
bool LazyReader<Dec>::note_client(std::uint64_t client) {
  // Most updates hold one client: no allocation until a second one appears.
  if (groups_read_ == 1) {
    first_client_ = client;
    return true;
  }
  if (client == first_client_) return false;
  if (!more_clients_) more_clients_ = std::make_unique<std::unordered_set<std::uint64_t>>();
  return more_clients_->insert(client).second;
}

// ---- lazy writer -----------------------------------------------------------

ItemView view_of(const Block& b) {
  ItemView v;
  v.id = b.id;
  v.length = b.length;
  v.ref = b.ref;
  v.type_ref = b.type_ref;
  v.has_origin = b.has_origin;
  v.has_right_origin = b.has_right_origin;
  v.has_parent_sub = b.has_parent_sub;
  v.parent_kind = b.parent_kind;
  v.origin = b.origin;
  v.right_origin = b.right_origin;
  v.parent_id = b.parent_id;
  v.parent_name = b.parent_name;
  v.parent_sub = b.parent_sub;
  v.text = b.text;
  v.values = b.values;
  return v;
}

template <class Enc>
void LazyWriter<Enc>::write(const Block& b, std::uint64_t offset) {
  if (b.kind == BlockKind::kItem) {
    const ItemView v = view_of(b);
    write(b.kind, b.id, b.length, &v, offset);
  } else {
    write(b.kind, b.id, b.length, nullptr, offset);
  }
}

template <class Enc>
void LazyWriter<Enc>::write(BlockKind kind, Id id, std::uint64_t length, const ItemView* item, std::uint64_t offset) {
  if (written_ > 0 && curr_client_ != id.client) flush();
  if (written_ == 0) {
    curr_client_ = id.client;
    run_begin_ = enc_.rest().size();
    enc_.write_client(id.client);
    enc_.rest().write_var_uint(id.clock + offset);
  }
  switch (kind) {
    case BlockKind::kGc:
      enc_.write_info(0);
      enc_.write_len(length - offset);
      break;
    case BlockKind::kSkip:
      enc_.write_info(10);
      enc_.rest().write_var_uint(length - offset);  // the rest stream, in v2 as well
      break;
    case BlockKind::kItem:
      write_item(enc_, *item, offset);
      break;
  }
  ++written_;
}

template <class Enc>
void LazyWriter<Enc>::flush() {
  if (written_ == 0) return;
  runs_.push_back({written_, run_begin_, enc_.rest().size()});
  written_ = 0;
}

template <class Enc>
void LazyWriter<Enc>::finish() {
  flush();
  Bytes& rest = enc_.rest().bytes();
  Writer out;
  out.bytes().reserve(rest.size() + 8 * runs_.size() + 8);
  out.write_var_uint(runs_.size());
  for (const Run& run : runs_) {
    out.write_var_uint(run.written);
    out.write_raw(ByteView(rest.data() + run.begin, run.end - run.begin));
  }
  rest = out.take();
  runs_.clear();
}

template <class Enc>
void write_item(Enc& enc, const ItemView& b, std::uint64_t offset) {
  const bool has_origin = offset > 0 || b.has_origin;
  const Id origin = offset > 0 ? Id{b.id.client, b.id.clock + offset - 1} : b.origin;
  // The parentSub bit follows the decoded key even when no parent info is written:
  // Yjs's Item.write does the same (spec §3.2, yjs-behaviours.md).
  const auto info = static_cast<std::uint8_t>(static_cast<std::uint8_t>(b.ref) | (has_origin ? 0x80 : 0) |
                                              (b.has_right_origin ? 0x40 : 0) | (b.has_parent_sub ? 0x20 : 0));
  enc.write_info(info);
  if (has_origin) enc.write_left_id(origin);
  if (b.has_right_origin) enc.write_right_id(b.right_origin);
  if (!has_origin && !b.has_right_origin) {
    if (b.parent_kind == ParentKind::kRoot) {
      enc.write_parent_info(true);
      enc.write_string(b.parent_name);
    } else if (b.parent_kind == ParentKind::kId) {
      enc.write_parent_info(false);
      enc.write_left_id(b.parent_id);
    } else {
      enc.fail();  // an item without any position (cannot come out of a decoder)
      return;
    }
    if (b.has_parent_sub) enc.write_string(b.parent_sub);
  }
  switch (b.ref) {
    case ContentRef::kDeleted:
      enc.write_len(b.length - offset);
      break;
    case ContentRef::kJson:
      enc.write_len(b.values.size() - offset);
      for (std::size_t i = offset; i < b.values.size(); ++i) {
        const Any& v = b.values[i];
        if (v.kind == Any::Kind::kUndefined) {
          enc.write_string("undefined");
          continue;
        }
        std::string text;
        if (!stringify_json(v, text)) {
          enc.fail();
          return;
        }
        enc.write_string(text);
      }
      break;
    case ContentRef::kBinary:
      enc.write_buf(b.text);
      break;
    case ContentRef::kString:
      if (offset == 0) {
        enc.write_string(b.text);
      } else {
        enc.write_string(js_slice_from(b.text, offset));
      }
      break;
    case ContentRef::kEmbed:
      enc.write_json(b.values[0]);
      break;
    case ContentRef::kFormat:
      enc.write_key(b.text);
      enc.write_json(b.values[0]);
      break;
    case ContentRef::kType:
      enc.write_type_ref(b.type_ref);
      if (b.type_ref == 3 || b.type_ref == 5) enc.write_key(b.text);
      break;
    case ContentRef::kAny:
      enc.write_len(b.values.size() - offset);
      for (std::size_t i = offset; i < b.values.size(); ++i) enc.write_any(b.values[i]);
      break;
    case ContentRef::kDoc:
      enc.write_string(b.text);
      enc.write_any(b.values[0]);
      break;
    case ContentRef::kNone:
      enc.fail();
      break;
  }
}

Block slice_block(const Block& b, std::uint64_t diff, StringArena& arena) {
  assert(diff > 0 && diff < b.length);
  Block out;
  out.kind = b.kind;
  out.id = {b.id.client, b.id.clock + diff};
  out.length = b.length - diff;
  if (b.kind != BlockKind::kItem) return out;
  out.ref = b.ref;
  out.has_origin = true;
  out.origin = {b.id.client, b.id.clock + diff - 1};
  out.has_right_origin = b.has_right_origin;
  out.right_origin = b.right_origin;
  out.parent_kind = b.parent_kind;
  out.parent_name = b.parent_name;
  out.parent_id = b.parent_id;
  out.has_parent_sub = b.has_parent_sub;
  out.parent_sub = b.parent_sub;
  out.type_ref = b.type_ref;
  switch (b.ref) {
    case ContentRef::kString: {
      std::string left;
      std::string right;
      splice_js_string(b.text, diff, left, right);
      out.text = arena.keep(std::move(right));
      break;
    }
    case ContentRef::kJson:
    case ContentRef::kAny:
      out.values.assign(b.values.begin() + static_cast<std::ptrdiff_t>(diff), b.values.end());
      break;
    default:
      out.text = b.text;
      out.values = b.values;
      break;
  }
  return out;
}

// ---- delete sets -------------------------------------------------------------

template <class Dec>
bool read_delete_set(Dec& dec, DeleteSet& ds) {
  Reader& r = dec.rest();
  const std::uint64_t clients = r.read_var_uint();
  if (clients > r.remaining()) return false;
  for (std::uint64_t i = 0; i < clients && !dec.failed(); ++i) {
    dec.reset_ds_cur_val();
    const std::uint64_t client = r.read_var_uint();
    const std::uint64_t n = r.read_var_uint();
    if (n > r.remaining()) return false;
    for (std::uint64_t k = 0; k < n && !dec.failed(); ++k) {
      const std::uint64_t clock = dec.read_ds_clock();
      const std::uint64_t len = dec.read_ds_len();
      if (len > kMaxSafeInteger - clock) return false;
      if (!dec.failed()) ds.add(client, {clock, len});
    }
  }
  return !dec.failed();
}

template <class Enc>
void write_delete_set(Enc& enc, const DeleteSet& ds) {
  Writer& w = enc.rest();
  const auto clients = ds.sorted_for_write();
  w.write_var_uint(clients.size());
  for (const DeleteSet::Client* c : clients) {
    enc.reset_ds_cur_val();
    w.write_var_uint(c->client);
    w.write_var_uint(c->ranges.size());
    for (const DeleteRange& range : c->ranges) {
      enc.write_ds_clock(range.clock);
      enc.write_ds_len(range.len);
    }
  }
}

template bool read_item(DecoderV1&, Block&, std::uint8_t);
template bool read_item(DecoderV2&, Block&, std::uint8_t);
template class LazyReader<DecoderV1>;
template class LazyReader<DecoderV2>;
template class LazyWriter<EncoderV1>;
template class LazyWriter<EncoderV2>;
template void write_item(EncoderV1&, const ItemView&, std::uint64_t);
template void write_item(EncoderV2&, const ItemView&, std::uint64_t);
template bool read_delete_set(DecoderV1&, DeleteSet&);
template bool read_delete_set(DecoderV2&, DeleteSet&);
template void write_delete_set(EncoderV1&, const DeleteSet&);
template void write_delete_set(EncoderV2&, const DeleteSet&);
template bool read_delete_set(DsDecoderV2&, DeleteSet&);
template void write_delete_set(DsEncoderV2&, const DeleteSet&);

}  // namespace quire::crdt::detail
