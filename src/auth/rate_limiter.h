// RateLimiter: token buckets by key (a client address, an account), in memory,
// for the login, registration and password-change limits (SECURITY row 28).
//
// Each key has a bucket of `burst` tokens that refills continuously at
// burst / period. acquire() takes a token or says how long until one is back;
// refund() returns one (a login that turned out well does not count as a
// failure). A bucket that has refilled completely is indistinguishable from a
// new one, so it is forgotten: memory follows the keys active within one
// period, and is capped at `max_keys` besides.
//
// Thread-safety: every method may be called from any thread (one mutex; each
// call is O(1) amortised).
// Limitations: per process — in a cluster each node counts on its own, so the
// effective limit is the per-node limit times the nodes a client reaches. When
// more than `max_keys` keys are active, the least recently used bucket is
// dropped even if not full (an attacker with that many addresses could reset a
// victim's account bucket, but each of those addresses is itself limited).
// Time comes from the caller and may go backwards slightly between threads;
// that is treated as no time passing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/keys.h"  // UnixSeconds

namespace quire::auth {

struct RateLimit {
  std::uint32_t burst = 10;                     // attempts allowed at once
  std::chrono::seconds period{60};              // time to refill all of them
  std::size_t max_keys = std::size_t{100'000};  // buckets kept at most
};

class RateLimiter {
 public:
  struct Decision {
    bool allowed = true;
    std::chrono::seconds retry_after{0};  // when refused: seconds until a token is back (>= 1)
    bool tripped = false;                 // when refused: the first refusal since the key was last allowed
  };

  // Precondition (checked by AuthService's configuration check): burst >= 1,
  // period >= 1 s, max_keys >= 1.
  explicit RateLimiter(RateLimit limit);

  // Takes one token for `key` at `now` if there is one. Keys longer than
  // kMaxKeyBytes are cut to that length (the caller bounds them anyway).
  Decision acquire(std::string_view key, UnixSeconds now);
  // Gives one token back to `key` (never above `burst`); a no-op for a key
  // that has been forgotten.
  void refund(std::string_view key, UnixSeconds now);
  // Buckets held now (for tests and metrics).
  [[nodiscard]] std::size_t size() const;

  static constexpr std::size_t kMaxKeyBytes = 256;

 private:
  struct Bucket {
    double tokens = 0;
    UnixSeconds updated{};
    bool tripped = false;
    std::list<std::string>::iterator lru;  // its key's place in lru_
  };

  void refill(Bucket& bucket, UnixSeconds now) const;
  void evict(UnixSeconds now);  // with mutex_ held

  const RateLimit limit_;
  const double per_second_;
  mutable std::mutex mutex_;
  std::list<std::string> lru_;  // most recently used first
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace quire::auth
