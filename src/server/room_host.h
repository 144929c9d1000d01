// RoomHost: the rooms of one node. Loads a document from storage before anyone
// may sync it (every joiner waits for the load, a failed load serves nobody
// and is never saved), gives each room its own strand, adapts the Journal to
// the CommitQueue, flushes coalesced awareness, and unloads a room a while
// after its last connection left (after compacting it).
//
// Thread-safety: acquire/release from any thread (the map takes a mutex). A
// HostedRoom's `room` is touched only on its strand.
// Limitations: a room is never split across threads; one hot document is
// bounded by one core.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/bus.h"
#include "room/room.h"
#include "server/config.h"
#include "server/metrics.h"
#include "storage/commit_queue.h"

namespace quire::server {

namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;

class RoomHost;

class HostedRoom final : public room::Journal, public std::enable_shared_from_this<HostedRoom> {
 public:
  HostedRoom(RoomHost& host, storage::DocKey key);
  [[nodiscard]] const std::string& doc() const { return key_.id; }
  [[nodiscard]] const storage::DocKey& key() const { return key_; }
  Strand& strand() { return strand_; }
  // On the strand only.
  room::Room& room() { return room_; }
  // Cluster: after member `id` joined, shows the awareness state its session
  // last published here or on another node (its session record), at once.
  void resume_session(room::MemberId id, const std::string& session);

  void append(Bytes update, std::string user, std::function<void(Status)> done) override;
  void barrier(std::function<void(Status)> done) override;
  void compact(Bytes snapshot, Bytes state_vector, std::function<void(Status)> done) override;

 private:
  friend class RoomHost;
  enum class State { kLoading, kReady, kFailed };
  void start_ticking();
  // The room's awareness scheduler: flushes its pending changes at once, or at
  // the end of the window after the previous flush (awareness_flush_ms).
  void schedule_awareness_flush();

  void note_edit(const std::string& user);
  // Cluster: another node's entry for this document, on the strand.
  void on_remote(const cluster::Entry& entry);
  // Cluster: reads the log after known_seq_ and applies it (on a gap, before compacting).
  // `then` (null for a gap) runs with the read's outcome.
  void catch_up(std::function<void(Status)> then);
  void apply_stored(const storage::StoredDocument& stored);
  void compact_stored(Bytes snapshot, Bytes state_vector, std::uint64_t upto_seq, std::function<void(Status)> done);
  // Cluster: stores the relayed updates older than `older_than_ms` that the log
  // still lacks (their node died before its commit), then calls `done`.
  void settle_relayed(std::int64_t older_than_ms, std::function<void(Status)> done);

  RoomHost& host_;
  storage::DocKey key_;
  Strand strand_;
  room::Room room_;
  asio::steady_timer flush_timer_;
  asio::steady_timer tick_timer_;
  asio::steady_timer unload_timer_;
  asio::steady_timer retry_timer_;
  bool flush_scheduled_ = false;
  std::int64_t last_awareness_flush_ms_ = 0;  // steady ms of the last awareness flush
  // The editor last reported to the edit observer, and when (steady ms); on the strand.
  std::string reported_editor_;
  std::int64_t reported_at_ms_ = 0;
  // Cluster state, on the strand: every log entry up to known_seq_ is in the
  // room; entries that arrived before the load finished wait in early_.
  std::uint64_t subscription_ = 0;  // set once, before the load
  std::uint64_t known_seq_ = 0;
  bool loaded_ = false;
  bool catching_up_ = false;
  bool gap_pending_ = false;   // a gap arrived while a read was running, or before the load finished
  bool followup_due_ = false;  // after a gap's read, read once more (commits that were in flight)
  std::vector<std::function<void(Status)>> after_catch_up_;
  std::vector<cluster::Entry> early_;
  // Updates other nodes relayed that changed the room and have not been seen in
  // the log yet, oldest first. Compaction covers them too.
  struct Relayed {
    std::size_t hash;
    Bytes bytes;
    std::int64_t at_ms;
    std::uint64_t serial;
  };
  std::vector<Relayed> unverified_;
  std::uint64_t relayed_serial_ = 0;
  // Guarded by the host's mutex.
  State state_ = State::kLoading;
  int refs_ = 0;
  std::vector<std::function<void(std::shared_ptr<HostedRoom>, Status)>> waiters_;
};

class RoomHost {
 public:
  using Ready = std::function<void(std::shared_ptr<HostedRoom>, Status)>;
  // Told, on a room's strand, that `user` edited the document (after the commit;
  // at most once a minute per document unless the editor changes).
  using EditObserver = std::function<void(const storage::DocKey&, const std::string& user)>;

  RoomHost(asio::io_context& io, storage::CommitQueue& queue, cluster::Bus& bus, const ServerConfig& config,
           Metrics& metrics);

  // Calls `ready` (on the room's strand) once `doc` is loaded, with the room,
  // or with the load's error. Each successful acquire needs one release.
  // A document id is always acquired with the same workspace (its storage key).
  void acquire(const storage::DocKey& doc, Ready ready);
  // Set before the first acquire.
  void set_edit_observer(EditObserver observer) { edit_observer_ = std::move(observer); }
  void release(const std::shared_ptr<HostedRoom>& room);
  // Shutdown: stop timers so the io_context can run out of work.
  void shutdown();
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::int64_t now_ms() const;

 private:
  friend class HostedRoom;
  void finish_load(const std::shared_ptr<HostedRoom>& room, Result<storage::StoredDocument> stored);
  void schedule_unload(const std::shared_ptr<HostedRoom>& room);
  void subscribe(const std::shared_ptr<HostedRoom>& room);

  asio::io_context& io_;
  storage::CommitQueue& queue_;
  cluster::Bus& bus_;
  const ServerConfig& config_;
  Metrics& metrics_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<HostedRoom>, std::less<>> rooms_;
  bool stopping_ = false;
  EditObserver edit_observer_;
};

}  // namespace quire::server
