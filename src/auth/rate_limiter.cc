// Token buckets by key with least-recently-used eviction of idle keys.
#include "auth/rate_limiter.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace quire::auth {

RateLimiter::RateLimiter(RateLimit limit)
    : limit_(limit), per_second_(static_cast<double>(limit.burst) / static_cast<double>(limit.period.count())) {
  assert(limit.burst >= 1 && limit.period.count() >= 1 && limit.max_keys >= 1);
}

void RateLimiter::refill(Bucket& bucket, UnixSeconds now) const {
  if (now <= bucket.updated) return;
  const auto elapsed = static_cast<double>((now - bucket.updated).count());
  bucket.tokens = std::min(static_cast<double>(limit_.burst), bucket.tokens + elapsed * per_second_);
  bucket.updated = now;
}

void RateLimiter::evict(UnixSeconds now) {
  // The least recently used buckets first: drop them while they are full again
  // (forgetting them changes nothing) or while there are too many.
  while (!lru_.empty()) {
    const auto it = buckets_.find(lru_.back());
    assert(it != buckets_.end());
    refill(it->second, now);
    const bool full = it->second.tokens >= static_cast<double>(limit_.burst);
    if (!full && buckets_.size() <= limit_.max_keys) break;
    buckets_.erase(it);
    lru_.pop_back();
  }
}

RateLimiter::Decision RateLimiter::acquire(std::string_view key, UnixSeconds now) {
  key = key.substr(0, kMaxKeyBytes);
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    lru_.emplace_front(key);
    it = buckets_.emplace(lru_.front(), Bucket{static_cast<double>(limit_.burst), now, false, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Bucket& bucket = it->second;
  refill(bucket, now);
  Decision decision;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    bucket.tripped = false;
  } else {
    decision.allowed = false;
    decision.tripped = !bucket.tripped;
    bucket.tripped = true;
    const double wait = std::ceil((1 - bucket.tokens) / per_second_);
    decision.retry_after = std::chrono::seconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(wait)));
  }
  // After the use: this key is now the most recent and never the one evicted
  // unless max_keys is 1.
  evict(now);
  return decision;
}

void RateLimiter::refund(std::string_view key, UnixSeconds now) {
  key = key.substr(0, kMaxKeyBytes);
  std::lock_guard lock(mutex_);
  const auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) return;
  refill(it->second, now);
  it->second.tokens = std::min(static_cast<double>(limit_.burst), it->second.tokens + 1);
}

std::size_t RateLimiter::size() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace quire::auth
