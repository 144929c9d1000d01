// The shape rules of account_store.h, shared by every AccountStore backend.
#include "storage/account_store.h"

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

}  // namespace quire::storage
