// AccountStore: everything relational besides the document log (ARCHITECTURE
// §2.2): users, workspaces and their members, document metadata and per-document
// roles, refresh-token families (sessions) and audit events. The auth module
// and the HTTP API build on it; it knows nothing of passwords or tokens beyond
// the opaque strings it is given (a password hash, a token's SHA-256 hex), so
// storage never depends on auth. Schema and rules: docs/storage.md "Accounts".
//
// Thread-safety: an AccountStore (one database connection) is used by one
// thread at a time, a storage thread, never an I/O thread: calls block on disk.
// Several connections to the same storage may be used at once; every rule below
// (uniqueness, last owner, one live refresh token per family) holds across them.
// Limitations: the store never reads the clock (every time is a parameter, so
// tests fake it and one node's skewed clock cannot be trusted more than the
// caller's); case-insensitivity is ASCII only (SQLite's NOCASE), so callers
// should restrict or normalise non-ASCII usernames; lists are not paginated.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "storage/store.h"  // kDomain and ErrorCode

namespace quire::storage {

// A point in time, Unix milliseconds (what the database stores).
using Time = std::chrono::sys_time<std::chrono::milliseconds>;
using Duration = std::chrono::milliseconds;

// Shape rules every backend applies before touching storage (account_store.cc).
inline constexpr std::size_t kMaxIdBytes = 128;       // user, workspace, family ids
inline constexpr std::size_t kMaxUsernameBytes = 64;  // printable, no '@'
inline constexpr std::size_t kMaxEmailBytes = 254;    // RFC 5321's path limit
inline constexpr std::size_t kMaxNameBytes = 256;     // display names, titles, workspace names
// Document ids: [A-Za-z0-9_-]{1,128}, the same ids the document log uses.
bool is_document_id(std::string_view id);
// A token hash as the store keeps it: 64 lower-case hex digits (SHA-256).
bool is_token_hash(std::string_view hash);
// ASCII lower-casing: how emails are stored and looked up.
std::string lower_ascii(std::string_view text);

// ---- Users ----

struct NewUser {
  std::string id;             // opaque, chosen by the caller (1..128 bytes)
  std::string username;       // unique case-insensitively; no '@' (so a login is unambiguous)
  std::string email;          // unique; must contain '@'; stored lower-cased
  std::string password_hash;  // opaque (argon2id PHC string from auth)
  std::string display_name;
};

struct User {
  std::string id;
  std::string username;  // as registered (case preserved)
  std::string email;     // lower-cased
  std::string password_hash;
  std::string display_name;
  bool disabled = false;
  Time created_at{};
  Time password_changed_at{};
};

// ---- Workspaces ----

enum class WorkspaceRole { kOwner, kMember };

struct Workspace {
  std::string id;
  std::string name;
  std::string created_by;
  Time created_at{};
};

struct WorkspaceMembership {
  Workspace workspace;
  WorkspaceRole role = WorkspaceRole::kMember;
};

struct WorkspaceMember {
  std::string user_id;
  WorkspaceRole role = WorkspaceRole::kMember;
};

// ---- Documents (metadata; the content is the Store's log) ----

enum class DocumentRole { kOwner, kEditor, kViewer };

// The roles' names, as stored and as the API spells them ("owner", "editor",
// "viewer"; "owner", "member"), and back; nullopt for any other name.
std::string_view role_name(DocumentRole role);
std::string_view role_name(WorkspaceRole role);
std::optional<DocumentRole> parse_document_role(std::string_view name);
std::optional<WorkspaceRole> parse_workspace_role(std::string_view name);

struct DocumentMeta {
  std::string id;
  std::string workspace_id;  // empty: not in a workspace
  std::string title;
  std::string created_by;
  Time created_at{};
  Time updated_at{};
  std::optional<Time> deleted_at;  // set: soft-deleted (the store hides it)
};

struct VisibleDocument {
  DocumentMeta document;
  DocumentRole role = DocumentRole::kViewer;
  // The last edit the server recorded (record_edit), for the document list;
  // unset and empty when never edited.
  std::optional<Time> last_edited_at;
  std::string last_editor_id;
  std::string last_editor_username;
  std::string last_editor_display_name;
};

struct DocumentMember {
  std::string user_id;
  DocumentRole role = DocumentRole::kViewer;
};

// ---- Refresh-token families (sessions) ----

// A login: the chain of refresh tokens rotated from one another. Its id is
// also the access tokens' `sid`.
struct TokenFamily {
  std::string id;
  std::string user_id;
  Time created_at{};
  Time last_used_at{};  // the last rotation (idle lifetime runs from here)
  Time absolute_expires_at{};
  std::optional<Time> revoked_at;
  std::string revoke_reason;  // "logout", "reuse", "password", "disabled", "expired", ...
};

enum class FamilyStatus { kUnknown, kLive, kRevoked };

enum class RotateOutcome {
  kRotated,        // the new token is the family's live head
  kUnknown,        // no such token
  kRevokedFamily,  // the family was revoked before this call
  kExpired,        // idle or absolute lifetime reached: the family is now revoked ("expired")
  kReuse,          // a rotated-away token outside the grace rule: the family is now revoked ("reuse")
};

struct RotateResult {
  RotateOutcome outcome = RotateOutcome::kUnknown;
  std::string family_id;  // set unless kUnknown (for logs and revocation broadcasts)
  std::string user_id;    // set unless kUnknown
};

struct RevokedFamily {
  std::string family_id;
  std::string user_id;
  Time revoked_at{};
  std::string reason;
};

// ---- Audit ----

struct AuditEvent {
  Time at{};
  std::string kind;            // e.g. "login", "login_failed", "refresh_reuse"
  std::string user_id;         // empty if none or unknown
  std::string remote_address;  // as the server saw it (after trusted proxies)
  std::string detail;          // free text; never token material or passwords
};

// ---- Checks every backend runs before touching storage (account_store.cc) ----

Error domain_error(ErrorCode code, std::string message);  // an Error in the storage domain
// kInvalid unless the id has 1..kMaxIdBytes bytes; `what` names it in the message.
Status check_id(std::string_view what, std::string_view id);
// kInvalid if the name is longer than kMaxNameBytes.
Status check_name(std::string_view what, std::string_view name);
// The shape rules of NewUser (ids, username, email, hash, display name).
Status check_new_user(const NewUser& user);
// kInvalid unless is_token_hash().
Status check_hash(std::string_view hash);
// A role name read back from the database; kCorrupt for any other name.
Result<WorkspaceRole> workspace_role_of(std::string_view name);
Result<DocumentRole> document_role_of(std::string_view name);

// ---- The rotation rule of AccountStore::rotate, shared by the backends ----

// What a backend has read of the presented token and its family, inside its
// write transaction and after whatever orders this rotation after any other
// of the same family.
struct PresentedToken {
  std::string family_id;
  std::string user_id;
  std::optional<Time> used_at;
  std::string successor;  // empty: none
  Time last_used_at{};
  Time absolute_expires_at{};
  bool family_revoked = false;
};

// The backend's writes, in that same transaction, all at the rotation's `now`.
struct RotationWrites {
  std::function<Result<bool>(std::string_view hash)> token_exists;
  // Marks `hash` used with `next` as its successor (none if empty), only if
  // it is still unused: the decisive conditional UPDATE. True if this call won.
  std::function<Result<bool>(std::string_view hash, std::string_view next)> use;
  std::function<Status(std::string_view hash, std::string_view next)> set_successor;
  std::function<Status(std::string_view reason)> revoke_family;
  // Stores `new_hash` as the family's new head and sets its last_used_at.
  std::function<Status(std::string_view new_hash)> issue;
};

// Decides and performs the rotation of the presented token (`presented_hash`,
// read as `token`) into `new_hash`: the rules under AccountStore::rotate. On
// success the backend commits (kRevokedFamily wrote nothing).
Result<RotateResult> apply_rotation(std::string_view presented_hash, const PresentedToken& token,
                                    std::string_view new_hash, Time now, Duration idle_limit, Duration grace,
                                    const RotationWrites& writes);

// Every call returns kIo (with the database's message) on a storage failure, kInvalid
// on an argument of the wrong shape (empty id, malformed token hash, ...).
class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // -- Users --
  // kUsernameTaken, kEmailTaken, kExists (id), kInvalid.
  virtual Status create_user(const NewUser& user, Time now) = 0;
  virtual Result<std::optional<User>> find_user_by_id(std::string_view id) = 0;
  // `login` is an email if it contains '@', else a username; both case-insensitive.
  virtual Result<std::optional<User>> find_user_by_login(std::string_view login) = 0;
  // Every user, by username.
  virtual Result<std::vector<User>> list_users() = 0;
  // Sets the hash and password_changed_at and, in the same transaction, revokes
  // every live family of the user (reason "password"): sessions never outlive
  // the password they were opened with. The caller opens a new family for the
  // session that changed it. kNotFound.
  virtual Status set_password_hash(std::string_view user_id, std::string_view password_hash, Time now) = 0;
  // Disabling also revokes every live family (reason "disabled") in the same
  // transaction. kNotFound.
  virtual Status set_disabled(std::string_view user_id, bool disabled, Time now) = 0;

