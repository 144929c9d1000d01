// RoomHost and HostedRoom (room_host.h).
#include "server/room_host.h"

#include <boost/asio/post.hpp>
#include <chrono>

#include "base/failpoint.h"
#include "base/log.h"

namespace quire::server {

namespace {
constexpr auto kTick = std::chrono::seconds(3);  // y-protocols checks awareness every 3 s
}

HostedRoom::HostedRoom(RoomHost& host, storage::DocKey key)
    : host_(host),
      key_(std::move(key)),
      strand_(asio::make_strand(host.io_)),
      room_(key_.id, *this, host.config_.room),
      flush_timer_(strand_),
      tick_timer_(strand_),
      unload_timer_(strand_),
      retry_timer_(strand_) {
  // Updates applied before the posted flush runs (everything already queued on
  // the strand) go out together, merged (Room::flush_broadcasts).
  room_.set_broadcast_scheduler(
      [this] { asio::post(strand_, [self = shared_from_this()] { self->room_.flush_broadcasts(); }); });
  room_.set_awareness_scheduler([this] { schedule_awareness_flush(); });
}

void HostedRoom::append(Bytes update, std::string user, std::function<void(Status)> done) {
  const std::size_t size = update.size();
  // Other nodes hear of it at once; durability (and the ack) come from the store.
  if (host_.config_.clustered) host_.bus_.publish(key_.id, cluster::Kind::kUpdate, update);
  host_.queue_.append(storage::AppendEntry{key_, std::move(update), user},
                      [self = shared_from_this(), size, user, done = std::move(done)](Result<std::uint64_t> seq) {
                        Status status;
                        if (seq) {
                          self->host_.metrics_.updates_stored_total++;
                          self->host_.metrics_.update_bytes_stored_total += size;
                        } else {
                          self->host_.metrics_.commit_failures_total++;
                          log::error("commit_failed", {{"doc", self->doc()}, {"error", seq.error().to_string()}});
                          status = seq.error();
                        }
                        const std::uint64_t stored = seq ? *seq : 0;
                        asio::post(self->strand_, [self, user, done, status, stored] {
                          if (status) self->note_edit(user);
                          // Contiguous with what the room holds: nobody else wrote in between.
                          if (stored == self->known_seq_ + 1) self->known_seq_ = stored;
                          done(status);
                        });
                      });
}

void HostedRoom::barrier(std::function<void(Status)> done) {
  auto after_queue = [self = shared_from_this()](std::function<void(Status)> then) {
    self->host_.queue_.barrier(
        [self, then = std::move(then)] { asio::post(self->strand_, [then] { then(Status{}); }); });
  };
  if (unverified_.empty()) return after_queue(std::move(done));
  // A duplicate is acknowledged as durable: what other nodes relayed must be.
  settle_relayed(0, [after_queue, done = std::move(done)](Status s) mutable {
    if (!s) return done(s);
    after_queue(std::move(done));
  });
}

void HostedRoom::compact(Bytes snapshot, Bytes state_vector, std::function<void(Status)> done) {
  if (!host_.config_.clustered) {
    // One node: the queue runs in order, so everything logged is in the room.
    compact_stored(std::move(snapshot), std::move(state_vector), storage::kThroughLastSeq, std::move(done));
    return;
  }
  // Another node may have logged entries this room has not seen yet: read
  // them first, then cover exactly what the room holds.
  catch_up([self = shared_from_this(), done = std::move(done)](Status read) mutable {
    if (!read) return done(read);
    const crdt::Doc& doc = self->room_.doc();
    // Once stored, the snapshot makes every relayed update it holds durable.
    const std::uint64_t serial = self->relayed_serial_;
    self->compact_stored(doc.encode_state_as_update().value(), doc.encode_state_vector(), self->known_seq_,
                         [self, serial, done = std::move(done)](Status s) {
                           if (s) std::erase_if(self->unverified_, [&](const Relayed& r) { return r.serial < serial; });
                           done(s);
                         });
  });
}

void HostedRoom::compact_stored(Bytes snapshot, Bytes state_vector, std::uint64_t upto_seq,
                                std::function<void(Status)> done) {
  const std::size_t size = snapshot.size();
  host_.queue_.compact(
      key_, std::move(snapshot), std::move(state_vector), upto_seq,
      [self = shared_from_this(), size, done = std::move(done)](Result<std::uint64_t> upto) {
        Status status;
        if (upto) {
          self->host_.metrics_.compactions_total++;
          log::info("compacted", {{"doc", self->doc()}, {"upto_seq", *upto}, {"snapshot_bytes", size}});
        } else {
          self->host_.metrics_.compaction_failures_total++;
          log::error("compaction_failed", {{"doc", self->doc()}, {"error", upto.error().to_string()}});
          status = upto.error();
        }
        asio::post(self->strand_, [done, status] { done(status); });
      });
}

void HostedRoom::note_edit(const std::string& user) {
  constexpr std::int64_t kReportEveryMs = 60'000;
  if (!host_.edit_observer_ || user.empty()) return;
  const std::int64_t now = host_.now_ms();
  if (user == reported_editor_ && now - reported_at_ms_ < kReportEveryMs) return;
  reported_editor_ = user;
  reported_at_ms_ = now;
  host_.edit_observer_(key_, user);
}

void HostedRoom::on_remote(const cluster::Entry& entry) {
  if (!loaded_) {
    early_.push_back(entry);
    return;
  }
  Status s;
  if (entry.kind == cluster::Kind::kUpdate) {
    // Test only: a node whose deliveries are late (cluster tests of session resume).
    if (failpoint::armed("relay.drop_updates")) return;
    host_.metrics_.remote_updates_total++;
    auto changed = room_.apply_remote_update(entry.payload);
    if (!changed) {
      s = changed.error();
    } else if (*changed) {
      // Its node may die before committing it: held until seen in the log.
      unverified_.push_back(Relayed{std::hash<std::string_view>{}(as_chars(entry.payload)), entry.payload,
                                    host_.now_ms(), relayed_serial_++});
    }
  } else {
    s = room_.apply_remote_awareness(entry.payload, host_.now_ms());
  }
  if (!s) {
    host_.metrics_.remote_rejected_total++;
    log::warn("remote_entry_refused",
              {{"doc", doc()}, {"from", entry.origin_node}, {"id", entry.id}, {"error", s.error().to_string()}});
  }
}

void HostedRoom::apply_stored(const storage::StoredDocument& stored) {
  if (!stored.snapshot.empty()) {
    if (auto s = room_.apply_remote_update(stored.snapshot); !s) {
      log::error("catch_up_failed", {{"doc", doc()}, {"error", s.error().to_string()}});
      return;
    }
  }
  // Relayed updates found in the log are durable: their node committed them.
  std::unordered_multimap<std::size_t, const Bytes*> logged;
  for (const Bytes& u : stored.updates) {
    if (auto s = room_.apply_remote_update(u); !s) {
      log::error("catch_up_failed", {{"doc", doc()}, {"error", s.error().to_string()}});
      return;
    }
    if (!unverified_.empty()) logged.emplace(std::hash<std::string_view>{}(as_chars(u)), &u);
  }
  std::erase_if(unverified_, [&](const Relayed& r) {
    auto [from, to] = logged.equal_range(r.hash);
    return std::any_of(from, to, [&](const auto& kv) { return *kv.second == r.bytes; });
  });
  known_seq_ = std::max(known_seq_, stored.last_seq);
}

void HostedRoom::settle_relayed(std::int64_t older_than_ms, std::function<void(Status)> done) {
  // Read the log first: what its node committed meanwhile needs nothing more.
  catch_up([self = shared_from_this(), older_than_ms, done = std::move(done)](Status read) mutable {
    if (!read) {
      if (done) done(read);
      return;
    }
    const std::int64_t cutoff = self->host_.now_ms() - older_than_ms;
    std::vector<Bytes> orphans;
    std::erase_if(self->unverified_, [&](Relayed& r) {
      if (r.at_ms > cutoff) return false;
      orphans.push_back(std::move(r.bytes));
      return true;
    });
    if (orphans.empty()) {
      if (done) done(Status{});
      return;
    }
    // Not in the log after all this time: its node died before the commit.
    // This node stores them (a duplicate, should that node have been slow, is harmless).
    self->host_.metrics_.relayed_stored_total += orphans.size();
    log::warn("relayed_updates_stored", {{"doc", self->doc()}, {"count", orphans.size()}});
    auto left = std::make_shared<std::size_t>(orphans.size());
    auto failed = std::make_shared<Status>();
    for (Bytes& u : orphans) {
      self->host_.queue_.append(
          storage::AppendEntry{self->key_, std::move(u), "relay"},
          [self, left, failed, done](Result<std::uint64_t> seq) {
            asio::post(self->strand_, [self, left, failed, done, ok = seq.ok(), error = seq ? Error{} : seq.error()] {
              if (!ok) *failed = error;
              if (--*left == 0 && done) done(*failed);
            });
          });
    }
  });
}

void HostedRoom::catch_up(std::function<void(Status)> then) {
  if (then) {
    after_catch_up_.push_back(std::move(then));
  } else {
    gap_pending_ = true;  // a gap: must be read, however long the store takes to answer
  }
  if (catching_up_ || !loaded_) return;  // the running read (or the load) will do
  catching_up_ = true;
  gap_pending_ = false;
  host_.metrics_.catch_ups_total++;
  host_.queue_.load_since(key_, known_seq_, [self = shared_from_this()](Result<storage::StoredDocument> stored) {
    asio::post(self->strand_, [self, stored = std::move(stored)] {
      self->catching_up_ = false;
      std::vector<std::function<void(Status)>> waiting = std::move(self->after_catch_up_);
      self->after_catch_up_.clear();
      Status status;
      if (stored) {
        self->apply_stored(*stored);
        if (self->followup_due_) {
          // Updates published while the bus was away and committed only after this
          // read would wait for the next gap: read once more, a little later.
          self->followup_due_ = false;
          self->retry_timer_.expires_after(std::chrono::seconds(2));
          self->retry_timer_.async_wait([self](boost::system::error_code ec) {
            if (!ec) self->catch_up(nullptr);
          });
        }
      } else {
        status = stored.error();
        log::error("catch_up_failed", {{"doc", self->doc()}, {"error", stored.error().to_string()}});
        // What a gap may have cost is read again in a second, until the store answers.
        self->retry_timer_.expires_after(std::chrono::seconds(1));
        self->retry_timer_.async_wait([self](boost::system::error_code ec) {
          if (!ec) self->catch_up(nullptr);
        });
      }
      for (auto& w : waiting) w(status);
      if (self->gap_pending_) self->catch_up(nullptr);
    });
  });
}

namespace {
constexpr auto kSessionTtl = std::chrono::seconds(120);
std::string session_key(const std::string& session, const std::string& doc) {
  return session + "/" + doc;
}
}  // namespace

void HostedRoom::resume_session(room::MemberId id, const std::string& session) {
  if (!host_.config_.clustered || session.empty()) return;
  host_.bus_.get_session(
      session_key(session, doc()), [self = shared_from_this(), id](std::optional<cluster::SessionRecord> record) {
        if (!record) return;
        asio::post(self->strand_, [self, id, record = std::move(*record)] {
          if (record.doc != self->doc()) return;
          self->host_.metrics_.sessions_resumed_total++;
          if (!record.awareness_state.empty()) {
            if (Status s = self->room_.restore_awareness(id, record.awareness_state, self->host_.now_ms()); !s) {
              log::warn("session_restore_failed", {{"doc", self->doc()}, {"error", s.error().to_string()}});
            }
          }
          if (record.state_vector.empty()) return;
          // Read-your-writes on any node: what was acknowledged to the session is
          // committed, so when this node has not got all of it yet (the bus is
          // behind), the log has — read it now rather than at the next gap.
          auto seen = self->room_.has_seen(record.state_vector);
          if (!seen) {
            log::warn("session_restore_failed", {{"doc", self->doc()}, {"error", seen.error().to_string()}});
          } else if (!*seen) {
            self->host_.metrics_.session_catch_ups_total++;
            self->catch_up(nullptr);
          }
        });
      });
}

void HostedRoom::schedule_awareness_flush() {
  if (flush_scheduled_ || !room_.has_pending_awareness()) return;
  flush_scheduled_ = true;
  // At most one flush per window: a change in a quiet room goes out at once
  // (after what is already queued on the strand); under load they coalesce.
  const std::int64_t wait = last_awareness_flush_ms_ + host_.config_.awareness_flush_ms - host_.now_ms();
  auto flush = [self = shared_from_this()] {
    self->flush_scheduled_ = false;
    self->last_awareness_flush_ms_ = self->host_.now_ms();
    self->room_.flush_awareness();
  };
  if (wait <= 0) {
    asio::post(strand_, std::move(flush));
    return;
  }
  flush_timer_.expires_after(std::chrono::milliseconds(wait));
  flush_timer_.async_wait([flush = std::move(flush)](boost::system::error_code) { flush(); });
}

void HostedRoom::start_ticking() {
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    const std::int64_t now = self->host_.now_ms();
    self->room_.tick(now);  // expired awareness states go out through the scheduler
    constexpr std::int64_t kSettleAfterMs = 5000;
    if (!self->unverified_.empty() && self->unverified_.front().at_ms <= now - kSettleAfterMs) {
      self->settle_relayed(kSettleAfterMs, nullptr);
    }
    self->start_ticking();
  });
}

