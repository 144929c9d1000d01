// The AccountStore conformance cases (account_store_conformance.h).
#include "storage/account_store_conformance.h"

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace quire::storage::testing {
namespace {

using std::chrono::seconds;

const Time kT0{std::chrono::milliseconds{1'700'000'000'000}};
constexpr Duration kIdle = seconds(30);
constexpr Duration kGrace = seconds(10);
constexpr Duration kNoGrace{0};

// A distinct, well-formed token hash (64 lower-case hex digits) per number.
std::string hash(int n) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%064x", n);
  return buf;
}

NewUser user(const std::string& id, const std::string& username, const std::string& email) {
  return {id, username, email, "$argon2id$v=19$opaque", "Name " + id};
}

void must(const Status& s) {
  ASSERT_TRUE(s.ok()) << s.error().to_string();
}

template <class T>
void expect_code(const Result<T>& r, ErrorCode code) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, code) << r.error().to_string();
}
void expect_code(const Status& s, ErrorCode code) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, code) << s.error().to_string();
}

RotateOutcome rotate(AccountStore& store, int presented, int next, Time now, Duration grace = kGrace) {
  auto r = store.rotate(hash(presented), hash(next), now, kIdle, grace);
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().to_string());
  return r ? r->outcome : RotateOutcome::kUnknown;
}

std::optional<std::string> revoke_reason(AccountStore& store, std::string_view family) {
  auto f = store.find_family(family);
  EXPECT_TRUE(f.ok());
  if (!f.ok() || !*f || !(*f)->revoked_at) return std::nullopt;
  return (*f)->revoke_reason;
}

// ---- Users ----

TEST_P(AccountStoreConformance, CreatesAndFindsUsersCaseInsensitively) {
  auto store = open_with_users();
  auto by_id = store->find_user_by_id("u-alice");
  ASSERT_TRUE(by_id.ok());
  ASSERT_TRUE(by_id->has_value());
  const User& alice = **by_id;
  EXPECT_EQ(alice.username, "Alice");
  EXPECT_EQ(alice.email, "alice@example.com");  // stored lower-cased
  EXPECT_EQ(alice.password_hash, "$argon2id$v=19$opaque");
  EXPECT_EQ(alice.display_name, "Name u-alice");
  EXPECT_FALSE(alice.disabled);
  EXPECT_EQ(alice.created_at, kT0);
  EXPECT_EQ(alice.password_changed_at, kT0);

  for (const char* login : {"alice", "ALICE", "Alice", "alice@example.com", "ALICE@EXAMPLE.com"}) {
    auto found = store->find_user_by_login(login);
    ASSERT_TRUE(found.ok());
    ASSERT_TRUE(found->has_value()) << login;
    EXPECT_EQ((*found)->id, "u-alice") << login;
  }
  for (const char* login : {"alic", "alice@example.co", "u-alice", "", "' OR 1=1 --"}) {
    auto found = store->find_user_by_login(login);
    ASSERT_TRUE(found.ok());
    EXPECT_FALSE(found->has_value()) << login;
  }
  auto none = store->find_user_by_id("nobody");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  auto all = store->list_users();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
}

TEST_P(AccountStoreConformance, UsernamesAndEmailsAreUnique) {
  auto store = open_with_users();
  expect_code(store->create_user(user("u-2", "ALICE", "other@example.com"), kT0), kUsernameTaken);
  expect_code(store->create_user(user("u-3", "alice2", "alice@EXAMPLE.com"), kT0), kEmailTaken);
  expect_code(store->create_user(user("u-alice", "alice3", "a3@example.com"), kT0), kExists);
  // Refused shapes: '@' in a username would make a login ambiguous.
  expect_code(store->create_user(user("u-4", "a@b", "a4@example.com"), kT0), kInvalid);
  expect_code(store->create_user(user("u-5", "five", "no-at-sign"), kT0), kInvalid);
  expect_code(store->create_user(user("", "six", "six@example.com"), kT0), kInvalid);
  expect_code(store->create_user(user("u-7", "", "seven@example.com"), kT0), kInvalid);
  expect_code(store->create_user(user("u-8", std::string("ei\0ght", 6), "eight@example.com"), kT0), kInvalid);
  auto all = store->list_users();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);  // nothing half-created
}