  // -- Workspaces --
  // The creator becomes its owner. kExists, kNotFound (creator), kInvalid.
  virtual Status create_workspace(const Workspace& workspace) = 0;
  // The workspaces `user_id` belongs to, with its role, by name.
  virtual Result<std::vector<WorkspaceMembership>> list_workspaces(std::string_view user_id) = 0;
  // Adds a member or changes a member's role. kNotFound (workspace or user),
  // kLastOwner (downgrading the only owner).
  virtual Status set_workspace_member(std::string_view workspace_id, std::string_view user_id, WorkspaceRole role) = 0;
  // kNotFound (not a member), kLastOwner.
  virtual Status remove_workspace_member(std::string_view workspace_id, std::string_view user_id) = 0;
  virtual Result<std::vector<WorkspaceMember>> list_workspace_members(std::string_view workspace_id) = 0;
  // None if not a member.
  virtual Result<std::optional<WorkspaceRole>> workspace_role(std::string_view workspace_id,
                                                              std::string_view user_id) = 0;

  // -- Documents --
  // Creates the metadata (created_at = updated_at = now); `created_by` becomes
  // its owner. Ids are never reused, even after a soft delete (the log under
  // that id may still exist). kExists, kNotFound (creator or workspace),
  // kInvalid (id not a document id).
  virtual Status create_document(const DocumentMeta& document, Time now) = 0;
  // None if unknown or deleted.
  virtual Result<std::optional<DocumentMeta>> get_document(std::string_view document_id) = 0;
  // The live documents `user_id` has a role on, with that role, newest update first.
  virtual Result<std::vector<VisibleDocument>> list_documents_for(std::string_view user_id) = 0;
  // kNotFound (unknown or deleted).
  virtual Status rename_document(std::string_view document_id, std::string_view title, Time now) = 0;
  // Soft delete: the document and its roles disappear from every read; its
  // rows stay (the id stays taken). kNotFound (unknown or already deleted).
  virtual Status delete_document(std::string_view document_id, Time now) = 0;
  // Records that `user_id` edited the document at `now` (the server calls it
  // after a commit, at most every few seconds per document and editor).
  // kNotFound (no such live document or user).
  virtual Status record_edit(std::string_view document_id, std::string_view user_id, Time now) = 0;
  // Adds a member or changes a member's role. kNotFound (document or user),
  // kLastOwner (downgrading the only owner).
  virtual Status set_document_member(std::string_view document_id, std::string_view user_id, DocumentRole role) = 0;
  // kNotFound (document, or not a member), kLastOwner.
  virtual Status remove_document_member(std::string_view document_id, std::string_view user_id) = 0;
  // Owners first, then by user id. kNotFound (unknown or deleted document).
  virtual Result<std::vector<DocumentMember>> list_document_members(std::string_view document_id) = 0;
  // None if not a member or the document is unknown or deleted.
  virtual Result<std::optional<DocumentRole>> role_of(std::string_view document_id, std::string_view user_id) = 0;

