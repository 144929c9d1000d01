// quire-loadgen: thousands of Yjs clients from one process against a
// collaboration server (Quire, Hocuspocus, the y-websocket server), speaking
// either protocol with real updates from Quire's engine. One scenario per
// invocation; figures as one JSON object (--out FILE or stdout), progress on
// stderr. Exit status: 0 done, 1 a check failed (the smoke scenario's
// assertions, the engine refusing an edit, the deadline), 2 bad usage.
//
//   quire-loadgen SCENARIO --url ws://127.0.0.1:PORT [--protocol hocuspocus|y-websocket|mixed]
//                 [--token T] [--server-pid PID] [--out FILE] [--label NAME] [--PARAM VALUE]...
//
// Threads: one — an io_context on the main thread runs every connection and
// the scenario's coroutine. Limitations: IPv4/IPv6 literal hosts only (no DNS);
// ws:// only.
#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <iostream>

#include "loadgen/scenarios.h"

namespace quire::loadgen {

#ifndef QUIRE_SHARED_DIR
#define QUIRE_SHARED_DIR "../shared"
#endif

// Parameters every scenario takes.
const std::vector<Param> kCommon = {
    {"url", "", "ws://HOST:PORT of the server (required)"},
    {"protocol", "hocuspocus", "hocuspocus | y-websocket | mixed (alternate per connection)"},
    {"token", "", "the token every connection presents (Quire: a --dev-auth token)"},
    {"server-pid", "0", "the server's process id, for CPU and memory from /proc (0: not measured)"},
    {"out", "", "write the JSON report here (default stdout)"},
    {"label", "", "a name for the server in the report"},
    {"seed", "1", "seeds typists, client ids and pacing"},
    {"deadline", "600", "seconds before the run gives up (exit 1)"},
    {"connect-concurrency", "256", "connections being opened at once"},
    {"connect-timeout", "60", "seconds to open a set of connections"},
};

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> kScenarios = {
      {"typing",
       "1. one writer typing at full speed: W updates in flight, each counted done when every observer has it",
       {{"observers", "1", "other clients of the document"},
        {"window", "16", "updates in flight"},
        {"warmup", "1", "seconds before measuring"},
        {"seconds", "8", "seconds measured"},
        {"drain", "5", "seconds to wait for the last receipts"}},
       run_typing},
      {"writers",
       "2. writers typing on one document, each receiving everyone else's updates",
       {{"writers", "200", "typists on the document"},
        {"rate", "2", "updates per second per writer"},
        {"warmup", "2", "seconds before measuring"},
        {"seconds", "8", "seconds measured"},
        {"drain", "5", "seconds to wait for the last receipts"}},
       run_writers},
      {"fanout",
       "3. one writer, many observers of one document",
       {{"observers", "1500", "observers"},
        {"rate", "20", "updates per second"},
        {"warmup", "2", "seconds before measuring"},
        {"seconds", "8", "seconds measured"},
        {"drain", "5", "seconds to wait for the last receipts"}},
       run_fanout},
      {"awareness",
       "4. clients moving their cursor (an awareness update) once a second",
       {{"clients", "5000", "clients"},
        {"per-doc", "10", "clients per document"},
        {"rate", "1", "awareness updates per second per client"},
        {"settle", "2", "seconds between connecting and the first move"},
        {"warmup", "3", "seconds before measuring"},
        {"seconds", "10", "seconds measured"},
        {"drain", "10", "seconds to wait for late receipts of the measured moves"}},
       run_awareness},
      {"join-storm",
       "5. joiners connecting at once to a large document: time to synced, the server's peak memory",
       {{"joiners", "150", "clients joining at once"},
        {"doc-mb", "20", "document size, MB of text"},
        {"chunk-kb", "256", "the seeder's paste size (KiB per update)"},
        {"settle", "3", "seconds between seeding and the storm"},
        {"seed-timeout", "120", "seconds to seed the document"},
        {"timeout", "120", "seconds for every joiner to sync"}},
       run_join_storm},
      {"idle",
       "6. idle connections on many documents: the server's resident memory",
       {{"connections", "10000", "connections"},
        {"docs", "1000", "documents (connections spread round-robin)"},
        {"settle", "3", "seconds after the last connection before measuring"},
        {"hold", "5", "seconds measured (CPU while idle)"}},
       run_idle},
      {"doc-memory",
       "7. resident memory per loaded document relative to its encoded size (the traces' final states)",
       {{"traces",
         "automerge-paper,seph-blog1,friendsforever_flat,clownschool_flat,friendsforever,clownschool,node_nodecc,"
         "git-makefile",
         "traces (TRACE.yjs.bin in --trace-dir)"},
        {"trace-dir", QUIRE_SHARED_DIR "/traces/yjs", "where the traces are"},
        {"copies", "10", "documents per trace"},
        {"settle", "2", "seconds before each reading"}},
       run_doc_memory},
      {"docs",
       "8. typing clients on many documents, the offered rate rising step by step",
       {{"clients", "100", "typing clients"},
        {"docs-per-client", "10", "documents each client types into (one socket each)"},
        {"observers", "1", "other clients of each document"},
        {"rates", "250,500,1000,2000,4000,8000,16000", "offered total updates per second, one step each"},
        {"settle", "2", "seconds between connecting and the first step"},
        {"warmup", "1", "seconds of each step before measuring"},
        {"seconds", "6", "seconds measured per step"},
        {"drain", "3", "seconds to wait for the last receipts after a step"},
        {"min-achieved", "0.8", "stop after a step completing less than this share of the offered rate"},
        {"max-p99-ms", "2000", "stop after a step with a p99 above this"}},
       run_docs},
      {"smoke",
       "a few clients typing on one document for a few seconds; asserts that every update reached every "
       "other client and was acknowledged (Hocuspocus), and that a fresh client gets every character",
       {{"clients", "8", "typists (with --protocol mixed, half speak each protocol)"},
        {"rate", "10", "updates per second per client"},
        {"seconds", "3", "seconds of typing"},
        {"drain", "10", "seconds to wait for the last receipts"}},
       run_smoke},
  };
  return kScenarios;
}

