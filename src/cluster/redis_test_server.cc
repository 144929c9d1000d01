// RedisTestServer (redis_test_server.h).
#include "cluster/redis_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace quire::cluster::testing {
namespace {

// A port that was free a moment ago (the kernel's choice for port 0).
int pick_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string find_redis_server() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
    std::string path = std::string(dir) + "/redis-server";
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

}  // namespace

RedisTestServer::RedisTestServer(bool start_now) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "quire-redis-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  redis_server_ = find_redis_server();
  if (redis_server_.empty()) {
    error_ = "redis-server not found: run scripts/install-deps.sh";
    return;
  }
  port_ = pick_port();
  if (start_now) start(true);
}

RedisTestServer::~RedisTestServer() {
  kill();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

RedisConfig RedisTestServer::config(std::string node_id) const {
  RedisConfig config;
  config.host = "127.0.0.1";
  config.port = port_;
  config.node_id = std::move(node_id);
  return config;
}

bool RedisTestServer::start(bool may_move) {
  if (redis_server_.empty() || dir_.empty()) return false;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (spawn() && wait_ready()) return true;
    kill();
    if (!may_move) break;
    port_ = pick_port();  // someone else took it between pick and bind
  }
  if (error_.empty()) error_ = "redis-server did not start on port " + std::to_string(port_);
  return false;
}

bool RedisTestServer::spawn() {
  const std::string port = std::to_string(port_);
  const std::string log = dir_ + "/redis.log";
  std::vector<std::string> args = {redis_server_,
                                   "--port",
                                   port,
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_,
                                   "--logfile",
                                   log,
                                   "--daemonize",
                                   "no",
                                   "--stream-node-max-entries",
                                   "4"};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    error_ = "fork failed";
    return false;
  }
  if (pid == 0) {
    // The child: dies with the test, and starts with no signal blocked.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  return true;
}

bool RedisTestServer::wait_ready() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;  // exited: most likely the port was taken
    }
    auto pong = command({"PING"});
    if (pong && reply_text(pong->get()) == "PONG") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void RedisTestServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool RedisTestServer::wait_exit() {
  if (pid_ <= 0) return true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

Result<Reply> RedisTestServer::command(const std::vector<std::string_view>& args) const {
  RedisConnection connection;
  RedisConfig cfg = config("test");
  cfg.connect_timeout = std::chrono::milliseconds(500);
  if (Status connected = connection.connect(cfg, std::chrono::seconds(5), "quire-test"); !connected) {
    return connected.error();
  }
  return connection.command(args);
}

}  // namespace quire::cluster::testing
