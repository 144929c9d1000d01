// Connection: one client WebSocket for one document, in either protocol, opened
// the way the real providers open it — Hocuspocus (GET /ws; Auth with the token,
// then SyncStep1) or y-websocket (GET /ws/y/DOC; the token, if any, offered as
// the subprotocol quire.auth.TOKEN next to quire; SyncStep1 at once). The
// server's SyncStep1 is answered with a SyncStep2 of an empty document, as a
// fresh provider does; the server's SyncStep2 makes the connection synced.
// After that, updates, acknowledgements (SyncStatus) and awareness go to the
// listener. Frames are built and read by src/protocol.
//
// Thread: the load generator's one io_context thread; every member runs there.
// Limitations: a connection keeps no document (a Typist does, typist.h); a
// message larger than kMaxBuffered is not kept — only its kind and size count
// (the 20 MB SyncStep2 of the join storm). No permessage-deflate.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "protocol/messages.h"

namespace quire::loadgen {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// Where the server is and what every connection presents.
struct ServerAddress {
  tcp::endpoint endpoint;
  std::string host;   // the Host header
  std::string token;  // empty: none (the peers run without authentication)
};

class Connection;

class ConnectionListener {
 public:
  virtual ~ConnectionListener() = default;
  // The handshake's SyncStep2 arrived; `state` is its update (empty when it was too large to keep).
  virtual void on_synced(Connection& /*c*/, ByteView /*state*/) {}
  // An Update, or a SyncStep2 after the handshake's.
  virtual void on_update(Connection& /*c*/, ByteView /*update*/, std::int64_t /*now*/) {}
  // A SyncStatus; `sent_ns` is when the acknowledged update was sent (0: the handshake's SyncStep2).
  virtual void on_ack(Connection& /*c*/, bool /*applied*/, std::int64_t /*sent_ns*/, std::int64_t /*now*/) {}
  virtual void on_awareness(Connection& /*c*/, ByteView /*update*/, std::int64_t /*now*/) {}
  virtual void on_closed(Connection& /*c*/) {}
};

struct ConnectionCounters {
  std::uint64_t frames_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t undecodable = 0;  // frames src/protocol refused
  std::uint64_t extra_acks = 0;   // a SyncStatus with nothing waiting for one
  std::uint64_t rejected = 0;     // SyncStatus 0
  std::uint64_t denied = 0;       // PermissionDenied
  std::uint64_t large = 0;        // messages over kMaxBuffered, counted but not kept
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class State : std::uint8_t { kNew, kConnecting, kSynced, kClosed };
  static constexpr std::size_t kMaxBuffered = 1u << 20;

  Connection(asio::io_context& io, const ServerAddress& server, protocol::Protocol protocol, std::string doc,
             ConnectionListener& listener);

  // Connects, authenticates and syncs, then reads until the socket closes.
  void start();
  // Sends an Update; a Hocuspocus server's SyncStatus for it reaches on_ack with `sent_ns`.
  void send_update(ByteView update, std::int64_t sent_ns);
  void send_awareness(ByteView awareness_update);
  // Ends the connection with a TCP reset: nothing is left in TIME_WAIT after a run
  // of 10,000 sockets.
  void abort();

  [[nodiscard]] State state() const { return state_; }
  [[nodiscard]] bool synced() const { return state_ == State::kSynced; }
  [[nodiscard]] bool settled() const { return state_ == State::kSynced || state_ == State::kClosed; }
  [[nodiscard]] const std::string& doc() const { return doc_; }
  [[nodiscard]] protocol::Protocol protocol() const { return protocol_; }
  [[nodiscard]] std::int64_t started_ns() const { return started_ns_; }
  [[nodiscard]] std::int64_t synced_ns() const { return synced_ns_; }
  [[nodiscard]] std::uint64_t sync_bytes() const { return sync_bytes_; }  // the handshake SyncStep2's update
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] int close_code() const { return close_code_; }
  [[nodiscard]] std::size_t acks_waiting() const { return acks_.size(); }
  [[nodiscard]] const ConnectionCounters& counters() const { return counters_; }

  std::size_t tag = 0;  // the scenario's index for this connection

 private:
  asio::awaitable<void> run(std::shared_ptr<Connection> self);
  // One whole message into buffer_; a message over kMaxBuffered is drained and
  // only its first bytes kept in large_head_. False once the socket is closed.
  asio::awaitable<bool> read_message(bool& large);
  void handle(ByteView frame, std::int64_t now);
  void handle_large(std::int64_t now);
  void handle_sync(const protocol::SyncMessage& sync, std::int64_t now);
  void send(Bytes frame);
  void write_next();
  void fail(std::string why);

  beast::websocket::stream<beast::tcp_stream> ws_;
  const ServerAddress& server_;
  protocol::Protocol protocol_;
  std::string doc_;
  ConnectionListener& listener_;
  State state_ = State::kNew;
  beast::flat_buffer buffer_;
  Bytes large_head_;
  std::uint64_t large_size_ = 0;
  std::deque<Bytes> queue_;
  bool writing_ = false;
  std::deque<std::int64_t> acks_;  // send times of what awaits a SyncStatus, in order
  std::int64_t started_ns_ = 0;
  std::int64_t synced_ns_ = 0;
  std::uint64_t sync_bytes_ = 0;
  std::string error_;
  int close_code_ = 0;
  ConnectionCounters counters_;
};

}  // namespace quire::loadgen
