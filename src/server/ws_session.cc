// WsSession: one WebSocket connection, either protocol. It authenticates,
// routes each frame to its document's room (posting to the room's strand),
// and writes what rooms send it, one write in flight behind a bounded queue.
// Every protocol or limit violation ends in a close code and reason
// (docs/protocol.md); the process and the other connections carry on.
// What a document was granted is enforced while the socket is open: every
// --recheck-ms each authenticated document's session and role are asked for
// again, and an access token past its expiry closes the socket unless a
// Hocuspocus client renewed it in-band (SECURITY rows 9, 12, 15, 25).
//
// Thread-safety: all state on the session's strand; send() and close() may be
// called from any thread (they post). The session keeps itself alive through
// its pending handlers, as in Beast's chat-multi example.
// Memory: an idle connection is what 10,000 of them cost (docs/benchmarks.md,
// item 6), so one holds no read buffer, no send queue and one timer.
// Limitations: no permessage-deflate.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <limits>
#include <vector>

#include "base/log.h"
#include "server/server_internal.h"

namespace quire::server {
namespace {

namespace websocket = beast::websocket;
using protocol::Frame;
using protocol::MessageType;
using protocol::Protocol;
using protocol::SyncType;

// WebSocket close codes (docs/protocol.md).
enum : int {
  kCloseGoingAway = 1001,
  kCloseUnsupported = 1003,
  kCloseInternal = 1011,
  kCloseTryAgainLater = 1013,
  kClosePreauthOverflow = 4205,
  kCloseBadMessage = 4400,
  kCloseUnauthorized = 4401,
  kCloseForbidden = 4403,
  kCloseTimeout = 4408,
  kCloseRateLimited = 4429,
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Wall-clock unix seconds, the clock of an access token's exp.
std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A token bucket: `rate` per second sustained, `burst` at once.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}
  bool take(std::int64_t now) {
    if (last_ != 0) tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now - last_) / 1000.0);
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double rate_, burst_, tokens_;
  std::int64_t last_ = 0;
};

// The frames waiting for the socket, oldest first: a vector and the index of
// its front, released when it drains, so an idle connection keeps nothing here
// (an empty std::deque allocates 576 bytes).
class FrameQueue {
 public:
  [[nodiscard]] bool empty() const { return head_ == frames_.size(); }
  [[nodiscard]] const room::SharedFrame& front() const { return frames_[head_]; }
  void push_back(room::SharedFrame frame) { frames_.push_back(std::move(frame)); }
  void pop_front() {
    frames_[head_++].reset();
    if (empty()) {
      clear();
    } else if (head_ >= 16 && head_ * 2 >= frames_.size()) {
      // A reader that never quite catches up: drop the written half.
      frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    std::vector<room::SharedFrame>().swap(frames_);
    head_ = 0;
  }

 private:
  std::vector<room::SharedFrame> frames_;
  std::size_t head_ = 0;
};

// A close reason fits the 123 bytes a close frame allows, cut at a UTF-8 boundary.
std::string close_reason(std::string reason) {
  if (reason.size() <= 123) return reason;
  std::size_t n = 123;
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xc0) == 0x80) --n;
  reason.resize(n);
  return reason;
}

}  // namespace

class WsSession final : public std::enable_shared_from_this<WsSession> {
 public:
  // The WebSocket runs on the bare socket: the HTTP stream's timeouts are not
  // used past the upgrade, and its three timers would stay with every connection.
  WsSession(Server::Impl& server, beast::tcp_stream stream, Protocol protocol)
      : server_(server),
        ws_(release_socket(stream)),
        timer_(ws_.get_executor()),
        protocol_(protocol),
        id_(server.next_id++),
        rate_(server.config.rate_messages_per_second, server.config.rate_burst),
        awareness_rate_(server.config.awareness_per_second, server.config.awareness_per_second) {}