TEST_P(AccountStoreConformance, PasswordChangeAndDisableRevokeEveryFamily) {
  auto store = open_with_users();
  must(store->create_family("f1", "u-alice", hash(1), kT0, kT0 + seconds(3600)));
  must(store->create_family("f2", "u-alice", hash(2), kT0, kT0 + seconds(3600)));
  must(store->create_family("fb", "u-bob", hash(3), kT0, kT0 + seconds(3600)));

  must(store->set_password_hash("u-alice", "$argon2id$new", kT0 + seconds(5)));
  auto alice = store->find_user_by_id("u-alice");
  ASSERT_TRUE(alice.ok() && alice->has_value());
  EXPECT_EQ((*alice)->password_hash, "$argon2id$new");
  EXPECT_EQ((*alice)->password_changed_at, kT0 + seconds(5));
  EXPECT_EQ(revoke_reason(*store, "f1"), "password");
  EXPECT_EQ(revoke_reason(*store, "f2"), "password");
  EXPECT_EQ(revoke_reason(*store, "fb"), std::nullopt);  // other users untouched
  EXPECT_EQ(rotate(*store, 1, 10, kT0 + seconds(6)), RotateOutcome::kRevokedFamily);

  must(store->create_family("f3", "u-alice", hash(4), kT0 + seconds(6), kT0 + seconds(3600)));
  must(store->set_disabled("u-alice", true, kT0 + seconds(7)));
  alice = store->find_user_by_id("u-alice");
  ASSERT_TRUE(alice.ok() && alice->has_value());
  EXPECT_TRUE((*alice)->disabled);
  EXPECT_EQ(revoke_reason(*store, "f3"), "disabled");
  must(store->set_disabled("u-alice", false, kT0 + seconds(8)));
  alice = store->find_user_by_id("u-alice");
  ASSERT_TRUE(alice.ok() && alice->has_value());
  EXPECT_FALSE((*alice)->disabled);
  EXPECT_EQ(revoke_reason(*store, "f3"), "disabled");  // re-enabling revives nothing

  expect_code(store->set_password_hash("nobody", "h", kT0), kNotFound);
  expect_code(store->set_disabled("nobody", true, kT0), kNotFound);
}

// ---- Workspaces ----

TEST_P(AccountStoreConformance, WorkspacesHaveOwnersAndMembers) {
  auto store = open_with_users();
  must(store->create_workspace({"w1", "Zeta", "u-alice", kT0}));
  must(store->create_workspace({"w2", "Alpha", "u-bob", kT0}));
  expect_code(store->create_workspace({"w1", "again", "u-bob", kT0}), kExists);
  expect_code(store->create_workspace({"w3", "x", "nobody", kT0}), kNotFound);

  must(store->set_workspace_member("w2", "u-alice", WorkspaceRole::kMember));
  auto mine = store->list_workspaces("u-alice");
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 2u);
  EXPECT_EQ((*mine)[0].workspace.id, "w2");  // by name
  EXPECT_EQ((*mine)[0].role, WorkspaceRole::kMember);
  EXPECT_EQ((*mine)[1].workspace.id, "w1");
  EXPECT_EQ((*mine)[1].workspace.name, "Zeta");
  EXPECT_EQ((*mine)[1].workspace.created_by, "u-alice");
  EXPECT_EQ((*mine)[1].workspace.created_at, kT0);
  EXPECT_EQ((*mine)[1].role, WorkspaceRole::kOwner);

  auto role = store->workspace_role("w1", "u-alice");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(*role, WorkspaceRole::kOwner);
  role = store->workspace_role("w1", "u-carol");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(*role, std::nullopt);

  expect_code(store->set_workspace_member("w1", "u-alice", WorkspaceRole::kMember), kLastOwner);
  expect_code(store->remove_workspace_member("w1", "u-alice"), kLastOwner);
  must(store->set_workspace_member("w1", "u-carol", WorkspaceRole::kOwner));
  must(store->set_workspace_member("w1", "u-alice", WorkspaceRole::kMember));
  auto members = store->list_workspace_members("w1");
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].user_id, "u-carol");  // owners first
  EXPECT_EQ((*members)[0].role, WorkspaceRole::kOwner);
  must(store->remove_workspace_member("w1", "u-alice"));
  expect_code(store->remove_workspace_member("w1", "u-alice"), kNotFound);
  expect_code(store->set_workspace_member("w9", "u-alice", WorkspaceRole::kMember), kNotFound);
  expect_code(store->set_workspace_member("w1", "nobody", WorkspaceRole::kMember), kNotFound);
}

