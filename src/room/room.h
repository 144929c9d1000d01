// Room: one open document — the Yjs document, the connections editing it, their
// awareness, durable appends with acknowledgement after commit, and when to
// compact. No sockets and no storage: frames go out through Member, durability
// through Journal, so the whole flow is tested in-process (room_test.cc).
//
// Life of an update (ARCHITECTURE §2.1): decoded and applied; what it added is
// broadcast at once to the other members as one shared buffer (merged with the
// updates applied before the flush runs, see set_broadcast_scheduler); the bytes go to
// the journal; the sender's SyncStatus ack is sent only when that append (or,
// for an update that added nothing, every earlier append) has committed.
//
// Thread-safety: none. A Room lives on its own strand; Member::send and the
// Journal's completion callbacks are called / must call back on that strand.
// Limitations: one document per room; sub-documents are not loaded.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "crdt/doc.h"
#include "protocol/messages.h"
#include "room/awareness.h"

namespace quire::room {

inline constexpr std::string_view kDomain = "room";
// Update bytes taken between two measurements of a document near its size cap.
inline constexpr std::size_t kRemeasureBytes = 64u << 10;
// Updates held for one coalesced broadcast, at most; a larger one goes out alone.
inline constexpr std::size_t kCoalesceBytes = 64u << 10;

// A frame ready to write, shared by every connection it goes to.
using SharedFrame = std::shared_ptr<const Bytes>;

// A connection as the room sees it.
class Member {
 public:
  virtual ~Member() = default;
  // Queues `frame` on the connection. Called on the room's strand; hands off
  // to the connection's own strand and never calls back into the room.
  virtual void send(SharedFrame frame) = 0;
  // Closes the connection (WebSocket close code and reason).
  virtual void close(int code, std::string reason) = 0;
};

// What a member's session record holds (cluster): its awareness and how far
// the server had got when its updates were last acknowledged.
struct SessionState {
  std::uint64_t awareness_client = 0;  // 0: no state published yet
  Bytes awareness_state;               // its last state, as a one-entry awareness update
  Bytes state_vector;                  // the document's state vector at (or just after) its last ack; empty: none
};

struct MemberInfo {
  protocol::Protocol protocol = protocol::Protocol::kHocuspocus;
  std::string key;  // Hocuspocus: the document name as the client sent it
  bool read_only = false;
  std::string user;          // authenticated identity, stored with its updates
  std::string display_name;  // stamped into its awareness as user.name (empty: left alone)
  std::string session;       // the login session (or the user, for dev tokens): its session record's key
};

// Durable appends, implemented over storage by the server. Callbacks run on
// the room's strand, in the order the calls were made.
class Journal {
 public:
  virtual ~Journal() = default;
  virtual void append(Bytes update, std::string user, std::function<void(Status)> done) = 0;
  // `done` runs once every earlier append has committed.
  virtual void barrier(std::function<void(Status)> done) = 0;
  // Writes `snapshot` (the whole document) and drops the log entries it covers:
  // everything appended before this call.
  virtual void compact(Bytes snapshot, Bytes state_vector, std::function<void(Status)> done) = 0;
};

struct RoomLimits {
  std::size_t warn_document_bytes = 8u << 20;
  std::size_t max_document_bytes = 16u << 20;
  std::size_t max_awareness_state_bytes = 2048;
  std::size_t max_awareness_entries = 64;
  std::uint64_t compact_after_updates = 1000;
  std::uint64_t compact_after_bytes = 4u << 20;
  std::int64_t awareness_timeout_ms = 30000;
  bool read_only_awareness = true;  // may read-only connections publish awareness?
  std::size_t max_structs = 100000;
  // A cluster: the document in memory also holds other nodes' updates, which
  // may never have been committed (their node died first). An update a client
  // sends that adds nothing here is then stored anyway rather than taken as
  // already durable — it is usually the resend of an unacknowledged update.
  bool store_duplicates = false;
};

// WebSocket close codes the room asks for (docs/protocol.md).
enum CloseCode : int {
  kCloseInternal = 1011,
  kCloseBadMessage = 4400,
  kCloseDocumentTooLarge = 4413,
};

// What happened to one inbound frame, for metrics and logs.
struct Verdict {
  int close_code = 0;  // non-zero: close the connection
  std::string reason;
  std::string_view rejected;  // non-empty: a metrics label for a refused message
};

struct RoomStats {
  std::uint64_t updates_since_snapshot = 0;
  std::uint64_t bytes_since_snapshot = 0;
  std::size_t measured_bytes = 0;        // the encoded document's size when last measured
  std::size_t bytes_since_measured = 0;  // update bytes taken since: the estimate only overshoots
  std::uint64_t version = 0;             // changes applied since load
  std::uint64_t compactions = 0;
  std::uint64_t broadcasts = 0;         // update broadcasts sent (one frame per framing each)
  std::uint64_t updates_broadcast = 0;  // updates they carried
};

class Room {
 public:
  Room(std::string name, Journal& journal, RoomLimits limits);
  ~Room();
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;

