#include "crdt/update.h"

#include <algorithm>
#include <deque>
#include <unordered_map>

#include "crdt/codec.h"
#include "crdt/v8_sort.h"

namespace quire::crdt {

using detail::DecoderV1;
using detail::DecoderV2;
using detail::EncoderV1;
using detail::EncoderV2;
using detail::LazyReader;
using detail::LazyWriter;

namespace {

Error malformed(std::string message) {
  return Error{kCrdtDomain, static_cast<int>(CrdtErrc::kMalformed), std::move(message)};
}
Error unencodable(std::string message) {
  return Error{kCrdtDomain, static_cast<int>(CrdtErrc::kUnencodable), std::move(message)};
}

// Runs `f.template operator()<Dec, Enc>()` with the codec classes of the formats.
template <class F>
auto with_codecs(UpdateFormat from, UpdateFormat to, F&& f) {
  if (from == UpdateFormat::kV1) {
    return to == UpdateFormat::kV1 ? f.template operator()<DecoderV1, EncoderV1>()
                                   : f.template operator()<DecoderV1, EncoderV2>();
  }
  return to == UpdateFormat::kV1 ? f.template operator()<DecoderV2, EncoderV1>()
                                 : f.template operator()<DecoderV2, EncoderV2>();
}

template <class Enc>
Result<Bytes> finish(Enc& enc, const char* what) {
  if (enc.failed()) return unencodable(std::string(what) + ": a value cannot be written in the target format");
  return enc.finish();
}

template <class Dec>
Status decode_impl(ByteView bytes, const Limits& limits, DecodedUpdate& out) {
  out.clear();
  Dec dec(bytes, out.arena, limits);
  LazyReader<Dec> reader(dec, false);
  std::uint64_t group = 0;
  while (reader.has_curr()) {
    if (out.blocks.empty() || reader.group() != group) {
      group = reader.group();
      out.group_starts.push_back(out.blocks.size());
    }
    out.blocks.push_back(std::move(reader.curr()));
    reader.next();
  }
  if (dec.failed()) return malformed("update: truncated, malformed or over the limits in the struct section");
  if (!detail::read_delete_set(dec, out.delete_set)) return malformed("update: truncated or malformed delete set");
  return {};
}

template <class Enc>
Result<Bytes> encode_impl(const DecodedUpdate& update) {
  Enc enc;
  LazyWriter<Enc> writer(enc);
  for (const Block& b : update.blocks) writer.write(b, 0);
  writer.finish();
  detail::write_delete_set(enc, update.delete_set);
  return finish(enc, "encode");
}

// Yjs's GC.mergeWith / Skip.mergeWith; lazily read Items never merge (their
// `right` link is unset).
bool merge_with(Block& left, const Block& right) {
  if (left.kind == BlockKind::kItem || left.kind != right.kind) return false;
  left.length += right.length;
  return true;
}

// Yjs's reader order, kept incrementally (see merge_impl).
template <class Dec>
class ReaderOrder {
 public:
  explicit ReaderOrder(std::deque<LazyReader<Dec>>& readers) : readers_(readers) {
    heap_.reserve(readers.size());
    for (std::size_t i = 0; i < readers.size(); ++i) {
      if (readers[i].has_curr()) {
        heap_.push_back(entry(i, static_cast<std::int64_t>(i)));
        track(readers[i].curr(), +1);
      }
    }
    std::make_heap(heap_.begin(), heap_.end(), after);
  }

  [[nodiscard]] bool empty() const { return heap_.empty(); }

  // The reader Yjs would find first after its filter-and-sort step.
  std::size_t pop_head() {
    if (conflicts_ > 0) resort_like_v8();
    first_sort_ = false;
    std::pop_heap(heap_.begin(), heap_.end(), after);
    const std::size_t index = heap_.back().index;
    heap_.pop_back();
    untrack(index);
    prev_head_ = index;
    return index;
  }

  // Puts the head back after it moved: a stable sort places it before every
  // reader with an equal key, hence the ever smaller sequence number.
  void push_head(std::size_t index) {
    has_prev_ = readers_[index].has_curr();
    if (!has_prev_) return;
    heap_.push_back(entry(index, next_seq_--));
    std::push_heap(heap_.begin(), heap_.end(), after);
    track(readers_[index].curr(), +1);
  }

 private:
  struct Entry {
    std::uint64_t client;
    std::uint64_t clock;
    std::int64_t seq;
    std::size_t index;
  };
  struct Counts {
    std::uint32_t gc = 0;
    std::uint32_t item = 0;
  };
  struct IdHash {
    std::size_t operator()(const Id& id) const {
      return std::hash<std::uint64_t>()(id.client * 0x9E3779B97F4A7C15ull ^ id.clock);
    }
  };

