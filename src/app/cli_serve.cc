// `quire serve`: configuration from defaults, an optional file, the
// environment and flags (later wins), then the server on the embedded store
// (SQLite in the data directory). Every setting: docs/operations.md.
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>

#include "app/cli.h"
#include "auth/crypto.h"
#include "auth/keys.h"
#include "auth/service.h"
#include "base/log.h"
#include "cluster/local_bus.h"
#include "cluster/redis_bus.h"
#include "server/api.h"
#include "server/server.h"
#include "storage/pg_account_store.h"
#include "storage/pg_store.h"
#include "storage/sqlite_account_store.h"
#include "storage/sqlite_store.h"

namespace quire::app {
namespace {

struct Settings {
  server::ServerConfig config;
  std::string dev_auth;
  std::string issuer = "quire";
  std::chrono::seconds access_ttl{600};
  std::chrono::seconds token_leeway{60};
  std::string log_level = "info";
  bool log_json = false;
  // Cluster mode: both set (ARCHITECTURE §2.3, docs/deploy.md).
  std::string redis_url;
  std::string postgres_url;
  std::string postgres_replica_url;
  std::string node_id;
  std::string keys_dir;  // default DATA_DIR/keys; every node of a cluster needs the same keys
  int pg_partitions = 0;
  std::size_t redis_maxlen = 10000;
};

bool parse_u64(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  out = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

bool parse_bool(const std::string& s, bool& out) {
  if (s == "1" || s == "true" || s == "yes" || s == "on") return out = true, true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return out = false, true;
  return false;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = std::min(s.find(',', start), s.size());
    std::string item = s.substr(start, comma - start);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

struct Option {
  const char* name;  // flag without "--"; the file key; QUIRE_<NAME> in the environment
  const char* help;
  std::function<bool(Settings&, const std::string&)> set;
  bool is_flag = false;  // takes no value on the command line
};

template <class T>
std::function<bool(Settings&, const std::string&)> number(T server::ServerConfig::*field) {
  return [field](Settings& s, const std::string& v) {
    std::uint64_t n;
    if (!parse_u64(v, n)) return false;
    s.config.*field = static_cast<T>(n);
    return true;
  };
}

template <class T>
std::function<bool(Settings&, const std::string&)> room_number(T room::RoomLimits::*field) {
  return [field](Settings& s, const std::string& v) {
    std::uint64_t n;
    if (!parse_u64(v, n)) return false;
    s.config.room.*field = static_cast<T>(n);
    return true;
  };
}

std::function<bool(Settings&, const std::string&)> seconds_between(std::chrono::seconds Settings::*field,
                                                                   std::uint64_t min, std::uint64_t max) {
  return [field, min, max](Settings& s, const std::string& v) {
    std::uint64_t n;
    if (!parse_u64(v, n) || n < min || n > max) return false;
    s.*field = std::chrono::seconds(n);
    return true;
  };
}

const std::vector<Option>& options() {
  static const std::vector<Option> kOptions = {
      {"listen", "HOST:PORT to listen on (default 127.0.0.1:8080; port 0 picks one)",
       [](Settings& s, const std::string& v) {
         const std::size_t colon = v.rfind(':');
         std::uint64_t port;
         if (colon == std::string::npos || !parse_u64(v.substr(colon + 1), port) || port > 65535) return false;
         s.config.host = v.substr(0, colon);
         if (s.config.host.size() > 2 && s.config.host.front() == '[') {
           s.config.host = s.config.host.substr(1, s.config.host.size() - 2);
         }
         s.config.port = static_cast<std::uint16_t>(port);
         return !s.config.host.empty();
       }},
      {"data-dir", "directory for quire.db (created if missing; default ./data)",
       [](Settings& s, const std::string& v) { return !(s.config.data_dir = v).empty(); }},
      {"static-dir", "serve the web app's files from this directory",
       [](Settings& s, const std::string& v) { return !(s.config.static_dir = v).empty(); }},
      {"allowed-origins", "comma-separated exact origins allowed to open WebSockets (default: same host)",
       [](Settings& s, const std::string& v) { return !(s.config.allowed_origins = split_list(v)).empty(); }},
      {"issuer", "the access tokens' iss and aud (default quire; the same on every node)",
       [](Settings& s, const std::string& v) { return !(s.issuer = v).empty(); }},
      {"redis", "redis://[[user]:password@]host[:port][/db]: join a cluster (with --postgres)",
       [](Settings& s, const std::string& v) { return !(s.redis_url = v).empty(); }},
      {"postgres", "postgresql://… : keep documents and accounts in PostgreSQL instead of SQLite",
       [](Settings& s, const std::string& v) { return !(s.postgres_url = v).empty(); }},
      {"postgres-replica", "postgresql://… : a read replica for document lists and member lists",
       [](Settings& s, const std::string& v) { return !(s.postgres_replica_url = v).empty(); }},
      {"postgres-partitions", "a fresh PostgreSQL database: hash-partition the log by workspace into N (0: none)",
       [](Settings& s, const std::string& v) {
         std::uint64_t n;
         if (!parse_u64(v, n) || n > 1024) return false;
         s.pg_partitions = static_cast<int>(n);
         return true;
       }},
      {"redis-maxlen", "cluster: entries kept per document stream (XADD MAXLEN ~; 10000)",
       [](Settings& s, const std::string& v) {
         std::uint64_t n;
         if (!parse_u64(v, n) || n < 1) return false;
         s.redis_maxlen = n;
         return true;
       }},
      {"node-id", "this node's name in the cluster (default: host-pid-random)",
       [](Settings& s, const std::string& v) { return !(s.node_id = v).empty(); }},
      {"keys-dir", "the token signing keys (default DATA_DIR/keys; shared by every node of a cluster)",
       [](Settings& s, const std::string& v) { return !(s.keys_dir = v).empty(); }},
      {"catch-up-window-ms", "cluster: how far back a document's stream is read when it opens (30000)",
       number(&server::ServerConfig::catch_up_window_ms)},
      {"dev-auth", "development tokens [name:]TOKEN=rw|ro,... instead of accounts (loopback listeners only)",
       [](Settings& s, const std::string& v) { return !(s.dev_auth = v).empty(); }},
      {"threads", "I/O threads (default: one per core)", number(&server::ServerConfig::threads)},
      {"hsts", "send Strict-Transport-Security (behind a TLS proxy)",
       [](Settings& s, const std::string& v) { return parse_bool(v, s.config.hsts); }, true},
      {"behind-tls-proxy",
       "reached only through a TLS proxy: require X-Forwarded-Proto: https (needed to listen off loopback)",
       [](Settings& s, const std::string& v) { return parse_bool(v, s.config.behind_tls_proxy); }, true},
      {"max-message-bytes", "largest inbound WebSocket message (1 MiB; close 1009)",
       number(&server::ServerConfig::max_message_bytes)},
      {"send-queue-bytes", "per-connection send queue before close 1013 (8 MiB)",
       number(&server::ServerConfig::send_queue_bytes)},
      {"commit-window-us", "under load, a commit waits up to this for more appends (1000; 0: never)",
       number(&server::ServerConfig::commit_window_us)},
      {"rate-messages", "messages per second per connection, sustained (20)",
       number(&server::ServerConfig::rate_messages_per_second)},
      {"rate-burst", "messages per connection at once (100)", number(&server::ServerConfig::rate_burst)},
      {"auth-timeout-ms", "time to authenticate after connecting (5000; close 4401)",
       number(&server::ServerConfig::auth_timeout_ms)},
      {"recheck-ms", "re-check open sockets' sessions and document roles this often (5000)",
       number(&server::ServerConfig::recheck_ms)},
      {"access-ttl-seconds", "lifetime of an access token (600; 1 to 900, below 60 for tests only)",
       seconds_between(&Settings::access_ttl, 1, 900)},
      {"token-leeway-seconds", "clock skew allowed on an access token's expiry (60; 0 to 60)",
       seconds_between(&Settings::token_leeway, 0, 60)},
      {"idle-timeout-ms", "close a silent connection after (60000; close 4408)",
       number(&server::ServerConfig::idle_timeout_ms)},
      {"ping-interval-ms", "WebSocket ping interval (25000)", number(&server::ServerConfig::ping_interval_ms)},
      {"unload-after-ms", "unload a document this long after its last client left (30000)",
       number(&server::ServerConfig::unload_after_ms)},
      {"max-document-bytes", "refuse updates beyond this document size (16 MiB; close 4413)",
       room_number(&room::RoomLimits::max_document_bytes)},
      {"compact-updates", "compact after this many updates (1000)",
       room_number(&room::RoomLimits::compact_after_updates)},
      {"compact-bytes", "compact after this many bytes of log (4 MiB)",
       room_number(&room::RoomLimits::compact_after_bytes)},
      {"read-only-awareness", "let read-only connections publish cursors (true)",
       [](Settings& s, const std::string& v) { return parse_bool(v, s.config.room.read_only_awareness); }},
      {"log-level", "debug | info | warn | error (info)",
       [](Settings& s, const std::string& v) {
         log::Level l;
         s.log_level = v;
         return log::parse_level(v, l);
       }},
      {"log-json", "one JSON object per log line",
       [](Settings& s, const std::string& v) { return parse_bool(v, s.log_json); }, true},
  };
  return kOptions;
}

const Option* find_option(std::string_view name) {
  for (const Option& o : options()) {
    if (name == o.name) return &o;
  }
  return nullptr;
}

std::string env_name(const char* name) {
  std::string e = "QUIRE_";
  for (const char* p = name; *p; ++p) e += *p == '-' ? '_' : static_cast<char>(std::toupper(*p));
  return e;
}

// `key = value` lines; '#' starts a comment.
int read_config_file(const std::string& path, Settings& s) {
  std::ifstream in(path);
  if (!in) return fail("cannot read config file " + path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (const std::size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    auto trim = [](std::string t) {
      while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
      std::size_t i = 0;
      while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
      return t.substr(i);
    };
    line = trim(line);
    if (line.empty()) continue;
    const std::size_t eq = line.find('=');
    const std::string key = trim(line.substr(0, eq));
    const Option* o = find_option(key);
    if (eq == std::string::npos || o == nullptr)
      return usage(path + ":" + std::to_string(n) + ": unknown setting '" + key + "'");
    if (!o->set(s, trim(line.substr(eq + 1)))) return usage(path + ":" + std::to_string(n) + ": bad value for " + key);
  }
  return -1;
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.starts_with("127.");
}

void print_serve_usage() {
  std::printf("usage: quire serve [--config FILE] [--OPTION VALUE]...\n\n");
  std::printf("Every option can also be set as QUIRE_<OPTION> in the environment or as\n");
  std::printf("'option = value' in the config file (flags win over the environment, which wins over the file).\n\n");
  for (const Option& o : options()) std::printf("  --%-22s %s\n", o.name, o.help);
}

}  // namespace

int run_serve(const std::vector<std::string>& args) {
  Settings s;
  // The file first (its path from --config or QUIRE_CONFIG), then env, then flags.
  std::string config_path;
  if (const char* e = std::getenv("QUIRE_CONFIG")) config_path = e;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      print_serve_usage();
      return kExitOk;
    }
    if (args[i] == "--config") {
      if (i + 1 >= args.size()) return usage("--config needs a file");
      config_path = args[i + 1];
    }
  }
  if (!config_path.empty()) {
    if (int rc = read_config_file(config_path, s); rc >= 0) return rc;
  }
  for (const Option& o : options()) {
    if (const char* e = std::getenv(env_name(o.name).c_str())) {
      if (!o.set(s, e)) return usage("bad value in " + env_name(o.name));
    }
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config") {
      ++i;
      continue;
    }
    if (!args[i].starts_with("--")) return usage("unexpected argument '" + args[i] + "'");
    std::string name = args[i].substr(2);
    std::string value;
    if (const std::size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const Option* o = find_option(name);
    if (o == nullptr) return usage("unknown option --" + name);
    if (value.empty() && args[i].find('=') == std::string::npos) {
      if (o->is_flag) {
        value = "true";
      } else {
        if (i + 1 >= args.size()) return usage("--" + name + " needs a value");
        value = args[++i];
      }
    }
    if (!o->set(s, value)) return usage("bad value for --" + name + ": '" + value + "'");
  }

  log::Level level = log::Level::kInfo;
  log::parse_level(s.log_level, level);
  log::configure(level, s.log_json);

  // SECURITY #21: the server speaks plain HTTP and ws://, so off loopback it
  // must sit behind a TLS-terminating proxy, and say so.
  if (!is_loopback(s.config.host) && !s.config.behind_tls_proxy) {
    return fail("plain HTTP and ws:// are served on loopback only; to listen on " + s.config.host +
                " put a TLS proxy in front and give --behind-tls-proxy");
  }
  if (s.config.behind_tls_proxy) s.config.hsts = true;

  if (::mkdir(s.config.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail("cannot create data directory " + s.config.data_dir + ": " + std::strerror(errno));
  }
  if (!s.redis_url.empty() && s.postgres_url.empty()) {
    return fail("--redis needs --postgres: the nodes of a cluster share one database");
  }
  // Storage: SQLite in the data directory, or PostgreSQL shared by the nodes.
  const std::string db_path = s.config.data_dir + "/quire.db";
  storage::PgOptions pg_options;
  pg_options.replica_url = s.postgres_replica_url;
  pg_options.partitions = s.pg_partitions;
  std::unique_ptr<storage::Store> store;
  if (!s.postgres_url.empty()) {
    auto pg = storage::PgStore::open(s.postgres_url, pg_options);
    if (!pg) return fail(pg.error().to_string());
    store = std::move(*pg);
  } else {
    auto sqlite = storage::SqliteStore::open(db_path);
    if (!sqlite) return fail(sqlite.error().to_string());
    store = std::move(*sqlite);
  }
  auto open_accounts = [&]() -> Result<std::unique_ptr<storage::AccountStore>> {
    if (!s.postgres_url.empty()) {
      auto pg = storage::PgAccountStore::open(s.postgres_url, pg_options);
      if (!pg) return pg.error();
      return std::unique_ptr<storage::AccountStore>(std::move(*pg));
    }
    auto sqlite = storage::SqliteAccountStore::open(db_path);
    if (!sqlite) return sqlite.error();
    return std::unique_ptr<storage::AccountStore>(std::move(*sqlite));
  };

  // The bus: Redis links this node to the others; alone, an in-process one.
  std::unique_ptr<cluster::Bus> bus;
  const std::string node_id = s.node_id.empty() ? cluster::make_node_id() : s.node_id;
  if (!s.redis_url.empty()) {
    cluster::RedisConfig redis;
    redis.node_id = node_id;
    redis.maxlen = s.redis_maxlen;
    auto parsed = cluster::parse_redis_url(s.redis_url, redis);
    if (!parsed) return usage("--redis: " + parsed.error().message);
    bus = std::make_unique<cluster::RedisBus>(std::move(*parsed));
    s.config.clustered = true;
    s.config.room.store_duplicates = true;  // memory may hold other nodes' uncommitted updates
  } else {
    bus = std::make_unique<cluster::LocalBus>(node_id);
  }

  // Accounts (the default): access tokens from /api/auth, roles from the
  // account store. --dev-auth replaces them with fixed tokens on loopback.
  std::unique_ptr<server::Authenticator> auth;
  std::unique_ptr<storage::AccountStore> service_store;
  std::unique_ptr<auth::KeyStore> keys;
  std::unique_ptr<auth::AuthService> service;
  std::unique_ptr<server::Api> api;
  if (!s.dev_auth.empty()) {
    if (!is_loopback(s.config.host)) {
      return fail("--dev-auth is for development only: it is refused unless listening on a loopback address");
    }
    auto dev = server::DevAuthenticator::parse(s.dev_auth);
    if (!dev) return usage(dev.error().message);
    auth = std::make_unique<server::DevAuthenticator>(std::move(*dev));
  } else {
    if (Status st = auth::init_crypto(); !st) return fail(st.error().to_string());
    auto accounts = open_accounts();
    auto api_accounts = open_accounts();
    if (!accounts) return fail(accounts.error().to_string());
    if (!api_accounts) return fail(api_accounts.error().to_string());
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    auto key_store = auth::KeyStore::open(s.keys_dir.empty() ? s.config.data_dir + "/keys" : s.keys_dir,
                                          auth::KeyStoreOptions{}, now);
    if (!key_store) return fail(key_store.error().to_string());
    service_store = std::move(*accounts);
    keys = std::move(*key_store);
    auth::AuthConfig config;
    config.issuer = s.issuer;
    config.audience = s.issuer;
    config.access_ttl = s.access_ttl;
    config.leeway = s.token_leeway;
    if (Status st = auth::check_config(config); !st) return fail(st.error().to_string());
    service = std::make_unique<auth::AuthService>(*service_store, *keys, config);
    api = std::make_unique<server::Api>(*service, std::move(*api_accounts), s.config);
    api->set_bus(*bus);
    auth = api->authenticator();
  }

  // Messages and documents of megabytes pass through several threads: with
  // glibc's default dynamic mmap threshold, once such a block is freed, later
  // ones come from the thread arenas, which keep the memory after it is freed.
  // A fixed threshold maps every large block and returns it when freed, so the
  // process's memory follows what it holds.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);

  server::Server server(s.config, *store, *bus, std::move(auth), api.get());
  if (Status st = server.listen(); !st) return fail(st.error().message);
  bus->start();  // after the server registered for revocations
  const std::string host = s.config.host.find(':') != std::string::npos ? "[" + s.config.host + "]" : s.config.host;
  log::info("listening", {{"address", host + ":" + std::to_string(server.port())}, {"data_dir", s.config.data_dir}});
  std::printf("quire: listening on http://%s:%u\n", host.c_str(), static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  server.run();
  bus->stop();  // no bus handler may run once the server is gone
  return kExitOk;
}

}  // namespace quire::app
