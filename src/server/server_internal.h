// What server.cc, http.cc and ws_session.cc share: the server's state and the
// entry points of the two kinds of connection. Private to the server module.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "protocol/messages.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/http_util.h"
#include "server/metrics.h"
#include "server/room_host.h"
#include "server/server.h"
#include "storage/commit_queue.h"

namespace quire::server {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;

class WsSession;
class Api;

struct Server::Impl {
  Impl(ServerConfig c, storage::Store& s, cluster::Bus& b, std::unique_ptr<Authenticator> a);

  ServerConfig config;
  storage::Store& store;
  cluster::Bus& bus;
  std::unique_ptr<Authenticator> auth;
  Api* api = nullptr;
  Metrics metrics;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  storage::CommitQueue queue;
  RoomHost rooms;
  std::atomic<bool> stopping{false};

  // Open WebSocket sessions, so shutdown can close them.
  std::mutex sessions_mu;
  std::map<std::uint64_t, std::weak_ptr<WsSession>> sessions;
  std::atomic<std::uint64_t> next_id{1};

  void accept();
  void shutdown();
};

// Reads HTTP requests on `socket` until it closes or upgrades to a WebSocket.
void serve_http(Server::Impl& server, tcp::socket socket);

// Takes over an upgraded connection. For y-websocket, `document` and
// `principal` come from the URL and the subprotocol token; Hocuspocus
// authenticates in-band per document.
void start_websocket(Server::Impl& server, beast::tcp_stream stream, Request request, protocol::Protocol protocol,
                     std::string document, std::optional<Principal> principal, bool offered_quire);

// Closes a session with 1001 (graceful shutdown). Thread-safe.
void shutdown_session(const std::shared_ptr<WsSession>& session);
// A revocation reached this node: the session re-checks, at once, every
// document whose principal it may concern. Thread-safe.
void revoke_session(const std::shared_ptr<WsSession>& session, const cluster::Revocation& revocation);

// ARCHITECTURE §5: document ids are [A-Za-z0-9_-]{1,128} and never paths.
bool valid_document_id(std::string_view id);

}  // namespace quire::server