// ---- Documents ----

TEST_P(AccountStoreConformance, DocumentsHaveMetadataAndTheCreatorOwnsThem) {
  auto store = open_with_users();
  must(store->create_workspace({"w1", "Team", "u-alice", kT0}));
  must(store->create_document({"doc-1", "w1", "Plan", "u-alice", {}, {}, {}}, kT0));
  must(store->create_document({"doc_2", "", "Notes", "u-bob", {}, {}, {}}, kT0 + seconds(1)));
  expect_code(store->create_document({"doc-1", "", "dup", "u-bob", {}, {}, {}}, kT0), kExists);
  for (const char* bad : {"", "../x", "a b", "a/b", "%2e%2e"}) {
    expect_code(store->create_document({bad, "", "t", "u-bob", {}, {}, {}}, kT0), kInvalid);
  }
  expect_code(store->create_document({std::string(129, 'a'), "", "t", "u-bob", {}, {}, {}}, kT0), kInvalid);
  must(store->create_document({std::string(128, 'a'), "", "t", "u-bob", {}, {}, {}}, kT0));
  expect_code(store->create_document({"doc-3", "w9", "t", "u-bob", {}, {}, {}}, kT0), kNotFound);
  expect_code(store->create_document({"doc-4", "", "t", "nobody", {}, {}, {}}, kT0), kNotFound);

  auto doc = store->get_document("doc-1");
  ASSERT_TRUE(doc.ok());
  ASSERT_TRUE(doc->has_value());
  EXPECT_EQ((*doc)->workspace_id, "w1");
  EXPECT_EQ((*doc)->title, "Plan");
  EXPECT_EQ((*doc)->created_by, "u-alice");
  EXPECT_EQ((*doc)->created_at, kT0);
  EXPECT_EQ((*doc)->updated_at, kT0);
  EXPECT_EQ((*doc)->deleted_at, std::nullopt);
  auto personal = store->get_document("doc_2");
  ASSERT_TRUE(personal.ok() && personal->has_value());
  EXPECT_EQ((*personal)->workspace_id, "");

  must(store->rename_document("doc-1", "Plan B", kT0 + seconds(9)));
  doc = store->get_document("doc-1");
  ASSERT_TRUE(doc.ok() && doc->has_value());
  EXPECT_EQ((*doc)->title, "Plan B");
  EXPECT_EQ((*doc)->updated_at, kT0 + seconds(9));
  expect_code(store->rename_document("nope", "x", kT0), kNotFound);

  must(store->set_document_member("doc-1", "u-bob", DocumentRole::kEditor));
  must(store->set_document_member("doc-1", "u-carol", DocumentRole::kViewer));
  auto bobs = store->list_documents_for("u-bob");
  ASSERT_TRUE(bobs.ok());
  ASSERT_EQ(bobs->size(), 3u);
  EXPECT_EQ((*bobs)[0].document.id, "doc-1");  // most recently updated first
  EXPECT_EQ((*bobs)[0].role, DocumentRole::kEditor);
  EXPECT_EQ((*bobs)[1].document.id, "doc_2");
  EXPECT_EQ((*bobs)[1].role, DocumentRole::kOwner);

  auto role = store->role_of("doc-1", "u-carol");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(*role, DocumentRole::kViewer);
  role = store->role_of("doc_2", "u-carol");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(*role, std::nullopt);
  auto members = store->list_document_members("doc-1");
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 3u);
  EXPECT_EQ((*members)[0].user_id, "u-alice");
  EXPECT_EQ((*members)[0].role, DocumentRole::kOwner);
  EXPECT_EQ((*members)[1].role, DocumentRole::kEditor);
  EXPECT_EQ((*members)[2].role, DocumentRole::kViewer);

  must(store->remove_document_member("doc-1", "u-carol"));
  role = store->role_of("doc-1", "u-carol");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(*role, std::nullopt);
  expect_code(store->remove_document_member("doc-1", "u-carol"), kNotFound);
  expect_code(store->set_document_member("doc-1", "nobody", DocumentRole::kViewer), kNotFound);
  expect_code(store->set_document_member("nope", "u-bob", DocumentRole::kViewer), kNotFound);
}

