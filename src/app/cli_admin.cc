// `quire user …` and `quire key …`: the administrative verbs. Each opens the
// data directory's quire.db on its own SQLite connection (WAL) — or, given
// --postgres (QUIRE_POSTGRES), the cluster's PostgreSQL database — so they run
// while `quire serve` uses the same store; the store's transactions keep its
// rules (unique logins, sessions revoked on disable) across both.
// Limitations: `quire key` edits DATA_DIR/keys, which a running server read at
// start-up and does not watch (keys.h: one process per key directory).
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/cli.h"
#include "auth/keys.h"
#include "auth/password.h"
#include "auth/service.h"
#include "auth/tokens.h"
#include "base/log.h"
#include "crdt/any.h"
#include "storage/pg_account_store.h"
#include "storage/sqlite_account_store.h"

namespace quire::app {
namespace {

constexpr std::size_t kUserIdBytes = 16;             // 128 random bits, 22 base64url characters
constexpr std::size_t kGeneratedPasswordBytes = 18;  // 144 random bits, 24 base64url characters

// The words after the verb: `--name value` or `--name=value` for the options
// in `valued`, `--name` alone for those in `flags`, the rest positional.
struct AdminArgs {
  std::string data_dir;
  std::string postgres_url;  // set: the accounts are in PostgreSQL, not DIR/quire.db
  std::vector<std::pair<std::string, std::string>> values;
  std::vector<std::string> flags;
  std::vector<std::string> positional;

