// SqliteAccountStore: the AccountStore in the same SQLite file as SqliteStore
// (DATA_DIR/quire.db) on its own connection, with the same settings (WAL,
// synchronous=FULL, foreign keys, busy timeout) and the same migration list
// (sqlite_schema.h): whichever of the two opens the file first migrates it.
// Every write is one BEGIN IMMEDIATE transaction, so rules that read before
// they write (last owner, refresh rotation) hold across connections and
// processes. Schema: docs/storage.md "Accounts".
//
// Thread-safety: one thread at a time per instance; open one instance per
// thread that needs it. Writers from all connections are serialised by
// SQLite's lock and wait up to the busy timeout (5 s by default), then fail
// with kIo.
// Limitations: one writer at a time for the whole file, shared with the
// document log; account writes are small and rare next to it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "storage/account_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace quire::storage {

class SqliteAccountStore final : public AccountStore {
 public:
  // Opens (creating if needed) the database at `path` and runs pending schema
  // migrations. Fails if the file is not a Quire database or is newer than
  // this binary. A write waits up to `busy_timeout` for another connection's
  // write lock, then fails with kIo.
  static Result<std::unique_ptr<SqliteAccountStore>> open(const std::string& path,
                                                          Duration busy_timeout = std::chrono::seconds(5));
  ~SqliteAccountStore() override;
  SqliteAccountStore(const SqliteAccountStore&) = delete;
  SqliteAccountStore& operator=(const SqliteAccountStore&) = delete;

  Status create_user(const NewUser& user, Time now) override;
  Result<std::optional<User>> find_user_by_id(std::string_view id) override;
  Result<std::optional<User>> find_user_by_login(std::string_view login) override;
  Result<std::vector<User>> list_users() override;
  Status set_password_hash(std::string_view user_id, std::string_view password_hash, Time now) override;
  Status set_disabled(std::string_view user_id, bool disabled, Time now) override;

  Status create_workspace(const Workspace& workspace) override;
  Result<std::vector<WorkspaceMembership>> list_workspaces(std::string_view user_id) override;
  Status set_workspace_member(std::string_view workspace_id, std::string_view user_id, WorkspaceRole role) override;
  Status remove_workspace_member(std::string_view workspace_id, std::string_view user_id) override;
  Result<std::vector<WorkspaceMember>> list_workspace_members(std::string_view workspace_id) override;
  Result<std::optional<WorkspaceRole>> workspace_role(std::string_view workspace_id, std::string_view user_id) override;

  Status create_document(const DocumentMeta& document, Time now) override;
  Result<std::optional<DocumentMeta>> get_document(std::string_view document_id) override;
  Result<std::vector<VisibleDocument>> list_documents_for(std::string_view user_id) override;
  Status rename_document(std::string_view document_id, std::string_view title, Time now) override;
  Status delete_document(std::string_view document_id, Time now) override;
  Status record_edit(std::string_view document_id, std::string_view user_id, Time now) override;
  Status set_document_member(std::string_view document_id, std::string_view user_id, DocumentRole role) override;
  Status remove_document_member(std::string_view document_id, std::string_view user_id) override;
  Result<std::vector<DocumentMember>> list_document_members(std::string_view document_id) override;
  Result<std::optional<DocumentRole>> role_of(std::string_view document_id, std::string_view user_id) override;

  Status create_family(std::string_view family_id, std::string_view user_id, std::string_view first_token_hash,
                       Time now, Time absolute_expires_at) override;
  Result<RotateResult> rotate(std::string_view presented_hash, std::string_view new_hash, Time now, Duration idle_limit,
                              Duration grace) override;
  Status revoke_family(std::string_view family_id, std::string_view reason, Time now) override;
  Result<std::vector<std::string>> revoke_user_families(std::string_view user_id, std::string_view reason,
                                                        Time now) override;
  Result<FamilyStatus> family_status(std::string_view family_id) override;
  Result<std::optional<TokenFamily>> find_family(std::string_view family_id) override;
  Result<std::size_t> live_token_count(std::string_view family_id) override;
  Result<std::vector<RevokedFamily>> list_revoked_since(Time since) override;

  Status append_audit(const AuditEvent& event) override;
  Result<std::vector<AuditEvent>> list_audit(std::size_t limit) override;

 private:
  class Query;
  // The membership tables, which share the last-owner rule.
  enum class Members { kWorkspace, kDocument };

  explicit SqliteAccountStore(sqlite3* db);
  // The statement for `sql` (a constant of sqlite_account_store.cc, cached by
  // address), prepared on first use and bound through Query.
  Result<Query> query(const char* sql);
  Result<bool> exists(const char* sql, std::string_view key);
  Result<std::vector<std::string>> revoke_live_families(std::string_view user_id, std::string_view reason, Time now);
  Status change_member(Members members, std::string_view scope_id, std::string_view user_id,
                       std::optional<std::string_view> role);

  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
  sqlite3_stmt* begin_ = nullptr;  // BEGIN IMMEDIATE, COMMIT, ROLLBACK (sqlite::WriteTransaction)
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
};

}  // namespace quire::storage
