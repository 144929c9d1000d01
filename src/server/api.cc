// The JSON HTTP API (api.h). Routes and bodies: docs/api.md.
#include "server/api.h"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <chrono>

#include "auth/error.h"
#include "auth/tokens.h"
#include "base/log.h"
#include "server/server_internal.h"

namespace quire::server {
namespace {

namespace json = boost::json;
using storage::DocumentRole;

constexpr std::string_view kCookie = "__Host-quire_rt";

auth::UnixSeconds now_seconds() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}
storage::Time now_ms() {
  return std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
}
std::int64_t ms(storage::Time t) {
  return t.time_since_epoch().count();
}

json::object user_json(std::string_view id, std::string_view username, std::string_view email,
                       std::string_view display_name) {
  return json::object{{"id", id}, {"username", username}, {"email", email}, {"display_name", display_name}};
}

json::object document_json(const storage::DocumentMeta& d, std::optional<DocumentRole> role) {
  json::object o{{"id", d.id},
                 {"title", d.title},
                 {"workspace_id", d.workspace_id},
                 {"created_by", d.created_by},
                 {"created_at", ms(d.created_at)},
                 {"updated_at", ms(d.updated_at)}};
  if (role) o["role"] = storage::role_name(*role);
  return o;
}

// A list item also names the last editor.
json::object document_json(const storage::VisibleDocument& v) {
  json::object o = document_json(v.document, v.role);
  o["last_edited_at"] = v.last_edited_at ? json::value(ms(*v.last_edited_at)) : json::value(nullptr);
  o["last_edited_by"] = nullptr;
  if (!v.last_editor_id.empty()) {
    o["last_edited_by"] = json::object{
        {"id", v.last_editor_id}, {"username", v.last_editor_username}, {"display_name", v.last_editor_display_name}};
  }
  return o;
}

// One request in flight: its parts and the answers it can give.
class Call {
 public:
  Call(const Request& req, const std::string& remote, const ServerConfig& config)
      : req_(req), remote_(remote), config_(config) {}

  [[nodiscard]] const Request& req() const { return req_; }
  [[nodiscard]] const std::string& remote() const { return remote_; }

  Response ok(http::status status, const json::value& body) const {
    return json_response(status, json::serialize(body), req_, config_);
  }
  Response no_content() const {
    Response res{http::status::no_content, req_.version()};
    finish_response(res, CachePolicy::kNoStore, req_.keep_alive(), config_);
    return res;
  }
  Response fail(http::status status, std::string_view code, std::string_view message) const {
    return error_response(status, code, message, req_, config_);
  }
  // An Error from auth or storage as its status and stable name.
  Response fail(const Error& e) const {
    if (e.domain == auth::kDomain) {
      http::status status = http::status::unauthorized;
      switch (e.code) {
        case auth::kInvalidInput:
          status = http::status::bad_request;
          break;
        case auth::kUsernameTaken:
        case auth::kEmailTaken:
          status = http::status::conflict;
          break;
        case auth::kDisabled:
        case auth::kForbidden:
          status = http::status::forbidden;
          break;
        case auth::kRateLimited:
          status = http::status::too_many_requests;
          break;
        case auth::kUnavailable:
          status = http::status::service_unavailable;
          break;
        default:
          break;
      }
      Response res = fail(status, auth::error_name(e), e.message);
      if (auto wait = auth::retry_after(e)) {
        res.set(http::field::retry_after, std::to_string(wait->count()));
        res.prepare_payload();
      }
      return res;
    }
    if (e.domain == storage::kDomain) {
      switch (e.code) {
        case storage::kNotFound:
          return fail(http::status::not_found, "not_found", e.message);
        case storage::kExists:
          return fail(http::status::conflict, "exists", e.message);
        case storage::kLastOwner:
          return fail(http::status::conflict, "last_owner", "a document keeps at least one owner");
        case storage::kInvalid:
          return fail(http::status::bad_request, "invalid_input", e.message);
        default:
          break;
      }
    }
    log::error("api_error", {{"error", e.to_string()}});
    return fail(http::status::service_unavailable, "unavailable", "storage unavailable");
  }