RoomHost::RoomHost(asio::io_context& io, storage::CommitQueue& queue, cluster::Bus& bus, const ServerConfig& config,
                   Metrics& metrics)
    : io_(io), queue_(queue), bus_(bus), config_(config), metrics_(metrics) {}

void RoomHost::subscribe(const std::shared_ptr<HostedRoom>& room) {
  // Before the load, from a little while back: an update another node
  // published just before it committed is in the stream if not in the load.
  const auto wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::int64_t from = std::max<std::int64_t>(0, wall_ms - config_.catch_up_window_ms);
  std::weak_ptr<HostedRoom> weak = room;
  cluster::Bus::Handlers handlers;
  handlers.on_entry = [weak](const cluster::Entry& entry) {
    if (auto r = weak.lock()) asio::post(r->strand_, [r, entry] { r->on_remote(entry); });
  };
  handlers.on_gap = [this, weak] {
    auto r = weak.lock();
    if (!r) return;
    metrics_.cluster_gaps_total++;
    asio::post(r->strand_, [r] {
      r->followup_due_ = true;
      r->catch_up(nullptr);
    });
  };
  room->subscription_ = bus_.subscribe(room->doc(), std::to_string(from) + "-0", std::move(handlers));
}

std::int64_t RoomHost::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void RoomHost::acquire(const storage::DocKey& doc, Ready ready) {
  std::shared_ptr<HostedRoom> room;
  bool load = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      auto fail = [ready = std::move(ready)] { ready(nullptr, Error{"server", 1, "server shutting down"}); };
      asio::post(io_, std::move(fail));
      return;
    }
    auto it = rooms_.find(doc.id);
    if (it == rooms_.end()) {
      room = std::make_shared<HostedRoom>(*this, doc);
      rooms_.emplace(doc.id, room);
      metrics_.rooms++;
      load = true;
    } else {
      room = it->second;
    }
    ++room->refs_;
    if (room->state_ == HostedRoom::State::kLoading) {
      room->waiters_.push_back(std::move(ready));
      ready = nullptr;
    }
  }
  if (ready) {
    asio::post(room->strand_, [room, ready = std::move(ready)] { ready(room, Status{}); });
  }
  if (load) {
    if (config_.clustered) subscribe(room);
    queue_.load(doc, [this, room](Result<storage::StoredDocument> stored) {
      asio::post(room->strand_,
                 [this, room, stored = std::move(stored)]() mutable { finish_load(room, std::move(stored)); });
    });
  }
}

