// PgAccountStore (pg_account_store.h).
#include "storage/pg_account_store.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "storage/pg_schema.h"

namespace quire::storage {
namespace {

// Every statement is constant text; every value is a parameter.
constexpr const char kUserIdExists[] = "SELECT 1 FROM users WHERE id = $1";
constexpr const char kUsernameExists[] = "SELECT 1 FROM users WHERE lower(username) = $1";  // $1 lower-cased
constexpr const char kEmailExists[] = "SELECT 1 FROM users WHERE email = $1";
constexpr const char kInsertUser[] =
    "INSERT INTO users(id, username, email, password_hash, display_name, disabled, created_at, "
    "password_changed_at) VALUES ($1, $2, $3, $4, $5, false, $6, $6)";
constexpr const char kUserById[] =
    "SELECT id, username, email, password_hash, display_name, disabled, created_at, password_changed_at "
    "FROM users WHERE id = $1";
constexpr const char kUserByUsername[] =
    "SELECT id, username, email, password_hash, display_name, disabled, created_at, password_changed_at "
    "FROM users WHERE lower(username) = $1";
constexpr const char kUserByEmail[] =
    "SELECT id, username, email, password_hash, display_name, disabled, created_at, password_changed_at "
    "FROM users WHERE email = $1";
constexpr const char kListUsers[] =
    "SELECT id, username, email, password_hash, display_name, disabled, created_at, password_changed_at "
    "FROM users ORDER BY lower(username), id";
constexpr const char kSetPassword[] = "UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1";
constexpr const char kSetDisabled[] = "UPDATE users SET disabled = $2 WHERE id = $1";

constexpr const char kWorkspaceExists[] = "SELECT 1 FROM workspaces WHERE id = $1";
constexpr const char kInsertWorkspace[] =
    "INSERT INTO workspaces(id, name, created_by, created_at) VALUES ($1, $2, $3, $4)";
constexpr const char kListWorkspaces[] =
    "SELECT w.id, w.name, w.created_by, w.created_at, m.role FROM workspace_members m "
    "JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 ORDER BY w.name, w.id";
constexpr const char kWorkspaceMembers[] =
    "SELECT user_id, role FROM workspace_members WHERE workspace_id = $1 ORDER BY role <> 'owner', user_id";
constexpr const char kLockWorkspace[] = "SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE";
constexpr const char kWorkspaceRole[] = "SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2";
constexpr const char kWorkspaceOwners[] =
    "SELECT count(*) FROM workspace_members WHERE workspace_id = $1 AND role = 'owner'";
constexpr const char kUpsertWorkspaceMember[] =
    "INSERT INTO workspace_members(workspace_id, user_id, role) VALUES ($1, $2, $3) "
    "ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role";
constexpr const char kDeleteWorkspaceMember[] =
    "DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2";

constexpr const char kDocumentExists[] = "SELECT 1 FROM documents WHERE id = $1";  // deleted ones too
constexpr const char kInsertDocument[] =
    "INSERT INTO documents(id, workspace_id, title, created_by, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $5)";
constexpr const char kGetDocument[] =
    "SELECT id, workspace_id, title, created_by, created_at, updated_at, deleted_at FROM documents "
    "WHERE id = $1 AND deleted_at IS NULL";
constexpr const char kDocumentsFor[] =
    "SELECT d.id, d.workspace_id, d.title, d.created_by, d.created_at, d.updated_at, d.deleted_at, d.last_edited_at, "
    "d.last_edited_by, m.role, u.username, u.display_name "
    "FROM document_members m JOIN documents d ON d.id = m.document_id LEFT JOIN users u ON u.id = d.last_edited_by "
    "WHERE m.user_id = $1 AND d.deleted_at IS NULL "
    "ORDER BY greatest(d.updated_at, coalesce(d.last_edited_at, 0)) DESC, d.id";
constexpr const char kRecordEdit[] =
    "UPDATE documents SET last_edited_at = $3, last_edited_by = $2 WHERE id = $1 AND deleted_at IS NULL";
constexpr const char kRenameDocument[] =
    "UPDATE documents SET title = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL";
constexpr const char kDeleteDocument[] = "UPDATE documents SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL";
constexpr const char kDocumentMembers[] =
    "SELECT m.user_id, m.role FROM document_members m JOIN documents d ON d.id = m.document_id "
    "WHERE m.document_id = $1 AND d.deleted_at IS NULL "
    "ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END, m.user_id";
constexpr const char kLiveDocumentRole[] =
    "SELECT m.role FROM document_members m JOIN documents d ON d.id = m.document_id "
    "WHERE m.document_id = $1 AND m.user_id = $2 AND d.deleted_at IS NULL";
constexpr const char kLockLiveDocument[] = "SELECT 1 FROM documents WHERE id = $1 AND deleted_at IS NULL FOR UPDATE";
constexpr const char kDocumentRole[] = "SELECT role FROM document_members WHERE document_id = $1 AND user_id = $2";
constexpr const char kDocumentOwners[] =
    "SELECT count(*) FROM document_members WHERE document_id = $1 AND role = 'owner'";
constexpr const char kUpsertDocumentMember[] =
    "INSERT INTO document_members(document_id, user_id, role) VALUES ($1, $2, $3) "
    "ON CONFLICT (document_id, user_id) DO UPDATE SET role = excluded.role";
constexpr const char kDeleteDocumentMember[] = "DELETE FROM document_members WHERE document_id = $1 AND user_id = $2";

constexpr const char kFamilyExists[] = "SELECT 1 FROM token_families WHERE id = $1";
constexpr const char kTokenExists[] = "SELECT 1 FROM refresh_tokens WHERE hash = $1";
constexpr const char kInsertFamily[] =
    "INSERT INTO token_families(id, user_id, created_at, last_used_at, absolute_expires_at) "
    "VALUES ($1, $2, $3, $3, $4)";
constexpr const char kInsertToken[] = "INSERT INTO refresh_tokens(hash, family_id, issued_at) VALUES ($1, $2, $3)";
constexpr const char kTokenFamily[] = "SELECT family_id FROM refresh_tokens WHERE hash = $1";
// Every rotation of a family waits here for the one before it to finish.
constexpr const char kLockFamily[] =
    "SELECT user_id, last_used_at, absolute_expires_at, revoked_at FROM token_families WHERE id = $1 FOR UPDATE";
constexpr const char kTokenState[] = "SELECT used_at, successor FROM refresh_tokens WHERE hash = $1";
// The one conditional update that decides a rotation: only one caller can move
// a token from unused to used.
constexpr const char kUseToken[] =
    "UPDATE refresh_tokens SET used_at = $2, successor = $3 WHERE hash = $1 AND used_at IS NULL";
constexpr const char kSetSuccessor[] = "UPDATE refresh_tokens SET successor = $2 WHERE hash = $1";
constexpr const char kTouchFamily[] = "UPDATE token_families SET last_used_at = $2 WHERE id = $1";
constexpr const char kRevokeFamily[] =
    "UPDATE token_families SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL";
constexpr const char kRevokeUserFamilies[] =
    "UPDATE token_families SET revoked_at = $2, revoke_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL "
    "RETURNING id";
constexpr const char kFamilyRevokedAt[] = "SELECT revoked_at FROM token_families WHERE id = $1";
constexpr const char kFindFamily[] =
    "SELECT id, user_id, created_at, last_used_at, absolute_expires_at, revoked_at, revoke_reason "
    "FROM token_families WHERE id = $1";
constexpr const char kLiveTokenCount[] = "SELECT count(*) FROM refresh_tokens WHERE family_id = $1 AND used_at IS NULL";
constexpr const char kRevokedSince[] =
    "SELECT id, user_id, revoked_at, revoke_reason FROM token_families WHERE revoked_at >= $1 "
    "ORDER BY revoked_at, id";

constexpr const char kInsertAudit[] =
    "INSERT INTO audit_events(at, kind, user_id, remote_address, detail) VALUES ($1, $2, $3, $4, $5)";
constexpr const char kListAudit[] =
    "SELECT at, kind, user_id, remote_address, detail FROM audit_events ORDER BY id DESC LIMIT $1";

// What the membership rules need of a membership table.
struct MemberTable {
  const char* lock_scope;  // scope → one row, locked, if it exists (and is live)
  const char* no_scope;    // the message when it does not
  const char* role;        // (scope, user) → role
  const char* owners;      // scope → number of owners
  const char* upsert;      // (scope, user, role)
  const char* remove;      // (scope, user)
};
constexpr MemberTable kWorkspaceMembersTable{kLockWorkspace,   "no such workspace",    kWorkspaceRole,
                                             kWorkspaceOwners, kUpsertWorkspaceMember, kDeleteWorkspaceMember};
constexpr MemberTable kDocumentMembersTable{kLockLiveDocument, "no such document",    kDocumentRole,
                                            kDocumentOwners,   kUpsertDocumentMember, kDeleteDocumentMember};

std::int64_t millis(Time t) {
  return t.time_since_epoch().count();
}
Time time_at(const PgResult& r, int row, int col) {
  return Time(Duration(r.int_at(row, col)));
}
std::optional<Time> optional_time_at(const PgResult& r, int row, int col) {
  if (r.null_at(row, col)) return std::nullopt;
  return time_at(r, row, col);
}

// Whether `sql` (one text parameter) finds a row.
Result<bool> exists(PgConnection& c, const char* sql, std::string_view key) {
  auto r = c.exec("lookup", sql, PgParams().text(key));
  if (!r) return r.error();
  return r->rows() > 0;
}

// Runs a statement that returns no rows; how many rows it changed.
Result<std::uint64_t> run(PgConnection& c, std::string_view what, const char* sql, const PgParams& params) {
  auto r = c.exec(what, sql, params);
  if (!r) return r.error();
  return r->affected();
}

// Every row of `r`, each turned into a T by `read(r, row)` (a Result<T>).
template <class T, class Read>
Result<std::vector<T>> all(const PgResult& r, Read read) {
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    Result<T> item = read(r, i);
    if (!item) return item.error();
    out.push_back(std::move(*item));
  }
  return out;
}

// The rows of a read-only query on `pool`, each turned into a T.
template <class T, class Read>
Result<std::vector<T>> list(PgPool& pool, std::string_view what, const char* sql, const PgParams& params, Read read) {
  return pool.run([&](PgConnection& c) -> Result<std::vector<T>> {
    auto r = c.exec(what, sql, params);
    if (!r) return r.error();
    return all<T>(*r, read);
  });
}

// At most one row of a query on `pool`, turned into a T.
template <class T, class Read>
Result<std::optional<T>> find(PgPool& pool, std::string_view what, const char* sql, const PgParams& params, Read read) {
  auto rows = list<T>(pool, what, sql, params, read);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<T>();
  return std::optional<T>(std::move(rows->front()));
}

User read_user(const PgResult& r, int row) {
  User u;
  u.id = r.text_at(row, 0);
  u.username = r.text_at(row, 1);
  u.email = r.text_at(row, 2);
  u.password_hash = r.text_at(row, 3);
  u.display_name = r.text_at(row, 4);
  u.disabled = r.int_at(row, 5) != 0;
  u.created_at = time_at(r, row, 6);
  u.password_changed_at = time_at(r, row, 7);
  return u;
}
Result<User> user_row(const PgResult& r, int row) {
  return read_user(r, row);
}

DocumentMeta read_document(const PgResult& r, int row) {
  DocumentMeta d;
  d.id = r.text_at(row, 0);
  d.workspace_id = r.text_at(row, 1);
  d.title = r.text_at(row, 2);
  d.created_by = r.text_at(row, 3);
  d.created_at = time_at(r, row, 4);
  d.updated_at = time_at(r, row, 5);
  d.deleted_at = optional_time_at(r, row, 6);
  return d;
}

// A unique violation from a racing writer, as the code the check before it gives.
Error unique_violation(const PgConnection& c, Error e) {
  if (e.code != kExists) return e;
  if (c.last_error().constraint == "users_username_nocase") e.code = kUsernameTaken;
  if (c.last_error().constraint == "users_email_unique") e.code = kEmailTaken;
  return e;
}

// Sets (role) or removes (nullopt) a member inside the caller's transaction.
// The scope row is locked first, so two changes of one scope's members run
// one after the other and an owner who is the only one can be neither
// downgraded nor removed.
Status change_member(PgConnection& c, const MemberTable& table, std::string_view scope_id, std::string_view user_id,
                     std::optional<std::string_view> role) {
  auto scope = exists(c, table.lock_scope, scope_id);
  if (!scope) return scope.error();
  if (!*scope) return domain_error(kNotFound, table.no_scope);
  if (role) {
    auto user = exists(c, kUserIdExists, user_id);
    if (!user) return user.error();
    if (!*user) return domain_error(kNotFound, "no such user");
  }
  auto current = c.exec("member role", table.role, PgParams().text(scope_id).text(user_id));
  if (!current) return current.error();
  if (current->rows() == 0 && !role) return domain_error(kNotFound, "not a member");
  if (current->rows() > 0 && current->text_at(0, 0) == "owner" && role != std::optional<std::string_view>("owner")) {
    auto owners = c.exec("count owners", table.owners, PgParams().text(scope_id));
    if (!owners) return owners.error();
    if (owners->int_at(0, 0) <= 1) return domain_error(kLastOwner, "the last owner cannot be removed or downgraded");
  }
  PgParams p;
  p.text(scope_id).text(user_id);
  if (role) p.text(*role);
  if (auto r = c.exec("change member", role ? table.upsert : table.remove, p); !r) return r.error();
  return {};
}

// Revokes every live family of the user inside the caller's transaction; their ids, sorted.
Result<std::vector<std::string>> revoke_live_families(PgConnection& c, std::string_view user_id,
                                                      std::string_view reason, Time now) {
  auto r = c.exec("revoke families", kRevokeUserFamilies, PgParams().text(user_id).integer(millis(now)).text(reason));
  if (!r) return r.error();
  std::vector<std::string> ids;
  for (int i = 0; i < r->rows(); ++i) ids.push_back(r->text_at(i, 0));
  std::sort(ids.begin(), ids.end());
  return ids;
}

// A status for an UPDATE that names its row by id: kNotFound if it changed none.
Status changed_one(const Result<std::uint64_t>& changed, const char* missing) {
  if (!changed) return changed.error();
  if (*changed == 0) return domain_error(kNotFound, missing);
  return {};
}

}  // namespace