  // Builds the document from storage: the snapshot (may be empty) then the log
  // entries after it. An error leaves the room unusable: it must never serve or
  // save (a half-loaded document saved would overwrite real content).
  Status load(ByteView snapshot, const std::vector<Bytes>& log);

  // A connection joins (after authentication). y-websocket members get the
  // server's SyncStep1; everyone gets the current awareness states.
  void join(MemberId id, MemberInfo info, std::shared_ptr<Member> member);
  // A connection leaves: its awareness becomes a removal; when the last editor
  // leaves and the log has grown, the document is compacted.
  void leave(MemberId id);
  // A member's role changed while it is connected (SECURITY row 25): frames it
  // sends from now on are judged by the new flag. Becoming read-only withdraws
  // its awareness when read-only members may not publish, and compacts when it
  // was the last editor, as leave() does. Unknown ids are ignored.
  void set_read_only(MemberId id, bool read_only);
  // One decoded frame (sync, awareness, query) from a member.
  Verdict receive(MemberId id, const protocol::Frame& frame, std::int64_t now_ms);

  // Awareness changes are coalesced. With a scheduler, `schedule` is called
  // after every call that leaves changes pending (a member's message or leave,
  // a role change, expiry); the host then calls flush_awareness() as soon as its
  // window allows. Without one, the host flushes when it sees fit.
  void set_awareness_scheduler(std::function<void()> schedule) { awareness_scheduler_ = std::move(schedule); }
  [[nodiscard]] bool has_pending_awareness() const { return awareness_.has_pending(); }
  void flush_awareness();
  // Periodic: expires awareness states not renewed in time, and after a failed
  // append retries the snapshot that lets acknowledgements resume.
  void tick(std::int64_t now_ms);

  // Compacts now if the log holds anything since the last snapshot.
  void compact();

  // Coalesced broadcasts. Without a scheduler every update is broadcast as it
  // is applied. With one, updates are collected and `schedule` is called when
  // the first is; the host then calls flush_broadcasts() (posted to the room's
  // strand, so everything already queued there is applied first). A flush sends
  // one frame per framing for all of them — merged into one update when there
  // are several — to everyone but their sender; when several members sent
  // them, to everyone (a client's own structs coming back change nothing in
  // Yjs). At low load a flush carries one update; under load one write carries
  // many, as Hocuspocus merges what arrives together. At most kCoalesceBytes
  // are held; a larger update is sent at once, after what was held.
  void set_broadcast_scheduler(std::function<void()> schedule) { broadcast_scheduler_ = std::move(schedule); }
  void flush_broadcasts();

