// One client WebSocket (connection.h): connect, handshake, authenticate, sync,
// then a read loop that hands frames to the listener; writes go out one at a
// time from a queue.
#include "loadgen/connection.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>

#include "crdt/lib0.h"
#include "loadgen/proc_stats.h"

namespace quire::loadgen {
namespace {

namespace websocket = beast::websocket;
using protocol::MessageType;
using protocol::Protocol;
using protocol::SyncType;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16u << 10;
constexpr std::size_t kLargeReadChunk = 256u << 10;
constexpr std::size_t kLargeHeadBytes = 256;  // enough for a document name and the sync header

// What a fresh provider holds: no clients (the state vector) and no structs or deletions (the update).
const Bytes kEmptyStateVector = {0};
const Bytes kEmptyUpdate = {0, 0};

// The message type and sync sub-type at the start of a message too large to keep.
// Only a prefix is read (the rest was never stored), so src/protocol's decoder,
// which checks whole frames, cannot be used here.
struct LargeKind {
  MessageType type = MessageType::kStateless;
  SyncType sync = SyncType::kStep1;
};
LargeKind classify_prefix(Protocol protocol, ByteView head) {
  crdt::Reader r(head);
  if (protocol == Protocol::kHocuspocus) r.read_var_bytes();  // the document name
  LargeKind k;
  k.type = static_cast<MessageType>(r.read_var_uint());
  if (k.type == MessageType::kSync || k.type == MessageType::kSyncReply)
    k.sync = static_cast<SyncType>(r.read_var_uint());
  if (r.failed()) k.type = MessageType::kStateless;
  return k;
}

}  // namespace

Connection::Connection(asio::io_context& io, const ServerAddress& server, Protocol protocol, std::string doc,
                       ConnectionListener& listener)
    : ws_(io), server_(server), protocol_(protocol), doc_(std::move(doc)), listener_(listener) {}

void Connection::start() {
  state_ = State::kConnecting;
  started_ns_ = now_ns();
  asio::co_spawn(ws_.get_executor(), run(shared_from_this()), asio::detached);
}

asio::awaitable<void> Connection::run(std::shared_ptr<Connection> self) {
  auto& tcp_layer = beast::get_lowest_layer(ws_);
  tcp_layer.expires_after(std::chrono::seconds(30));
  if (auto [ec] = co_await tcp_layer.async_connect(server_.endpoint, kNoThrow); ec) {
    fail("connect: " + ec.message());
    co_return;
  }
  tcp_layer.expires_never();
  beast::error_code ignored;
  tcp_layer.socket().set_option(tcp::no_delay(true), ignored);
  ws_.set_option(websocket::stream_base::timeout{std::chrono::seconds(30), websocket::stream_base::none(), false});
  ws_.read_message_max(std::uint64_t{1} << 32);
  if (protocol_ == Protocol::kYWebsocket && !server_.token.empty()) {
    ws_.set_option(websocket::stream_base::decorator([token = server_.token](websocket::request_type& req) {
      req.set(beast::http::field::sec_websocket_protocol, "quire, quire.auth." + token);
    }));
  }
  const std::string path = protocol_ == Protocol::kHocuspocus ? "/ws" : "/ws/y/" + doc_;
  if (auto [ec] = co_await ws_.async_handshake(server_.host, path, kNoThrow); ec) {
    fail("handshake: " + ec.message());
    co_return;
  }
  ws_.binary(true);
  if (protocol_ == Protocol::kHocuspocus) {
    send(protocol::auth_token_frame(doc_, server_.token));  // SyncStep1 follows Authenticated
  } else {
    send(protocol::sync_frame(protocol_, doc_, SyncType::kStep1, kEmptyStateVector));
  }
  for (;;) {
    bool large = false;
    if (!co_await read_message(large)) break;
    const std::int64_t now = now_ns();
    ++counters_.frames_in;
    if (large) {
      handle_large(now);
    } else {
      counters_.bytes_in += buffer_.size();
      handle(ByteView(static_cast<const std::uint8_t*>(buffer_.data().data()), buffer_.size()), now);
    }
    if (state_ == State::kClosed) break;
  }
  (void)self;  // kept alive until the loop ends
}

asio::awaitable<bool> Connection::read_message(bool& large) {
  buffer_.clear();
  large_size_ = 0;
  do {
    auto [ec, n] = co_await ws_.async_read_some(buffer_, large ? kLargeReadChunk : kReadChunk, kNoThrow);
    if (ec) {
      if (ec == websocket::error::closed) {
        close_code_ = ws_.reason().code;
        fail("closed by the server: " + std::to_string(close_code_) + " " +
             std::string(ws_.reason().reason.data(), ws_.reason().reason.size()));
      } else {
        fail("read: " + ec.message());
      }
      co_return false;
    }
    if (!large && buffer_.size() > kMaxBuffered) {
      large = true;
      const auto* p = static_cast<const std::uint8_t*>(buffer_.data().data());
      large_head_.assign(p, p + std::min(buffer_.size(), kLargeHeadBytes));
    }
    if (large) {
      large_size_ += buffer_.size();
      buffer_.clear();
    }
  } while (!ws_.is_message_done());
  if (buffer_.capacity() > 4 * kReadChunk) buffer_.shrink_to_fit();
  co_return true;
}

void Connection::handle(ByteView frame, std::int64_t now) {
  auto f = protocol::decode_server_frame(protocol_, frame);
  if (!f.ok()) {
    ++counters_.undecodable;
    return;
  }
  switch (f->type) {
    case MessageType::kSync:
    case MessageType::kSyncReply:
      handle_sync(f->sync, now);
      return;
    case MessageType::kAwareness:
      listener_.on_awareness(*this, f->awareness, now);
      return;
    case MessageType::kAuth:
      if (f->auth == protocol::AuthType::kAuthenticated) {
        send(protocol::sync_frame(protocol_, doc_, SyncType::kStep1, kEmptyStateVector));
      } else {
        ++counters_.denied;
        fail("permission denied: " + std::string(f->text));
      }
      return;
    case MessageType::kSyncStatus: {
      if (acks_.empty()) {
        ++counters_.extra_acks;
        return;
      }
      const std::int64_t sent = acks_.front();
      acks_.pop_front();
      if (!f->applied) ++counters_.rejected;
      listener_.on_ack(*this, f->applied, sent, now);
      return;
    }
    case MessageType::kPing:
      send(protocol::pong_frame());
      return;
    default:
      return;  // Stateless, QueryAwareness, Close (the socket's close follows)
  }
}

void Connection::handle_sync(const protocol::SyncMessage& sync, std::int64_t now) {
  switch (sync.type) {
    case SyncType::kStep1:
      // What a provider answers: everything it has that the server lacks — nothing yet.
      send(protocol::sync_frame(protocol_, doc_, SyncType::kStep2, kEmptyUpdate));
      if (protocol_ == Protocol::kHocuspocus) acks_.push_back(0);
      return;
    case SyncType::kStep2:
      if (state_ != State::kSynced) {
        state_ = State::kSynced;
        synced_ns_ = now;
        sync_bytes_ = sync.payload.size();
        listener_.on_synced(*this, sync.payload);
        return;
      }
      listener_.on_update(*this, sync.payload, now);
      return;
    case SyncType::kUpdate:
      listener_.on_update(*this, sync.payload, now);
      return;
  }
}

void Connection::handle_large(std::int64_t now) {
  ++counters_.large;
  counters_.bytes_in += large_size_;
  const LargeKind kind = classify_prefix(protocol_, large_head_);
  const bool sync = kind.type == MessageType::kSync || kind.type == MessageType::kSyncReply;
  if (sync && kind.sync == SyncType::kStep2 && state_ != State::kSynced) {
    state_ = State::kSynced;
    synced_ns_ = now;
    sync_bytes_ = large_size_;
    listener_.on_synced(*this, {});
  }
}

void Connection::send_update(ByteView update, std::int64_t sent_ns) {
  if (protocol_ == Protocol::kHocuspocus) acks_.push_back(sent_ns);
  send(protocol::sync_frame(protocol_, doc_, SyncType::kUpdate, update));
}

void Connection::send_awareness(ByteView awareness_update) {
  send(protocol::awareness_frame(protocol_, doc_, awareness_update));
}

void Connection::send(Bytes frame) {
  if (state_ == State::kClosed) return;
  ++counters_.frames_out;
  counters_.bytes_out += frame.size();
  queue_.push_back(std::move(frame));
  if (!writing_) write_next();
}

void Connection::write_next() {
  writing_ = true;
  ws_.async_write(asio::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t /*n*/) {
    self->writing_ = false;
    self->queue_.pop_front();
    if (ec) {
      self->fail("write: " + ec.message());
      return;
    }
    if (!self->queue_.empty() && self->state_ != State::kClosed) self->write_next();
  });
}

void Connection::abort() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  error_ = "aborted";
  auto& socket = beast::get_lowest_layer(ws_).socket();
  beast::error_code ignored;
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
}

void Connection::fail(std::string why) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  error_ = std::move(why);
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
  listener_.on_closed(*this);
}

}  // namespace quire::loadgen
