// Tests of the account service against a real SqliteAccountStore and KeyStore
// in a temporary directory, with a faked clock and libsodium's minimum argon2id
// cost. Tests are named after the SECURITY.md §1 row they cover (Row12_…).
#include "auth/service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "auth/error.h"
#include "auth/jwt.h"
#include "auth/rate_limiter.h"
#include "auth/tokens.h"
#include "storage/sqlite_account_store.h"

namespace quire::auth {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
namespace fs = std::filesystem;

constexpr UnixSeconds kNow{seconds(1'700'000'000)};
constexpr std::string_view kRemote = "192.0.2.1";
constexpr std::string_view kPassword = "correct horse battery";
constexpr seconds kDay = hours(24);

template <class T>
int code(const Result<T>& result) {
  return result.ok() ? 0 : result.error().code;
}
int code(const Status& status) {
  return status.ok() ? 0 : status.error().code;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class Service : public ::testing::Test {
 protected:
  Service() {
    std::string pattern = (fs::temp_directory_path() / "quire-auth-service-XXXXXX").string();
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto store = storage::SqliteAccountStore::open((dir_ / "quire.db").string());
    EXPECT_TRUE(store.ok()) << store.error().to_string();
    store_ = std::move(store).value();
    auto keys = KeyStore::open(dir_ / "keys", {}, kNow);
    EXPECT_TRUE(keys.ok()) << keys.error().to_string();
    keys_ = std::move(keys).value();
    service_ = std::make_unique<AuthService>(*store_, *keys_, config());
  }
  ~Service() override {
    service_.reset();
    keys_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static AuthConfig config() {
    AuthConfig config;
    config.issuer = "https://quire.test";
    config.audience = "quire-api";
    config.password = PasswordParams::minimum();
    return config;
  }
  void reconfigure(const AuthConfig& config) { service_ = std::make_unique<AuthService>(*store_, *keys_, config); }

  Session register_user(std::string_view name = "alice", UnixSeconds now = kNow) {
    auto session = service_->register_user(name, std::string(name) + "@example.com", kPassword, now, kRemote);
    EXPECT_TRUE(session.ok()) << session.error().to_string();
    return session.ok() ? std::move(session).value() : Session{};
  }

  std::vector<storage::AuditEvent> audit_events() {
    auto events = store_->list_audit(100'000);
    EXPECT_TRUE(events.ok());
    return events.ok() ? *events : std::vector<storage::AuditEvent>{};
  }
  std::size_t audit_count(std::string_view kind) {
    std::size_t n = 0;
    for (const auto& e : audit_events()) n += e.kind == kind ? 1 : 0;
    return n;
  }
  std::size_t live_tokens(const std::string& family) { return store_->live_token_count(family).value(); }

  fs::path dir_;
  std::unique_ptr<storage::SqliteAccountStore> store_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<AuthService> service_;
};

// ---------------------------------------------------------------- configuration and errors

TEST(ServiceConfig, OutOfRangeRefusedAtStartUp) {
  AuthConfig good;
  good.issuer = "i";
  good.audience = "a";
  EXPECT_TRUE(check_config(good).ok());
  AuthConfig c = good;
  c.access_ttl = seconds(15 * 60 + 1);
  EXPECT_EQ(code(check_config(c)), kBadOptions);
  c = good;
  c.refresh_grace = seconds(61);
  EXPECT_EQ(code(check_config(c)), kBadOptions);
  c = good;
  c.issuer.clear();
  EXPECT_EQ(code(check_config(c)), kBadOptions);
  c = good;
  c.per_account.burst = 0;
  EXPECT_EQ(code(check_config(c)), kBadOptions);
  EXPECT_EQ(AuthConfig{}.access_ttl, seconds(600));
  EXPECT_EQ(AuthConfig{}.refresh_idle, 14 * kDay);
  EXPECT_EQ(AuthConfig{}.refresh_absolute, 30 * kDay);
  EXPECT_EQ(AuthConfig{}.refresh_grace, seconds(10));
}

TEST_F(Service, ConstructorThrowsOnBadConfiguration) {
  AuthConfig c = config();
  c.access_ttl = hours(1);
  EXPECT_THROW(AuthService(*store_, *keys_, c), std::invalid_argument);
}

TEST(ServiceErrors, NamesAreDistinctAndTokenFailuresAreOneName) {
  const int codes[] = {kInvalidInput,   kUsernameTaken,  kEmailTaken,    kInvalidCredentials, kDisabled,   kRateLimited,
                       kSessionExpired, kSessionRevoked, kReuseDetected, kForbidden,          kUnavailable};
  std::set<std::string_view> names;
  for (int c : codes) names.insert(error_name(c));
  EXPECT_EQ(names.size(), std::size(codes));
  EXPECT_EQ(names.count("internal_error"), 0u);
  EXPECT_EQ(error_name(kRateLimited), "rate_limited");
  EXPECT_EQ(error_name(kReuseDetected), "reuse_detected");
  EXPECT_EQ(error_name(kBadSignature), "invalid_token");
  EXPECT_EQ(error_name(kExpired), "invalid_token");
  EXPECT_EQ(error_name(Error{"storage", kInvalidInput, "x"}), "internal_error");
}

TEST(ServiceErrors, RetryAfterRoundTrips) {
  const Error e = rate_limited_error("login per address", seconds(42));
  EXPECT_EQ(e.code, kRateLimited);
  EXPECT_EQ(retry_after(e), seconds(42));
  EXPECT_EQ(retry_after(rate_limited_error("x", seconds(0))), seconds(1));
  EXPECT_EQ(retry_after(auth_error(kInvalidInput, "retry after 5 s")), std::nullopt);
}

// ---------------------------------------------------------------- registration and login

TEST(ServiceShapes, UsernamesAndEmails) {
  for (const char* ok : {"abc", "Alice_B.c-d", "x23456789012345678901234567890ab"}) EXPECT_TRUE(is_valid_username(ok));
  for (const char* bad : {"ab", "x234567890123456789012345678901ab", "a@b", "has space", "t\xc3\xa9st", "a/b", ""}) {
    EXPECT_FALSE(is_valid_username(bad)) << bad;
  }
  for (const char* ok : {"a@b.co", "first.last+tag@sub.example.org", "X@Y-Z.example"}) EXPECT_TRUE(is_valid_email(ok));
  for (const char* bad : {"plain", "a@b", "a@@b.c", "a@b@c.d", "@b.c", "a@.b.c", "a@b..c", "a@-b.c", "a@b-.c",
                          "a b@c.d", ".a@b.c", "a..b@c.d", "a\"b@c.d", "a@b.c\n", "\xc3\xa9@b.c"}) {
    EXPECT_FALSE(is_valid_email(bad)) << bad;
  }
  EXPECT_FALSE(is_valid_email(std::string(64, 'a') + "a@b.co"));  // local part of 65
  EXPECT_FALSE(is_valid_email("a@" + std::string(250, 'b') + ".co"));
}

TEST_F(Service, RegisterReturnsAWorkingSession) {
  const Session s = register_user();
  EXPECT_EQ(s.expires_in, seconds(600));
  EXPECT_EQ(s.refresh_expires_in, 14 * kDay);
  EXPECT_TRUE(is_token(s.refresh_token));
  EXPECT_EQ(s.user.username, "alice");
  EXPECT_EQ(s.user.email, "alice@example.com");
  EXPECT_EQ(s.user.display_name, "alice");
  EXPECT_FALSE(s.user.id.empty());
  EXPECT_EQ(live_tokens(s.session_id), 1u);

  auto identity = service_->verify_access(s.access_token, kNow + seconds(1));
  ASSERT_TRUE(identity.ok()) << identity.error().to_string();
  EXPECT_EQ(identity->user_id, s.user.id);
  EXPECT_EQ(identity->session_id, s.session_id);
  EXPECT_EQ(identity->display_name, "alice");

  VerifyOptions options;
  options.issuer = config().issuer;
  options.audience = config().audience;
  options.now = kNow;
  auto claims = verify(s.access_token, keys_->snapshot()->verification, options);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->session_id, s.session_id);
  EXPECT_EQ(claims->subject, s.user.id);
  EXPECT_EQ(claims->expires_at - claims->issued_at, seconds(600));
  EXPECT_EQ(audit_count("register"), 1u);
}

TEST_F(Service, RegisterValidatesInput) {
  EXPECT_EQ(code(service_->register_user("ab", "a@b.co", kPassword, kNow, kRemote)), kInvalidInput);
  EXPECT_EQ(code(service_->register_user("a@b", "a@b.co", kPassword, kNow, kRemote)), kInvalidInput);
  EXPECT_EQ(code(service_->register_user("alice", "not-an-email", kPassword, kNow, kRemote)), kInvalidInput);
  EXPECT_EQ(code(service_->register_user("alice", "a@b.co", "short", kNow, kRemote)), kInvalidInput);
  EXPECT_EQ(code(service_->register_user("alice", "a@b.co", std::string("pass\0word", 9), kNow, kRemote)),
            kInvalidInput);
  EXPECT_EQ(store_->list_users()->size(), 0u);
}

TEST_F(Service, RegisterRefusesTakenUsernameAndEmail) {
  register_user("alice");
  EXPECT_EQ(code(service_->register_user("ALICE", "other@example.com", kPassword, kNow, kRemote)), kUsernameTaken);
  EXPECT_EQ(code(service_->register_user("alice2", "Alice@Example.com", kPassword, kNow, kRemote)), kEmailTaken);
}

TEST_F(Service, LoginByUsernameOrEmailCaseInsensitively) {
  const Session r = register_user();
  for (const char* login : {"alice", "ALICE", "alice@example.com", "Alice@EXAMPLE.com"}) {
    auto s = service_->login(login, kPassword, kNow, kRemote);
    ASSERT_TRUE(s.ok()) << login << ": " << s.error().to_string();
    EXPECT_EQ(s->user.id, r.user.id);
    EXPECT_TRUE(service_->verify_access(s->access_token, kNow).ok());
  }
}

TEST_F(Service, WrongPasswordAndUnknownAccountLookAlike) {
  register_user();
  auto wrong = service_->login("alice", "wrong password", kNow, kRemote);
  auto unknown = service_->login("nobody", kPassword, kNow, kRemote);
  EXPECT_EQ(code(wrong), kInvalidCredentials);
  EXPECT_EQ(code(unknown), kInvalidCredentials);
  EXPECT_EQ(wrong.error().message, unknown.error().message);
  EXPECT_EQ(code(service_->login("", kPassword, kNow, kRemote)), kInvalidInput);
  EXPECT_EQ(code(service_->login(std::string(300, 'a'), kPassword, kNow, kRemote)), kInvalidInput);
  EXPECT_EQ(audit_count("login_failed"), 2u);
}

// The timing rule: one argon2id verification per login attempt whether or not
// the account exists (counted, not timed).
TEST_F(Service, LoginRunsOneArgon2VerificationEvenForAnUnknownAccount) {
  const Session r = register_user();
  auto count = [&] { return service_->password_verifications(); };
  std::uint64_t before = count();
  EXPECT_EQ(code(service_->login("nobody", kPassword, kNow, kRemote)), kInvalidCredentials);
  EXPECT_EQ(count(), before + 1);
  before = count();
  EXPECT_EQ(code(service_->login("nobody@example.com", kPassword, kNow, kRemote)), kInvalidCredentials);
  EXPECT_EQ(count(), before + 1);
  before = count();
  EXPECT_EQ(code(service_->login("alice", "wrong password", kNow, kRemote)), kInvalidCredentials);
  EXPECT_EQ(count(), before + 1);
  before = count();
  EXPECT_TRUE(service_->login("alice", kPassword, kNow, kRemote).ok());
  EXPECT_EQ(count(), before + 1);
  ASSERT_TRUE(store_->set_disabled(r.user.id, true, kNow).ok());
  before = count();
  EXPECT_EQ(code(service_->login("alice", kPassword, kNow, kRemote)), kDisabled);
  EXPECT_EQ(count(), before + 1);
}

TEST_F(Service, LoginUpgradesAnOldHash) {
  const Session r = register_user();
  AuthConfig stronger = config();
  stronger.password.ops_limit += 1;
  reconfigure(stronger);
  const std::string old_hash = store_->find_user_by_id(r.user.id).value()->password_hash;
  ASSERT_TRUE(needs_rehash(old_hash, stronger.password));
  auto s = service_->login("alice", kPassword, kNow, kRemote);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  const std::string new_hash = store_->find_user_by_id(r.user.id).value()->password_hash;
  EXPECT_NE(new_hash, old_hash);
  EXPECT_FALSE(needs_rehash(new_hash, stronger.password));
  EXPECT_TRUE(service_->verify_access(s->access_token, kNow).ok());  // the new session survived the upgrade
  EXPECT_TRUE(service_->login("alice", kPassword, kNow, kRemote).ok());
}

TEST_F(Service, Row16_LoginStartsANewFamilyAndKillsAPlantedCookie) {
  const Session planted = register_user();
  auto s = service_->login("alice", kPassword, kNow + seconds(5), kRemote, planted.refresh_token);
  ASSERT_TRUE(s.ok());
  EXPECT_NE(s->session_id, planted.session_id);
  EXPECT_NE(s->refresh_token, planted.refresh_token);
  EXPECT_EQ(code(service_->refresh(planted.refresh_token, kNow + seconds(30), kRemote)), kSessionRevoked);
  EXPECT_EQ(store_->family_status(planted.session_id).value(), storage::FamilyStatus::kRevoked);
  EXPECT_TRUE(service_->refresh(s->refresh_token, kNow + seconds(30), kRemote).ok());
  // A failed login revokes nothing and a junk cookie is ignored.
  const Session other = register_user("bob");
  EXPECT_EQ(code(service_->login("bob", "wrong password", kNow, kRemote, other.refresh_token)), kInvalidCredentials);
  EXPECT_EQ(store_->family_status(other.session_id).value(), storage::FamilyStatus::kLive);
  EXPECT_TRUE(service_->login("bob", kPassword, kNow, kRemote, "junk; cookie").ok());
}

// ---------------------------------------------------------------- refresh rotation

TEST_F(Service, Row11_EveryRefreshRotates) {
  const Session s1 = register_user();
  auto s2 = service_->refresh(s1.refresh_token, kNow + seconds(60), kRemote);
  ASSERT_TRUE(s2.ok()) << s2.error().to_string();
  EXPECT_NE(s2->refresh_token, s1.refresh_token);
  EXPECT_NE(s2->access_token, s1.access_token);
  EXPECT_EQ(s2->session_id, s1.session_id);
  EXPECT_EQ(s2->user.id, s1.user.id);
  auto identity = service_->verify_access(s2->access_token, kNow + seconds(60));
  ASSERT_TRUE(identity.ok());
  EXPECT_EQ(identity->session_id, s1.session_id);
  // Replaying RT1 outside the grace period is refused.
  EXPECT_EQ(code(service_->refresh(s1.refresh_token, kNow + seconds(120), kRemote)), kReuseDetected);
}

TEST_F(Service, Row12_ReuseRevokesTheWholeFamily) {
  const Session s1 = register_user();
  auto s2 = service_->refresh(s1.refresh_token, kNow + seconds(60), kRemote);
  ASSERT_TRUE(s2.ok());
  auto s3 = service_->refresh(s2->refresh_token, kNow + seconds(120), kRemote);
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(code(service_->refresh(s1.refresh_token, kNow + seconds(180), kRemote)), kReuseDetected);
  EXPECT_EQ(code(service_->refresh(s3->refresh_token, kNow + seconds(181), kRemote)), kSessionRevoked);
  EXPECT_EQ(code(service_->verify_access(s3->access_token, kNow + seconds(182))), kSessionRevoked);
  EXPECT_EQ(store_->find_family(s1.session_id).value()->revoke_reason, "reuse");
  const auto events = audit_events();
  const auto reuse =
      std::find_if(events.begin(), events.end(), [](const auto& e) { return e.kind == "refresh_reuse"; });
  ASSERT_NE(reuse, events.end());
  EXPECT_EQ(reuse->user_id, s1.user.id);
  EXPECT_EQ(reuse->remote_address, kRemote);
  EXPECT_NE(reuse->detail.find(s1.session_id), std::string::npos);
}

TEST_F(Service, Row13_GraceOnlyForTheImmediatelyPreviousToken) {
  const Session s1 = register_user();
  auto s2 = service_->refresh(s1.refresh_token, kNow + seconds(100), kRemote);
  ASSERT_TRUE(s2.ok());
  // A second tab presents RT1 again 5 s later: it gets a new head; RT2 dies.
  auto s2b = service_->refresh(s1.refresh_token, kNow + seconds(105), kRemote);
  ASSERT_TRUE(s2b.ok()) << s2b.error().to_string();
  EXPECT_NE(s2b->refresh_token, s2->refresh_token);
  EXPECT_EQ(live_tokens(s1.session_id), 1u);
  auto s3 = service_->refresh(s2b->refresh_token, kNow + seconds(200), kRemote);
  ASSERT_TRUE(s3.ok());
  // RT1 is now two tokens back: reuse, even inside its old window.
  const Session t1 = register_user("bob", kNow);
  auto t2 = service_->refresh(t1.refresh_token, kNow + seconds(300), kRemote);
  auto t3 = service_->refresh(t2->refresh_token, kNow + seconds(301), kRemote);
  ASSERT_TRUE(t3.ok());
  EXPECT_EQ(code(service_->refresh(t1.refresh_token, kNow + seconds(302), kRemote)), kReuseDetected);
  // And the previous token after the grace period is reuse too.
  const Session u1 = register_user("carol", kNow);
  ASSERT_TRUE(service_->refresh(u1.refresh_token, kNow + seconds(400), kRemote).ok());
  EXPECT_EQ(code(service_->refresh(u1.refresh_token, kNow + seconds(410), kRemote)), kReuseDetected);
}

TEST_F(Service, Row13_ParallelRefreshesLeaveOneLiveHead) {
  const Session s = register_user();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] { ok += service_->refresh(s.refresh_token, kNow + seconds(1), kRemote).ok() ? 1 : 0; });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);  // all inside the grace period
  EXPECT_EQ(live_tokens(s.session_id), 1u);
}

TEST_F(Service, Row14_IdleLifetime) {
  const Session s = register_user();
  EXPECT_EQ(code(service_->refresh(s.refresh_token, kNow + 14 * kDay, kRemote)), kSessionExpired);
  EXPECT_EQ(store_->find_family(s.session_id).value()->revoke_reason, "expired");
  const Session b = register_user("bob");
  EXPECT_TRUE(service_->refresh(b.refresh_token, kNow + 14 * kDay - seconds(1), kRemote).ok());
}

TEST_F(Service, Row14_AbsoluteLifetimeIsNeverExtended) {
  const Session s1 = register_user();
  auto s2 = service_->refresh(s1.refresh_token, kNow + 13 * kDay, kRemote);
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->refresh_expires_in, 14 * kDay);
  auto s3 = service_->refresh(s2->refresh_token, kNow + 26 * kDay, kRemote);
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->refresh_expires_in, 4 * kDay);  // the cookie ends with the family
  // Inside the idle limit, but at the absolute one.
  EXPECT_EQ(code(service_->check_session(s1.user.id, s1.session_id, kNow + 30 * kDay)), kSessionExpired);
  EXPECT_EQ(code(service_->refresh(s3->refresh_token, kNow + 30 * kDay, kRemote)), kSessionExpired);
}