PgAccountStore::PgAccountStore(std::unique_ptr<PgPool> primary, std::unique_ptr<PgPool> replica)
    : primary_(std::move(primary)), replica_(std::move(replica)) {}

PgAccountStore::~PgAccountStore() = default;

Result<std::unique_ptr<PgAccountStore>> PgAccountStore::open(const std::string& url, const Options& options) {
  auto pools = pg::open_pools(url, options);
  if (!pools) return pools.error();
  return std::unique_ptr<PgAccountStore>(  // NOLINT: private constructor
      new PgAccountStore(std::move(pools->primary), std::move(pools->replica)));
}

// ---- Users ----

Status PgAccountStore::create_user(const NewUser& user, Time now) {
  if (Status s = check_new_user(user); !s) return s;
  const std::string email = lower_ascii(user.email);
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Status {
    // Checked first for a precise answer; a racing insert of the same name
    // meets the unique indexes instead, mapped to the same codes.
    struct {
      const char* sql;
      std::string key;
      ErrorCode code;
      const char* message;
    } const checks[] = {{kUserIdExists, user.id, kExists, "user id exists"},
                        {kUsernameExists, lower_ascii(user.username), kUsernameTaken, "username taken"},
                        {kEmailExists, email, kEmailTaken, "email taken"}};
    for (const auto& check : checks) {
      auto found = exists(c, check.sql, check.key);
      if (!found) return found.error();
      if (*found) return domain_error(check.code, check.message);
    }
    auto r = c.exec("create user", kInsertUser,
                    PgParams()
                        .text(user.id)
                        .text(user.username)
                        .text(email)
                        .text(user.password_hash)
                        .text(user.display_name)
                        .integer(millis(now)));
    if (!r) return unique_violation(c, r.error());
    return {};
  });
}

