// Room (room.h).
#include "room/room.h"

#include <algorithm>
#include <utility>

#include "crdt/any.h"
#include "crdt/delete_set.h"
#include "crdt/update.h"

namespace quire::room {
namespace {

using protocol::MessageType;
using protocol::Protocol;
using protocol::SyncType;

Verdict refuse(int code, std::string reason, std::string_view label) {
  return Verdict{code, std::move(reason), label};
}

// Overwrites state.user.name with the authenticated name, so nobody can pose
// as someone else in the cursor labels (SECURITY #26). Non-object states pass.
bool stamp_identity(std::string& json, const std::string& display_name) {
  if (display_name.empty() || json == "null") return true;
  crdt::Any state;
  if (!crdt::parse_json(json, state, 16)) return false;
  if (state.kind != crdt::Any::Kind::kObject) return true;
  crdt::Any* user = nullptr;
  for (crdt::AnyMember& m : state.object) {
    if (m.first == "user") user = &m.second;
  }
  if (user == nullptr) {
    state.object.emplace_back("user", crdt::Any::make(crdt::Any::Kind::kObject));
    user = &state.object.back().second;
  } else if (user->kind != crdt::Any::Kind::kObject) {
    *user = crdt::Any::make(crdt::Any::Kind::kObject);
  }
  bool found = false;
  for (crdt::AnyMember& m : user->object) {
    if (m.first == "name") {
      m.second = crdt::Any::from_string(display_name);
      found = true;
    }
  }
  if (!found) user->object.emplace_back("name", crdt::Any::from_string(display_name));
  std::string out;
  if (!crdt::stringify_json(state, out)) return false;
  json = std::move(out);
  return true;
}

}  // namespace

Room::Room(std::string name, Journal& journal, RoomLimits limits)
    : name_(std::move(name)),
      journal_(journal),
      limits_(limits),
      doc_(crdt::DocOptions{
          .gc = true, .client_id = 0, .limits = {.max_structs = limits.max_structs, .max_depth = 64}}) {
  doc_.set_update_handler([this](ByteView update) { emitted_.emplace_back(update.begin(), update.end()); });
}

Room::~Room() {
  *alive_ = false;
}

Status Room::load(ByteView snapshot, const std::vector<Bytes>& log) {
  if (!snapshot.empty()) {
    if (Status s = doc_.apply_update(snapshot); !s) {
      return Error{kDomain, 1, "snapshot of '" + name_ + "' does not decode: " + s.error().message};
    }
    stats_.measured_bytes = snapshot.size();
  }
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (Status s = doc_.apply_update(log[i]); !s) {
      return Error{kDomain, 1,
                   "log entry " + std::to_string(i) + " of '" + name_ + "' does not decode: " + s.error().message};
    }
    stats_.bytes_since_measured += log[i].size();
    stats_.bytes_since_snapshot += log[i].size();
  }
  stats_.updates_since_snapshot = log.size();
  emitted_.clear();
  loaded_ = true;
  return {};
}

void Room::join(MemberId id, MemberInfo info, std::shared_ptr<Member> member) {
  const Protocol protocol = info.protocol;
  const std::string key = info.key;
  members_[id] = Slot{std::move(info), std::move(member), {}, false};
  // y-websocket's server speaks first; a Hocuspocus server answers the client's Step1.
  if (protocol == Protocol::kYWebsocket) {
    send_to(id, protocol::sync_frame(protocol, key, SyncType::kStep1, doc_.encode_state_vector()));
  }
  if (Bytes states = awareness_.snapshot(); !states.empty()) {
    send_to(id, protocol::awareness_frame(protocol, key, states));
  }
}

void Room::leave(MemberId id) {
  auto it = members_.find(id);
  if (it == members_.end()) return;
  const bool editor = !it->second.info.read_only;
  if (it->second.acked_since_report) report_session(it->second);
  members_.erase(it);
  awareness_.remove_owner(id);
  awareness_changed();
  if (editor) compact_if_no_editor();
}

