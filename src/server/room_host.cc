// RoomHost and HostedRoom (room_host.h).
#include "server/room_host.h"

#include <boost/asio/post.hpp>
#include <chrono>

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
      unload_timer_(strand_) {}

void HostedRoom::append(Bytes update, std::string user, std::function<void(Status)> done) {
  const std::size_t size = update.size();
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
                        asio::post(self->strand_, [self, user, done, status] {
                          if (status) self->note_edit(user);
                          done(status);
                        });
                      });
}

void HostedRoom::barrier(std::function<void(Status)> done) {
  host_.queue_.barrier(
      [self = shared_from_this(), done = std::move(done)] { asio::post(self->strand_, [done] { done(Status{}); }); });
}

void HostedRoom::compact(Bytes snapshot, Bytes state_vector, std::function<void(Status)> done) {
  const std::size_t size = snapshot.size();
  host_.queue_.compact(
      key_, std::move(snapshot), std::move(state_vector), storage::kThroughLastSeq,
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

void HostedRoom::schedule_awareness_flush() {
  if (flush_scheduled_ || !room_.has_pending_awareness()) return;
  flush_scheduled_ = true;
  flush_timer_.expires_after(std::chrono::milliseconds(host_.config_.awareness_flush_ms));
  flush_timer_.async_wait([self = shared_from_this()](boost::system::error_code) {
    self->flush_scheduled_ = false;
    self->room_.flush_awareness();
  });
}

void HostedRoom::start_ticking() {
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    self->room_.tick(self->host_.now_ms());
    self->room_.flush_awareness();
    self->start_ticking();
  });
}

RoomHost::RoomHost(asio::io_context& io, storage::CommitQueue& queue, const ServerConfig& config, Metrics& metrics)
    : io_(io), queue_(queue), config_(config), metrics_(metrics) {}

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
    metrics_.documents_loaded_total++;
    log::info(
        "room_loaded",
        {{"doc", room->doc()}, {"snapshot_bytes", stored->snapshot.size()}, {"log_entries", stored->updates.size()}});
    room->start_ticking();
  } else {
    metrics_.document_load_failures_total++;
    log::error("room_load_failed", {{"doc", room->doc()}, {"error", status.error().to_string()}});
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
      room->room_.flush_awareness();
    });
  }
}

std::size_t RoomHost::size() const {
  std::lock_guard lock(mu_);
  return rooms_.size();
}

}  // namespace quire::server
