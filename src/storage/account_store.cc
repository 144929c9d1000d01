// The shape rules and shared checks of account_store.h, used by every AccountStore backend.
#include "storage/account_store.h"

#include <utility>

namespace quire::storage {

bool is_document_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_token_hash(std::string_view hash) {
  if (hash.size() != 64) return false;
  for (char c : hash) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view role_name(DocumentRole role) {
  switch (role) {
    case DocumentRole::kOwner:
      return "owner";
    case DocumentRole::kEditor:
      return "editor";
    case DocumentRole::kViewer:
      break;
  }
  return "viewer";
}

std::string_view role_name(WorkspaceRole role) {
  return role == WorkspaceRole::kOwner ? "owner" : "member";
}

std::optional<DocumentRole> parse_document_role(std::string_view name) {
  if (name == "owner") return DocumentRole::kOwner;
  if (name == "editor") return DocumentRole::kEditor;
  if (name == "viewer") return DocumentRole::kViewer;
  return std::nullopt;
}

std::optional<WorkspaceRole> parse_workspace_role(std::string_view name) {
  if (name == "owner") return WorkspaceRole::kOwner;
  if (name == "member") return WorkspaceRole::kMember;
  return std::nullopt;
}

Error domain_error(ErrorCode code, std::string message) {
  return Error{kDomain, code, std::move(message)};
}

Status check_id(std::string_view what, std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return domain_error(kInvalid, std::string(what) + " id: 1 to 128 bytes");
  return {};
}

Status check_name(std::string_view what, std::string_view name) {
  if (name.size() > kMaxNameBytes) return domain_error(kInvalid, std::string(what) + ": at most 256 bytes");
  return {};
}

namespace {

bool has_control(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace

Status check_new_user(const NewUser& u) {
  if (Status s = check_id("user", u.id); !s) return s;
  if (u.username.empty() || u.username.size() > kMaxUsernameBytes || has_control(u.username) ||
      u.username.find('@') != std::string::npos) {
    return domain_error(kInvalid, "username: 1 to 64 printable bytes without '@'");
  }
  if (u.email.size() < 3 || u.email.size() > kMaxEmailBytes || has_control(u.email) ||
      u.email.find('@') == std::string::npos || u.email.find(' ') != std::string::npos) {
    return domain_error(kInvalid, "email: an address with '@', at most 254 bytes");
  }
  if (u.password_hash.empty()) return domain_error(kInvalid, "empty password hash");
  return check_name("display name", u.display_name);
}

Status check_hash(std::string_view hash) {
  if (!is_token_hash(hash)) return domain_error(kInvalid, "token hash: 64 lower-case hex digits expected");
  return {};
}

// The CHECK constraints admit only the role names, so anything else is corruption.
Result<WorkspaceRole> workspace_role_of(std::string_view name) {
  if (auto role = parse_workspace_role(name)) return *role;
  return domain_error(kCorrupt, "unknown workspace role in the database");
}
Result<DocumentRole> document_role_of(std::string_view name) {
  if (auto role = parse_document_role(name)) return *role;
  return domain_error(kCorrupt, "unknown document role in the database");
}

Result<RotateResult> apply_rotation(std::string_view presented_hash, const PresentedToken& token,
                                    std::string_view new_hash, Time now, Duration idle_limit, Duration grace,
                                    const RotationWrites& writes) {
  RotateResult result{RotateOutcome::kUnknown, token.family_id, token.user_id};
  if (token.family_revoked) {
    result.outcome = RotateOutcome::kRevokedFamily;
    return result;
  }
  // Ends the rotation with the family revoked for `reason`.
  auto revoke = [&](RotateOutcome outcome, std::string_view reason) -> Result<RotateResult> {
    if (Status s = writes.revoke_family(reason); !s) return s.error();
    result.outcome = outcome;
    return result;
  };
  if (now >= token.absolute_expires_at || now >= token.last_used_at + idle_limit) {
    return revoke(RotateOutcome::kExpired, "expired");
  }
  auto taken = writes.token_exists(new_hash);
  if (!taken) return taken.error();
  if (*taken) return domain_error(kExists, "new token hash exists");

  bool rotated = false;
  if (!token.used_at) {
    auto won = writes.use(presented_hash, new_hash);
    if (!won) return won.error();
    rotated = *won;
  }
  if (!rotated && token.used_at && !token.successor.empty() && now < *token.used_at + grace) {
    // Grace: the immediately previous token again, its successor unused. The
    // successor dies (used, no successor of its own: presenting it is reuse)
    // and the new token takes its place as the one head.
    auto won = writes.use(token.successor, "");
    if (!won) return won.error();
    if (*won) {
      if (Status s = writes.set_successor(presented_hash, new_hash); !s) return s.error();
      rotated = true;
    }
  }
  if (!rotated) return revoke(RotateOutcome::kReuse, "reuse");
  if (Status s = writes.issue(new_hash); !s) return s.error();
  result.outcome = RotateOutcome::kRotated;
  return result;
}

}  // namespace quire::storage