void RoomHost::finish_load(const std::shared_ptr<HostedRoom>& room, Result<storage::StoredDocument> stored) {
  Status status;
  if (!stored) {
    status = stored.error();
  } else {
    status = room->room_.load(stored->snapshot, stored->updates);
  }
  std::vector<Ready> waiters;
  {
    std::lock_guard lock(mu_);
    waiters = std::move(room->waiters_);
    if (status) {
      room->state_ = HostedRoom::State::kReady;
    } else {
      // Forget the room so the next join retries the load; nobody was served.
      room->state_ = HostedRoom::State::kFailed;
      room->refs_ = 0;
      if (auto it = rooms_.find(room->doc()); it != rooms_.end() && it->second == room) {
        rooms_.erase(it);
        metrics_.rooms--;
      }
    }
  }
  if (status) {
    room->known_seq_ = stored->last_seq;
    room->loaded_ = true;
    if (config_.clustered) {
      room->room_.set_awareness_relay(
          [this, doc = room->doc()](const Bytes& update) { bus_.publish(doc, cluster::Kind::kAwareness, update); });
      // Session records: what a client showed last, for its next connection on any node.
      room->room_.set_session_observer(
          [this, doc = room->doc()](const room::MemberInfo& info, const room::SessionState& session) {
            if (info.session.empty()) return;
            bus_.put_session(
                cluster::SessionRecord{session_key(info.session, doc), info.user, doc, session.awareness_client,
                                       session.awareness_state, session.state_vector},
                kSessionTtl);
          });
      std::vector<cluster::Entry> early = std::move(room->early_);
      room->early_.clear();
      for (const cluster::Entry& e : early) room->on_remote(e);
      if (room->gap_pending_) room->catch_up(nullptr);
    }
    metrics_.documents_loaded_total++;
    log::info(
        "room_loaded",
        {{"doc", room->doc()}, {"snapshot_bytes", stored->snapshot.size()}, {"log_entries", stored->updates.size()}});
    room->start_ticking();
  } else {
    metrics_.document_load_failures_total++;
    log::error("room_load_failed", {{"doc", room->doc()}, {"error", status.error().to_string()}});
    if (room->subscription_ != 0) bus_.unsubscribe(room->subscription_);
  }
  for (Ready& w : waiters) w(status ? room : nullptr, status);
}