void Room::set_read_only(MemberId id, bool read_only) {
  auto it = members_.find(id);
  if (it == members_.end() || it->second.info.read_only == read_only) return;
  it->second.info.read_only = read_only;
  if (!read_only) return;
  if (!limits_.read_only_awareness) {
    awareness_.remove_owner(id);
    awareness_changed();
  }
  compact_if_no_editor();
}

void Room::awareness_changed() {
  if (awareness_scheduler_ && awareness_.has_pending()) awareness_scheduler_();
}

void Room::compact_if_no_editor() {
  if (std::none_of(members_.begin(), members_.end(), [](const auto& m) { return !m.second.info.read_only; })) {
    compact();
  }
}

Verdict Room::receive(MemberId id, const protocol::Frame& frame, std::int64_t now_ms) {
  auto it = members_.find(id);
  if (it == members_.end() || !loaded_) return {};
  Slot& slot = it->second;
  switch (frame.type) {
    case MessageType::kSync:
    case MessageType::kSyncReply:
      return on_sync(id, slot, frame);
    case MessageType::kAwareness:
      return on_awareness(id, slot, frame, now_ms);
    case MessageType::kQueryAwareness:
      if (Bytes states = awareness_.snapshot(); !states.empty()) {
        send_to(id, protocol::awareness_frame(slot.info.protocol, slot.info.key, states));
      }
      return {};
    default:
      return {};  // the session handles the rest (auth, stateless, close, pong)
  }
}

Verdict Room::on_sync(MemberId id, Slot& slot, const protocol::Frame& frame) {
  const MemberInfo& info = slot.info;
  switch (frame.sync.type) {
    case SyncType::kStep1: {
      if (info.protocol == Protocol::kHocuspocus && frame.type == MessageType::kSync) {
        send_to(id, protocol::sync_frame(info.protocol, info.key, SyncType::kStep1, doc_.encode_state_vector()));
      }
      if (frame.sync.payload.size() == 1 && frame.sync.payload[0] == 0) {
        // A client with nothing: the one shared frame of this version (a join
        // storm on a large document costs one buffer, not one per joiner).
        slot.member->send(full_state_frame(info.protocol, info.key));
        return {};
      }
      auto diff = doc_.encode_state_as_update(frame.sync.payload);
      if (!diff) return refuse(kCloseBadMessage, "bad state vector: " + diff.error().message, "bad_state_vector");
      send_to(id, protocol::sync_frame(info.protocol, info.key, SyncType::kStep2, *diff));
      return {};
    }
    case SyncType::kStep2:
    case SyncType::kUpdate:
      if (info.read_only) {
        // Never applied. Hocuspocus answers a read-only Step2 that brings nothing
        // new with success, anything else with failure.
        if (info.protocol == Protocol::kHocuspocus) {
          const bool ok = frame.sync.type == SyncType::kStep2 && covers(frame.sync.payload);
          send_to(id, protocol::sync_status_frame(info.key, ok));
        }
        return {0, {}, frame.sync.type == SyncType::kUpdate ? "read_only" : ""};
      }
      return on_update(id, slot, frame.sync.payload);
  }
  return {};
}