  // std heap functions keep the "largest" on top: largest = first in Yjs's order.
  static bool after(const Entry& a, const Entry& b) {
    if (a.client != b.client) return a.client < b.client;
    if (a.clock != b.clock) return a.clock > b.clock;
    return a.seq > b.seq;
  }
  Entry entry(std::size_t index, std::int64_t seq) const {
    const Block& b = readers_[index].curr();
    return {b.id.client, b.id.clock, seq, index};
  }

  // Counts readers per current id and kind: a GC and an Item at the same id are
  // the only pair Yjs's comparator orders inconsistently. No GC, no such pair, so
  // the per-id counts exist only while some reader stands on a GC (traces of
  // plain typing never build them). The tracked readers are those in the heap.
  void track(const Block& b, int delta) {
    if (b.kind == BlockKind::kGc) gc_readers_ += delta;
    if (counts_.empty()) {
      if (gc_readers_ == 0) return;
      rebuild_counts();  // includes `b` when it was just added
      return;
    }
    count(b, delta);
    if (gc_readers_ == 0) {
      counts_.clear();
      conflicts_ = 0;
    }
  }
  void count(const Block& b, int delta) {
    Counts& c = counts_[b.id];
    const bool before = c.gc > 0 && c.item > 0;
    (b.kind == BlockKind::kGc ? c.gc : c.item) += static_cast<std::uint32_t>(delta);
    const bool now = c.gc > 0 && c.item > 0;
    if (before != now) conflicts_ += now ? 1 : -1;
    if (c.gc == 0 && c.item == 0) counts_.erase(b.id);
  }
  void rebuild_counts() {
    counts_.clear();
    conflicts_ = 0;
    for (const Entry& e : heap_) count(readers_[e.index].curr(), +1);
  }
  void untrack(std::size_t index) {
    // The head's key is about to change; it is tracked again by push_head.
    track(readers_[index].curr(), -1);
  }

  // Rebuilds the order exactly as V8's sort would leave Yjs's array: the
  // previous head first, then the others in their current order.
  void resort_like_v8() {
    std::vector<std::size_t> order;
    order.reserve(heap_.size());
    if (first_sort_) {
      // Yjs's first sort sees the readers in input order.
      for (const Entry& e : heap_) order.push_back(e.index);
      std::sort(order.begin(), order.end());
    } else {
      std::sort(heap_.begin(), heap_.end(), [](const Entry& a, const Entry& b) { return after(b, a); });
      if (has_prev_) order.push_back(prev_head_);
      for (const Entry& e : heap_) {
        if (!has_prev_ || e.index != prev_head_) order.push_back(e.index);
      }
    }
    const auto cmp = [this](std::size_t x, std::size_t y) -> int {
      const Block& a = readers_[x].curr();
      const Block& b = readers_[y].curr();
      if (a.id.client == b.id.client) {
        if (a.id.clock != b.id.clock) return a.id.clock < b.id.clock ? -1 : 1;
        return a.kind == b.kind ? 0 : -1;  // Yjs: "dec1 is a Skip ? 1 : -1"; Skips are filtered
      }
      return b.id.client < a.id.client ? -1 : 1;
    };
    detail::v8_array_sort(order, cmp);
    heap_.clear();
    for (std::size_t pos = 0; pos < order.size(); ++pos) {
      heap_.push_back(entry(order[pos], static_cast<std::int64_t>(pos)));
    }
    std::make_heap(heap_.begin(), heap_.end(), after);
    has_prev_ = false;
  }