TEST_P(AccountStoreConformance, EditsRecordTheLastEditorAndOrderTheList) {
  auto store = open_with_users();
  must(store->create_document({"doc-1", "", "Plan", "u-alice", {}, {}, {}}, kT0));
  must(store->create_document({"doc_2", "", "Notes", "u-alice", {}, {}, {}}, kT0 + seconds(1)));
  must(store->set_document_member("doc-1", "u-bob", DocumentRole::kEditor));
  auto list = store->list_documents_for("u-alice");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].document.id, "doc_2");
  EXPECT_EQ((*list)[1].last_edited_at, std::nullopt);
  EXPECT_EQ((*list)[1].last_editor_id, "");
  EXPECT_EQ((*list)[1].last_editor_username, "");

  // An edit moves the document to the top and names its editor.
  must(store->record_edit("doc-1", "u-bob", kT0 + seconds(5)));
  auto doc = store->get_document("doc-1");
  ASSERT_TRUE(doc.ok() && doc->has_value());
  EXPECT_EQ((*doc)->updated_at, kT0);  // metadata did not change
  auto bob = store->find_user_by_id("u-bob");
  ASSERT_TRUE(bob.ok() && bob->has_value());
  list = store->list_documents_for("u-alice");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].document.id, "doc-1");
  EXPECT_EQ((*list)[0].last_edited_at, kT0 + seconds(5));
  EXPECT_EQ((*list)[0].last_editor_id, "u-bob");
  EXPECT_EQ((*list)[0].last_editor_username, (*bob)->username);
  EXPECT_EQ((*list)[0].last_editor_display_name, (*bob)->display_name);

  expect_code(store->record_edit("nope", "u-bob", kT0), kNotFound);
  expect_code(store->record_edit("doc-1", "nobody", kT0), kNotFound);
  must(store->delete_document("doc_2", kT0 + seconds(6)));
  expect_code(store->record_edit("doc_2", "u-alice", kT0 + seconds(7)), kNotFound);
}

TEST_P(AccountStoreConformance, ADocumentAlwaysKeepsAnOwner) {
  auto store = open_with_users();
  must(store->create_document({"d", "", "t", "u-alice", {}, {}, {}}, kT0));
  expect_code(store->set_document_member("d", "u-alice", DocumentRole::kEditor), kLastOwner);
  expect_code(store->remove_document_member("d", "u-alice"), kLastOwner);
  must(store->set_document_member("d", "u-bob", DocumentRole::kOwner));
  must(store->set_document_member("d", "u-alice", DocumentRole::kViewer));
  expect_code(store->remove_document_member("d", "u-bob"), kLastOwner);
  expect_code(store->set_document_member("d", "u-bob", DocumentRole::kEditor), kLastOwner);
  must(store->set_document_member("d", "u-bob", DocumentRole::kOwner));  // owner → owner is fine
  must(store->set_document_member("d", "u-alice", DocumentRole::kOwner));
  must(store->remove_document_member("d", "u-bob"));
  auto members = store->list_document_members("d");
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 1u);
  EXPECT_EQ((*members)[0].user_id, "u-alice");
  EXPECT_EQ((*members)[0].role, DocumentRole::kOwner);
}