Verdict Room::on_update(MemberId id, Slot& slot, ByteView update) {
  // The cap is on the document, not its history: a paste deleted again leaves
  // little behind (GC). The running estimate (last measured encoded size plus
  // update bytes since) only overshoots, so the document is measured — an O(n)
  // encode — when the estimate passes the cap, at most once per 64 KiB taken.
  auto over = [&] {
    return stats_.measured_bytes + stats_.bytes_since_measured + update.size() > limits_.max_document_bytes;
  };
  if (over() && stats_.bytes_since_measured >= kRemeasureBytes) {
    stats_.measured_bytes = doc_.encode_state_as_update().value().size();
    stats_.bytes_since_measured = 0;
  }
  if (over()) {
    return refuse(kCloseDocumentTooLarge,
                  "document would exceed " + std::to_string(limits_.max_document_bytes) + " bytes",
                  "document_too_large");
  }
  const bool pending_before = doc_.has_pending_structs() || doc_.has_pending_delete_set();
  emitted_.clear();
  if (Status s = doc_.apply_update(update); !s) {
    return refuse(kCloseBadMessage, "bad update: " + s.error().message, "bad_update");
  }
  std::vector<Bytes> added = std::move(emitted_);
  emitted_.clear();
  for (const Bytes& u : added) broadcast_update(u, id);
  const bool pending_after = doc_.has_pending_structs() || doc_.has_pending_delete_set();
  auto alive = std::weak_ptr<bool>(alive_);
  auto done = [this, alive, id](Status committed) {
    if (alive.expired()) return;
    --in_flight_;
    acknowledge(id, std::move(committed));
  };
  ++in_flight_;
  // Store what the client sent when it changed anything (pending structs
  // included); a pure duplicate only waits for what is already on its way.
  const bool duplicate = added.empty() && pending_before == pending_after && !pending_after;
  // An empty update (no structs, no deletions) is two zero bytes.
  if (duplicate && (!limits_.store_duplicates || update.size() <= 2)) {
    journal_.barrier(std::move(done));
    return {};
  }
  ++stats_.version;  // what it added, or pending structs that the full state also carries
  stats_.bytes_since_measured += update.size();
  stats_.bytes_since_snapshot += update.size();
  ++stats_.updates_since_snapshot;
  journal_.append(Bytes(update.begin(), update.end()), slot.info.user, std::move(done));
  // A snapshot rewrites the whole document: after the update count, also wait
  // for the log to reach a quarter of the document's size, so that a fast
  // writer on a large document does not rewrite it every thousand updates.
  if ((stats_.updates_since_snapshot >= limits_.compact_after_updates &&
       stats_.bytes_since_snapshot >= stats_.measured_bytes / 4) ||
      stats_.bytes_since_snapshot >= limits_.compact_after_bytes) {
    compact();
  }
  return {};
}

void Room::acknowledge(MemberId id, Status committed) {
  if (!committed) {
    // The update is in memory but not on disk: no more acks until a snapshot
    // has written the whole document, and the sender resyncs on reconnect.
    storage_failed_ = true;
    ++append_failures_;
    if (auto it = members_.find(id); it != members_.end()) {
      it->second.member->close(kCloseInternal, "storage unavailable");
    }
    return;
  }
  if (storage_failed_) {
    unacked_.push_back(id);
    return;
  }
  auto it = members_.find(id);
  if (it == members_.end()) return;
  it->second.acked_since_report = static_cast<bool>(session_observer_);
  if (it->second.info.protocol != Protocol::kHocuspocus) return;
  send_to(id, protocol::sync_status_frame(it->second.info.key, true));
}

void Room::report_session(Slot& slot) {
  if (!session_observer_ || slot.info.session.empty()) return;
  if (slot.acked_since_report) {
    slot.session.state_vector = doc_.encode_state_vector();
    slot.acked_since_report = false;
  }
  session_observer_(slot.info, slot.session);
}

Verdict Room::on_awareness(MemberId id, Slot& slot, const protocol::Frame& frame, std::int64_t now_ms) {
  if (slot.info.read_only && !limits_.read_only_awareness) return {0, {}, "read_only_awareness"};
  auto entries = protocol::decode_awareness(frame.awareness, limits_.max_awareness_entries);
  if (!entries) return refuse(kCloseBadMessage, entries.error().message, "bad_awareness");
  std::string_view rejected;
  for (const protocol::AwarenessEntry& e : *entries) {
    if (e.state.size() > limits_.max_awareness_state_bytes) {
      rejected = "awareness_too_large";
      continue;
    }
    std::string state(e.state);
    if (!stamp_identity(state, slot.info.display_name)) {
      rejected = "bad_awareness_json";
      continue;
    }
    if (awareness_.apply(id, e, std::move(state), now_ms) == AwarenessTable::Refusal::kForeignClient &&
        e.state != "null") {
      rejected = "foreign_awareness";
    }
  }
  awareness_changed();
  return {0, {}, rejected};
}