  [[nodiscard]] const std::string* value(std::string_view name) const {
    for (const auto& [n, v] : values) {
      if (n == name) return &v;
    }
    return nullptr;
  }
  [[nodiscard]] bool flag(std::string_view name) const {
    return std::find(flags.begin(), flags.end(), name) != flags.end();
  }
};

// Returns an exit code on error, -1 to go on. The data directory comes from
// --data-dir, else QUIRE_DATA_DIR, else `data`, as for `quire serve`; a
// "postgres" in `valued` (--postgres, else QUIRE_POSTGRES) goes to postgres_url.
int parse_admin_args(const std::vector<std::string>& args, std::size_t first,
                     const std::vector<std::string_view>& valued, const std::vector<std::string_view>& flags,
                     AdminArgs& out) {
  if (const char* e = std::getenv("QUIRE_DATA_DIR")) out.data_dir = e;
  if (out.data_dir.empty()) out.data_dir = "data";
  // Verbs that take --postgres (those on accounts) also read QUIRE_POSTGRES.
  if (std::find(valued.begin(), valued.end(), "postgres") != valued.end()) {
    if (const char* e = std::getenv("QUIRE_POSTGRES")) out.postgres_url = e;
  }
  for (std::size_t i = first; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!a.starts_with("--")) {
      out.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (const std::size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const bool is_flag = std::find(flags.begin(), flags.end(), name) != flags.end();
    const bool takes_value = name == "data-dir" || std::find(valued.begin(), valued.end(), name) != valued.end();
    if (is_flag) {
      if (value) return usage("--" + name + " takes no value");
      out.flags.push_back(name);
    } else if (takes_value) {
      if (!value) {
        if (i + 1 >= args.size()) return usage("--" + name + " needs a value");
        value = args[++i];
      }
      if (name == "data-dir") {
        if (value->empty()) return usage("--data-dir needs a directory");
        out.data_dir = *value;
      } else if (name == "postgres") {
        if (value->empty()) return usage("--postgres needs a postgresql:// URL");
        out.postgres_url = *value;
      } else {
        out.values.emplace_back(name, *value);
      }
    } else {
      return usage("unknown option '--" + name + "'");
    }
  }
  return -1;
}

// Opens the PostgreSQL database given by --postgres, or DIR/quire.db (migrating
// either). The data directory must exist: an administrative verb never creates
// one, so a typo cannot start an empty second installation. Returns an exit
// code on error, -1 to go on.
int open_accounts(const AdminArgs& a, std::unique_ptr<storage::AccountStore>& out) {
  if (!a.postgres_url.empty()) {
    auto store = storage::PgAccountStore::open(a.postgres_url);
    if (!store) return fail(store.error().to_string());
    out = std::move(*store);
    return -1;
  }
  const std::string& dir = a.data_dir;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return fail("data directory " + dir + " " +
                (errno == ENOENT ? std::string("does not exist (give --data-dir, or start quire serve once)")
                                 : std::string("cannot be read: ") + std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) return fail("data directory " + dir + " is not a directory");
  auto store = storage::SqliteAccountStore::open(dir + "/quire.db");
  if (!store) return fail(store.error().to_string());
  out = std::move(*store);
  return -1;
}

storage::Time now_ms() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// "2026-11-26T07:35:18Z"
std::string format_time(std::chrono::sys_seconds t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string format_time(storage::Time t) {
  return format_time(std::chrono::floor<std::chrono::seconds>(t));
}

// Text from the database on a terminal: control characters (escape sequences
// a registration form might have let through) are shown as '?'.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// Rows of cells as left-aligned columns separated by two spaces, without
// trailing blanks.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();  // an empty last cell
    std::printf("%s\n", line.c_str());
  }
}

// ---- Input rules: usernames and emails as registration checks them (auth/service.h) ----

bool valid_display_name(std::string_view name) {
  if (name.size() > storage::kMaxNameBytes) return false;
  return std::none_of(name.begin(), name.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// One line from stdin without its line ending; false if there is none or it
// is longer than any acceptable password (read no further than that).
bool read_password_line(std::string& out) {
  out.clear();
  int c;
  while ((c = std::getchar()) != EOF && c != '\n') {
    if (out.size() > auth::kMaxPasswordBytes) return false;
    out += static_cast<char>(c);
  }
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return !(out.empty() && c == EOF);
}

// Records an administrative change; the change itself is done, so a failure
// here is a warning, not the verb's failure.
void audit(storage::AccountStore& store, storage::Time now, const std::string& kind, const std::string& user_id,
           const std::string& detail) {
  if (Status s = store.append_audit({now, kind, user_id, "", detail + " (command line)"}); !s) {
    std::fprintf(stderr, "quire: warning: audit event not recorded: %s\n", s.error().message.c_str());
  }
}

// ---- quire user … ----

int user_create(const AdminArgs& a) {
  if (!a.positional.empty()) return usage("unexpected argument '" + a.positional[0] + "'");
  const std::string* username = a.value("username");
  const std::string* email = a.value("email");
  const std::string* display = a.value("display-name");
  if (!username || !email) return usage("user create needs --username NAME and --email EMAIL");
  if (!auth::is_valid_username(*username))
    return usage("a username is 3 to 32 characters of A-Z a-z 0-9 _ . - ('" + printable(*username) + "' is not)");
  if (!auth::is_valid_email(*email)) return usage("'" + printable(*email) + "' is not an email address Quire accepts");
  if (display && !valid_display_name(*display))
    return usage("a display name is at most 256 bytes without control characters");

  std::string password;
  const bool generated = !a.flag("password-stdin");
  if (generated) {
    password = auth::random_id(kGeneratedPasswordBytes);
  } else if (!read_password_line(password)) {
    return usage("--password-stdin: expected one line of at most " + std::to_string(auth::kMaxPasswordBytes) +
                 " bytes on stdin");
  }
  if (Status s = auth::check_password(password); !s) {
    return usage("password refused: " + std::to_string(auth::kMinPasswordBytes) + " to " +
                 std::to_string(auth::kMaxPasswordBytes) + " bytes, no NUL");
  }

  std::unique_ptr<storage::AccountStore> store;
  if (const int rc = open_accounts(a, store); rc >= 0) return rc;
  auto hash = auth::hash_password(password);
  if (!hash) return fail("cannot hash the password: " + hash.error().message);

  const storage::NewUser user{.id = auth::random_id(kUserIdBytes),
                              .username = *username,
                              .email = *email,
                              .password_hash = std::move(*hash),
                              .display_name = display ? *display : ""};
  const storage::Time now = now_ms();
  if (Status s = store->create_user(user, now); !s) {
    switch (s.error().code) {
      case storage::kUsernameTaken:
        return fail("username '" + *username + "' is taken");
      case storage::kEmailTaken:
        return fail("email '" + storage::lower_ascii(*email) + "' is taken");
      default:
        return fail("cannot create the user: " + s.error().to_string());
    }
  }
  audit(*store, now, "user_created", user.id, "quire user create");
  std::printf("%s\n", user.id.c_str());
  if (generated) {
    std::printf("%s\n", password.c_str());
    std::fprintf(stderr, "quire: created user '%s'; its generated password (second line) is not shown again\n",
                 username->c_str());
  }
  return std::fflush(stdout) == 0 ? kExitOk : fail("cannot write to stdout");
}

int user_list(const AdminArgs& a) {
  if (!a.positional.empty()) return usage("unexpected argument '" + a.positional[0] + "'");
  std::unique_ptr<storage::AccountStore> store;
  if (const int rc = open_accounts(a, store); rc >= 0) return rc;
  auto users = store->list_users();
  if (!users) return fail(users.error().to_string());

  if (a.flag("json")) {
    std::string json = "[";
    for (const storage::User& u : *users) {
      if (json.size() > 1) json += ',';
      json += "{\"id\":";
      crdt::quote_json_string(json, u.id);
      json += ",\"username\":";
      crdt::quote_json_string(json, u.username);
      json += ",\"email\":";
      crdt::quote_json_string(json, u.email);
      json += ",\"display_name\":";
      crdt::quote_json_string(json, u.display_name);
      json += ",\"disabled\":";
      json += u.disabled ? "true" : "false";
      json += ",\"created_at\":\"" + format_time(u.created_at) + "\"}";
    }
    json += "]\n";
    return write_stdout(as_bytes(json)) ? kExitOk : fail("cannot write to stdout");
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "USERNAME", "EMAIL", "DISABLED", "CREATED", "DISPLAY NAME"}};
  for (const storage::User& u : *users) {
    rows.push_back({printable(u.id), printable(u.username), printable(u.email), u.disabled ? "yes" : "no",
                    format_time(u.created_at), printable(u.display_name)});
  }
  print_table(rows);
  return std::fflush(stdout) == 0 ? kExitOk : fail("cannot write to stdout");
}

// USER is an id, a username or an email. If the id of one user is the login of
// another, nothing is guessed.
Result<storage::User> resolve_user(storage::AccountStore& store, const std::string& who) {
  auto by_id = store.find_user_by_id(who);
  if (!by_id) return by_id.error();
  auto by_login = store.find_user_by_login(who);
  if (!by_login) return by_login.error();
  if (*by_id && *by_login && (*by_id)->id != (*by_login)->id) {
    return Error{storage::kDomain, storage::kInvalid,
                 "'" + printable(who) + "' is one user's id and another's login; give the id of the one you mean"};
  }
  if (*by_id) return std::move(**by_id);
  if (*by_login) return std::move(**by_login);
  return Error{storage::kDomain, storage::kNotFound, "no user '" + printable(who) + "'"};
}

int user_set_disabled(const AdminArgs& a, bool disabled) {
  const char* verb = disabled ? "disable" : "enable";
  if (a.positional.size() != 1) return usage(std::string("user ") + verb + " needs one USER (id, username or email)");
  std::unique_ptr<storage::AccountStore> store;
  if (const int rc = open_accounts(a, store); rc >= 0) return rc;
  auto user = resolve_user(*store, a.positional[0]);
  if (!user) return fail(user.error().message);

  const storage::Time now = now_ms();
  if (Status s = store->set_disabled(user->id, disabled, now); !s) return fail(s.error().to_string());
  audit(*store, now, disabled ? "user_disabled" : "user_enabled", user->id, std::string("quire user ") + verb);
  std::string message =
      "user '" + printable(user->username) + "' (" + user->id + ") " + (disabled ? "disabled" : "enabled");
  if (disabled) {
    // set_disabled revoked the live sessions in its transaction, stamped `now`.
    auto revoked = store->list_revoked_since(now);
    if (revoked) {
      const auto n = std::count_if(revoked->begin(), revoked->end(), [&](const storage::RevokedFamily& f) {
        return f.user_id == user->id && f.reason == "disabled" && f.revoked_at == now;
      });
      message += "; " + std::to_string(n) + (n == 1 ? " session" : " sessions") + " revoked";
    }
  }
  std::printf("%s\n", message.c_str());
  return std::fflush(stdout) == 0 ? kExitOk : fail("cannot write to stdout");
}

// ---- quire key … ----

constexpr std::string_view kKeySuffix = ".key";  // keys.h: files KID.key

// Kids of the key files in `dir` (empty if it does not exist).
std::vector<std::string> key_files(const std::filesystem::path& dir) {
  std::vector<std::string> kids;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= kKeySuffix.size() || !name.ends_with(kKeySuffix)) continue;
    const std::string kid = name.substr(0, name.size() - kKeySuffix.size());
    if (auth::is_valid_kid(kid)) kids.push_back(kid);
  }
  return kids;
}

// A key file's creation time: keys.h's layout, 8 bytes magic then 8 bytes
// big-endian Unix seconds. KeyStore::open has already checked the file.
std::optional<auth::UnixSeconds> key_created(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char header[16];
  if (!in.read(reinterpret_cast<char*>(header), sizeof header)) return std::nullopt;  // NOLINT: bytes
  std::uint64_t seconds = 0;
  for (std::size_t i = 8; i < 16; ++i) seconds = (seconds << 8) | header[i];
  return auth::UnixSeconds{std::chrono::seconds(static_cast<std::int64_t>(seconds))};
}

// The keys that verify, oldest first: which one signs, and until when each
// older one still verifies.
void print_keys(const auth::KeyStore& keys) {
  const auto snapshot = keys.snapshot();
  struct Row {
    std::string kid;
    std::optional<auth::UnixSeconds> created;
  };
  std::vector<Row> rows;
  for (std::string& kid : key_files(keys.directory())) {
    if (snapshot->verification.find(kid) == nullptr) continue;
    auto created = key_created(keys.directory() / (kid + std::string(kKeySuffix)));
    rows.push_back({std::move(kid), created});
  }
  std::sort(rows.begin(), rows.end(),
            [](const Row& x, const Row& y) { return x.created != y.created ? x.created < y.created : x.kid < y.kid; });
  std::vector<std::vector<std::string>> table = {{"KID", "CREATED", "STATE"}};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::string state = "verifies";
    if (rows[i].kid == snapshot->signing->kid()) {
      state = "signs";
    } else if (i + 1 < rows.size() && rows[i + 1].created) {
      state += " until " + format_time(*rows[i + 1].created + auth::KeyStoreOptions{}.overlap);
    }
    table.push_back({rows[i].kid, rows[i].created ? format_time(*rows[i].created) : "?", state});
  }
  print_table(table);
}

int key_command(const AdminArgs& a, bool rotate) {
  if (!a.positional.empty()) return usage("unexpected argument '" + a.positional[0] + "'");
  // The account database is opened (and migrated) like every admin verb's,
  // so a directory that is not Quire's is refused before keys are written.
  std::unique_ptr<storage::AccountStore> store;
  if (const int rc = open_accounts(a, store); rc >= 0) return rc;
  const std::filesystem::path dir = std::filesystem::path(a.data_dir) / "keys";
  const bool first = key_files(dir).empty();
  if (first && !rotate) return fail("no signing keys in " + dir.string() + " ('quire key rotate' creates the first)");

  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  auto keys = auth::KeyStore::open(dir, {}, now);  // creates the directory and a first key if there is none
  if (!keys) return fail(keys.error().message);
  if (rotate) {
    // A key store that was empty got its first key from open(): that is the new key.
    if (!first) {
      if (Status s = (*keys)->rotate(now); !s) return fail(s.error().message);
    }
    std::printf("new signing key: %s\n", (*keys)->snapshot()->signing->kid().c_str());
  }
  print_keys(**keys);
  return std::fflush(stdout) == 0 ? kExitOk : fail("cannot write to stdout");
}

bool is_help(const std::string& word) {
  return word == "help" || word == "--help" || word == "-h";
}

// The verbs print what they did; the modules' info logs (a key created, a
// migration run) would only repeat it on stderr. Warnings still show.
void quiet_logs() {
  log::configure(log::Level::kWarn, false);
}

}  // namespace