namespace {

int usage(const std::string& message) {
  if (!message.empty()) std::fprintf(stderr, "quire-loadgen: %s\n", message.c_str());
  std::fprintf(stderr, "usage: quire-loadgen SCENARIO --url ws://HOST:PORT [--PARAM VALUE]...\n\ncommon:\n");
  for (const Param& p : kCommon) {
    std::fprintf(stderr, "  --%-20s %s (%s)\n", std::string(p.key).c_str(), std::string(p.help).c_str(),
                 p.value.empty() ? "none" : std::string(p.value).c_str());
  }
  for (const Scenario& s : scenarios()) {
    std::fprintf(stderr, "\n%s — %s\n", std::string(s.name).c_str(), std::string(s.summary).c_str());
    for (const Param& p : s.params) {
      std::fprintf(stderr, "  --%-20s %s (%s)\n", std::string(p.key).c_str(), std::string(p.help).c_str(),
                   std::string(p.value).c_str());
    }
  }
  return 2;
}

// ws://HOST:PORT → an endpoint (literal addresses only).
bool parse_url(const std::string& url, ServerAddress& out) {
  constexpr std::string_view kScheme = "ws://";
  if (!url.starts_with(kScheme)) return false;
  std::string rest = url.substr(kScheme.size());
  if (const std::size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = rest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  const long port = std::strtol(rest.c_str() + colon + 1, nullptr, 10);
  if (ec || port <= 0 || port > 65535) return false;
  out.endpoint = tcp::endpoint(address, static_cast<unsigned short>(port));
  out.host = rest;
  return true;
}

// Thousands of sockets need more descriptors than the usual soft limit of 1024.
void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

std::uint64_t fd_limit() {
  rlimit r{};
  return getrlimit(RLIMIT_NOFILE, &r) == 0 ? r.rlim_cur : 0;
}

int run_main(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h") return usage("");
  const Scenario* scenario = nullptr;
  for (const Scenario& s : scenarios()) {
    if (s.name == argv[1]) scenario = &s;
  }
  if (scenario == nullptr) return usage(std::string("unknown scenario '") + argv[1] + "'");

  std::map<std::string, std::string, std::less<>> values;
  for (const auto* list : {&kCommon, &scenario->params}) {
    for (const Param& p : *list) values[std::string(p.key)] = p.value;
  }
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    if (!a.starts_with("--")) return usage("unexpected argument '" + std::string(a) + "'");
    auto it = values.find(a.substr(2));
    if (it == values.end()) return usage("unknown option '" + std::string(a) + "' for " + std::string(scenario->name));
    if (i + 1 >= argc) return usage(std::string(a) + " needs a value");
    it->second = argv[++i];
  }

  ServerAddress server;
  if (!parse_url(values["url"], server)) return usage("--url must be ws://HOST:PORT with a literal address");
  server.token = values["token"];
  std::vector<protocol::Protocol> protocols;
  const std::string& p = values["protocol"];
  if (p == "hocuspocus") {
    protocols = {protocol::Protocol::kHocuspocus};
  } else if (p == "y-websocket") {
    protocols = {protocol::Protocol::kYWebsocket};
  } else if (p == "mixed") {
    protocols = {protocol::Protocol::kHocuspocus, protocol::Protocol::kYWebsocket};
  } else {
    return usage("--protocol is hocuspocus, y-websocket or mixed");
  }
  raise_fd_limit();

  asio::io_context io(1);
  const int server_pid = static_cast<int>(std::strtol(values["server-pid"].c_str(), nullptr, 10));
  const auto seed = std::strtoull(values["seed"].c_str(), nullptr, 10);
  Run run(io, server, protocols, server_pid, seed, values);

  json::object params;
  for (const auto& [k, v] : values) {
    if (k != "out") params[k] = v;
  }
  const std::time_t started_at = std::time(nullptr);
  const ProcSample server_start = run.server_now();
  const std::int64_t t0 = now_ns();
  std::fprintf(stderr, "[loadgen] %s against %s (%s)\n", std::string(scenario->name).c_str(), values["url"].c_str(),
               run.protocol_name().c_str());

  bool finished = false;
  asio::co_spawn(io, scenario->run(run), [&](std::exception_ptr e) {
    finished = true;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        run.failures.push_back(std::string("the scenario stopped: ") + ex.what());
      }
    }
    io.stop();
  });
  asio::steady_timer deadline(io);
  deadline.expires_after(std::chrono::seconds(std::strtol(values["deadline"].c_str(), nullptr, 10)));
  deadline.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    run.failures.push_back("deadline: the run took longer than --deadline seconds");
    io.stop();
  });
  io.run();
  if (!finished && run.failures.empty()) run.failures.push_back("the scenario did not finish");
  run.abort_all();

  json::array failures;
  for (const std::string& f : run.failures) failures.emplace_back(f);
  const ProcSample self = read_self();
  const ProcSample server_end = run.server_now();
  json::object report{{"scenario", scenario->name},
                      {"label", values["label"]},
                      {"protocol", run.protocol_name()},
                      {"params", std::move(params)},
                      {"started_at", static_cast<std::int64_t>(started_at)},
                      {"seconds", std::round(static_cast<double>(now_ns() - t0) / 1e6) / 1e3},
                      {"fd_limit", fd_limit()},
                      {"results", std::move(run.results)},
                      {"generator", json::object{{"cpu_seconds", self.cpu_seconds}, {"peak_rss", self.hwm}}},
                      {"ok", run.failures.empty()},
                      {"failures", std::move(failures)}};
  if (run.measures_server()) {
    report["server"] = json::object{{"pid", server_pid},
                                    {"cpu_seconds", server_end.cpu_seconds - server_start.cpu_seconds},
                                    {"rss_start", server_start.rss},
                                    {"rss_end", server_end.rss},
                                    {"hwm", server_end.hwm},
                                    {"threads", server_end.threads}};
  }
  const std::string text = json::serialize(report) + "\n";
  if (values["out"].empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::ofstream out(values["out"]);
    out << text;
    if (!out) {
      std::fprintf(stderr, "quire-loadgen: cannot write %s\n", values["out"].c_str());
      return 1;
    }
  }
  for (const std::string& f : run.failures) std::fprintf(stderr, "[loadgen] FAILED: %s\n", f.c_str());
  return run.failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace quire::loadgen

int main(int argc, char** argv) {
  return quire::loadgen::run_main(argc, argv);
}
