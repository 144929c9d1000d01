// PgTestServer: a throwaway PostgreSQL for tests, started by
// scripts/pg-test-server.sh (initdb into a temporary directory, 127.0.0.1, a
// free port, fsync on) and destroyed with its data when the object goes —
// or, if the test process crashes, by the script's watcher. Tests that need
// fresh storage ask for a new database (create_database) rather than a new
// server. Fault tests stop it like a crash and start it again on the port.
//
// Thread-safety: one owner thread; url() may be read from any thread.
// Limitations: test support only (link quire_pg_test_server); the script path
// is compiled in (QUIRE_PG_TEST_SERVER_SCRIPT, overridden by the environment
// variable of that name). As root the server runs as `nobody`.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace quire::storage::testing {

class PgTestServer {
 public:
  // kIo with the script's output if PostgreSQL could not be started.
  static Result<std::unique_ptr<PgTestServer>> start();
  ~PgTestServer();  // stops the server and deletes its directory
  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  // postgresql://postgres@127.0.0.1:PORT/DATABASE, plus `?query` if given.
  [[nodiscard]] std::string url(std::string_view database = "postgres", std::string_view query = "") const;
  // A new empty database ("t1", "t2", ...); returns its URL.
  Result<std::string> create_database(std::string_view query = "");
  // A new empty schema ("s1", "s2", ...) in one shared database, and a URL
  // whose sessions use it (search_path): fresh storage for a test at the cost
  // of a few catalog rows, where a database copies megabytes.
  Result<std::string> create_schema();

  // Immediate stop, as in a crash: clients see their connections drop (after
  // a CHECKPOINT, so that the restart's recovery is short).
  Status stop();
  // Starts again on the same port with the same data (crash recovery runs).
  Status resume();

 private:
  PgTestServer(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}
  std::string dir_;
  int port_;
  int databases_ = 0;
  int schemas_ = 0;
};

}  // namespace quire::storage::testing
