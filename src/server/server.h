// Server: `quire serve` — one listener for HTTP and WebSocket (Beast), the
// rooms, the store's commit queue, metrics and graceful shutdown.
// Routes: docs/operations.md. Threading (ARCHITECTURE §4): one io_context on N
// threads; each connection and each room has a strand; storage runs on the
// commit queue's own thread, never on an I/O thread.
//
// Thread-safety: construct, run() and stop() from the main thread; stop() may
// also be called from a signal handler's completion on the io_context.
// Limitations: plain HTTP/WS (TLS is terminated by the proxy in front).
#pragma once

#include <memory>

#include "base/result.h"
#include "cluster/bus.h"
#include "server/auth.h"
#include "server/config.h"
#include "storage/store.h"

namespace quire::server {

class Server {
 public:
  // `api` (optional, not owned) answers /api/*; without it those routes are 404.
  // `bus` (not owned, started by the caller) links the node to the others of a
  // cluster (config.clustered) and carries revocations.
  Server(ServerConfig config, storage::Store& store, cluster::Bus& bus, std::unique_ptr<Authenticator> auth,
         class Api* api = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listener (port 0 picks a free one). Errors: address in use, etc.
  Status listen();
  [[nodiscard]] std::uint16_t port() const;
  // Serves until stop() or SIGTERM/SIGINT; then closes every socket with 1001,
  // lets the log commit what it holds, and returns.
  void run();
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace quire::server
