// Api: the JSON HTTP API under /api (docs/api.md) — accounts (register, login,
// refresh, logout, me), workspaces, documents and their members — and the
// WebSocket authenticator that accepts the same access tokens and re-checks
// their sessions and document roles for open sockets.
//
// Every call touches argon2id or SQLite, so requests run on the Api's own
// worker pool, never on an I/O thread; `respond` is called from that pool.
// Access tokens travel only in `Authorization: Bearer`; the refresh token only
// in the `__Host-quire_rt` cookie, accepted only by the refresh and logout
// routes, behind the CSRF rules (POST, exact Origin, `X-Quire-CSRF: 1`,
// `Sec-Fetch-Site: same-origin` when present). Authorisation comes from the
// account store's roles, never from a token claim.
//
// Thread-safety: handle() and the authenticator may be called from any thread.
// Limitations: no pagination; workspaces grant no document roles yet.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "auth/service.h"
#include "cluster/bus.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/http_util.h"
#include "storage/account_store.h"

namespace quire::server {

class Api {
 public:
  // `store` is the Api's own connection (the AuthService has another).
  Api(auth::AuthService& auth, std::unique_ptr<storage::AccountStore> store, const ServerConfig& config,
      unsigned workers = 2);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Answers one /api request; `respond` runs on a worker thread.
  void handle(Request request, std::string remote, std::function<void(Response)> respond);
  // Access tokens for WebSocket documents: the token's user must have a role
  // on the document (viewer = read-only).
  std::unique_ptr<Authenticator> authenticator();
  // Revocations (logout, refresh reuse, password change, role changes,
  // deletions) are published on `bus`, so every node re-checks its sockets at
  // once. Call before serving.
  void set_bus(cluster::Bus& bus);
  // Records, on a worker, that `user` edited `document` (the list's "last
  // edited by"); failures are logged, never reported to the editor.
  void record_edit(std::string document, std::string user);
  // Stops the workers after the requests in flight.
  void stop();

 private:
  class TokenAuthenticator;
  Response route(const Request& req, const std::string& remote);
  void revoked(std::string_view kind, std::string_view subject);
  // Runs `f` with the Api's store connection, one thread at a time.
  template <class F>
  auto with_store(F&& f) {
    std::lock_guard lock(store_mu_);
    return f(*store_);
  }

  auth::AuthService& auth_;
  std::unique_ptr<storage::AccountStore> store_;
  std::mutex store_mu_;  // the store is one connection: one thread at a time
  const ServerConfig& config_;
  cluster::Bus* bus_ = nullptr;
  boost::asio::thread_pool workers_;
};

}  // namespace quire::server