  // -- Refresh-token families --
  // Token hashes are SHA-256 as 64 lower-case hex digits (kInvalid otherwise):
  // the store never sees a raw token.
  // A new family whose live head is `first_token_hash`. kExists (family id or
  // hash), kNotFound (user).
  virtual Status create_family(std::string_view family_id, std::string_view user_id, std::string_view first_token_hash,
                               Time now, Time absolute_expires_at) = 0;
  // Rotates the presented token into `new_hash`, in one transaction whose
  // decisive step is one conditional UPDATE (used_at IS NULL), so concurrent
  // rotations of one token on any connection or node cannot both win:
  // - the family's live head, family live, now < last_used_at + idle_limit and
  //   now < absolute_expires_at: kRotated, `new_hash` is the new head;
  // - the immediately previous token again, now < its used_at + grace, and its
  //   successor still unused: kRotated, `new_hash` replaces that successor
  //   (which is dead from now on); the window is not extended by this;
  // - any other used token: kReuse, the family is revoked ("reuse");
  // - revoked family: kRevokedFamily; lifetime reached: kExpired (and revoked).
  // Rotation never extends absolute_expires_at. kExists if `new_hash` is taken.
  virtual Result<RotateResult> rotate(std::string_view presented_hash, std::string_view new_hash, Time now,
                                      Duration idle_limit, Duration grace) = 0;
  // Revokes a live family (a revoked one keeps its first reason). kNotFound.
  virtual Status revoke_family(std::string_view family_id, std::string_view reason, Time now) = 0;
  // Revokes every live family of the user; returns their ids (for broadcasting).
  virtual Result<std::vector<std::string>> revoke_user_families(std::string_view user_id, std::string_view reason,
                                                                Time now) = 0;
  // For the access token's `sid` check. Lifetimes are not judged here: an
  // access token outlives its family's idle limit by at most its own exp.
  virtual Result<FamilyStatus> family_status(std::string_view family_id) = 0;
  virtual Result<std::optional<TokenFamily>> find_family(std::string_view family_id) = 0;
  // Unused tokens of a family: 1 while it has a head (invariant I4, one live
  // head per family), for tests, fault checks and operators.
  virtual Result<std::size_t> live_token_count(std::string_view family_id) = 0;
  // Families revoked at or after `since`, oldest first (a poller passes the last
  // revoked_at it saw; seeing one twice is harmless, missing one is not).
  virtual Result<std::vector<RevokedFamily>> list_revoked_since(Time since) = 0;

  // -- Audit --
  // kInvalid if `kind` is empty.
  virtual Status append_audit(const AuditEvent& event) = 0;
  // The `limit` most recent events, newest first.
  virtual Result<std::vector<AuditEvent>> list_audit(std::size_t limit) = 0;
};

}  // namespace quire::storage