Result<std::optional<User>> PgAccountStore::find_user_by_id(std::string_view id) {
  return find<User>(*primary_, "find user", kUserById, PgParams().text(id), user_row);
}

Result<std::optional<User>> PgAccountStore::find_user_by_login(std::string_view login) {
  const bool is_email = login.find('@') != std::string_view::npos;
  return find<User>(*primary_, "find user", is_email ? kUserByEmail : kUserByUsername,
                    PgParams().text(lower_ascii(login)), user_row);
}

Result<std::vector<User>> PgAccountStore::list_users() {
  return list<User>(reader(), "list users", kListUsers, PgParams(), user_row);
}

Status PgAccountStore::set_password_hash(std::string_view user_id, std::string_view password_hash, Time now) {
  if (password_hash.empty()) return domain_error(kInvalid, "empty password hash");
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Status {
    auto changed =
        run(c, "set password", kSetPassword, PgParams().text(user_id).text(password_hash).integer(millis(now)));
    if (Status s = changed_one(changed, "no such user"); !s) return s;
    if (auto revoked = revoke_live_families(c, user_id, "password", now); !revoked) return revoked.error();
    return {};
  });
}

Status PgAccountStore::set_disabled(std::string_view user_id, bool disabled, Time now) {
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Status {
    auto changed = run(c, "set disabled", kSetDisabled, PgParams().text(user_id).boolean(disabled));
    if (Status s = changed_one(changed, "no such user"); !s) return s;
    if (disabled) {
      if (auto revoked = revoke_live_families(c, user_id, "disabled", now); !revoked) return revoked.error();
    }
    return {};
  });
}