TEST_F(Service, RefreshRefusesJunkWithoutTouchingTheStore) {
  for (const char* junk : {"", "x", "eyJhbGciOiJub25lIn0.e30.", "'; DROP TABLE users; --",
                           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}) {
    EXPECT_EQ(code(service_->refresh(junk, kNow, kRemote)), kSessionRevoked) << junk;
  }
  EXPECT_EQ(code(service_->refresh(random_token(), kNow, kRemote)), kSessionRevoked);  // shaped, but unknown
}

// ---------------------------------------------------------------- revocation

TEST_F(Service, Row15_LogoutRevokesTheFamily) {
  const Session s = register_user();
  const Session other = *service_->login("alice", kPassword, kNow, kRemote);
  ASSERT_TRUE(service_->logout(s.refresh_token, kNow + seconds(1), kRemote).ok());
  EXPECT_EQ(code(service_->refresh(s.refresh_token, kNow + seconds(2), kRemote)), kSessionRevoked);
  EXPECT_EQ(code(service_->verify_access(s.access_token, kNow + seconds(2))), kSessionRevoked);
  EXPECT_EQ(store_->find_family(s.session_id).value()->revoke_reason, "logout");
  // Other sessions live on; logout is idempotent and accepts anything.
  EXPECT_TRUE(service_->verify_access(other.access_token, kNow + seconds(2)).ok());
  EXPECT_TRUE(service_->logout(s.refresh_token, kNow + seconds(3), kRemote).ok());
  EXPECT_TRUE(service_->logout(random_token(), kNow, kRemote).ok());
  EXPECT_TRUE(service_->logout("junk", kNow, kRemote).ok());
  EXPECT_EQ(audit_count("logout"), 2u);
}