  std::deque<LazyReader<Dec>>& readers_;
  std::vector<Entry> heap_;
  std::unordered_map<Id, Counts, IdHash> counts_;
  std::int64_t conflicts_ = 0;
  std::int64_t gc_readers_ = 0;
  std::int64_t next_seq_ = -1;
  std::size_t prev_head_ = 0;
  bool has_prev_ = false;
  bool first_sort_ = true;
};

// mergeUpdatesV2. Yjs re-sorts all readers after every step (client descending,
// clock ascending). Only the head reader ever moves, so while the comparator is
// consistent the order is kept in a heap whose tie-break puts the most recently
// moved reader first among equal keys — what a stable sort does — at O(log n) a
// step instead of a sort. When a GC and an Item meet at one id (the one pair the
// comparator orders inconsistently) the order is rebuilt by replaying V8's sort.
template <class Dec, class Enc>
Result<Bytes> merge_impl(std::span<const ByteView> updates, const Limits& limits) {
  StringArena arena;
  std::deque<Dec> decoders;
  std::deque<LazyReader<Dec>> readers;
  for (ByteView u : updates) {
    decoders.emplace_back(u, arena, limits);
    readers.emplace_back(decoders.back(), true);
  }
  ReaderOrder<Dec> order(readers);

  Enc enc;
  LazyWriter<Enc> writer(enc);
  Block cur;  // Yjs's currWrite (always written with offset 0)
  bool have_cur = false;

  while (!order.empty()) {
    const std::size_t index = order.pop_head();
    LazyReader<Dec>& reader = readers[index];
    const std::uint64_t first_client = reader.curr().id.client;

    bool handled = true;
    if (have_cur) {
      bool iterated = false;
      // Skip what `cur` already covers (higher clients were written first).
      while (reader.has_curr() && reader.curr().end() <= cur.end() && reader.curr().id.client >= cur.id.client) {
        reader.next();
        iterated = true;
      }
      if (!reader.has_curr() || reader.curr().id.client != first_client ||
          (iterated && reader.curr().id.clock > cur.end())) {
        handled = false;  // re-sort before going on
      } else {
        Block& s = reader.curr();
        if (first_client != cur.id.client) {
          writer.write(cur, 0);
          cur = std::move(s);
          reader.next();
        } else if (cur.end() < s.id.clock) {
          if (cur.kind == BlockKind::kSkip) {
            cur.length = s.id.clock + s.length - cur.id.clock;
          } else {
            writer.write(cur, 0);
            Block skip;
            skip.kind = BlockKind::kSkip;
            skip.id = {first_client, cur.end()};
            skip.length = s.id.clock - cur.end();
            cur = std::move(skip);
          }
        } else {
          const std::uint64_t diff = cur.end() - s.id.clock;
          Block sliced;
          const Block* next = &s;
          if (diff > 0) {
            if (cur.kind == BlockKind::kSkip) {
              cur.length -= diff;
            } else {
              sliced = detail::slice_block(s, diff, arena);
              next = &sliced;
            }
          }
          if (!merge_with(cur, *next)) {
            writer.write(cur, 0);
            cur = next == &s ? std::move(s) : std::move(sliced);
            reader.next();
          }
        }
      }
    } else {
      cur = std::move(reader.curr());
      have_cur = true;
      reader.next();
    }
    if (handled) {
      while (reader.has_curr() && reader.curr().id.client == first_client && reader.curr().id.clock == cur.end() &&
             reader.curr().kind != BlockKind::kSkip) {
        writer.write(cur, 0);
        cur = std::move(reader.curr());
        reader.next();
      }
    }
    order.push_head(index);
  }
  if (have_cur) writer.write(cur, 0);
  writer.finish();

  DeleteSet merged;
  for (std::size_t i = 0; i < decoders.size(); ++i) {
    if (decoders[i].failed())
      return malformed("merge: update " + std::to_string(i) + " is truncated, malformed or over the limits");
    DeleteSet ds;
    if (!detail::read_delete_set(decoders[i], ds)) {
      return malformed("merge: update " + std::to_string(i) + " has a truncated or malformed delete set");
    }
    merged.append(ds);
  }
  merged.sort_and_merge();
  detail::write_delete_set(enc, merged);
  return finish(enc, "merge");
}

template <class Dec, class Enc>
Result<Bytes> diff_impl(ByteView update, const StateVector& sv, const Limits& limits) {
  StringArena arena;
  Dec dec(update, arena, limits);
  LazyReader<Dec> reader(dec, false);
  Enc enc;
  LazyWriter<Enc> writer(enc);
  while (reader.has_curr()) {
    const Block& curr = reader.curr();
    const std::uint64_t client = curr.id.client;
    const std::uint64_t sv_clock = sv.get(client);
    if (curr.kind == BlockKind::kSkip) {
      reader.next();  // the first written struct must not be a Skip
      continue;
    }
    if (curr.end() > sv_clock) {
      writer.write(curr, sv_clock > curr.id.clock ? sv_clock - curr.id.clock : 0);
      reader.next();
      while (reader.has_curr() && reader.curr().id.client == client) {
        writer.write(reader.curr(), 0);
        reader.next();
      }
    } else {
      while (reader.has_curr() && reader.curr().id.client == client && reader.curr().end() <= sv_clock) reader.next();
    }
  }
  if (dec.failed()) return malformed("diff: update is truncated, malformed or over the limits");
  writer.finish();
  DeleteSet ds;
  if (!detail::read_delete_set(dec, ds)) return malformed("diff: update has a truncated or malformed delete set");
  detail::write_delete_set(enc, ds);
  return finish(enc, "diff");
}

template <class Dec>
Result<Bytes> state_vector_impl(ByteView update, const Limits& limits) {
  StringArena arena;
  Dec dec(update, arena, limits);
  LazyReader<Dec> reader(dec, false);
  Writer body;
  std::uint64_t size = 0;
  if (reader.has_curr()) {
    std::uint64_t curr_client = reader.curr().id.client;
    bool stop = reader.curr().id.clock != 0;  // must start at 0
    std::uint64_t curr_clock = stop ? 0 : reader.curr().end();
    for (; reader.has_curr(); reader.next()) {
      const Block& b = reader.curr();
      if (curr_client != b.id.client) {
        if (curr_clock != 0) {
          ++size;
          body.write_var_uint(curr_client);
          body.write_var_uint(curr_clock);
        }
        curr_client = b.id.client;
        curr_clock = 0;
        stop = b.id.clock != 0;
      }
      if (b.kind == BlockKind::kSkip) stop = true;
      if (!stop) curr_clock = b.end();
    }
    if (curr_clock != 0) {
      ++size;
      body.write_var_uint(curr_client);
      body.write_var_uint(curr_clock);
    }
  }
  if (dec.failed()) return malformed("state vector: update is truncated, malformed or over the limits");
  Writer out;
  out.write_var_uint(size);
  out.write_raw(body.bytes());
  return out.take();
}

template <class Dec, class Enc>
Result<Bytes> convert_impl(ByteView update, const Limits& limits) {
  StringArena arena;
  Dec dec(update, arena, limits);
  LazyReader<Dec> reader(dec, false);
  Enc enc;
  LazyWriter<Enc> writer(enc);
  for (; reader.has_curr(); reader.next()) writer.write(reader.curr(), 0);
  if (dec.failed()) return malformed("convert: update is truncated, malformed or over the limits");
  writer.finish();
  DeleteSet ds;
  if (!detail::read_delete_set(dec, ds)) return malformed("convert: update has a truncated or malformed delete set");
  detail::write_delete_set(enc, ds);
  return finish(enc, "convert");
}

}  // namespace

Result<DeleteSet> decode_delete_set(ByteView bytes, UpdateFormat format) {
  DeleteSet ds;
  bool ok = false;
  if (format == UpdateFormat::kV1) {
    StringArena arena;
    const Limits limits;
    DecoderV1 dec(bytes, arena, limits);
    ok = detail::read_delete_set(dec, ds);
  } else {
    detail::DsDecoderV2 dec(bytes);  // Yjs's DSDecoderV2: the rest stream alone, no columns
    ok = detail::read_delete_set(dec, ds);
  }
  if (!ok) return malformed("delete set: truncated or malformed");
  return ds;
}

Result<Bytes> encode_delete_set(const DeleteSet& ds, UpdateFormat format) {
  if (format == UpdateFormat::kV1) {
    EncoderV1 enc;
    detail::write_delete_set(enc, ds);
    return finish(enc, "delete set");
  }
  detail::DsEncoderV2 enc;
  detail::write_delete_set(enc, ds);
  if (enc.failed()) return unencodable("delete set: a zero-length or unsorted range cannot be written as v2");
  return enc.rest().take();
}

Result<DecodedUpdate> decode_update(ByteView update, UpdateFormat format, const Limits& limits) {
  DecodedUpdate out;
  if (Status st = decode_update_into(update, format, limits, out); !st.ok()) return st.error();
  return out;
}

Status decode_update_into(ByteView update, UpdateFormat format, const Limits& limits, DecodedUpdate& out) {
  return format == UpdateFormat::kV1 ? decode_impl<DecoderV1>(update, limits, out)
                                     : decode_impl<DecoderV2>(update, limits, out);
}

Result<Bytes> encode_update(const DecodedUpdate& update, UpdateFormat format) {
  return format == UpdateFormat::kV1 ? encode_impl<EncoderV1>(update) : encode_impl<EncoderV2>(update);
}

Result<Bytes> merge_updates(std::span<const ByteView> updates, UpdateFormat format, const Limits& limits) {
  if (updates.size() == 1) {
    // Yjs returns a single update without reading it; we still refuse bad bytes.
    auto decoded = decode_update(updates[0], format, limits);
    if (!decoded) return decoded.error();
    return Bytes(updates[0].begin(), updates[0].end());
  }
  return with_codecs(format, format, [&]<class Dec, class Enc>() { return merge_impl<Dec, Enc>(updates, limits); });
}

Result<Bytes> diff_update(ByteView update, ByteView state_vector, UpdateFormat format, const Limits& limits) {
  auto sv = decode_state_vector(state_vector);
  if (!sv) return sv.error();
  return with_codecs(format, format, [&]<class Dec, class Enc>() { return diff_impl<Dec, Enc>(update, *sv, limits); });
}

Result<Bytes> state_vector_from_update(ByteView update, UpdateFormat format, const Limits& limits) {
  return format == UpdateFormat::kV1 ? state_vector_impl<DecoderV1>(update, limits)
                                     : state_vector_impl<DecoderV2>(update, limits);
}

Result<Bytes> convert_update(ByteView update, UpdateFormat from, UpdateFormat to, const Limits& limits) {
  return with_codecs(from, to, [&]<class Dec, class Enc>() { return convert_impl<Dec, Enc>(update, limits); });
}

}  // namespace quire::crdt