void Room::flush_awareness() {
  Bytes local;
  std::vector<AwarenessTable::Owned> owned;
  Bytes update = awareness_.take_pending(awareness_relay_ ? &local : nullptr, session_observer_ ? &owned : nullptr);
  if (update.empty()) return;
  if (!local.empty()) awareness_relay_(local);
  for (const AwarenessTable::Owned& o : owned) {
    if (auto it = members_.find(o.owner); it != members_.end()) {
      it->second.session.awareness_client = o.state.client;
      it->second.session.awareness_state = protocol::encode_awareness({o.state});
      report_session(it->second);
    }
  }
  // To everyone, the sender too: y-websocket clients count it as a sign of life.
  broadcast([&](Protocol p, const std::string& key) { return protocol::awareness_frame(p, key, update); }, 0);
}

Result<bool> Room::apply_remote_update(ByteView update) {
  const bool pending_before = doc_.has_pending_structs() || doc_.has_pending_delete_set();
  emitted_.clear();
  Status s = doc_.apply_update(update);
  std::vector<Bytes> added = std::move(emitted_);
  emitted_.clear();
  if (!s) return s.error();
  const bool pending_after = doc_.has_pending_structs() || doc_.has_pending_delete_set();
  if (added.empty() && pending_before == pending_after && !pending_after) return false;
  ++stats_.version;
  stats_.bytes_since_measured += update.size();
  for (const Bytes& u : added) broadcast_update(u, 0);
  return true;
}

Status Room::restore_awareness(MemberId id, ByteView state, std::int64_t now_ms) {
  if (members_.find(id) == members_.end()) return {};
  // As if relayed: the member's own messages take the client id over as usual.
  return apply_remote_awareness(state, now_ms);
}

Status Room::apply_remote_awareness(ByteView update, std::int64_t now_ms) {
  auto entries = protocol::decode_awareness(update, limits_.max_awareness_entries);
  if (!entries) return entries.error();
  bool any = false;
  for (const protocol::AwarenessEntry& e : *entries) {
    if (e.state.size() > limits_.max_awareness_state_bytes) continue;
    any |= awareness_.apply_remote(e, now_ms) == AwarenessTable::Refusal::kNone;
  }
  if (any) broadcast([&](Protocol p, const std::string& key) { return protocol::awareness_frame(p, key, update); }, 0);
  return {};
}

void Room::tick(std::int64_t now_ms) {
  awareness_.expire(now_ms, limits_.awareness_timeout_ms);
  awareness_changed();
  for (auto& [id, slot] : members_) {
    if (slot.acked_since_report) report_session(slot);
  }
  if (storage_failed_ && in_flight_ == 0) compact();
}

void Room::compact() {
  if (!loaded_ || (stats_.updates_since_snapshot == 0 && !storage_failed_)) return;
  auto snapshot = doc_.encode_state_as_update();
  if (!snapshot) return;  // cannot happen for a loaded document
  const std::size_t size = snapshot->size();
  ++in_flight_;
  const std::uint64_t updates = stats_.updates_since_snapshot;
  const std::uint64_t bytes = stats_.bytes_since_snapshot;
  stats_.updates_since_snapshot = 0;
  stats_.bytes_since_snapshot = 0;
  auto alive = std::weak_ptr<bool>(alive_);
  // What this snapshot covers: the held acks so far, and failures up to now.
  const std::size_t held_before = unacked_.size();
  const std::uint64_t failures_before = append_failures_;
  journal_.compact(std::move(*snapshot), doc_.encode_state_vector(),
                   [this, alive, size, updates, bytes, held_before, failures_before](Status s) {
                     if (alive.expired()) return;
                     --in_flight_;
                     if (!s) {
                       // Try again at the next threshold: the log still holds everything.
                       stats_.updates_since_snapshot += updates;
                       stats_.bytes_since_snapshot += bytes;
                       return;
                     }
                     ++stats_.compactions;
                     if (storage_failed_) {
                       // Everything in memory when the snapshot was taken is durable now, the
                       // updates whose acks were held included. A failure since then keeps the
                       // flag (the next tick compacts again) and the acks held after it.
                       if (append_failures_ == failures_before) storage_failed_ = false;
                       std::vector<MemberId> covered(unacked_.begin(),
                                                     unacked_.begin() + static_cast<std::ptrdiff_t>(held_before));
                       unacked_.erase(unacked_.begin(), unacked_.begin() + static_cast<std::ptrdiff_t>(held_before));
                       const bool still_failed = storage_failed_;
                       storage_failed_ = false;  // acknowledge() sends while the flag is clear
                       for (MemberId m : covered) acknowledge(m, Status{});
                       storage_failed_ = still_failed;
                     }
                     stats_.measured_bytes = size;
                     stats_.bytes_since_measured = stats_.bytes_since_snapshot;
                   });
}