TEST_F(Service, Row15_PasswordChangeRevokesEverySessionAndStartsANewOne) {
  const Session a = register_user();
  const Session b = *service_->login("alice", kPassword, kNow, kRemote);
  EXPECT_EQ(code(service_->change_password(a.user.id, "wrong password", "new password 1", kNow, kRemote)),
            kInvalidCredentials);
  EXPECT_EQ(code(service_->change_password(a.user.id, kPassword, "short", kNow, kRemote)), kInvalidInput);
  EXPECT_EQ(code(service_->change_password("no-such-user", kPassword, "new password 1", kNow, kRemote)),
            kInvalidCredentials);
  EXPECT_TRUE(service_->verify_access(a.access_token, kNow).ok());  // failures revoke nothing

  auto c = service_->change_password(a.user.id, kPassword, "new password 1", kNow + seconds(1), kRemote);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  for (const Session* old : {&a, &b}) {
    EXPECT_EQ(code(service_->verify_access(old->access_token, kNow + seconds(2))), kSessionRevoked);
    EXPECT_EQ(code(service_->refresh(old->refresh_token, kNow + seconds(2), kRemote)), kSessionRevoked);
  }
  EXPECT_TRUE(service_->verify_access(c->access_token, kNow + seconds(2)).ok());
  EXPECT_TRUE(service_->refresh(c->refresh_token, kNow + seconds(2), kRemote).ok());
  EXPECT_EQ(code(service_->login("alice", kPassword, kNow + seconds(3), "198.51.100.1")), kInvalidCredentials);
  EXPECT_TRUE(service_->login("alice", "new password 1", kNow + seconds(3), "198.51.100.1").ok());
  EXPECT_EQ(audit_count("password_changed"), 1u);
  EXPECT_EQ(audit_count("password_change_failed"), 1u);
}

