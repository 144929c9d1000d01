// Names of the auth error codes for JSON bodies, and the retry-after of a
// rate-limit error.
#include "auth/error.h"

#include <algorithm>
#include <charconv>

namespace quire::auth {

namespace {
constexpr std::string_view kRetryPrefix = "; retry after ";
constexpr std::string_view kRetrySuffix = " s";
}  // namespace

std::string_view error_name(int code) {
  switch (code) {
    case kMalformed:
    case kBadAlgorithm:
    case kUnknownKey:
    case kBadSignature:
    case kExpired:
    case kNotYetValid:
    case kWrongIssuer:
    case kWrongAudience:
    case kWrongType:
    case kMissingClaim:
    case kInvalidClaim:
    case kLifetimeTooLong:
    case kTooLarge:
    case kUnsupportedHeader:
      return "invalid_token";
    case kInvalidInput:
      return "invalid_input";
    case kUsernameTaken:
      return "username_taken";
    case kEmailTaken:
      return "email_taken";
    case kInvalidCredentials:
      return "invalid_credentials";
    case kDisabled:
      return "account_disabled";
    case kRateLimited:
      return "rate_limited";
    case kSessionExpired:
      return "session_expired";
    case kSessionRevoked:
      return "session_revoked";
    case kReuseDetected:
      return "reuse_detected";
    case kForbidden:
      return "forbidden";
    case kUnavailable:
      return "unavailable";
    default:
      return "internal_error";
  }
}

std::string_view error_name(const Error& error) {
  return error.domain == kDomain ? error_name(error.code) : "internal_error";
}

Error rate_limited_error(std::string_view what, std::chrono::seconds retry_after) {
  const auto wait = std::max<std::chrono::seconds::rep>(retry_after.count(), 1);
  std::string message = "too many attempts (";
  message.append(what).append(")").append(kRetryPrefix).append(std::to_string(wait)).append(kRetrySuffix);
  return auth_error(kRateLimited, std::move(message));
}

std::optional<std::chrono::seconds> retry_after(const Error& error) {
  if (error.domain != kDomain || error.code != kRateLimited) return std::nullopt;
  const std::string_view message = error.message;
  const auto at = message.rfind(kRetryPrefix);
  if (at == std::string_view::npos || !message.ends_with(kRetrySuffix)) return std::nullopt;
  const std::string_view digits =
      message.substr(at + kRetryPrefix.size(), message.size() - at - kRetryPrefix.size() - kRetrySuffix.size());
  std::chrono::seconds::rep value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return std::chrono::seconds(value);
}

}  // namespace quire::auth
