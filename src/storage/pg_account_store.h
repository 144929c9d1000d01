// PgAccountStore: the AccountStore on PostgreSQL, in the same database and
// migration list as PgStore (pg_schema.h), with SqliteAccountStore's exact
// rules (the conformance suite checks both). Where SQLite's one write lock
// serialises everything, this store locks what a rule reads before it writes:
// the workspace or document row for the last-owner rule, the family row
// (SELECT … FOR UPDATE) for a rotation, whose decisive step is still the
// conditional UPDATE of the presented token, so concurrent rotations on any
// connection or node keep one live head. Unique violations from racing
// writers map to the same codes as the checks before them (kExists,
// kUsernameTaken, kEmailTaken). Schema: docs/storage.md "PostgreSQL".
//
// Thread-safety: any number of threads at once (a pool of connections); the
// Api and the AuthService may share one instance. Calls block on the network:
// storage threads only, never an I/O thread.
// Limitations: with a replica configured, list_users, list_documents_for,
// list_document_members and list_audit read it and may lag the primary
// (a document just created may be missing from the list for a moment);
// text values cannot contain NUL bytes (kInvalid).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "storage/account_store.h"
#include "storage/pg_connection.h"

namespace quire::storage {

class PgAccountStore final : public AccountStore {
 public:
  using Options = PgOptions;

  // Connects to `url` and runs pending schema migrations (kIo if the database
  // is unreachable, kSchema if it is newer than this binary). A replica named
  // by options.replica_url is connected on first use.
  static Result<std::unique_ptr<PgAccountStore>> open(const std::string& url, const Options& options = {});
  ~PgAccountStore() override;
  PgAccountStore(const PgAccountStore&) = delete;
  PgAccountStore& operator=(const PgAccountStore&) = delete;

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
  PgAccountStore(std::unique_ptr<PgPool> primary, std::unique_ptr<PgPool> replica);
  // The pool for read-only lists: the replica if there is one.
  PgPool& reader() { return replica_ ? *replica_ : *primary_; }

  std::unique_ptr<PgPool> primary_;
  std::unique_ptr<PgPool> replica_;
};

}  // namespace quire::storage