  // The JSON object body, or a 400.
  std::optional<json::object> body(Response& refusal) const {
    boost::system::error_code ec;
    json::parse_options options;
    options.max_depth = 8;
    json::value v = json::parse(req_.body(), ec, {}, options);
    if (ec || !v.is_object()) {
      refusal = fail(http::status::bad_request, "invalid_input", "the body must be a JSON object");
      return std::nullopt;
    }
    return std::move(v.as_object());
  }
  static std::string field(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  }

  // `Authorization: Bearer …` — the only credential of the API (never the cookie).
  [[nodiscard]] std::string bearer() const {
    const std::string_view h = req_[http::field::authorization];
    if (h.size() > 7 && (h.starts_with("Bearer ") || h.starts_with("bearer "))) return std::string(h.substr(7));
    return {};
  }
  [[nodiscard]] std::string cookie() const {
    std::string_view all = req_[http::field::cookie];
    while (!all.empty()) {
      const std::size_t semi = all.find(';');
      std::string_view part = all.substr(0, semi);
      all = semi == std::string_view::npos ? std::string_view{} : all.substr(semi + 1);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      if (part.starts_with(kCookie) && part.size() > kCookie.size() && part[kCookie.size()] == '=') {
        return std::string(part.substr(kCookie.size() + 1));
      }
    }
    return {};
  }

  // The CSRF rules of every cookie-setting or cookie-reading route (SECURITY #18).
  std::optional<Response> csrf_refusal() const {
    if (req_.method() != http::verb::post) {
      return fail(http::status::method_not_allowed, "method_not_allowed", "POST only");
    }
    if (!origin_allowed(req_, config_, /*require=*/true)) {
      return fail(http::status::forbidden, "csrf", "missing or foreign Origin");
    }
    if (req_["X-Quire-CSRF"] != "1") return fail(http::status::forbidden, "csrf", "missing X-Quire-CSRF: 1");
    const std::string_view site = req_["Sec-Fetch-Site"];
    if (!site.empty() && site != "same-origin") return fail(http::status::forbidden, "csrf", "cross-site request");
    return std::nullopt;
  }

  // The session's answer: the access token in the body, the refresh token only
  // in the cookie.
  Response session(http::status status, const auth::Session& s) const {
    const json::object body{{"access_token", s.access_token},
                            {"token_type", "Bearer"},
                            {"expires_in", s.expires_in.count()},
                            {"user", user_json(s.user.id, s.user.username, s.user.email, s.user.display_name)}};
    Response res = ok(status, body);
    res.set(http::field::set_cookie,
            std::string(kCookie) + "=" + s.refresh_token +
                "; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=" + std::to_string(s.refresh_expires_in.count()));
    return res;
  }
  Response cleared(Response res) const {
    res.set(http::field::set_cookie, std::string(kCookie) + "=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    return res;
  }

 private:
  const Request& req_;
  const std::string& remote_;
  const ServerConfig& config_;
};

}  // namespace

class Api::TokenAuthenticator final : public Authenticator {
 public:
  explicit TokenAuthenticator(Api& api) : api_(api) {}
  void authenticate(std::string token, std::string document, AuthDone done) override {
    asio::post(api_.workers_, [this, token = std::move(token), document = std::move(document), done = std::move(done)] {
      auto identity = api_.auth_.verify_access(token, now_seconds());
      if (!identity) return done(std::nullopt);
      auto role = api_.auth_.document_role(identity->user_id, document);
      if (!role || !*role) return done(std::nullopt);
      auto meta = api_.with_store([&](storage::AccountStore& s) { return s.get_document(document); });
      if (!meta || !*meta) return done(std::nullopt);
      const auto valid_until = identity->expires_at + api_.auth_.config().leeway;
      done(Principal{identity->user_id, identity->display_name, **role == DocumentRole::kViewer, identity->session_id,
                     valid_until.time_since_epoch().count(), (**meta).workspace_id});
    });
  }

