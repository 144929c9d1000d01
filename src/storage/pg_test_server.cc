// PgTestServer (pg_test_server.h): a thin wrapper over scripts/pg-test-server.sh.
#include "storage/pg_test_server.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "storage/pg_connection.h"

namespace quire::storage::testing {
namespace {

std::string script() {
  if (const char* path = std::getenv("QUIRE_PG_TEST_SERVER_SCRIPT"); path && *path) return path;
  return QUIRE_PG_TEST_SERVER_SCRIPT;
}

// Runs the script with `args` (no quoting needed: paths and numbers we made);
// its exit status and everything it printed.
std::pair<int, std::string> run_script(const std::string& args) {
  std::string command = "'";  // built by appending: GCC 12 misreads "literal" + std::string (-Wrestrict)
  command += script();
  command += "' ";
  command += args;
  command += " 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) output.append(buf, n);
  return {pclose(pipe), output};
}

// The value of `key=` in a line of key=value words.
std::string field(const std::string& line, const std::string& key) {
  const std::size_t at = line.find(key + "=");
  if (at == std::string::npos) return {};
  const std::size_t from = at + key.size() + 1;
  return line.substr(from, line.find_first_of(" \n", from) - from);
}

Error failure(const std::string& what, const std::string& output) {
  return Error{kDomain, kIo, "pg-test-server " + what + ": " + output};
}

}  // namespace

Result<std::unique_ptr<PgTestServer>> PgTestServer::start() {
  auto [status, output] = run_script("start --owner " + std::to_string(getpid()));
  const std::string line = output.substr(output.rfind("dir=") == std::string::npos ? 0 : output.rfind("dir="));
  const std::string dir = field(line, "dir");
  const int port = std::atoi(field(line, "port").c_str());
  if (status != 0 || dir.empty() || port <= 0) return failure("start", output);
  return std::unique_ptr<PgTestServer>(new PgTestServer(dir, port));  // NOLINT: private constructor
}

PgTestServer::~PgTestServer() {
  (void)run_script("destroy " + dir_);
}

std::string PgTestServer::url(std::string_view database, std::string_view query) const {
  std::string out = "postgresql://postgres@127.0.0.1:";
  out += std::to_string(port_);
  out += "/";
  out += database;
  if (!query.empty()) {
    out += "?";
    out += query;
  }
  return out;
}

Result<std::string> PgTestServer::create_database(std::string_view query) {
  auto conn = PgConnection::connect(url(), PgOptions{});
  if (!conn) return conn.error();
  std::string name = "t";
  name += std::to_string(++databases_);
  if (Status s = (*conn)->exec_script("create database", "CREATE DATABASE " + name); !s) return s.error();
  return url(name, query);
}

Result<std::string> PgTestServer::create_schema() {
  constexpr std::string_view kShared = "schemas";
  if (schemas_ == 0) {
    auto conn = PgConnection::connect(url(), PgOptions{});
    if (!conn) return conn.error();
    if (Status s = (*conn)->exec_script("create database", "CREATE DATABASE " + std::string(kShared)); !s) {
      return s.error();
    }
  }
  auto conn = PgConnection::connect(url(kShared), PgOptions{});
  if (!conn) return conn.error();
  std::string name = "s";
  name += std::to_string(++schemas_);
  if (Status s = (*conn)->exec_script("create schema", "CREATE SCHEMA " + name); !s) return s.error();
  return url(kShared, "options=-c%20search_path%3D" + name);
}

Status PgTestServer::stop() {
  // A checkpoint first bounds the crash recovery that resume() then runs
  // (fsync on and many test databases make it slow); the stop is still
  // immediate, and what is not checkpointed is recovered from the WAL.
  if (auto conn = PgConnection::connect(url(), PgOptions{}); conn) {
    (void)(*conn)->exec("checkpoint", "CHECKPOINT");
  }
  auto [status, output] = run_script("stop " + dir_);
  if (status != 0) return failure("stop", output);
  return {};
}

Status PgTestServer::resume() {
  auto [status, output] = run_script("resume " + dir_);
  if (status != 0) return failure("resume", output);
  return {};
}

}  // namespace quire::storage::testing