void RoomHost::release(const std::shared_ptr<HostedRoom>& room) {
  bool idle = false;
  {
    std::lock_guard lock(mu_);
    if (room->state_ != HostedRoom::State::kReady) return;
    idle = --room->refs_ == 0;
  }
  if (idle) schedule_unload(room);
}

void RoomHost::schedule_unload(const std::shared_ptr<HostedRoom>& room) {
  asio::post(room->strand_, [this, room] {
    room->unload_timer_.expires_after(std::chrono::milliseconds(config_.unload_after_ms));
    room->unload_timer_.async_wait([this, room](boost::system::error_code ec) {
      if (ec) return;
      // Appends and compactions still in flight keep the room until they land.
      if (room->room_.in_flight() > 0) {
        schedule_unload(room);
        return;
      }
      {
        std::lock_guard lock(mu_);
        if (room->refs_ > 0) return;  // someone joined meanwhile
        if (auto it = rooms_.find(room->doc()); it != rooms_.end() && it->second == room) {
          rooms_.erase(it);
          metrics_.rooms--;
        }
      }
      room->tick_timer_.cancel();
      room->flush_timer_.cancel();
      room->retry_timer_.cancel();
      if (room->subscription_ != 0) bus_.unsubscribe(room->subscription_);
      log::info("room_unloaded", {{"doc", room->doc()}});
    });
  });
}

void RoomHost::shutdown() {
  std::map<std::string, std::shared_ptr<HostedRoom>, std::less<>> rooms;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    rooms = rooms_;
  }
  for (auto& [doc, room] : rooms) {
    asio::post(room->strand_, [room] {
      room->tick_timer_.cancel();
      room->flush_timer_.cancel();
      room->unload_timer_.cancel();
      room->retry_timer_.cancel();
      room->room_.flush_awareness();
    });
  }
}

std::size_t RoomHost::size() const {
  std::lock_guard lock(mu_);
  return rooms_.size();
}

}  // namespace quire::server