  // The session and the role, read again (SECURITY rows 9, 12, 15, 25). The
  // token's own expiry is the session's to watch: it knows when a client renewed it.
  void recheck(const Principal& principal, std::string document, RecheckDone done) override {
    asio::post(api_.workers_, [this, user = principal.user, session = principal.session, document = std::move(document),
                               done = std::move(done)] {
      using Outcome = Recheck::Outcome;
      auto identity = api_.auth_.check_session(user, session, now_seconds());
      if (!identity) {
        if (identity.error().domain == auth::kDomain && identity.error().code == auth::kUnavailable) {
          return done(Recheck{Outcome::kUnknown, true, {}});
        }
        return done(Recheck{Outcome::kRevoked, true, identity.error().message});
      }
      auto role = api_.auth_.document_role(user, document);
      if (!role) return done(Recheck{Outcome::kUnknown, true, {}});
      if (!*role) return done(Recheck{Outcome::kRemoved, true, "permission-denied"});
      done(Recheck{Outcome::kValid, **role == DocumentRole::kViewer, {}});
    });
  }

 private:
  Api& api_;
};

Api::Api(auth::AuthService& auth, std::unique_ptr<storage::AccountStore> store, const ServerConfig& config,
         unsigned workers)
    : auth_(auth), store_(std::move(store)), config_(config), workers_(workers) {}

Api::~Api() {
  stop();
}

void Api::stop() {
  workers_.join();
}

std::unique_ptr<Authenticator> Api::authenticator() {
  return std::make_unique<TokenAuthenticator>(*this);
}

void Api::set_bus(cluster::Bus& bus) {
  bus_ = &bus;
  auth_.set_revocation_listener([this](std::string_view kind, std::string_view subject) { revoked(kind, subject); });
}

void Api::revoked(std::string_view kind, std::string_view subject) {
  if (bus_ != nullptr) bus_->publish_revocation({std::string(kind), std::string(subject)});
}

void Api::record_edit(std::string document, std::string user) {
  asio::post(workers_, [this, document = std::move(document), user = std::move(user)] {
    const Status s =
        with_store([&](storage::AccountStore& store) { return store.record_edit(document, user, now_ms()); });
    if (!s) log::warn("record_edit_failed", {{"doc", document}, {"error", s.error().to_string()}});
  });
}

void Api::handle(Request request, std::string remote, std::function<void(Response)> respond) {
  asio::post(workers_, [this, request = std::move(request), remote = std::move(remote),
                        respond = std::move(respond)]() { respond(route(request, remote)); });
}

Response Api::route(const Request& req, const std::string& remote) {
  const Call call(req, remote, config_);
  const std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const http::verb method = req.method();
  Response refusal;

  // ---- Accounts: the cookie routes, behind the CSRF rules ----
  if (path.starts_with("/api/auth/")) {
    if (auto r = call.csrf_refusal()) return std::move(*r);
    const std::string_view action = path.substr(10);
    if (action == "register" || action == "login") {
      auto body = call.body(refusal);
      if (!body) return refusal;
      auto session = action == "register"
                         ? auth_.register_user(Call::field(*body, "username"), Call::field(*body, "email"),
                                               Call::field(*body, "password"), now_seconds(), remote)
                         : auth_.login(Call::field(*body, "username"), Call::field(*body, "password"), now_seconds(),
                                       remote, call.cookie());
      if (!session) return call.fail(session.error());
      return call.session(action == "register" ? http::status::created : http::status::ok, *session);
    }
    if (action == "refresh") {
      auto session = auth_.refresh(call.cookie(), now_seconds(), remote);
      if (!session) return call.cleared(call.fail(session.error()));
      return call.session(http::status::ok, *session);
    }
    if (action == "logout") {
      if (Status s = auth_.logout(call.cookie(), now_seconds(), remote); !s) return call.fail(s.error());
      return call.cleared(call.no_content());
    }
    return call.fail(http::status::not_found, "not_found", "no such route");
  }

  // ---- Everything else: bearer tokens only ----
  auto identity = auth_.verify_access(call.bearer(), now_seconds());
  if (!identity) {
    Response res = call.fail(http::status::unauthorized, "invalid_token", "a valid Bearer access token is required");
    res.set(http::field::www_authenticate, "Bearer");
    return res;
  }
  const std::string& me = identity->user_id;
  std::lock_guard lock(store_mu_);
  storage::AccountStore& store = *store_;

  if (path == "/api/me" && method == http::verb::get) {
    auto user = store.find_user_by_id(me);
    if (!user) return call.fail(user.error());
    if (!*user) return call.fail(http::status::unauthorized, "invalid_token", "no such user");
    const storage::User& u = **user;
    return call.ok(http::status::ok, json::object{{"user", user_json(u.id, u.username, u.email, u.display_name)},
                                                  {"session_id", identity->session_id}});
  }

  if (path == "/api/workspaces") {
    if (method == http::verb::get) {
      auto list = store.list_workspaces(me);
      if (!list) return call.fail(list.error());
      json::array out;
      for (const storage::WorkspaceMembership& w : *list) {
        out.push_back(
            json::object{{"id", w.workspace.id}, {"name", w.workspace.name}, {"role", storage::role_name(w.role)}});
      }
      return call.ok(http::status::ok, json::object{{"workspaces", std::move(out)}});
    }
    if (method == http::verb::post) {
      auto body = call.body(refusal);
      if (!body) return refusal;
      const std::string name = Call::field(*body, "name");
      if (name.empty() || name.size() > storage::kMaxNameBytes) {
        return call.fail(http::status::bad_request, "invalid_input", "a workspace needs a name (1–256 bytes)");
      }
      storage::Workspace w{auth::random_id(16), name, me, now_ms()};
      if (Status s = store.create_workspace(w); !s) return call.fail(s.error());
      return call.ok(http::status::created, json::object{{"id", w.id}, {"name", w.name}, {"role", "owner"}});
    }
    return call.fail(http::status::method_not_allowed, "method_not_allowed", "GET or POST");
  }

  if (path == "/api/docs") {
    if (method == http::verb::get) {
      auto list = store.list_documents_for(me);
      if (!list) return call.fail(list.error());
      json::array out;
      for (const storage::VisibleDocument& d : *list) out.push_back(document_json(d));
      return call.ok(http::status::ok, json::object{{"documents", std::move(out)}});
    }
    if (method == http::verb::post) {
      auto body = call.body(refusal);
      if (!body) return refusal;
      storage::DocumentMeta d;
      d.id = Call::field(*body, "id");
      if (d.id.empty()) d.id = auth::random_id(16);
      if (!storage::is_document_id(d.id)) {
        return call.fail(http::status::bad_request, "invalid_input", "document ids are [A-Za-z0-9_-]{1,128}");
      }
      d.title = Call::field(*body, "title");
      if (d.title.size() > storage::kMaxNameBytes) {
        return call.fail(http::status::bad_request, "invalid_input", "a title is at most 256 bytes");
      }
      d.workspace_id = Call::field(*body, "workspace_id");
      if (!d.workspace_id.empty()) {
        auto role = store.workspace_role(d.workspace_id, me);
        if (!role) return call.fail(role.error());
        if (!*role) return call.fail(http::status::forbidden, "forbidden", "not a member of that workspace");
      }
      d.created_by = me;
      const storage::Time now = now_ms();
      d.created_at = d.updated_at = now;
      if (Status s = store.create_document(d, now); !s) return call.fail(s.error());
      return call.ok(http::status::created, document_json(d, DocumentRole::kOwner));
    }
    return call.fail(http::status::method_not_allowed, "method_not_allowed", "GET or POST");
  }

  if (path.starts_with("/api/docs/")) {
    std::string_view rest = path.substr(10);
    const std::size_t slash = rest.find('/');
    const std::string doc = percent_decode(rest.substr(0, slash)).value_or("");
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (!storage::is_document_id(doc)) {
      return call.fail(http::status::bad_request, "invalid_input", "document ids are [A-Za-z0-9_-]{1,128}");
    }
    auto role = store.role_of(doc, me);
    if (!role) return call.fail(role.error());
    // Not a member looks exactly like no such document.
    if (!*role) return call.fail(http::status::not_found, "not_found", "no such document");
    const DocumentRole my_role = **role;
    auto owner_only = [&] {
      return call.fail(http::status::forbidden, "forbidden", "only an owner of the document may do this");
    };

    if (rest.empty()) {
      if (method == http::verb::get) {
        auto d = store.get_document(doc);
        if (!d) return call.fail(d.error());
        if (!*d) return call.fail(http::status::not_found, "not_found", "no such document");
        return call.ok(http::status::ok, document_json(**d, my_role));
      }
      if (method == http::verb::patch) {
        if (my_role == DocumentRole::kViewer) return owner_only();
        auto body = call.body(refusal);
        if (!body) return refusal;
        const std::string title = Call::field(*body, "title");
        if (title.size() > storage::kMaxNameBytes) {
          return call.fail(http::status::bad_request, "invalid_input", "a title is at most 256 bytes");
        }
        if (Status s = store.rename_document(doc, title, now_ms()); !s) return call.fail(s.error());
        auto d = store.get_document(doc);
        if (!d || !*d) return call.fail(http::status::not_found, "not_found", "no such document");
        return call.ok(http::status::ok, document_json(**d, my_role));
      }
      if (method == http::verb::delete_) {
        if (my_role != DocumentRole::kOwner) return owner_only();
        if (Status s = store.delete_document(doc, now_ms()); !s) return call.fail(s.error());
        revoked("document", doc);
        return call.no_content();
      }
      return call.fail(http::status::method_not_allowed, "method_not_allowed", "GET, PATCH or DELETE");
    }

    if (rest == "/members" && method == http::verb::get) {
      auto members = store.list_document_members(doc);
      if (!members) return call.fail(members.error());
      json::array out;
      for (const storage::DocumentMember& m : *members) {
        auto user = store.find_user_by_id(m.user_id);
        if (!user) return call.fail(user.error());
        json::object entry{{"role", storage::role_name(m.role)}};
        if (*user)
          entry["user"] = json::object{
              {"id", (*user)->id}, {"username", (*user)->username}, {"display_name", (*user)->display_name}};
        out.push_back(std::move(entry));
      }
      return call.ok(http::status::ok, json::object{{"members", std::move(out)}});
    }
    if (rest.starts_with("/members/")) {
      const auto decoded = percent_decode(rest.substr(9));
      if (!decoded) return call.fail(http::status::bad_request, "invalid_input", "a malformed %-escape in the user");
      const std::string& who = *decoded;
      // By id, username or email.
      auto user = store.find_user_by_id(who);
      if (user && !*user) user = store.find_user_by_login(who);
      if (!user) return call.fail(user.error());
      if (!*user) return call.fail(http::status::not_found, "not_found", "no such user");
      const std::string target_id = (*user)->id;
      if (method == http::verb::put) {
        if (my_role != DocumentRole::kOwner) return owner_only();
        auto body = call.body(refusal);
        if (!body) return refusal;
        const auto new_role = storage::parse_document_role(Call::field(*body, "role"));
        if (!new_role) return call.fail(http::status::bad_request, "invalid_input", "role is owner, editor or viewer");
        if (Status s = store.set_document_member(doc, target_id, *new_role); !s) return call.fail(s.error());
        revoked("document", doc);
        return call.ok(http::status::ok,
                       json::object{{"user", json::object{{"id", target_id}, {"username", (*user)->username}}},
                                    {"role", storage::role_name(*new_role)}});
      }
      if (method == http::verb::delete_) {
        // Owners remove anyone; everyone may leave.
        if (my_role != DocumentRole::kOwner && target_id != me) return owner_only();
        if (Status s = store.remove_document_member(doc, target_id); !s) return call.fail(s.error());
        revoked("document", doc);
        return call.no_content();
      }
      return call.fail(http::status::method_not_allowed, "method_not_allowed", "PUT or DELETE");
    }
  }
  return call.fail(http::status::not_found, "not_found", "no such API route");
}

}  // namespace quire::server