// ---- Workspaces ----

Status PgAccountStore::create_workspace(const Workspace& workspace) {
  if (Status s = check_id("workspace", workspace.id); !s) return s;
  if (Status s = check_name("workspace name", workspace.name); !s) return s;
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Status {
    auto taken = exists(c, kWorkspaceExists, workspace.id);
    if (!taken) return taken.error();
    if (*taken) return domain_error(kExists, "workspace id exists");
    auto creator = exists(c, kUserIdExists, workspace.created_by);
    if (!creator) return creator.error();
    if (!*creator) return domain_error(kNotFound, "no such user");
    auto r = c.exec("create workspace", kInsertWorkspace,
                    PgParams()
                        .text(workspace.id)
                        .text(workspace.name)
                        .text(workspace.created_by)
                        .integer(millis(workspace.created_at)));
    if (!r) return r.error();
    return change_member(c, kWorkspaceMembersTable, workspace.id, workspace.created_by, "owner");
  });
}

Result<std::vector<WorkspaceMembership>> PgAccountStore::list_workspaces(std::string_view user_id) {
  return list<WorkspaceMembership>(
      *primary_, "list workspaces", kListWorkspaces, PgParams().text(user_id),
      [](const PgResult& r, int i) -> Result<WorkspaceMembership> {
        auto role = workspace_role_of(r.text_at(i, 4));
        if (!role) return role.error();
        return WorkspaceMembership{{r.text_at(i, 0), r.text_at(i, 1), r.text_at(i, 2), time_at(r, i, 3)}, *role};
      });
}