TEST_P(AccountStoreConformance, SoftDeleteHidesTheDocumentAndItsRoles) {
  auto store = open_with_users();
  must(store->create_document({"d", "", "t", "u-alice", {}, {}, {}}, kT0));
  must(store->create_document({"keep", "", "t", "u-alice", {}, {}, {}}, kT0));
  must(store->set_document_member("d", "u-bob", DocumentRole::kEditor));
  must(store->delete_document("d", kT0 + seconds(1)));

  auto doc = store->get_document("d");
  ASSERT_TRUE(doc.ok());
  EXPECT_FALSE(doc->has_value());
  for (const char* u : {"u-alice", "u-bob"}) {
    auto role = store->role_of("d", u);
    ASSERT_TRUE(role.ok());
    EXPECT_EQ(*role, std::nullopt) << u;
  }
  auto alices = store->list_documents_for("u-alice");
  ASSERT_TRUE(alices.ok());
  ASSERT_EQ(alices->size(), 1u);
  EXPECT_EQ((*alices)[0].document.id, "keep");
  auto bobs = store->list_documents_for("u-bob");
  ASSERT_TRUE(bobs.ok());
  EXPECT_TRUE(bobs->empty());
  expect_code(store->list_document_members("d"), kNotFound);
  expect_code(store->rename_document("d", "x", kT0), kNotFound);
  expect_code(store->set_document_member("d", "u-carol", DocumentRole::kViewer), kNotFound);
  expect_code(store->remove_document_member("d", "u-bob"), kNotFound);
  expect_code(store->delete_document("d", kT0), kNotFound);
  expect_code(store->delete_document("never", kT0), kNotFound);
  // The id stays taken: the log under it may still exist.
  expect_code(store->create_document({"d", "", "again", "u-carol", {}, {}, {}}, kT0), kExists);
}

// ---- Refresh-token families ----

TEST_P(AccountStoreConformance, FamiliesAreCreatedWithHashesOnly) {
  auto store = open_with_users();
  must(store->create_family("f", "u-alice", hash(1), kT0, kT0 + seconds(3600)));
  expect_code(store->create_family("f", "u-alice", hash(2), kT0, kT0 + seconds(3600)), kExists);
  expect_code(store->create_family("g", "u-alice", hash(1), kT0, kT0 + seconds(3600)), kExists);
  expect_code(store->create_family("g", "nobody", hash(2), kT0, kT0 + seconds(3600)), kNotFound);
  // A raw token (43 base64url characters) or upper-case hex is not a hash.
  expect_code(store->create_family("g", "u-alice", std::string(43, 'A'), kT0, kT0), kInvalid);
  expect_code(store->create_family("g", "u-alice", std::string(64, 'A'), kT0, kT0), kInvalid);
  expect_code(store->rotate(std::string(43, 'A'), hash(9), kT0, kIdle, kGrace), kInvalid);
  expect_code(store->rotate(hash(1), "raw-token", kT0, kIdle, kGrace), kInvalid);

  auto f = store->find_family("f");
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->user_id, "u-alice");
  EXPECT_EQ((*f)->created_at, kT0);
  EXPECT_EQ((*f)->last_used_at, kT0);
  EXPECT_EQ((*f)->absolute_expires_at, kT0 + seconds(3600));
  EXPECT_EQ((*f)->revoked_at, std::nullopt);
  auto status = store->family_status("f");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, FamilyStatus::kLive);
  status = store->family_status("nope");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, FamilyStatus::kUnknown);
  auto none = store->find_family("nope");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_P(AccountStoreConformance, RotationChainsAndReuseRevokesTheFamily) {
  auto store = open_with_users();
  must(store->create_family("f", "u-alice", hash(1), kT0, kT0 + seconds(3600)));
  auto r = store->rotate(hash(1), hash(2), kT0 + seconds(1), kIdle, kGrace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, RotateOutcome::kRotated);
  EXPECT_EQ(r->family_id, "f");
  EXPECT_EQ(r->user_id, "u-alice");
  EXPECT_EQ(rotate(*store, 2, 3, kT0 + seconds(2)), RotateOutcome::kRotated);
  auto f = store->find_family("f");
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->last_used_at, kT0 + seconds(2));
  EXPECT_EQ((*f)->absolute_expires_at, kT0 + seconds(3600));
  auto live = store->live_token_count("f");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(*live, 1u);

  // RT1 again: its successor RT2 was used, so this is reuse even within grace.
  r = store->rotate(hash(1), hash(4), kT0 + seconds(3), kIdle, kGrace);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, RotateOutcome::kReuse);
  EXPECT_EQ(r->family_id, "f");
  EXPECT_EQ(r->user_id, "u-alice");
  EXPECT_EQ(revoke_reason(*store, "f"), "reuse");
  EXPECT_EQ(rotate(*store, 3, 5, kT0 + seconds(4)), RotateOutcome::kRevokedFamily);
  auto status = store->family_status("f");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, FamilyStatus::kRevoked);
  EXPECT_EQ(rotate(*store, 99, 6, kT0 + seconds(4)), RotateOutcome::kUnknown);
  // A refused rotation stored nothing: the new hash is still free.
  must(store->create_family("g", "u-bob", hash(5), kT0 + seconds(5), kT0 + seconds(3600)));
}