TEST_F(Service, Row4_VerifyAccessRefusesAnExpiredToken) {
  const Session s = register_user();
  EXPECT_TRUE(service_->verify_access(s.access_token, kNow + seconds(600 + 59)).ok());  // within the leeway
  EXPECT_EQ(code(service_->verify_access(s.access_token, kNow + seconds(600 + 61))), kExpired);
  EXPECT_EQ(code(service_->verify_access("eyJ.not.atoken", kNow)), kMalformed);
}

TEST_F(Service, Row9_DisabledUserIsRefusedEverywhere) {
  const Session s = register_user();
  ASSERT_TRUE(store_->set_disabled(s.user.id, true, kNow).ok());
  EXPECT_EQ(code(service_->verify_access(s.access_token, kNow)), kSessionRevoked);  // the store revoked the family
  EXPECT_EQ(code(service_->refresh(s.refresh_token, kNow, kRemote)), kSessionRevoked);
  EXPECT_EQ(code(service_->login("alice", kPassword, kNow, kRemote)), kDisabled);
  EXPECT_EQ(code(service_->login("alice", "wrong password", kNow, kRemote)), kInvalidCredentials);
  EXPECT_EQ(code(service_->change_password(s.user.id, kPassword, "new password 1", kNow, kRemote)), kDisabled);
}