Status PgAccountStore::set_workspace_member(std::string_view workspace_id, std::string_view user_id,
                                            WorkspaceRole role) {
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Status {
    return change_member(c, kWorkspaceMembersTable, workspace_id, user_id, role_name(role));
  });
}

Status PgAccountStore::remove_workspace_member(std::string_view workspace_id, std::string_view user_id) {
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Status {
    return change_member(c, kWorkspaceMembersTable, workspace_id, user_id, std::nullopt);
  });
}

Result<std::vector<WorkspaceMember>> PgAccountStore::list_workspace_members(std::string_view workspace_id) {
  return list<WorkspaceMember>(*primary_, "list workspace members", kWorkspaceMembers, PgParams().text(workspace_id),
                               [](const PgResult& r, int i) -> Result<WorkspaceMember> {
                                 auto role = workspace_role_of(r.text_at(i, 1));
                                 if (!role) return role.error();
                                 return WorkspaceMember{r.text_at(i, 0), *role};
                               });
}

Result<std::optional<WorkspaceRole>> PgAccountStore::workspace_role(std::string_view workspace_id,
                                                                    std::string_view user_id) {
  return find<WorkspaceRole>(*primary_, "workspace role", kWorkspaceRole, PgParams().text(workspace_id).text(user_id),
                             [](const PgResult& r, int i) { return workspace_role_of(r.text_at(i, 0)); });
}