TEST_P(AccountStoreConformance, GraceLetsThePreviousTokenReplaceAnUnusedSuccessor) {
  auto store = open_with_users();
  must(store->create_family("f", "u-alice", hash(1), kT0, kT0 + seconds(3600)));
  EXPECT_EQ(rotate(*store, 1, 2, kT0 + seconds(1)), RotateOutcome::kRotated);
  // A second request with RT1 (a parallel refresh) within the grace period.
  EXPECT_EQ(rotate(*store, 1, 3, kT0 + seconds(2)), RotateOutcome::kRotated);
  auto live = store->live_token_count("f");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(*live, 1u);  // RT3 replaced RT2: one head, never two
  EXPECT_EQ(rotate(*store, 3, 4, kT0 + seconds(3)), RotateOutcome::kRotated);
  // RT2 is dead: it was never rotated, and presenting it now is reuse.
  EXPECT_EQ(rotate(*store, 2, 5, kT0 + seconds(4)), RotateOutcome::kReuse);
  EXPECT_EQ(revoke_reason(*store, "f"), "reuse");
  EXPECT_EQ(rotate(*store, 4, 6, kT0 + seconds(5)), RotateOutcome::kRevokedFamily);
}

TEST_P(AccountStoreConformance, GraceEndsAtItsLimitAndCanBeOff) {
  auto store = open_with_users();
  must(store->create_family("f", "u-alice", hash(1), kT0, kT0 + seconds(3600)));
  EXPECT_EQ(rotate(*store, 1, 2, kT0), RotateOutcome::kRotated);
  EXPECT_EQ(rotate(*store, 1, 3, kT0 + kGrace), RotateOutcome::kReuse);  // refused at the limit
  EXPECT_EQ(revoke_reason(*store, "f"), "reuse");

  must(store->create_family("g", "u-alice", hash(11), kT0, kT0 + seconds(3600)));
  EXPECT_EQ(rotate(*store, 11, 12, kT0, kNoGrace), RotateOutcome::kRotated);
  EXPECT_EQ(rotate(*store, 11, 13, kT0, kNoGrace), RotateOutcome::kReuse);
}