  // ---- A cluster: what other nodes relay (ARCHITECTURE §2.3) ----
  // An update another node applied and stored (or a catch-up read from the
  // log): applied, and what it adds is broadcast to every member. Never
  // journaled: its node stores it. True when it changed the document; an
  // error means the bytes did not decode.
  Result<bool> apply_remote_update(ByteView update);
  // Another node's awareness update: its states are recorded (for joiners and
  // the timeout) and the bytes forwarded to every member.
  Status apply_remote_awareness(ByteView update, std::int64_t now_ms);
  // Called at each flush with the awareness changes of this node's own
  // members (never relayed ones), to be published to the other nodes.
  void set_awareness_relay(std::function<void(const Bytes&)> relay) { awareness_relay_ = std::move(relay); }
  // Session records: called with a member of this node and its session state
  // when that changes — at each awareness flush for every live state the member
  // published, and after its updates were acknowledged (at the next flush,
  // tick or its leave, whichever comes first; one state vector a tick at most).
  using SessionObserver = std::function<void(const MemberInfo&, const SessionState&)>;
  void set_session_observer(SessionObserver observer) { session_observer_ = std::move(observer); }
  // A member's state remembered from an earlier connection (a one-entry
  // awareness update): shown to everyone unless a newer one is known.
  Status restore_awareness(MemberId id, ByteView state, std::int64_t now_ms);

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] bool empty() const { return members_.empty(); }
  [[nodiscard]] std::size_t member_count() const { return members_.size(); }
  [[nodiscard]] const RoomStats& stats() const { return stats_; }
  [[nodiscard]] const crdt::Doc& doc() const { return doc_; }
  // True when the document holds everything `state_vector` counts; an error if it does not decode.
  [[nodiscard]] Result<bool> has_seen(ByteView state_vector) const;
  // Compactions and appends still waiting for their commit.
  [[nodiscard]] std::size_t in_flight() const { return in_flight_; }

 private:
  struct Slot {
    MemberInfo info;
    std::shared_ptr<Member> member;
    SessionState session;
    bool acked_since_report = false;  // an ack since the session state was last reported
  };
  Verdict on_sync(MemberId id, Slot& slot, const protocol::Frame& frame);
  Verdict on_update(MemberId id, Slot& slot, ByteView update);
  Verdict on_awareness(MemberId id, Slot& slot, const protocol::Frame& frame, std::int64_t now_ms);
  // Broadcasts now, or collects for the scheduled flush.
  void broadcast_update(ByteView update, MemberId except);
  void send_update(ByteView update, MemberId except);
  void send_to(MemberId id, Bytes frame);
  // After an editor left or became read-only: compacts if no editor remains.
  void compact_if_no_editor();
  // Calls the awareness scheduler when changes are pending.
  void awareness_changed();
  void acknowledge(MemberId id, Status committed);
  // Reports `slot`'s session state, with the current state vector if it was acked since.
  void report_session(Slot& slot);
  [[nodiscard]] const Bytes& full_state();
  // full_state() framed as a SyncStep2 for one framing, shared by every joiner of this version.
  [[nodiscard]] SharedFrame full_state_frame(protocol::Protocol protocol, const std::string& key);
  [[nodiscard]] bool covers(ByteView update) const;
  // Frames one message per framing the members use, once each.
  template <class MakeFrame>
  void broadcast(MakeFrame make, MemberId except);

  std::string name_;
  Journal& journal_;
  RoomLimits limits_;
  crdt::Doc doc_;
  std::map<MemberId, Slot> members_;
  AwarenessTable awareness_;
  RoomStats stats_;
  std::vector<Bytes> emitted_;  // what the last apply added (doc update handler)
  Bytes full_state_;            // encode_state_as_update() of version full_state_version_
  std::uint64_t full_state_version_ = ~std::uint64_t{0};
  std::map<std::pair<protocol::Protocol, std::string>, SharedFrame> full_state_frames_;
  bool loaded_ = false;
  bool storage_failed_ = false;    // an append failed: no acks until a snapshot has covered it
  std::vector<MemberId> unacked_;  // acks held back meanwhile, sent once a snapshot covers them
  std::uint64_t append_failures_ = 0;
  std::size_t in_flight_ = 0;
  std::function<void(const Bytes&)> awareness_relay_;
  SessionObserver session_observer_;
  std::function<void()> broadcast_scheduler_;
  std::function<void()> awareness_scheduler_;
  std::vector<Bytes> pending_updates_;  // applied, waiting for the scheduled flush
  MemberId pending_sender_ = 0;         // who sent them all (0: another node, or several members)
  std::size_t pending_bytes_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace quire::room