// ---- Documents ----

Status PgAccountStore::create_document(const DocumentMeta& document, Time now) {
  if (!is_document_id(document.id)) return domain_error(kInvalid, "document id: [A-Za-z0-9_-]{1,128}");
  if (Status s = check_name("title", document.title); !s) return s;
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Status {
    auto taken = exists(c, kDocumentExists, document.id);
    if (!taken) return taken.error();
    if (*taken) return domain_error(kExists, "document id exists");
    auto creator = exists(c, kUserIdExists, document.created_by);
    if (!creator) return creator.error();
    if (!*creator) return domain_error(kNotFound, "no such user");
    if (!document.workspace_id.empty()) {
      auto ws = exists(c, kWorkspaceExists, document.workspace_id);
      if (!ws) return ws.error();
      if (!*ws) return domain_error(kNotFound, "no such workspace");
    }
    auto r = c.exec("create document", kInsertDocument,
                    PgParams()
                        .text(document.id)
                        .text_or_null(document.workspace_id)
                        .text(document.title)
                        .text(document.created_by)
                        .integer(millis(now)));
    if (!r) return r.error();
    return change_member(c, kDocumentMembersTable, document.id, document.created_by, "owner");
  });
}

Result<std::optional<DocumentMeta>> PgAccountStore::get_document(std::string_view document_id) {
  return find<DocumentMeta>(*primary_, "get document", kGetDocument, PgParams().text(document_id),
                            [](const PgResult& r, int i) -> Result<DocumentMeta> { return read_document(r, i); });
}

Result<std::vector<VisibleDocument>> PgAccountStore::list_documents_for(std::string_view user_id) {
  return list<VisibleDocument>(reader(), "list documents", kDocumentsFor, PgParams().text(user_id),
                               [](const PgResult& r, int i) -> Result<VisibleDocument> {
                                 auto role = document_role_of(r.text_at(i, 9));
                                 if (!role) return role.error();
                                 return VisibleDocument{read_document(r, i),       *role,
                                                        optional_time_at(r, i, 7), r.text_at(i, 8),
                                                        r.text_at(i, 10),          r.text_at(i, 11)};
                               });
}

Status PgAccountStore::rename_document(std::string_view document_id, std::string_view title, Time now) {
  if (Status s = check_name("title", title); !s) return s;
  return primary_->run([&](PgConnection& c) {
    return changed_one(
        run(c, "rename document", kRenameDocument, PgParams().text(document_id).text(title).integer(millis(now))),
        "no such document");
  });
}

Status PgAccountStore::record_edit(std::string_view document_id, std::string_view user_id, Time now) {
  return primary_->run([&](PgConnection& c) -> Status {
    auto user = exists(c, kUserIdExists, user_id);
    if (!user) return user.error();
    if (!*user) return domain_error(kNotFound, "no such user");
    return changed_one(
        run(c, "record edit", kRecordEdit, PgParams().text(document_id).text(user_id).integer(millis(now))),
        "no such document");
  });
}

Status PgAccountStore::delete_document(std::string_view document_id, Time now) {
  return primary_->run([&](PgConnection& c) {
    return changed_one(run(c, "delete document", kDeleteDocument, PgParams().text(document_id).integer(millis(now))),
                       "no such document");
  });
}

Status PgAccountStore::set_document_member(std::string_view document_id, std::string_view user_id, DocumentRole role) {
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Status {
    return change_member(c, kDocumentMembersTable, document_id, user_id, role_name(role));
  });
}

Status PgAccountStore::remove_document_member(std::string_view document_id, std::string_view user_id) {
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Status {
    return change_member(c, kDocumentMembersTable, document_id, user_id, std::nullopt);
  });
}

Result<std::vector<DocumentMember>> PgAccountStore::list_document_members(std::string_view document_id) {
  auto out = list<DocumentMember>(reader(), "list document members", kDocumentMembers, PgParams().text(document_id),
                                  [](const PgResult& r, int i) -> Result<DocumentMember> {
                                    auto role = document_role_of(r.text_at(i, 1));
                                    if (!role) return role.error();
                                    return DocumentMember{r.text_at(i, 0), *role};
                                  });
  // A live document always has an owner, so no rows means none or deleted.
  if (out && out->empty()) return domain_error(kNotFound, "no such document");
  return out;
}