TEST_P(AccountStoreConformance, IdleAndAbsoluteLifetimesExpireTheFamily) {
  auto store = open_with_users();
  // Idle: each rotation restarts the idle clock; a gap of kIdle is refused.
  must(store->create_family("idle", "u-alice", hash(1), kT0, kT0 + seconds(3600)));
  const Time t1 = kT0 + kIdle - Duration(1);
  EXPECT_EQ(rotate(*store, 1, 2, t1), RotateOutcome::kRotated);
  EXPECT_EQ(rotate(*store, 2, 3, t1 + kIdle), RotateOutcome::kExpired);
  EXPECT_EQ(revoke_reason(*store, "idle"), "expired");
  EXPECT_EQ(rotate(*store, 2, 3, t1 + kIdle), RotateOutcome::kRevokedFamily);

  // Absolute: rotating often does not extend it.
  must(store->create_family("abs", "u-alice", hash(10), kT0, kT0 + seconds(100)));
  int token = 10;
  for (int s = 20; s < 100; s += 20, ++token) {
    EXPECT_EQ(rotate(*store, token, token + 1, kT0 + seconds(s)), RotateOutcome::kRotated) << s;
  }
  auto f = store->find_family("abs");
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->absolute_expires_at, kT0 + seconds(100));
  EXPECT_EQ(rotate(*store, token, token + 1, kT0 + seconds(100)), RotateOutcome::kExpired);
  EXPECT_EQ(revoke_reason(*store, "abs"), "expired");
}

TEST_P(AccountStoreConformance, RevocationsAreRecordedAndListed) {
  auto store = open_with_users();
  must(store->create_family("a1", "u-alice", hash(1), kT0, kT0 + seconds(3600)));
  must(store->create_family("a2", "u-alice", hash(2), kT0, kT0 + seconds(3600)));
  must(store->create_family("b1", "u-bob", hash(3), kT0, kT0 + seconds(3600)));
  must(store->revoke_family("a1", "logout", kT0 + seconds(10)));
  must(store->revoke_family("a1", "again", kT0 + seconds(11)));  // keeps the first reason
  EXPECT_EQ(revoke_reason(*store, "a1"), "logout");
  expect_code(store->revoke_family("nope", "logout", kT0), kNotFound);
  EXPECT_EQ(rotate(*store, 1, 9, kT0 + seconds(12)), RotateOutcome::kRevokedFamily);

  auto ids = store->revoke_user_families("u-alice", "admin", kT0 + seconds(20));
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<std::string>{"a2"}));  // a1 was revoked already
  EXPECT_EQ(revoke_reason(*store, "a2"), "admin");
  auto status = store->family_status("b1");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, FamilyStatus::kLive);

  auto since = store->list_revoked_since(kT0 + seconds(10));
  ASSERT_TRUE(since.ok());
  ASSERT_EQ(since->size(), 2u);
  EXPECT_EQ((*since)[0].family_id, "a1");
  EXPECT_EQ((*since)[0].user_id, "u-alice");
  EXPECT_EQ((*since)[0].revoked_at, kT0 + seconds(10));
  EXPECT_EQ((*since)[0].reason, "logout");
  EXPECT_EQ((*since)[1].family_id, "a2");
  since = store->list_revoked_since(kT0 + seconds(11));
  ASSERT_TRUE(since.ok());
  ASSERT_EQ(since->size(), 1u);
  EXPECT_EQ((*since)[0].family_id, "a2");
}

// SECURITY row 13: 50 simultaneous refreshes with one token, each on its own
// connection, leave exactly one live head.
void rotate_concurrently(const std::function<std::unique_ptr<AccountStore>(bool)>& open, Duration grace, int& rotated,
                         int& reuse) {
  auto setup = open(false);
  ASSERT_TRUE(setup->create_user(user("u", "u", "u@example.com"), kT0).ok());
  ASSERT_TRUE(setup->create_family("f", "u", hash(1), kT0, kT0 + seconds(3600)).ok());
  constexpr int kThreads = 50;
  std::vector<std::unique_ptr<AccountStore>> stores;
  for (int i = 0; i < kThreads; ++i) stores.push_back(open(true));
  std::atomic<int> ready{0};
  std::vector<RotateOutcome> outcomes(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      auto r = stores[static_cast<std::size_t>(i)]->rotate(hash(1), hash(100 + i), kT0 + seconds(1), kIdle, grace);
      EXPECT_TRUE(r.ok()) << (r ? "" : r.error().to_string());
      outcomes[static_cast<std::size_t>(i)] = r ? r->outcome : RotateOutcome::kUnknown;
    });
  }
  for (auto& th : threads) th.join();
  rotated = 0;
  reuse = 0;
  for (RotateOutcome o : outcomes) {
    rotated += o == RotateOutcome::kRotated;
    reuse += o == RotateOutcome::kReuse;
  }
  auto live = setup->live_token_count("f");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(*live, 1u);
}