TEST_F(Service, Row9_DisabledUserRefusedEvenWithALiveFamily) {
  // A family created after the disable (a login racing it) must not help.
  const Session s = register_user();
  ASSERT_TRUE(store_->set_disabled(s.user.id, true, kNow).ok());
  const std::string raw = random_token();
  ASSERT_TRUE(store_->create_family("late-family", s.user.id, hash_token(raw), kNow, kNow + 30 * kDay).ok());
  EXPECT_EQ(code(service_->check_session(s.user.id, "late-family", kNow)), kDisabled);
  EXPECT_EQ(code(service_->refresh(raw, kNow, kRemote)), kDisabled);
  EXPECT_EQ(store_->family_status("late-family").value(), storage::FamilyStatus::kRevoked);
}

TEST_F(Service, Row9_SidMustBeALiveFamilyOfTheSubject) {
  const Session alice = register_user("alice");
  const Session bob = register_user("bob");
  const auto key = keys_->snapshot()->signing;
  auto forged = sign(
      new_access_claims(config().issuer, config().audience, bob.user.id, alice.session_id, kNow, seconds(600)), *key);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(code(service_->verify_access(*forged, kNow)), kSessionRevoked);
  auto unknown = sign(
      new_access_claims(config().issuer, config().audience, bob.user.id, "no-such-family", kNow, seconds(600)), *key);
  EXPECT_EQ(code(service_->verify_access(*unknown, kNow)), kSessionRevoked);
  EXPECT_TRUE(service_->verify_access(bob.access_token, kNow).ok());
}