Result<std::optional<DocumentRole>> PgAccountStore::role_of(std::string_view document_id, std::string_view user_id) {
  return find<DocumentRole>(*primary_, "document role", kLiveDocumentRole, PgParams().text(document_id).text(user_id),
                            [](const PgResult& r, int i) { return document_role_of(r.text_at(i, 0)); });
}

// ---- Refresh-token families ----

Status PgAccountStore::create_family(std::string_view family_id, std::string_view user_id,
                                     std::string_view first_token_hash, Time now, Time absolute_expires_at) {
  if (Status s = check_id("family", family_id); !s) return s;
  if (Status s = check_hash(first_token_hash); !s) return s;
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Status {
    for (auto [sql, key] : {std::pair{kFamilyExists, family_id}, std::pair{kTokenExists, first_token_hash}}) {
      auto taken = exists(c, sql, key);
      if (!taken) return taken.error();
      if (*taken) return domain_error(kExists, sql == kFamilyExists ? "family id exists" : "token hash exists");
    }
    auto user = exists(c, kUserIdExists, user_id);
    if (!user) return user.error();
    if (!*user) return domain_error(kNotFound, "no such user");
    auto family =
        c.exec("create family", kInsertFamily,
               PgParams().text(family_id).text(user_id).integer(millis(now)).integer(millis(absolute_expires_at)));
    if (!family) return family.error();
    auto token = c.exec("create family: token", kInsertToken,
                        PgParams().text(first_token_hash).text(family_id).integer(millis(now)));
    if (!token) return token.error();
    return {};
  });
}

Result<RotateResult> PgAccountStore::rotate(std::string_view presented_hash, std::string_view new_hash, Time now,
                                            Duration idle_limit, Duration grace) {
  if (Status s = check_hash(presented_hash); !s) return s.error();
  if (Status s = check_hash(new_hash); !s) return s.error();
  return primary_->transact("BEGIN", [&](PgConnection& c) -> Result<RotateResult> {
    PresentedToken token;
    auto token_family = c.exec("rotate: lookup", kTokenFamily, PgParams().text(presented_hash));
    if (!token_family) return token_family.error();
    if (token_family->rows() == 0) return RotateResult{};  // kUnknown; nothing written
    token.family_id = token_family->text_at(0, 0);
    // The family row lock orders this rotation after any other of the family;
    // the token is read after it, so it shows what they committed.
    auto family = c.exec("rotate: family", kLockFamily, PgParams().text(token.family_id));
    if (!family) return family.error();
    auto state = c.exec("rotate: token", kTokenState, PgParams().text(presented_hash));
    if (!state) return state.error();
    if (family->rows() == 0 || state->rows() == 0) return domain_error(kCorrupt, "token without a family");
    token.user_id = family->text_at(0, 0);
    token.last_used_at = time_at(*family, 0, 1);
    token.absolute_expires_at = time_at(*family, 0, 2);
    token.family_revoked = !family->null_at(0, 3);
    token.used_at = optional_time_at(*state, 0, 0);
    token.successor = state->text_at(0, 1);

    auto done = [](const Result<std::uint64_t>& r) -> Status { return r ? Status() : Status(r.error()); };
    const RotationWrites writes{
        .token_exists = [&](std::string_view hash) { return exists(c, kTokenExists, hash); },
        .use = [&](std::string_view hash, std::string_view next) -> Result<bool> {
          auto changed =
              run(c, "rotate: use", kUseToken, PgParams().text(hash).integer(millis(now)).text_or_null(next));
          if (!changed) return changed.error();
          return *changed == 1;
        },
        .set_successor =
            [&](std::string_view hash, std::string_view next) {
              return done(run(c, "rotate: successor", kSetSuccessor, PgParams().text(hash).text(next)));
            },
        .revoke_family =
            [&](std::string_view reason) {
              return done(run(c, "rotate: revoke", kRevokeFamily,
                              PgParams().text(token.family_id).integer(millis(now)).text(reason)));
            },
        .issue =
            [&](std::string_view hash) {
              Status s = done(run(c, "rotate: new token", kInsertToken,
                                  PgParams().text(hash).text(token.family_id).integer(millis(now))));
              if (!s) return s;
              return done(
                  run(c, "rotate: touch family", kTouchFamily, PgParams().text(token.family_id).integer(millis(now))));
            },
    };
    return apply_rotation(presented_hash, token, new_hash, now, idle_limit, grace, writes);
  });
}

