// SqliteAccountStore (sqlite_account_store.h).
#include "storage/sqlite_account_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "storage/sqlite_schema.h"

namespace quire::storage {
namespace {

// Every statement, as named constants: the statement cache is keyed by their
// addresses, and every value is a bound parameter.
constexpr const char kBegin[] = "BEGIN IMMEDIATE";
constexpr const char kCommit[] = "COMMIT";
constexpr const char kRollback[] = "ROLLBACK";

constexpr const char kUserIdExists[] = "SELECT 1 FROM users WHERE id = ?1";
constexpr const char kUsernameExists[] = "SELECT 1 FROM users WHERE username = ?1";  // column is NOCASE
constexpr const char kEmailExists[] = "SELECT 1 FROM users WHERE email = ?1";
constexpr const char kInsertUser[] =
    "INSERT INTO users(id, username, email, password_hash, display_name, disabled, created_at, "
    "password_changed_at) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6)";
constexpr const char kUserById[] =
    "SELECT id, username, email, password_hash, display_name, disabled, created_at, password_changed_at "
    "FROM users WHERE id = ?1";
constexpr const char kUserByUsername[] =
    "SELECT id, username, email, password_hash, display_name, disabled, created_at, password_changed_at "
    "FROM users WHERE username = ?1";
constexpr const char kUserByEmail[] =
    "SELECT id, username, email, password_hash, display_name, disabled, created_at, password_changed_at "
    "FROM users WHERE email = ?1";
constexpr const char kListUsers[] =
    "SELECT id, username, email, password_hash, display_name, disabled, created_at, password_changed_at "
    "FROM users ORDER BY username, id";
constexpr const char kSetPassword[] = "UPDATE users SET password_hash = ?2, password_changed_at = ?3 WHERE id = ?1";
constexpr const char kSetDisabled[] = "UPDATE users SET disabled = ?2 WHERE id = ?1";

constexpr const char kWorkspaceExists[] = "SELECT 1 FROM workspaces WHERE id = ?1";
constexpr const char kInsertWorkspace[] =
    "INSERT INTO workspaces(id, name, created_by, created_at) VALUES (?1, ?2, ?3, ?4)";
constexpr const char kListWorkspaces[] =
    "SELECT w.id, w.name, w.created_by, w.created_at, m.role FROM workspace_members m "
    "JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = ?1 ORDER BY w.name, w.id";
constexpr const char kWorkspaceMembers[] =
    "SELECT user_id, role FROM workspace_members WHERE workspace_id = ?1 "
    "ORDER BY role <> 'owner', user_id";
constexpr const char kWorkspaceRole[] = "SELECT role FROM workspace_members WHERE workspace_id = ?1 AND user_id = ?2";
constexpr const char kWorkspaceOwners[] =
    "SELECT count(*) FROM workspace_members WHERE workspace_id = ?1 AND role = 'owner'";
constexpr const char kUpsertWorkspaceMember[] =
    "INSERT INTO workspace_members(workspace_id, user_id, role) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(workspace_id, user_id) DO UPDATE SET role = excluded.role";
constexpr const char kDeleteWorkspaceMember[] =
    "DELETE FROM workspace_members WHERE workspace_id = ?1 AND user_id = ?2";

constexpr const char kDocumentExists[] = "SELECT 1 FROM documents WHERE id = ?1";  // deleted ones too
constexpr const char kLiveDocumentExists[] = "SELECT 1 FROM documents WHERE id = ?1 AND deleted_at IS NULL";
constexpr const char kInsertDocument[] =
    "INSERT INTO documents(id, workspace_id, title, created_by, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?5)";
constexpr const char kGetDocument[] =
    "SELECT id, workspace_id, title, created_by, created_at, updated_at, deleted_at FROM documents "
    "WHERE id = ?1 AND deleted_at IS NULL";
constexpr const char kDocumentsFor[] =
    "SELECT d.id, d.workspace_id, d.title, d.created_by, d.created_at, d.updated_at, d.deleted_at, d.last_edited_at, "
    "d.last_edited_by, m.role, coalesce(u.username, ''), coalesce(u.display_name, '') "
    "FROM document_members m JOIN documents d ON d.id = m.document_id LEFT JOIN users u ON u.id = d.last_edited_by "
    "WHERE m.user_id = ?1 AND d.deleted_at IS NULL "
    "ORDER BY max(d.updated_at, coalesce(d.last_edited_at, 0)) DESC, d.id";
constexpr const char kRecordEdit[] =
    "UPDATE documents SET last_edited_at = ?3, last_edited_by = ?2 WHERE id = ?1 AND deleted_at IS NULL";
constexpr const char kRenameDocument[] =
    "UPDATE documents SET title = ?2, updated_at = ?3 WHERE id = ?1 AND deleted_at IS NULL";
constexpr const char kDeleteDocument[] = "UPDATE documents SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL";
constexpr const char kDocumentMembers[] =
    "SELECT m.user_id, m.role FROM document_members m JOIN documents d ON d.id = m.document_id "
    "WHERE m.document_id = ?1 AND d.deleted_at IS NULL "
    "ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END, m.user_id";
constexpr const char kLiveDocumentRole[] =
    "SELECT m.role FROM document_members m JOIN documents d ON d.id = m.document_id "
    "WHERE m.document_id = ?1 AND m.user_id = ?2 AND d.deleted_at IS NULL";
constexpr const char kDocumentRole[] = "SELECT role FROM document_members WHERE document_id = ?1 AND user_id = ?2";
constexpr const char kDocumentOwners[] =
    "SELECT count(*) FROM document_members WHERE document_id = ?1 AND role = 'owner'";
constexpr const char kUpsertDocumentMember[] =
    "INSERT INTO document_members(document_id, user_id, role) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(document_id, user_id) DO UPDATE SET role = excluded.role";
constexpr const char kDeleteDocumentMember[] = "DELETE FROM document_members WHERE document_id = ?1 AND user_id = ?2";

constexpr const char kFamilyExists[] = "SELECT 1 FROM token_families WHERE id = ?1";
constexpr const char kTokenExists[] = "SELECT 1 FROM refresh_tokens WHERE hash = ?1";
constexpr const char kInsertFamily[] =
    "INSERT INTO token_families(id, user_id, created_at, last_used_at, absolute_expires_at) "
    "VALUES (?1, ?2, ?3, ?3, ?4)";
constexpr const char kInsertToken[] = "INSERT INTO refresh_tokens(hash, family_id, issued_at) VALUES (?1, ?2, ?3)";
constexpr const char kPresentedToken[] =
    "SELECT t.family_id, t.used_at, t.successor, f.user_id, f.last_used_at, f.absolute_expires_at, f.revoked_at "
    "FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id WHERE t.hash = ?1";
// The one conditional update that decides a rotation: only one caller can move
// a token from unused to used.
constexpr const char kUseToken[] =
    "UPDATE refresh_tokens SET used_at = ?2, successor = ?3 WHERE hash = ?1 AND used_at IS NULL";
constexpr const char kSetSuccessor[] = "UPDATE refresh_tokens SET successor = ?2 WHERE hash = ?1";
constexpr const char kTouchFamily[] = "UPDATE token_families SET last_used_at = ?2 WHERE id = ?1";
constexpr const char kRevokeFamily[] =
    "UPDATE token_families SET revoked_at = ?2, revoke_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL";
constexpr const char kLiveFamiliesOf[] =
    "SELECT id FROM token_families WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY id";
constexpr const char kRevokeUserFamilies[] =
    "UPDATE token_families SET revoked_at = ?2, revoke_reason = ?3 WHERE user_id = ?1 AND revoked_at IS NULL";
constexpr const char kFamilyRevokedAt[] = "SELECT revoked_at FROM token_families WHERE id = ?1";
constexpr const char kFindFamily[] =
    "SELECT id, user_id, created_at, last_used_at, absolute_expires_at, revoked_at, revoke_reason "
    "FROM token_families WHERE id = ?1";
constexpr const char kLiveTokenCount[] = "SELECT count(*) FROM refresh_tokens WHERE family_id = ?1 AND used_at IS NULL";
constexpr const char kRevokedSince[] =
    "SELECT id, user_id, revoked_at, revoke_reason FROM token_families WHERE revoked_at >= ?1 "
    "ORDER BY revoked_at, id";

constexpr const char kInsertAudit[] =
    "INSERT INTO audit_events(at, kind, user_id, remote_address, detail) VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char kListAudit[] =
    "SELECT at, kind, user_id, remote_address, detail FROM audit_events ORDER BY id DESC LIMIT ?1";

// What set/remove member needs of a membership table.
struct MemberTable {
  const char* role;    // (scope, user) → role
  const char* owners;  // scope → number of owners
  const char* upsert;  // (scope, user, role)
  const char* remove;  // (scope, user)
};
constexpr MemberTable kWorkspaceMembersTable{kWorkspaceRole, kWorkspaceOwners, kUpsertWorkspaceMember,
                                             kDeleteWorkspaceMember};
constexpr MemberTable kDocumentMembersTable{kDocumentRole, kDocumentOwners, kUpsertDocumentMember,
                                            kDeleteDocumentMember};

std::int64_t millis(Time t) {
  return t.time_since_epoch().count();
}

}  // namespace

// A cached statement being bound and stepped; reset when it goes out of scope.
// Parameters bind in order (?1, ?2, ...).
class SqliteAccountStore::Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Query(Query&& other) noexcept : db_(other.db_), s_(std::exchange(other.s_, nullptr)), next_(other.next_) {}
  Query& operator=(Query&&) = delete;
  ~Query() {
    if (s_ == nullptr) return;
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  Query& text(std::string_view v) {
    sqlite::bind_text(s_, ++next_, v);
    return *this;
  }
  Query& text_or_null(std::string_view v) {
    if (v.empty()) {
      sqlite3_bind_null(s_, ++next_);
      return *this;
    }
    return text(v);
  }
  Query& integer(std::int64_t v) {
    sqlite3_bind_int64(s_, ++next_, v);
    return *this;
  }
  Query& time(Time t) { return integer(millis(t)); }

  // True on a row, false when done; an error otherwise.
  Result<bool> row(std::string_view what) {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return sqlite::error(db_, what);
  }
  // Runs a statement that returns no rows; how many rows it changed.
  Result<int> run(std::string_view what) {
    if (sqlite3_step(s_) != SQLITE_DONE) return sqlite::error(db_, what);
    return sqlite3_changes(db_);
  }

  // Every remaining row, each turned into a T by `read` (which returns Result<T>).
  template <class T, class Read>
  Result<std::vector<T>> all(std::string_view what, Read read) {
    std::vector<T> out;
    for (;;) {
      auto more = row(what);
      if (!more) return more.error();
      if (!*more) return out;
      Result<T> item = read(*this);
      if (!item) return item.error();
      out.push_back(std::move(*item));
    }
  }

  [[nodiscard]] std::string text_at(int i) const { return sqlite::column_text(s_, i); }
  [[nodiscard]] std::int64_t int_at(int i) const { return sqlite3_column_int64(s_, i); }
  [[nodiscard]] Time time_at(int i) const { return Time(Duration(int_at(i))); }
  [[nodiscard]] std::optional<Time> optional_time_at(int i) const {
    if (sqlite3_column_type(s_, i) == SQLITE_NULL) return std::nullopt;
    return time_at(i);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
  int next_ = 0;
};

namespace {

User read_user(const auto& q) {
  User u;
  u.id = q.text_at(0);
  u.username = q.text_at(1);
  u.email = q.text_at(2);
  u.password_hash = q.text_at(3);
  u.display_name = q.text_at(4);
  u.disabled = q.int_at(5) != 0;
  u.created_at = q.time_at(6);
  u.password_changed_at = q.time_at(7);
  return u;
}

DocumentMeta read_document(const auto& q) {
  DocumentMeta d;
  d.id = q.text_at(0);
  d.workspace_id = q.text_at(1);
  d.title = q.text_at(2);
  d.created_by = q.text_at(3);
  d.created_at = q.time_at(4);
  d.updated_at = q.time_at(5);
  d.deleted_at = q.optional_time_at(6);
  return d;
}

}  // namespace

SqliteAccountStore::SqliteAccountStore(sqlite3* db) : db_(db) {}

Result<std::unique_ptr<SqliteAccountStore>> SqliteAccountStore::open(const std::string& path, Duration busy_timeout) {
  auto db = sqlite::open_database(path, busy_timeout);
  if (!db) return db.error();
  std::unique_ptr<SqliteAccountStore> store(new SqliteAccountStore(*db));  // NOLINT: private constructor
  for (auto [out, sql] : {std::pair{&store->begin_, kBegin}, std::pair{&store->commit_, kCommit},
                          std::pair{&store->rollback_, kRollback}}) {
    auto s = sqlite::prepare(store->db_, sql);
    if (!s) return s.error();
    *out = *s;
  }
  return store;
}

SqliteAccountStore::~SqliteAccountStore() {
  for (auto& [sql, s] : statements_) sqlite3_finalize(s);
  for (sqlite3_stmt* s : {begin_, commit_, rollback_}) sqlite3_finalize(s);
  sqlite3_close(db_);
}

Result<SqliteAccountStore::Query> SqliteAccountStore::query(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    auto s = sqlite::prepare(db_, sql);
    if (!s) return s.error();
    it = statements_.emplace(sql, *s).first;
  }
  return Query(db_, it->second);
}

Result<bool> SqliteAccountStore::exists(const char* sql, std::string_view key) {
  auto q = query(sql);
  if (!q) return q.error();
  q->text(key);
  return q->row("lookup");
}

// ---- Users ----

Status SqliteAccountStore::create_user(const NewUser& user, Time now) {
  if (Status s = check_new_user(user); !s) return s;
  const std::string email = lower_ascii(user.email);
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  // Checked in the write transaction, so the answer still holds at the insert;
  // the UNIQUE constraints stay as the last line of defence.
  struct {
    const char* sql;
    std::string_view key;
    ErrorCode code;
    const char* message;
  } const checks[] = {{kUserIdExists, user.id, kExists, "user id exists"},
                      {kUsernameExists, user.username, kUsernameTaken, "username taken"},
                      {kEmailExists, email, kEmailTaken, "email taken"}};
  for (const auto& c : checks) {
    auto found = exists(c.sql, c.key);
    if (!found) return found.error();
    if (*found) return domain_error(c.code, c.message);
  }
  auto q = query(kInsertUser);
  if (!q) return q.error();
  q->text(user.id).text(user.username).text(email).text(user.password_hash).text(user.display_name).time(now);
  if (auto r = q->run("create user"); !r) return r.error();
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

Result<std::optional<User>> SqliteAccountStore::find_user_by_id(std::string_view id) {
  auto q = query(kUserById);
  if (!q) return q.error();
  q->text(id);
  auto row = q->row("find user");
  if (!row) return row.error();
  if (!*row) return std::optional<User>();
  return std::optional<User>(read_user(*q));
}

Result<std::optional<User>> SqliteAccountStore::find_user_by_login(std::string_view login) {
  const bool is_email = login.find('@') != std::string_view::npos;
  auto q = query(is_email ? kUserByEmail : kUserByUsername);
  if (!q) return q.error();
  q->text(is_email ? lower_ascii(login) : std::string(login));
  auto row = q->row("find user");
  if (!row) return row.error();
  if (!*row) return std::optional<User>();
  return std::optional<User>(read_user(*q));
}

Result<std::vector<User>> SqliteAccountStore::list_users() {
  auto q = query(kListUsers);
  if (!q) return q.error();
  return q->all<User>("list users", [](const Query& r) -> Result<User> { return read_user(r); });
}

Status SqliteAccountStore::set_password_hash(std::string_view user_id, std::string_view password_hash, Time now) {
  if (password_hash.empty()) return domain_error(kInvalid, "empty password hash");
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  auto q = query(kSetPassword);
  if (!q) return q.error();
  q->text(user_id).text(password_hash).time(now);
  auto changed = q->run("set password");
  if (!changed) return changed.error();
  if (*changed == 0) return domain_error(kNotFound, "no such user");
  if (auto revoked = revoke_live_families(user_id, "password", now); !revoked) return revoked.error();
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

Status SqliteAccountStore::set_disabled(std::string_view user_id, bool disabled, Time now) {
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  auto q = query(kSetDisabled);
  if (!q) return q.error();
  q->text(user_id).integer(disabled ? 1 : 0);
  auto changed = q->run("set disabled");
  if (!changed) return changed.error();
  if (*changed == 0) return domain_error(kNotFound, "no such user");
  if (disabled) {
    if (auto revoked = revoke_live_families(user_id, "disabled", now); !revoked) return revoked.error();
  }
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

// ---- Memberships (workspaces and documents share the last-owner rule) ----

// Sets (role) or removes (nullopt) a member; the caller holds the write
// transaction and has checked that the scope and the user exist. An owner who
// is the only one can be neither downgraded nor removed.
Status SqliteAccountStore::change_member(Members members, std::string_view scope_id, std::string_view user_id,
                                         std::optional<std::string_view> role) {
  const MemberTable& table = members == Members::kWorkspace ? kWorkspaceMembersTable : kDocumentMembersTable;
  std::string current;
  {
    auto q = query(table.role);
    if (!q) return q.error();
    q->text(scope_id).text(user_id);
    auto row = q->row("member role");
    if (!row) return row.error();
    if (*row) current = q->text_at(0);
  }
  if (current.empty() && !role) return domain_error(kNotFound, "not a member");
  if (current == "owner" && role != std::optional<std::string_view>("owner")) {
    auto q = query(table.owners);
    if (!q) return q.error();
    q->text(scope_id);
    auto row = q->row("count owners");
    if (!row) return row.error();
    if (!*row) return sqlite::error(db_, "count owners");
    if (q->int_at(0) <= 1) return domain_error(kLastOwner, "the last owner cannot be removed or downgraded");
  }
  auto q = query(role ? table.upsert : table.remove);
  if (!q) return q.error();
  q->text(scope_id).text(user_id);
  if (role) q->text(*role);
  if (auto r = q->run("change member"); !r) return r.error();
  return {};
}

// ---- Workspaces ----

Status SqliteAccountStore::create_workspace(const Workspace& workspace) {
  if (Status s = check_id("workspace", workspace.id); !s) return s;
  if (Status s = check_name("workspace name", workspace.name); !s) return s;
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  auto taken = exists(kWorkspaceExists, workspace.id);
  if (!taken) return taken.error();
  if (*taken) return domain_error(kExists, "workspace id exists");
  auto creator = exists(kUserIdExists, workspace.created_by);
  if (!creator) return creator.error();
  if (!*creator) return domain_error(kNotFound, "no such user");
  {
    auto q = query(kInsertWorkspace);
    if (!q) return q.error();
    q->text(workspace.id).text(workspace.name).text(workspace.created_by).time(workspace.created_at);
    if (auto r = q->run("create workspace"); !r) return r.error();
  }
  if (Status s = change_member(Members::kWorkspace, workspace.id, workspace.created_by, "owner"); !s) return s;
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

Result<std::vector<WorkspaceMembership>> SqliteAccountStore::list_workspaces(std::string_view user_id) {
  auto q = query(kListWorkspaces);
  if (!q) return q.error();
  q->text(user_id);
  return q->all<WorkspaceMembership>("list workspaces", [](const Query& r) -> Result<WorkspaceMembership> {
    auto role = workspace_role_of(r.text_at(4));
    if (!role) return role.error();
    return WorkspaceMembership{{r.text_at(0), r.text_at(1), r.text_at(2), r.time_at(3)}, *role};
  });
}

Status SqliteAccountStore::set_workspace_member(std::string_view workspace_id, std::string_view user_id,
                                                WorkspaceRole role) {
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  for (auto [sql, key] : {std::pair{kWorkspaceExists, workspace_id}, std::pair{kUserIdExists, user_id}}) {
    auto found = exists(sql, key);
    if (!found) return found.error();
    if (!*found) return domain_error(kNotFound, sql == kUserIdExists ? "no such user" : "no such workspace");
  }
  if (Status s = change_member(Members::kWorkspace, workspace_id, user_id, role_name(role)); !s) return s;
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

Status SqliteAccountStore::remove_workspace_member(std::string_view workspace_id, std::string_view user_id) {
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  if (Status s = change_member(Members::kWorkspace, workspace_id, user_id, std::nullopt); !s) return s;
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

Result<std::vector<WorkspaceMember>> SqliteAccountStore::list_workspace_members(std::string_view workspace_id) {
  auto q = query(kWorkspaceMembers);
  if (!q) return q.error();
  q->text(workspace_id);
  return q->all<WorkspaceMember>("list workspace members", [](const Query& r) -> Result<WorkspaceMember> {
    auto role = workspace_role_of(r.text_at(1));
    if (!role) return role.error();
    return WorkspaceMember{r.text_at(0), *role};
  });
}

Result<std::optional<WorkspaceRole>> SqliteAccountStore::workspace_role(std::string_view workspace_id,
                                                                        std::string_view user_id) {
  auto q = query(kWorkspaceRole);
  if (!q) return q.error();
  q->text(workspace_id).text(user_id);
  auto row = q->row("workspace role");
  if (!row) return row.error();
  if (!*row) return std::optional<WorkspaceRole>();
  auto role = workspace_role_of(q->text_at(0));
  if (!role) return role.error();
  return std::optional<WorkspaceRole>(*role);
}

// ---- Documents ----

Status SqliteAccountStore::create_document(const DocumentMeta& document, Time now) {
  if (!is_document_id(document.id)) return domain_error(kInvalid, "document id: [A-Za-z0-9_-]{1,128}");
  if (Status s = check_name("title", document.title); !s) return s;
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  auto taken = exists(kDocumentExists, document.id);
  if (!taken) return taken.error();
  if (*taken) return domain_error(kExists, "document id exists");
  auto creator = exists(kUserIdExists, document.created_by);
  if (!creator) return creator.error();
  if (!*creator) return domain_error(kNotFound, "no such user");
  if (!document.workspace_id.empty()) {
    auto ws = exists(kWorkspaceExists, document.workspace_id);
    if (!ws) return ws.error();
    if (!*ws) return domain_error(kNotFound, "no such workspace");
  }
  {
    auto q = query(kInsertDocument);
    if (!q) return q.error();
    q->text(document.id).text_or_null(document.workspace_id).text(document.title).text(document.created_by).time(now);
    if (auto r = q->run("create document"); !r) return r.error();
  }
  if (Status s = change_member(Members::kDocument, document.id, document.created_by, "owner"); !s) return s;
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

Result<std::optional<DocumentMeta>> SqliteAccountStore::get_document(std::string_view document_id) {
  auto q = query(kGetDocument);
  if (!q) return q.error();
  q->text(document_id);
  auto row = q->row("get document");
  if (!row) return row.error();
  if (!*row) return std::optional<DocumentMeta>();
  return std::optional<DocumentMeta>(read_document(*q));
}

Result<std::vector<VisibleDocument>> SqliteAccountStore::list_documents_for(std::string_view user_id) {
  auto q = query(kDocumentsFor);
  if (!q) return q.error();
  q->text(user_id);
  return q->all<VisibleDocument>("list documents", [](const Query& r) -> Result<VisibleDocument> {
    auto role = document_role_of(r.text_at(9));
    if (!role) return role.error();
    return VisibleDocument{read_document(r), *role, r.optional_time_at(7), r.text_at(8), r.text_at(10), r.text_at(11)};
  });
}

Status SqliteAccountStore::rename_document(std::string_view document_id, std::string_view title, Time now) {
  if (Status s = check_name("title", title); !s) return s;
  auto q = query(kRenameDocument);
  if (!q) return q.error();
  q->text(document_id).text(title).time(now);
  auto changed = q->run("rename document");
  if (!changed) return changed.error();
  if (*changed == 0) return domain_error(kNotFound, "no such document");
  return {};
}

Status SqliteAccountStore::record_edit(std::string_view document_id, std::string_view user_id, Time now) {
  auto user = exists(kUserIdExists, user_id);
  if (!user) return user.error();
  if (!*user) return domain_error(kNotFound, "no such user");
  auto q = query(kRecordEdit);
  if (!q) return q.error();
  q->text(document_id).text(user_id).time(now);
  auto changed = q->run("record edit");
  if (!changed) return changed.error();
  if (*changed == 0) return domain_error(kNotFound, "no such document");
  return {};
}

Status SqliteAccountStore::delete_document(std::string_view document_id, Time now) {
  auto q = query(kDeleteDocument);
  if (!q) return q.error();
  q->text(document_id).time(now);
  auto changed = q->run("delete document");
  if (!changed) return changed.error();
  if (*changed == 0) return domain_error(kNotFound, "no such document");
  return {};
}

Status SqliteAccountStore::set_document_member(std::string_view document_id, std::string_view user_id,
                                               DocumentRole role) {
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  for (auto [sql, key] : {std::pair{kLiveDocumentExists, document_id}, std::pair{kUserIdExists, user_id}}) {
    auto found = exists(sql, key);
    if (!found) return found.error();
    if (!*found) return domain_error(kNotFound, sql == kUserIdExists ? "no such user" : "no such document");
  }
  if (Status s = change_member(Members::kDocument, document_id, user_id, role_name(role)); !s) return s;
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

Status SqliteAccountStore::remove_document_member(std::string_view document_id, std::string_view user_id) {
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  auto live = exists(kLiveDocumentExists, document_id);
  if (!live) return live.error();
  if (!*live) return domain_error(kNotFound, "no such document");
  if (Status s = change_member(Members::kDocument, document_id, user_id, std::nullopt); !s) return s;
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

Result<std::vector<DocumentMember>> SqliteAccountStore::list_document_members(std::string_view document_id) {
  auto q = query(kDocumentMembers);
  if (!q) return q.error();
  q->text(document_id);
  auto out = q->all<DocumentMember>("list document members", [](const Query& r) -> Result<DocumentMember> {
    auto role = document_role_of(r.text_at(1));
    if (!role) return role.error();
    return DocumentMember{r.text_at(0), *role};
  });
  // A live document always has an owner, so no rows means none or deleted.
  if (out && out->empty()) return domain_error(kNotFound, "no such document");
  return out;
}

Result<std::optional<DocumentRole>> SqliteAccountStore::role_of(std::string_view document_id,
                                                                std::string_view user_id) {
  auto q = query(kLiveDocumentRole);
  if (!q) return q.error();
  q->text(document_id).text(user_id);
  auto row = q->row("document role");
  if (!row) return row.error();
  if (!*row) return std::optional<DocumentRole>();
  auto role = document_role_of(q->text_at(0));
  if (!role) return role.error();
  return std::optional<DocumentRole>(*role);
}

// ---- Refresh-token families ----

Status SqliteAccountStore::create_family(std::string_view family_id, std::string_view user_id,
                                         std::string_view first_token_hash, Time now, Time absolute_expires_at) {
  if (Status s = check_id("family", family_id); !s) return s;
  if (Status s = check_hash(first_token_hash); !s) return s;
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  for (auto [sql, key] : {std::pair{kFamilyExists, family_id}, std::pair{kTokenExists, first_token_hash}}) {
    auto taken = exists(sql, key);
    if (!taken) return taken.error();
    if (*taken) return domain_error(kExists, sql == kFamilyExists ? "family id exists" : "token hash exists");
  }
  auto user = exists(kUserIdExists, user_id);
  if (!user) return user.error();
  if (!*user) return domain_error(kNotFound, "no such user");
  {
    auto q = query(kInsertFamily);
    if (!q) return q.error();
    q->text(family_id).text(user_id).time(now).time(absolute_expires_at);
    if (auto r = q->run("create family"); !r) return r.error();
  }
  auto q = query(kInsertToken);
  if (!q) return q.error();
  q->text(first_token_hash).text(family_id).time(now);
  if (auto r = q->run("create family: token"); !r) return r.error();
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

Result<RotateResult> SqliteAccountStore::rotate(std::string_view presented_hash, std::string_view new_hash, Time now,
                                                Duration idle_limit, Duration grace) {
  if (Status s = check_hash(presented_hash); !s) return s.error();
  if (Status s = check_hash(new_hash); !s) return s.error();
  // The write transaction holds SQLite's one write lock: nothing else changes
  // the family between this read and the writes.
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  PresentedToken token;
  {
    auto q = query(kPresentedToken);
    if (!q) return q.error();
    q->text(presented_hash);
    auto row = q->row("rotate: lookup");
    if (!row) return row.error();
    if (!*row) return RotateResult{};  // kUnknown; nothing written
    token = {q->text_at(0),
             q->text_at(3),
             q->optional_time_at(1),
             q->text_at(2),
             q->time_at(4),
             q->time_at(5),
             q->optional_time_at(6).has_value()};
  }
  // Runs one statement of the rotation; how many rows it changed.
  auto run = [&](const char* sql, std::string_view what, auto bind) -> Result<int> {
    auto q = query(sql);
    if (!q) return q.error();
    bind(*q);
    return q->run(what);
  };
  auto done = [](const Result<int>& r) -> Status { return r ? Status() : Status(r.error()); };
  const RotationWrites writes{
      .token_exists = [&](std::string_view hash) { return exists(kTokenExists, hash); },
      .use = [&](std::string_view hash, std::string_view next) -> Result<bool> {
        auto changed = run(kUseToken, "rotate: use", [&](Query& q) { q.text(hash).time(now).text_or_null(next); });
        if (!changed) return changed.error();
        return *changed == 1;
      },
      .set_successor =
          [&](std::string_view hash, std::string_view next) {
            return done(run(kSetSuccessor, "rotate: successor", [&](Query& q) { q.text(hash).text(next); }));
          },
      .revoke_family =
          [&](std::string_view reason) {
            return done(run(kRevokeFamily, "rotate: revoke",
                            [&](Query& q) { q.text(token.family_id).time(now).text(reason); }));
          },
      .issue =
          [&](std::string_view hash) {
            Status s = done(run(kInsertToken, "rotate: new token",
                                [&](Query& q) { q.text(hash).text(token.family_id).time(now); }));
            if (!s) return s;
            return done(
                run(kTouchFamily, "rotate: touch family", [&](Query& q) { q.text(token.family_id).time(now); }));
          },
  };
  auto result = apply_rotation(presented_hash, token, new_hash, now, idle_limit, grace, writes);
  if (!result) return result;  // the transaction rolls back
  if (!tx.commit()) return tx.fail("commit");
  return result;
}

Status SqliteAccountStore::revoke_family(std::string_view family_id, std::string_view reason, Time now) {
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  auto known = exists(kFamilyExists, family_id);
  if (!known) return known.error();
  if (!*known) return domain_error(kNotFound, "no such family");
  auto q = query(kRevokeFamily);
  if (!q) return q.error();
  q->text(family_id).time(now).text(reason);
  if (auto r = q->run("revoke family"); !r) return r.error();
  if (!tx.commit()) return tx.fail("commit");
  return {};
}

Result<std::vector<std::string>> SqliteAccountStore::revoke_live_families(std::string_view user_id,
                                                                          std::string_view reason, Time now) {
  Result<std::vector<std::string>> ids = std::vector<std::string>();
  {
    auto q = query(kLiveFamiliesOf);
    if (!q) return q.error();
    q->text(user_id);
    ids = q->all<std::string>("live families", [](const Query& r) -> Result<std::string> { return r.text_at(0); });
    if (!ids) return ids;
  }
  auto q = query(kRevokeUserFamilies);
  if (!q) return q.error();
  q->text(user_id).time(now).text(reason);
  if (auto r = q->run("revoke families"); !r) return r.error();
  return ids;
}

Result<std::vector<std::string>> SqliteAccountStore::revoke_user_families(std::string_view user_id,
                                                                          std::string_view reason, Time now) {
  sqlite::WriteTransaction tx(db_, begin_, commit_, rollback_);
  if (!tx.began()) return sqlite::error(db_, "begin");
  auto ids = revoke_live_families(user_id, reason, now);
  if (!ids) return ids.error();
  if (!tx.commit()) return tx.fail("commit");
  return ids;
}

Result<FamilyStatus> SqliteAccountStore::family_status(std::string_view family_id) {
  auto q = query(kFamilyRevokedAt);
  if (!q) return q.error();
  q->text(family_id);
  auto row = q->row("family status");
  if (!row) return row.error();
  if (!*row) return FamilyStatus::kUnknown;
  return q->optional_time_at(0) ? FamilyStatus::kRevoked : FamilyStatus::kLive;
}

Result<std::optional<TokenFamily>> SqliteAccountStore::find_family(std::string_view family_id) {
  auto q = query(kFindFamily);
  if (!q) return q.error();
  q->text(family_id);
  auto row = q->row("find family");
  if (!row) return row.error();
  if (!*row) return std::optional<TokenFamily>();
  return std::optional<TokenFamily>(TokenFamily{q->text_at(0), q->text_at(1), q->time_at(2), q->time_at(3),
                                                q->time_at(4), q->optional_time_at(5), q->text_at(6)});
}

Result<std::size_t> SqliteAccountStore::live_token_count(std::string_view family_id) {
  auto q = query(kLiveTokenCount);
  if (!q) return q.error();
  q->text(family_id);
  auto row = q->row("live tokens");
  if (!row) return row.error();
  if (!*row) return sqlite::error(db_, "live tokens");
  return static_cast<std::size_t>(q->int_at(0));
}

Result<std::vector<RevokedFamily>> SqliteAccountStore::list_revoked_since(Time since) {
  auto q = query(kRevokedSince);
  if (!q) return q.error();
  q->time(since);
  return q->all<RevokedFamily>("revoked families", [](const Query& r) -> Result<RevokedFamily> {
    return RevokedFamily{r.text_at(0), r.text_at(1), r.time_at(2), r.text_at(3)};
  });
}

// ---- Audit ----

Status SqliteAccountStore::append_audit(const AuditEvent& event) {
  if (event.kind.empty()) return domain_error(kInvalid, "audit event without a kind");
  auto q = query(kInsertAudit);
  if (!q) return q.error();
  q->time(event.at).text(event.kind).text(event.user_id).text(event.remote_address).text(event.detail);
  if (auto r = q->run("append audit"); !r) return r.error();
  return {};
}

Result<std::vector<AuditEvent>> SqliteAccountStore::list_audit(std::size_t limit) {
  auto q = query(kListAudit);
  if (!q) return q.error();
  q->integer(static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max())));
  return q->all<AuditEvent>("list audit", [](const Query& r) -> Result<AuditEvent> {
    return AuditEvent{r.time_at(0), r.text_at(1), r.text_at(2), r.text_at(3), r.text_at(4)};
  });
}

}  // namespace quire::storage