TEST_F(Service, Row6_RolesComeFromTheStore) {
  const Session owner = register_user("alice");
  const Session viewer = register_user("bob");
  const Session stranger = register_user("carol");
  storage::DocumentMeta doc;
  doc.id = "doc-1";
  doc.title = "Notes";
  doc.created_by = owner.user.id;
  ASSERT_TRUE(store_->create_document(doc, kNow).ok());
  ASSERT_TRUE(store_->set_document_member("doc-1", viewer.user.id, storage::DocumentRole::kViewer).ok());
  EXPECT_EQ(service_->document_role(owner.user.id, "doc-1").value(), storage::DocumentRole::kOwner);
  EXPECT_EQ(service_->document_role(viewer.user.id, "doc-1").value(), storage::DocumentRole::kViewer);
  EXPECT_EQ(service_->document_role(stranger.user.id, "doc-1").value(), std::nullopt);
  EXPECT_EQ(service_->document_role(owner.user.id, "unknown").value(), std::nullopt);
  EXPECT_EQ(code(service_->document_role(owner.user.id, "../etc/passwd")), kInvalidInput);
  EXPECT_EQ(code(service_->document_role(owner.user.id, std::string(129, 'a'))), kInvalidInput);
  // The viewer's identity carries no role: verify_access gives ids only.
  auto identity = service_->verify_access(viewer.access_token, kNow);
  ASSERT_TRUE(identity.ok());
  EXPECT_EQ(service_->document_role(identity->user_id, "doc-1").value(), storage::DocumentRole::kViewer);
}

// ---------------------------------------------------------------- rate limits