TEST_P(AccountStoreConformance, ConcurrentRotationWithoutGraceHasOneWinner) {
  int rotated = 0;
  int reuse = 0;
  rotate_concurrently([this](bool reopen) { return open(reopen); }, kNoGrace, rotated, reuse);
  EXPECT_EQ(rotated, 1);
  EXPECT_GE(reuse, 1);  // the first loser revokes; later ones find the family revoked
  auto store = open(true);
  auto status = store->family_status("f");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, FamilyStatus::kRevoked);
}

TEST_P(AccountStoreConformance, ConcurrentRotationWithinGraceKeepsOneHead) {
  int rotated = 0;
  int reuse = 0;
  rotate_concurrently([this](bool reopen) { return open(reopen); }, kGrace, rotated, reuse);
  EXPECT_EQ(rotated, 50);  // every one a rotation or a grace replacement
  EXPECT_EQ(reuse, 0);
  auto store = open(true);
  auto status = store->family_status("f");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, FamilyStatus::kLive);
}

// ---- Audit ----

TEST_P(AccountStoreConformance, AuditEventsAreListedNewestFirst) {
  auto store = open_with_users();
  must(store->append_audit({kT0, "login", "u-alice", "192.0.2.1", "password"}));
  must(store->append_audit({kT0 + seconds(1), "login_failed", "", "192.0.2.2", "unknown user"}));
  must(store->append_audit({kT0 + seconds(2), "refresh_reuse", "u-alice", "192.0.2.1", "family f"}));
  expect_code(store->append_audit({kT0, "", "", "", ""}), kInvalid);
  auto events = store->list_audit(2);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].kind, "refresh_reuse");
  EXPECT_EQ((*events)[0].at, kT0 + seconds(2));
  EXPECT_EQ((*events)[0].detail, "family f");
  EXPECT_EQ((*events)[1].kind, "login_failed");
  EXPECT_EQ((*events)[1].user_id, "");
  EXPECT_EQ((*events)[1].remote_address, "192.0.2.2");
  events = store->list_audit(100);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), 3u);
}

TEST_P(AccountStoreConformance, EverythingSurvivesReopening) {
  {
    auto store = open_with_users();
    must(store->create_document({"d", "", "t", "u-alice", {}, {}, {}}, kT0));
    must(store->create_family("f", "u-alice", hash(1), kT0, kT0 + seconds(3600)));
    EXPECT_EQ(rotate(*store, 1, 2, kT0 + seconds(1)), RotateOutcome::kRotated);
  }
  auto store = open(/*reopen=*/true);
  auto found = store->find_user_by_login("ALICE");
  ASSERT_TRUE(found.ok() && found->has_value());
  auto role = store->role_of("d", "u-alice");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(*role, DocumentRole::kOwner);
  EXPECT_EQ(rotate(*store, 2, 3, kT0 + seconds(2)), RotateOutcome::kRotated);
}

}  // namespace

std::unique_ptr<AccountStore> AccountStoreConformance::open_with_users() {
  auto store = open();
  for (const auto& u : {user("u-alice", "Alice", "Alice@Example.COM"), user("u-bob", "bob", "bob@example.com"),
                        user("u-carol", "carol", "carol@example.com")}) {
    Status s = store->create_user(u, kT0);
    EXPECT_TRUE(s.ok()) << (s ? "" : s.error().to_string());
  }
  return store;
}

}  // namespace quire::storage::testing
