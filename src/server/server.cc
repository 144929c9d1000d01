// Server (server.h): the listener, the threads, and graceful shutdown.
#include "server/server.h"

#include <boost/asio/strand.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "base/log.h"
#include "server/api.h"
#include "server/server_internal.h"

namespace quire::server {

Server::Impl::Impl(ServerConfig c, storage::Store& s, cluster::Bus& b, std::unique_ptr<Authenticator> a)
    : config(std::move(c)),
      store(s),
      bus(b),
      auth(std::move(a)),
      acceptor(io),
      signals(io, SIGINT, SIGTERM),
      queue(
          s, 1024, [this](double seconds, std::size_t entries) { metrics.observe_commit(seconds, entries); },
          std::chrono::microseconds(config.commit_window_us)),
      rooms(io, queue, bus, config, metrics) {}

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping) return;
      log::warn("accept_failed", {{"error", ec.message()}});
    } else {
      socket.set_option(tcp::no_delay(true));
      serve_http(*this, std::move(socket));
    }
    if (!stopping) accept();
  });
}

void Server::Impl::shutdown() {
  if (stopping.exchange(true)) return;
  log::info("shutting_down");
  beast::error_code ignored;
  acceptor.close(ignored);
  signals.cancel(ignored);
  std::vector<std::shared_ptr<WsSession>> open;
  {
    std::lock_guard lock(sessions_mu);
    for (auto& [id, weak] : sessions) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  for (auto& s : open) shutdown_session(s);
  rooms.shutdown();
}

Server::Server(ServerConfig config, storage::Store& store, cluster::Bus& bus, std::unique_ptr<Authenticator> auth,
               Api* api)
    : impl_(std::make_unique<Impl>(std::move(config), store, bus, std::move(auth))) {
  impl_->api = api;
  // Logout, reuse, password changes and role changes on any node reach the
  // sockets on this one at once (the periodic re-check covers a lost message).
  bus.on_revocation([impl = impl_.get()](const cluster::Revocation& r) {
    impl->metrics.revocations_total++;
    std::vector<std::shared_ptr<WsSession>> open;
    {
      std::lock_guard lock(impl->sessions_mu);
      for (auto& [id, weak] : impl->sessions) {
        if (auto s = weak.lock()) open.push_back(std::move(s));
      }
    }
    for (auto& s : open) revoke_session(s, r);
  });
  if (api != nullptr) {
    impl_->rooms.set_edit_observer(
        [api](const storage::DocKey& doc, const std::string& user) { api->record_edit(doc.id, user); });
  }
}

Server::~Server() = default;

Status Server::listen() {
  beast::error_code ec;
  const auto address = asio::ip::make_address(impl_->config.host, ec);
  if (ec) return Error{"server", 1, "bad listen address '" + impl_->config.host + "': " + ec.message()};
  const tcp::endpoint endpoint(address, impl_->config.port);
  auto& acceptor = impl_->acceptor;
  if (acceptor.open(endpoint.protocol(), ec); ec) return Error{"server", 1, "socket: " + ec.message()};
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec); ec) {
    return Error{
        "server", 1,
        "cannot listen on " + impl_->config.host + ":" + std::to_string(impl_->config.port) + ": " + ec.message()};
  }
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return Error{"server", 1, "listen: " + ec.message()};
  }
  return {};
}

std::uint16_t Server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void Server::run() {
  Impl& s = *impl_;
  s.signals.async_wait([&s](beast::error_code ec, int signal) {
    if (ec) return;
    log::info("signal", {{"signal", signal}});
    s.shutdown();
  });
  s.accept();
  unsigned n = s.config.threads != 0 ? s.config.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  for (unsigned i = 1; i < n; ++i) threads.emplace_back([&s] { s.io.run(); });
  // The main thread runs the io_context too; once shutdown starts it also
  // watches for the sessions to finish closing (bounded), then stops.
  std::thread watchdog([&s] {
    while (!s.stopping) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(s.sessions_mu);
        if (s.sessions.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Let the log commit what it holds before the io_context goes away.
    s.queue.stop();
    s.io.stop();
  });
  s.io.run();
  for (auto& t : threads) t.join();
  watchdog.join();
  log::info("stopped");
}

void Server::stop() {
  asio::post(impl_->io, [this] { impl_->shutdown(); });
}

}  // namespace quire::server