void Room::broadcast_update(ByteView update, MemberId except) {
  // Large updates are not held (nor copied into a merge): coalescing is for many small ones.
  if (!broadcast_scheduler_ || update.size() > kCoalesceBytes) {
    flush_broadcasts();  // in order
    ++stats_.updates_broadcast;
    send_update(update, except);
    return;
  }
  if (pending_bytes_ + update.size() > kCoalesceBytes) flush_broadcasts();
  pending_bytes_ += update.size();
  if (pending_updates_.empty()) {
    pending_sender_ = except;
    broadcast_scheduler_();
  } else if (pending_sender_ != except) {
    pending_sender_ = 0;
  }
  pending_updates_.emplace_back(update.begin(), update.end());
}

void Room::flush_broadcasts() {
  if (pending_updates_.empty()) return;
  std::vector<Bytes> updates = std::move(pending_updates_);
  pending_updates_.clear();
  pending_bytes_ = 0;
  const MemberId except = pending_sender_;
  pending_sender_ = 0;
  stats_.updates_broadcast += updates.size();
  if (updates.size() == 1) {
    send_update(updates[0], except);
    return;
  }
  std::vector<ByteView> views(updates.begin(), updates.end());
  if (auto merged = crdt::merge_updates(views)) {
    send_update(*merged, except);
    return;
  }
  for (const Bytes& u : updates) send_update(u, except);  // cannot happen for what the document emitted
}

void Room::send_update(ByteView update, MemberId except) {
  ++stats_.broadcasts;
  broadcast([&](Protocol p, const std::string& key) { return protocol::sync_frame(p, key, SyncType::kUpdate, update); },
            except);
}

template <class MakeFrame>
void Room::broadcast(MakeFrame make, MemberId except) {
  // One buffer per distinct framing (protocol + document key), shared by all.
  std::map<std::pair<Protocol, std::string>, SharedFrame> frames;
  for (auto& [id, slot] : members_) {
    if (id == except) continue;
    auto key = std::make_pair(slot.info.protocol, slot.info.key);
    auto f = frames.find(key);
    if (f == frames.end()) {
      f = frames.emplace(key, std::make_shared<const Bytes>(make(slot.info.protocol, slot.info.key))).first;
    }
    slot.member->send(f->second);
  }
}

void Room::send_to(MemberId id, Bytes frame) {
  auto it = members_.find(id);
  if (it == members_.end()) return;
  it->second.member->send(std::make_shared<const Bytes>(std::move(frame)));
}

const Bytes& Room::full_state() {
  // Computed once per document version, however many clients join.
  if (full_state_version_ != stats_.version || full_state_.empty()) {
    full_state_ = doc_.encode_state_as_update().value();
    full_state_version_ = stats_.version;
    full_state_frames_.clear();
  }
  return full_state_;
}

SharedFrame Room::full_state_frame(Protocol protocol, const std::string& key) {
  const Bytes& state = full_state();
  SharedFrame& frame = full_state_frames_[{protocol, key}];
  if (!frame) frame = std::make_shared<const Bytes>(protocol::sync_frame(protocol, key, SyncType::kStep2, state));
  return frame;
}

bool Room::covers(ByteView update) const {
  auto contained = doc_.contains_update(update);
  return contained && *contained;
}

Result<bool> Room::has_seen(ByteView state_vector) const {
  auto theirs = crdt::decode_state_vector(state_vector);
  if (!theirs) return theirs.error();
  for (const auto& [client, clock] : theirs->entries()) {
    if (doc_.state_of(client) < clock) return false;
  }
  return true;
}

}  // namespace quire::room