  // For y-websocket, `document` and `principal` come from the upgrade.
  void start(Request request, bool offered_quire, std::string document, std::optional<Principal> principal) {
    ws_.read_message_max(server_.config.max_message_bytes);
    ws_.auto_fragment(false);
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = websocket::stream_base::none();  // our own timer closes with 4408
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([offered_quire](websocket::response_type& res) {
      res.set(http::field::server, "quire");
      res.set(http::field::cache_control, "no-store");
      if (offered_quire) res.set(http::field::sec_websocket_protocol, "quire");
    }));
    // Called only from within our reads and close, whose handlers hold the session.
    ws_.control_callback([this](websocket::frame_type, beast::string_view) { last_rx_ms_ = now_ms(); });
    ws_.async_accept(
        request, [self = shared_from_this(), document = std::move(document), principal = std::move(principal)](
                     beast::error_code ec) mutable { self->on_accept(ec, std::move(document), std::move(principal)); });
  }

  // Thread-safe.
  void send(room::SharedFrame frame) {
    asio::post(ws_.get_executor(), [self = shared_from_this(), frame = std::move(frame)] { self->enqueue(frame); });
  }
  void close(int code, std::string reason) {
    asio::post(ws_.get_executor(),
               [self = shared_from_this(), code, reason = std::move(reason)] { self->do_close(code, reason); });
  }

  // A revocation from the bus: re-check now what it may concern.
  void revoke(const cluster::Revocation& revocation) {
    asio::post(ws_.get_executor(), [self = shared_from_this(), revocation] { self->recheck_all(&revocation); });
  }

 private:
  // One document this connection has asked for (Hocuspocus may ask for many),
  // under the name the client sent (the key in docs_).
  struct DocSlot {
    enum class State { kUnauthenticated, kLoading, kJoined };
    State state = State::kUnauthenticated;
    bool authenticating = false;  // a token check is running
    Principal principal;
    std::shared_ptr<HostedRoom> room;
    room::MemberId member_id = 0;
    // Frames that arrived before the room was joined, in order.
    std::vector<std::pair<std::shared_ptr<const Bytes>, Frame>> queued;
    std::size_t queued_bytes = 0;
    // Which principal this is (unique on the connection): a re-check's answer
    // counts only for the principal it was asked about.
    std::uint64_t generation = 0;
    std::uint64_t rechecking = 0;  // the generation a re-check is running for; 0: none
  };

  // The room's view of this connection for one document.
  class Member final : public room::Member {
   public:
    explicit Member(std::weak_ptr<WsSession> s) : session_(std::move(s)) {}
    void send(room::SharedFrame frame) override {
      if (auto s = session_.lock()) s->send(std::move(frame));
    }
    void close(int code, std::string reason) override {
      if (auto s = session_.lock()) s->close(code, std::move(reason));
    }

   private:
    std::weak_ptr<WsSession> session_;
  };

  static tcp::socket release_socket(beast::tcp_stream& stream) {
    stream.expires_never();  // cancels the HTTP read's pending timeout
    return stream.release_socket();
  }

  void on_accept(beast::error_code ec, std::string document, std::optional<Principal> principal) {
    if (ec) {
      log::debug("ws_handshake_failed", {{"error", ec.message()}});
      return;
    }
    server_.metrics.connections++;
    server_.metrics.connections_total++;
    accepted_ = true;
    {
      std::lock_guard lock(server_.sessions_mu);
      server_.sessions[id_] = weak_from_this();
    }
    opened_ms_ = last_rx_ms_ = now_ms();
    if (server_.stopping) {
      do_close(kCloseGoingAway, "server shutting down");
      return;
    }
    if (protocol_ == Protocol::kYWebsocket) {
      // Authenticated at the upgrade: join the document named in the URL now.
      auto it = docs_.try_emplace(std::move(document)).first;
      it->second.principal = std::move(*principal);
      it->second.generation = ++generations_;
      authenticated_ = true;
      join(it->first, it->second);
    }
    if (server_.config.recheck_ms > 0) recheck_due_ms_ = now_ms() + server_.config.recheck_ms;
    arm_timer();
    read();
  }

  // Waits for the next message with no buffer: a read of zero bytes returns
  // once a data frame's header is in (answering control frames on the way), and
  // only then is a buffer sized for the message. An idle connection keeps none.
  // The empty buffer points at a byte all the same: Beast's UTF-8 check of a
  // text frame does arithmetic on its address, which must not be null.
  void read() {
    ws_.async_read_some(
        asio::mutable_buffer(&no_bytes_, 0), [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec || self->ws_.is_message_done()) return self->on_read(ec, 0);  // failed, or an empty message
          self->ws_.async_read(self->buffer_, [self](beast::error_code ec2, std::size_t n) { self->on_read(ec2, n); });
        });
  }

  void release_buffer() {
    buffer_.clear();
    buffer_.shrink_to_fit();
  }

  void on_read(beast::error_code ec, std::size_t n) {
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        server_.metrics.reject("message_too_big");
        server_.metrics.close(1009);
      }
      teardown();
      return;
    }
    last_rx_ms_ = now_ms();
    server_.metrics.messages_in_total++;
    server_.metrics.bytes_in_total += n;
    if (closing_) {
      release_buffer();
      read();
      return;
    }
    if (!ws_.got_binary()) {
      release_buffer();
      server_.metrics.reject("text_frame");
      do_close(kCloseUnsupported, "binary frames only");
      read();
      return;
    }
    const auto* data = static_cast<const std::uint8_t*>(buffer_.data().data());
    auto bytes = std::make_shared<const Bytes>(data, data + n);
    release_buffer();
    if (!rate_.take(last_rx_ms_)) {
      server_.metrics.reject("rate_limited");
      do_close(kCloseRateLimited, "rate limit exceeded");
    } else {
      handle(std::move(bytes));
    }
    continue_reading();
  }

  // Backpressure: the next read waits while this connection's messages are
  // still on their way through the room, or while the log is far behind, so a
  // client sending faster than the server applies and stores is slowed down by
  // TCP instead of being buffered here.
  [[nodiscard]] std::size_t inflight_limit() const {
    return std::max<std::size_t>(server_.config.max_message_bytes, 1u << 20);
  }

  void continue_reading() {
    if (closed_) return;
    if (!closing_ && inflight_bytes_ > inflight_limit()) {
      read_paused_ = true;  // resumed when the room has caught up (on_processed)
      return;
    }
    if (!closing_ && server_.queue.queued_bytes() > server_.config.max_store_backlog_bytes) {
      read_paused_ = true;
      resume_due_ms_ = now_ms() + 10;  // look again then
      schedule();
      return;
    }
    read_paused_ = false;
    read();
  }

  void on_processed(std::size_t n) {
    inflight_bytes_ -= n;
    if (read_paused_ && inflight_bytes_ <= inflight_limit()) {
      resume_due_ms_ = kNever;
      continue_reading();
    }
  }

  void handle(std::shared_ptr<const Bytes> bytes) {
    auto decoded = protocol::decode_frame(protocol_, *bytes);
    if (!decoded) {
      server_.metrics.reject("bad_frame");
      do_close(kCloseBadMessage, decoded.error().message);
      return;
    }
    const Frame& frame = *decoded;
    if (frame.type == MessageType::kPong) return;
    if (protocol_ == Protocol::kYWebsocket) {
      if (frame.type == MessageType::kAuth || docs_.empty()) return;  // a client's permissionDenied means nothing
      route(docs_.begin()->second, std::move(bytes), frame);
      return;
    }
    if (frame.type == MessageType::kAuth) {
      authenticate(std::string(frame.document), frame.text);
      return;
    }
    auto it = docs_.find(frame.document);
    if (frame.type == MessageType::kClose) {
      if (it != docs_.end()) leave(it);
      return;
    }
    if (it == docs_.end()) {
      if (docs_.size() >= server_.config.max_documents_per_connection) {
        server_.metrics.reject("too_many_documents");
        do_close(kClosePreauthOverflow, "too many documents on one connection");
        return;
      }
      it = docs_.emplace(std::string(frame.document), DocSlot{}).first;
    }
    route(it->second, std::move(bytes), frame);
  }

  void route(DocSlot& slot, std::shared_ptr<const Bytes> bytes, const Frame& frame) {
    if (frame.type == MessageType::kStateless) return;  // no server-side handlers yet
    if (frame.type == MessageType::kAwareness && !awareness_rate_.take(last_rx_ms_)) {
      server_.metrics.reject("awareness_rate");
      return;
    }
    if (slot.state != DocSlot::State::kJoined) {
      // Held until the room is joined: little before authentication, at most a
      // send queue's worth while the document loads.
      const bool unauthenticated = slot.state == DocSlot::State::kUnauthenticated;
      slot.queued_bytes += bytes->size();
      if (slot.queued_bytes > (unauthenticated ? server_.config.max_preauth_bytes : server_.config.send_queue_bytes)) {
        server_.metrics.reject(unauthenticated ? "preauth_overflow" : "load_queue_overflow");
        do_close(unauthenticated ? kClosePreauthOverflow : kCloseTryAgainLater,
                 unauthenticated ? "too much data before authentication" : "too much data while the document loads");
        return;
      }
      slot.queued.emplace_back(std::move(bytes), frame);
      return;
    }
    deliver(slot, std::move(bytes), frame);
  }

  void deliver(DocSlot& slot, std::shared_ptr<const Bytes> bytes, const Frame& frame) {
    if (frame.type == MessageType::kSync &&
        (frame.sync.type == SyncType::kUpdate || frame.sync.type == SyncType::kStep2)) {
      server_.metrics.updates_in_total++;
    }
    const std::size_t n = bytes->size();
    inflight_bytes_ += n;
    asio::post(slot.room->strand(),
               [self = shared_from_this(), room = slot.room, id = slot.member_id, bytes = std::move(bytes), frame, n] {
                 const room::Verdict v = room->room().receive(id, frame, now_ms());
                 if (!v.rejected.empty()) self->server_.metrics.reject(v.rejected);
                 if (v.close_code != 0) self->close(v.close_code, v.reason);
                 asio::post(self->ws_.get_executor(), [self, n] { self->on_processed(n); });
               });
  }

  void authenticate(std::string key, std::string_view token) {
    const std::string_view doc = protocol::document_of(key);
    if (!valid_document_id(doc)) return deny(key, "invalid document name", "invalid_document");
    // A document already joined is re-authenticated: the new token, once
    // verified, replaces the principal (a renewal before the old one expires).
    auto it = docs_.find(key);
    if (it == docs_.end() && docs_.size() >= server_.config.max_documents_per_connection) {
      return deny(key, "too many documents on one connection", "too_many_documents");
    }
    if (it == docs_.end()) it = docs_.emplace(key, DocSlot{}).first;
    if (it->second.authenticating) return;  // one check at a time; the provider re-sends if needed
    it->second.authenticating = true;
    server_.auth->authenticate(
        std::string(token), std::string(doc), [self = shared_from_this(), key](std::optional<Principal> principal) {
          asio::post(self->ws_.get_executor(),
                     [self, key, principal = std::move(principal)] { self->on_authenticated(key, principal); });
        });
  }

  void on_authenticated(const std::string& key, const std::optional<Principal>& principal) {
    auto it = docs_.find(key);
    if (closed_ || it == docs_.end()) return;  // gone while the check ran
    it->second.authenticating = false;
    DocSlot& slot = it->second;
    const bool renewal = slot.state != DocSlot::State::kUnauthenticated;
    if (!principal || (renewal && principal->user != slot.principal.user)) {
      // A renewal that fails, or names someone else, ends this document.
      deny(key, "permission-denied", renewal ? "reauth_failed" : "auth_failed");
      return;
    }
    if (renewal) {
      set_principal(key, slot, *principal);
      enqueue(std::make_shared<const Bytes>(protocol::authenticated_frame(key, slot.principal.read_only)));
      return;
    }
    slot.principal = *principal;
    slot.generation = ++generations_;
    if (!authenticated_) {
      authenticated_ = true;
      arm_timer();  // from the auth deadline to the idle timeout
    }
    enqueue(std::make_shared<const Bytes>(protocol::authenticated_frame(key, slot.principal.read_only)));
    join(key, slot);
  }

  // Permission denied for `key`: its held frames are dropped and, if it had
  // joined, it leaves the room; the socket stays open for the other documents,
  // as Hocuspocus does.
  void deny(const std::string& key, std::string_view reason, std::string_view label) {
    server_.metrics.reject(label);
    log::warn(
        "auth_failed",
        {{"doc", std::string(protocol::document_of(key).substr(0, 128))}, {"reason", label}, {"connection", id_}});
    if (auto it = docs_.find(key); it != docs_.end()) leave(it);
    enqueue(std::make_shared<const Bytes>(protocol::permission_denied_frame(protocol_, key, reason)));
  }

  // A joined document's principal is replaced (renewal, or a role changed):
  // the room judges the member's next frame by the new role.
  void set_principal(const std::string& key, DocSlot& slot, Principal principal) {
    const bool role_changed = principal.read_only != slot.principal.read_only;
    slot.principal = std::move(principal);
    slot.generation = ++generations_;
    if (!role_changed) return;
    log::info("role_changed", {{"doc", std::string(protocol::document_of(key))},
                               {"read_only", slot.principal.read_only},
                               {"connection", id_}});
    // Still loading: on_room joins with the principal's role as it is then.
    if (slot.room) {
      asio::post(slot.room->strand(), [room = slot.room, id = slot.member_id, read_only = slot.principal.read_only] {
        room->room().set_read_only(id, read_only);
      });
    }
  }

  // Every --recheck-ms (from on_timer), everything: an expired access token
  // closes the socket; every document with a session has it and its role
  // checked again. After a revocation, only what names the principal's user,
  // its session or the document.
  void recheck_all(const cluster::Revocation* only = nullptr) {
    if (closing_) return;
    const std::int64_t now = unix_now();
    for (auto& [key, slot] : docs_) {
      if (slot.state == DocSlot::State::kUnauthenticated) continue;
      if (only != nullptr && !(only->kind == "user" && only->subject == slot.principal.user) &&
          !(only->kind == "family" && only->subject == slot.principal.session) &&
          !(only->kind == "document" && only->subject == protocol::document_of(key))) {
        continue;
      }
      if (slot.principal.valid_until != 0 && now > slot.principal.valid_until) {
        server_.metrics.reject("token_expired");
        log::info("access_expired", {{"doc", std::string(protocol::document_of(key))}, {"connection", id_}});
        do_close(kCloseUnauthorized, "access token expired");
        return;
      }
      if (slot.principal.session.empty() || slot.rechecking != 0) continue;
      slot.rechecking = slot.generation;
      server_.auth->recheck(slot.principal, std::string(protocol::document_of(key)),
                            [self = shared_from_this(), key = key, generation = slot.generation](Recheck r) {
                              asio::post(self->ws_.get_executor(), [self, key, generation, r = std::move(r)] {
                                self->on_recheck(key, generation, r);
                              });
                            });
    }
  }

  void on_recheck(const std::string& key, std::uint64_t generation, const Recheck& r) {
    auto it = docs_.find(key);
    if (it == docs_.end()) return;
    DocSlot& slot = it->second;
    if (slot.rechecking == generation) slot.rechecking = 0;
    // Gone, closing, or the principal was replaced while the check ran: the answer is stale.
    if (closed_ || closing_ || slot.generation != generation) return;
    switch (r.outcome) {
      case Recheck::Outcome::kUnknown:
        log::warn("recheck_unavailable", {{"connection", id_}});
        return;
      case Recheck::Outcome::kRevoked:
        server_.metrics.reject("session_revoked");
        log::info("session_revoked", {{"user", slot.principal.user}, {"reason", r.reason}, {"connection", id_}});
        do_close(kCloseUnauthorized, r.reason);
        return;
      case Recheck::Outcome::kRemoved:
        if (protocol_ == Protocol::kHocuspocus) return deny(key, r.reason, "role_removed");
        server_.metrics.reject("role_removed");
        do_close(kCloseForbidden, "no role on the document any more");
        return;
      case Recheck::Outcome::kValid: {
        if (r.read_only == slot.principal.read_only) return;
        Principal changed = slot.principal;
        changed.read_only = r.read_only;
        set_principal(key, slot, std::move(changed));
        // Hocuspocus clients learn their new scope; y-websocket has no such message.
        if (protocol_ == Protocol::kHocuspocus) {
          enqueue(std::make_shared<const Bytes>(protocol::authenticated_frame(key, slot.principal.read_only)));
        }
        return;
      }
    }
  }

  void join(const std::string& key, DocSlot& slot) {
    slot.state = DocSlot::State::kLoading;
    slot.member_id = server_.next_id++;
    const std::string doc(protocol::document_of(key));
    server_.rooms.acquire(storage::DocKey{slot.principal.workspace, doc},
                          [self = shared_from_this(), key](std::shared_ptr<HostedRoom> room, Status status) {
                            asio::post(self->ws_.get_executor(), [self, key, room = std::move(room), status] {
                              self->on_room(key, room, status);
                            });
                          });
  }

  void on_room(const std::string& key, const std::shared_ptr<HostedRoom>& room, const Status& status) {
    auto it = docs_.find(key);
    if (!status) {
      if (it != docs_.end()) docs_.erase(it);
      do_close(kCloseInternal, "document unavailable");
      return;
    }
    if (closed_ || it == docs_.end() || it->second.state != DocSlot::State::kLoading) {
      server_.rooms.release(room);  // the connection went away while the document loaded
      return;
    }
    DocSlot& slot = it->second;
    slot.room = room;
    slot.state = DocSlot::State::kJoined;
    room::MemberInfo info{protocol_,
                          key,
                          slot.principal.read_only,
                          slot.principal.user,
                          slot.principal.display_name,
                          slot.principal.session.empty() ? slot.principal.user : slot.principal.session};
    asio::post(room->strand(), [room, id = slot.member_id, info = std::move(info),
                                member = std::make_shared<Member>(weak_from_this())]() mutable {
      const std::string session = info.session;
      room->room().join(id, std::move(info), std::move(member));
      room->resume_session(id, session);
    });
    auto queued = std::move(slot.queued);
    slot.queued.clear();
    slot.queued_bytes = 0;
    for (auto& [bytes, frame] : queued) deliver(slot, std::move(bytes), frame);
  }

  void leave(std::map<std::string, DocSlot, std::less<>>::iterator it) {
    DocSlot& slot = it->second;
    if (slot.room) {
      asio::post(slot.room->strand(), [room = slot.room, id = slot.member_id] { room->room().leave(id); });
      server_.rooms.release(slot.room);
    }
    docs_.erase(it);
  }

  // What a frame costs of the send queue's budget: at most half of it, so a
  // document's full state larger than the queue (bounded by the document size
  // cap, and shared by every joiner) still reaches a client that reads it.
  [[nodiscard]] std::size_t counted(const Bytes& frame) const {
    return std::min(frame.size(), server_.config.send_queue_bytes / 2);
  }

  void enqueue(room::SharedFrame frame) {
    if (closing_ || !accepted_) return;
    if (queued_bytes_ + counted(*frame) > server_.config.send_queue_bytes) {
      server_.metrics.reject("send_queue_full");
      do_close(kCloseTryAgainLater, "send queue full: the client is not reading");
      return;
    }
    queued_bytes_ += counted(*frame);
    queue_.push_back(std::move(frame));
    if (!writing_) write();
  }

  void write() {
    writing_ = true;
    ws_.binary(true);
    ws_.async_write(asio::buffer(*queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_write(ec, n); });
  }

  void on_write(beast::error_code ec, std::size_t n) {
    writing_ = false;
    if (ec) {
      queue_.clear();
      queued_bytes_ = 0;
      return;  // the read side notices and tears down
    }
    server_.metrics.messages_out_total++;
    server_.metrics.bytes_out_total += n;
    if (!queue_.empty()) {
      queued_bytes_ -= counted(*queue_.front());
      queue_.pop_front();
    }
    if (closing_) {
      if (!close_sent_) send_close();
      return;
    }
    if (!queue_.empty()) write();
  }

  void do_close(int code, const std::string& reason) {
    if (closing_ || closed_) return;
    closing_ = true;
    close_code_ = code;
    close_reason_ = close_reason(reason);
    server_.metrics.close(code);
    log::info("ws_close", {{"connection", id_}, {"code", code}, {"reason", close_reason_}});
    // Drop what is queued (a slow reader's backlog goes at once); a write in
    // flight finishes first, then the close frame follows it.
    if (!queue_.empty()) {
      room::SharedFrame in_flight = writing_ ? queue_.front() : nullptr;
      queue_.clear();
      queued_bytes_ = 0;
      if (in_flight) {
        queue_.push_back(in_flight);
        queued_bytes_ = counted(*in_flight);
      }
    }
    // A peer that never drains its socket cannot receive the close frame either:
    // after a grace period the socket is closed under it (on_timer).
    close_due_ms_ = now_ms() + 5000;
    schedule();
    if (!writing_) send_close();
  }

  void send_close() {
    close_sent_ = true;
    websocket::close_reason cr(static_cast<websocket::close_code>(close_code_), close_reason_);
    ws_.async_close(cr, [self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      self->ws_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
      self->ws_.next_layer().close(ignored);
    });
  }

  // The session's one timer waits for the earliest of its deadlines (members
  // *_due_ms_, kNever when unset): the connection's own (the authentication
  // deadline, then pings and the idle timeout), the next re-check, the end of a
  // back-pressure pause and the close handshake's grace period.
  void schedule() {
    if (closed_) return;
    const std::int64_t due = std::min({deadline_due_ms_, recheck_due_ms_, resume_due_ms_, close_due_ms_});
    if (due == timer_due_ms_) return;  // already waiting for it
    timer_due_ms_ = due;
    if (due == kNever) {
      timer_.cancel();
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(std::max<std::int64_t>(due - now_ms(), 1)));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      self->on_timer();
    });
  }

  // Runs what is due, then waits for what is next.
  void on_timer() {
    timer_due_ms_ = kNever;
    const std::int64_t now = now_ms();
    if (close_due_ms_ <= now) {
      close_due_ms_ = kNever;
      beast::error_code ignored;
      ws_.next_layer().close(ignored);
    }
    if (resume_due_ms_ <= now) {
      resume_due_ms_ = kNever;
      if (read_paused_) continue_reading();
    }
    if (recheck_due_ms_ <= now) {
      recheck_due_ms_ = now + server_.config.recheck_ms;
      recheck_all();
    }
    if (deadline_due_ms_ <= now) {
      deadline_due_ms_ = kNever;
      on_deadline();
    }
    schedule();
  }

  // The connection's own deadline: the authentication deadline, then pings and
  // the idle timeout.
  void arm_timer() {
    const std::int64_t now = now_ms();
    if (!authenticated_) {
      deadline_due_ms_ = opened_ms_ + server_.config.auth_timeout_ms;
    } else {
      deadline_due_ms_ = std::min(last_rx_ms_ + server_.config.idle_timeout_ms, now + server_.config.ping_interval_ms);
    }
    schedule();
  }

  void on_deadline() {
    const std::int64_t now = now_ms();
    if (!authenticated_) {
      if (now - opened_ms_ >= server_.config.auth_timeout_ms) {
        server_.metrics.reject("auth_timeout");
        do_close(kCloseUnauthorized, "authentication timeout");
        return;
      }
    } else if (now - last_rx_ms_ >= server_.config.idle_timeout_ms) {
      server_.metrics.reject("idle_timeout");
      do_close(kCloseTimeout, "connection timeout");
      return;
    } else if (!closing_ && now - last_ping_ms_ >= server_.config.ping_interval_ms) {
      last_ping_ms_ = now;
      ws_.async_ping({}, [self = shared_from_this()](beast::error_code) {});
    }
    arm_timer();
  }

  void teardown() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    queue_.clear();
    queued_bytes_ = 0;
    while (!docs_.empty()) leave(docs_.begin());
    if (accepted_) {
      server_.metrics.connections--;
      std::lock_guard lock(server_.sessions_mu);
      server_.sessions.erase(id_);
    }
  }

  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

  Server::Impl& server_;
  websocket::stream<tcp::socket, false> ws_;  // no permessage-deflate: none of its state
  asio::steady_timer timer_;
  std::int64_t timer_due_ms_ = kNever;  // what timer_ waits for
  std::int64_t deadline_due_ms_ = kNever;
  std::int64_t recheck_due_ms_ = kNever;
  std::int64_t resume_due_ms_ = kNever;
  std::int64_t close_due_ms_ = kNever;
  Protocol protocol_;
  std::uint64_t id_;
  TokenBucket rate_;
  TokenBucket awareness_rate_;
  beast::flat_buffer buffer_;  // the message being read; empty between messages
  std::map<std::string, DocSlot, std::less<>> docs_;
  std::uint64_t generations_ = 0;  // the last DocSlot::generation handed out
  FrameQueue queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t inflight_bytes_ = 0;  // received, not yet processed by the room
  std::int64_t opened_ms_ = 0;
  std::int64_t last_rx_ms_ = 0;
  std::int64_t last_ping_ms_ = 0;
  int close_code_ = 0;
  std::string close_reason_;
  bool accepted_ = false;
  bool authenticated_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool close_sent_ = false;
  bool closed_ = false;
  bool read_paused_ = false;
  char no_bytes_ = 0;  // what a read of zero bytes points at (read())
};

void shutdown_session(const std::shared_ptr<WsSession>& session) {
  session->close(kCloseGoingAway, "server shutting down");
}

void revoke_session(const std::shared_ptr<WsSession>& session, const cluster::Revocation& revocation) {
  session->revoke(revocation);
}

void start_websocket(Server::Impl& server, beast::tcp_stream stream, Request request, Protocol protocol,
                     std::string document, std::optional<Principal> principal, bool offered_quire) {
  auto session = std::make_shared<WsSession>(server, std::move(stream), protocol);
  session->start(std::move(request), offered_quire, std::move(document), std::move(principal));
}

}  // namespace quire::server