TEST(RateLimiterTest, BucketRefillsAndReportsRetryAfter) {
  RateLimiter limiter({3, seconds(60), 100});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.acquire("k", kNow).allowed);
  auto refused = limiter.acquire("k", kNow);
  EXPECT_FALSE(refused.allowed);
  EXPECT_TRUE(refused.tripped);
  EXPECT_EQ(refused.retry_after, seconds(20));
  EXPECT_FALSE(limiter.acquire("k", kNow + seconds(5)).tripped);  // still the same trip
  EXPECT_TRUE(limiter.acquire("other", kNow).allowed);
  EXPECT_TRUE(limiter.acquire("k", kNow + seconds(20)).allowed);
  limiter.refund("k", kNow + seconds(20));
  EXPECT_TRUE(limiter.acquire("k", kNow + seconds(20)).allowed);
  EXPECT_FALSE(limiter.acquire("k", kNow + seconds(20)).allowed);
}

TEST(RateLimiterTest, MemoryIsBounded) {
  RateLimiter limiter({5, seconds(60), 100});
  for (int i = 0; i < 1000; ++i) limiter.acquire("key-" + std::to_string(i), kNow);
  EXPECT_LE(limiter.size(), 100u);
  // Idle keys are forgotten once their bucket is full again.
  limiter.acquire("fresh", kNow + seconds(61));
  EXPECT_EQ(limiter.size(), 1u);
  // Over-long keys are cut, so they cannot grow memory either.
  EXPECT_TRUE(limiter.acquire(std::string(100'000, 'x'), kNow + seconds(61)).allowed);
}

TEST_F(Service, RateLimitPerAddressTripsWithRetryAfterAndResets) {
  register_user();
  AuthConfig c = config();
  c.per_address = {3, seconds(60), 1000};
  reconfigure(c);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(service_->login("alice", kPassword, kNow, kRemote).ok());
  auto limited = service_->login("alice", kPassword, kNow, kRemote);
  ASSERT_EQ(code(limited), kRateLimited);
  EXPECT_EQ(error_name(limited.error()), "rate_limited");
  EXPECT_EQ(retry_after(limited.error()), seconds(20));
  EXPECT_EQ(code(service_->register_user("bob", "bob@example.com", kPassword, kNow, kRemote)), kRateLimited);
  EXPECT_TRUE(service_->login("alice", kPassword, kNow, "198.51.100.7").ok());  // another address
  EXPECT_TRUE(service_->login("alice", kPassword, kNow + seconds(20), kRemote).ok());
  EXPECT_EQ(audit_count("rate_limited"), 1u);  // once per trip, not per refused attempt
}

TEST_F(Service, RateLimitPerAccountCountsFailuresAcrossAddressesAndLoginForms) {
  register_user();
  AuthConfig c = config();
  c.per_account = {3, seconds(60), 1000};
  reconfigure(c);
  EXPECT_TRUE(service_->login("alice", kPassword, kNow, "203.0.113.1").ok());  // success costs nothing
  EXPECT_EQ(code(service_->login("alice", "wrong password", kNow, "203.0.113.2")), kInvalidCredentials);
  EXPECT_EQ(code(service_->login("ALICE@example.com", "wrong password", kNow, "203.0.113.3")), kInvalidCredentials);
  EXPECT_EQ(code(service_->login("Alice", "wrong password", kNow, "203.0.113.4")), kInvalidCredentials);
  const std::uint64_t before = service_->password_verifications();
  auto limited = service_->login("alice@example.com", kPassword, kNow, "203.0.113.5");
  ASSERT_EQ(code(limited), kRateLimited);
  EXPECT_EQ(retry_after(limited.error()), seconds(20));
  EXPECT_EQ(service_->password_verifications(), before);  // refused before any argon2
  // An unknown account is limited the same way.
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(code(service_->login("Ghost", "x-password", kNow, "203.0.113.9")), kInvalidCredentials);
  EXPECT_EQ(code(service_->login("ghost", "x-password", kNow, "203.0.113.10")), kRateLimited);
  EXPECT_TRUE(service_->login("alice", kPassword, kNow + seconds(20), "203.0.113.6").ok());
  const auto events = audit_events();
  EXPECT_EQ(std::count_if(events.begin(), events.end(),
                          [](const auto& e) { return e.kind == "rate_limited" && !e.user_id.empty(); }),
            1);
}

// ---------------------------------------------------------------- secrets at rest and in logs

TEST_F(Service, Row10_RefreshTokensUniqueAndOnlyHashesStored) {
  // 10k tokens issued through the service: registration, then rotations.
  constexpr int kTokens = 10'000;
  std::set<std::string> raw;
  std::vector<std::string> access;
  Session s = register_user();
  raw.insert(s.refresh_token);
  UnixSeconds t = kNow;
  for (int i = 1; i < kTokens; ++i) {
    t += seconds(11);
    auto next = service_->refresh(s.refresh_token, t, kRemote);
    ASSERT_TRUE(next.ok()) << i << ": " << next.error().to_string();
    s = std::move(next).value();
    EXPECT_TRUE(raw.insert(s.refresh_token).second);
    if (i % 1000 == 0) access.push_back(s.access_token);
  }
  EXPECT_EQ(raw.size(), static_cast<std::size_t>(kTokens));
  EXPECT_EQ(live_tokens(s.session_id), 1u);
  std::string files;
  for (const char* name : {"quire.db", "quire.db-wal"}) files += read_file(dir_ / name);
  ASSERT_GT(files.size(), 0u);
  for (const auto& token : raw) ASSERT_EQ(files.find(token), std::string::npos);
  EXPECT_EQ(files.find("eyJ"), std::string::npos);
  // What is stored is the SHA-256 of each.
  EXPECT_NE(files.find(hash_token(s.refresh_token)), std::string::npos);
  EXPECT_NE(files.find(hash_token(*raw.begin())), std::string::npos);
}

TEST_F(Service, Row28_AuditAndLogsCarryNoTokenMaterial) {
  testing::internal::CaptureStderr();
  std::vector<std::string> secrets = {std::string(kPassword), "Tr0ub4dor&3 guess", "new password 1"};
  const Session a = register_user();
  secrets.push_back(a.refresh_token);
  secrets.push_back(a.access_token);
  auto b = service_->login("alice", kPassword, kNow, kRemote);
  secrets.push_back(b->refresh_token);
  secrets.push_back(b->access_token);
  (void)service_->login("alice", "Tr0ub4dor&3 guess", kNow, kRemote);
  secrets.emplace_back("hunter2hunter2");
  (void)service_->login("hunter2hunter2", "Tr0ub4dor&3 guess", kNow, kRemote);  // a password typed as the login
  auto b2 = service_->refresh(b->refresh_token, kNow + seconds(60), kRemote);
  secrets.push_back(b2->refresh_token);
  (void)service_->refresh(b->refresh_token, kNow + seconds(120), kRemote);  // reuse
  ASSERT_TRUE(service_->logout(a.refresh_token, kNow, kRemote).ok());
  auto c = service_->change_password(a.user.id, kPassword, "new password 1", kNow, kRemote);
  secrets.push_back(c->refresh_token);
  secrets.push_back(c->access_token);
  AuthConfig tight = config();
  tight.per_address = {1, seconds(60), 10};
  reconfigure(tight);
  (void)service_->login("alice", "new password 1", kNow, "198.51.100.1");
  (void)service_->login("alice", "new password 1", kNow, "198.51.100.1");
  const std::string logs = testing::internal::GetCapturedStderr();

  std::set<std::string> kinds;
  std::string text = logs;
  for (const auto& e : audit_events()) {
    kinds.insert(e.kind);
    text += e.kind + " " + e.user_id + " " + e.remote_address + " " + e.detail + "\n";
  }
  for (const char* kind :
       {"register", "login", "login_failed", "refresh_reuse", "logout", "password_changed", "rate_limited"}) {
    EXPECT_EQ(kinds.count(kind), 1u) << kind;
  }
  EXPECT_NE(logs.find("refresh_reuse"), std::string::npos);
  EXPECT_EQ(text.find("eyJ"), std::string::npos);
  for (const auto& secret : secrets) EXPECT_EQ(text.find(secret), std::string::npos) << "secret leaked: " << secret;
  std::string files;
  for (const char* name : {"quire.db", "quire.db-wal"}) files += read_file(dir_ / name);
  EXPECT_EQ(files.find("eyJ"), std::string::npos);
  for (const auto& secret : secrets) EXPECT_EQ(files.find(secret), std::string::npos) << "secret stored: " << secret;
}

// ---------------------------------------------------------------- threads

TEST_F(Service, SafeFromSeveralWorkerThreads) {
  constexpr int kThreads = 6;
  for (int i = 0; i < kThreads; ++i) register_user("user" + std::to_string(i));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const std::string name = "user" + std::to_string(i);
      const std::string remote = "10.0.0." + std::to_string(i);
      auto s = service_->login(name, kPassword, kNow, remote);
      if (!s) return void(++failures);
      for (int r = 1; r <= 20; ++r) {
        auto next = service_->refresh(s->refresh_token, kNow + seconds(r * 11), remote);
        if (!next || !service_->verify_access(next->access_token, kNow + seconds(r * 11))) return void(++failures);
        s = std::move(next);
      }
      if (!service_->logout(s->refresh_token, kNow + seconds(300), remote)) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace quire::auth