void print_admin_usage() {
  std::printf(
      "administration (DIR: --data-dir, else QUIRE_DATA_DIR, else ./data; it must exist; safe while serving):\n"
      "  the user verbs take --postgres URL (else QUIRE_POSTGRES) for a cluster's accounts instead of DIR\n"
      "  quire user create --username NAME --email EMAIL [--display-name TEXT] [--password-stdin]\n"
      "                                  prints the new user's id (and a generated password without --password-stdin)\n"
      "  quire user list [--json]        every user: id, username, email, disabled, created, display name\n"
      "  quire user disable USER         USER: id, username or email; revokes the user's sessions\n"
      "  quire user enable USER\n"
      "  quire key rotate                a new signing key in DIR/keys (the first if none); older keys still verify\n"
      "  quire key list                  the keys that verify tokens and the one that signs\n");
}

int run_user(const std::vector<std::string>& args) {
  if (args.empty()) return usage("user needs a verb: create, list, disable or enable");
  const std::string& verb = args[0];
  if (is_help(verb)) return print_admin_usage(), kExitOk;
  quiet_logs();
  AdminArgs a;
  if (verb == "create") {
    if (const int rc =
            parse_admin_args(args, 1, {"username", "email", "display-name", "postgres"}, {"password-stdin"}, a);
        rc >= 0)
      return rc;
    return user_create(a);
  }
  if (verb == "list") {
    if (const int rc = parse_admin_args(args, 1, {"postgres"}, {"json"}, a); rc >= 0) return rc;
    return user_list(a);
  }
  if (verb == "disable" || verb == "enable") {
    if (const int rc = parse_admin_args(args, 1, {"postgres"}, {}, a); rc >= 0) return rc;
    return user_set_disabled(a, verb == "disable");
  }
  return usage("unknown user verb '" + verb + "'");
}

int run_key(const std::vector<std::string>& args) {
  if (args.empty()) return usage("key needs a verb: rotate or list");
  const std::string& verb = args[0];
  if (is_help(verb)) return print_admin_usage(), kExitOk;
  if (verb != "rotate" && verb != "list") return usage("unknown key verb '" + verb + "'");
  quiet_logs();
  AdminArgs a;
  if (const int rc = parse_admin_args(args, 1, {}, {}, a); rc >= 0) return rc;
  return key_command(a, verb == "rotate");
}

}  // namespace quire::app