Status PgAccountStore::revoke_family(std::string_view family_id, std::string_view reason, Time now) {
  return primary_->run([&](PgConnection& c) -> Status {
    auto changed = run(c, "revoke family", kRevokeFamily, PgParams().text(family_id).integer(millis(now)).text(reason));
    if (!changed) return changed.error();
    if (*changed == 1) return {};
    // Already revoked (it keeps its first reason) or unknown.
    auto known = exists(c, kFamilyExists, family_id);
    if (!known) return known.error();
    if (!*known) return domain_error(kNotFound, "no such family");
    return {};
  });
}

Result<std::vector<std::string>> PgAccountStore::revoke_user_families(std::string_view user_id, std::string_view reason,
                                                                      Time now) {
  return primary_->run([&](PgConnection& c) { return revoke_live_families(c, user_id, reason, now); });
}

Result<FamilyStatus> PgAccountStore::family_status(std::string_view family_id) {
  auto revoked_at = find<std::optional<Time>>(
      *primary_, "family status", kFamilyRevokedAt, PgParams().text(family_id),
      [](const PgResult& r, int i) -> Result<std::optional<Time>> { return optional_time_at(r, i, 0); });
  if (!revoked_at) return revoked_at.error();
  if (!*revoked_at) return FamilyStatus::kUnknown;
  return **revoked_at ? FamilyStatus::kRevoked : FamilyStatus::kLive;
}

Result<std::optional<TokenFamily>> PgAccountStore::find_family(std::string_view family_id) {
  return find<TokenFamily>(*primary_, "find family", kFindFamily, PgParams().text(family_id),
                           [](const PgResult& r, int i) -> Result<TokenFamily> {
                             return TokenFamily{r.text_at(i, 0),  r.text_at(i, 1),  time_at(r, i, 2),
                                                time_at(r, i, 3), time_at(r, i, 4), optional_time_at(r, i, 5),
                                                r.text_at(i, 6)};
                           });
}

Result<std::size_t> PgAccountStore::live_token_count(std::string_view family_id) {
  auto count =
      find<std::size_t>(*primary_, "live tokens", kLiveTokenCount, PgParams().text(family_id),
                        [](const PgResult& r, int i) -> Result<std::size_t> { return std::size_t(r.int_at(i, 0)); });
  if (!count) return count.error();
  return count->value_or(0);
}

Result<std::vector<RevokedFamily>> PgAccountStore::list_revoked_since(Time since) {
  return list<RevokedFamily>(
      *primary_, "revoked families", kRevokedSince, PgParams().integer(millis(since)),
      [](const PgResult& r, int i) -> Result<RevokedFamily> {
        return RevokedFamily{r.text_at(i, 0), r.text_at(i, 1), time_at(r, i, 2), r.text_at(i, 3)};
      });
}

// ---- Audit ----

Status PgAccountStore::append_audit(const AuditEvent& event) {
  if (event.kind.empty()) return domain_error(kInvalid, "audit event without a kind");
  return primary_->run([&](PgConnection& c) -> Status {
    auto r = c.exec("append audit", kInsertAudit,
                    PgParams()
                        .integer(millis(event.at))
                        .text(event.kind)
                        .text(event.user_id)
                        .text(event.remote_address)
                        .text(event.detail));
    if (!r) return r.error();
    return {};
  });
}

Result<std::vector<AuditEvent>> PgAccountStore::list_audit(std::size_t limit) {
  const auto bounded =
      static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
  return list<AuditEvent>(
      reader(), "list audit", kListAudit, PgParams().integer(bounded),
      [](const PgResult& r, int i) -> Result<AuditEvent> {
        return AuditEvent{time_at(r, i, 0), r.text_at(i, 1), r.text_at(i, 2), r.text_at(i, 3), r.text_at(i, 4)};
      });
}

}  // namespace quire::storage
