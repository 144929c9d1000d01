// Histogram buckets (histogram.h): index = e·64 + (v >> e) for v ≥ 128, where
// e = bit_width(v) − 7, so each power of two from 128 up holds 64 buckets.
#include "loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace quire::loadgen {

std::size_t Histogram::index_of(std::uint64_t v) {
  if (v < kLinear) return static_cast<std::size_t>(v);
  const int e = std::bit_width(v) - 7;
  if (e > kMaxExponent) return kBuckets - 1;
  return static_cast<std::size_t>(e) * 64 + static_cast<std::size_t>(v >> e);
}

std::uint64_t Histogram::upper_bound_of(std::size_t index) {
  if (index < kLinear) return index;
  const std::size_t e = index / 64 - 1;
  const std::uint64_t mantissa = index - e * 64;
  return ((mantissa + 1) << e) - 1;
}

void Histogram::record(std::int64_t value_ns) {
  const std::uint64_t v = value_ns < 0 ? 0 : static_cast<std::uint64_t>(value_ns);
  ++counts_[index_of(v)];
  ++count_;
  sum_ += static_cast<double>(v);
  max_ = std::max<std::int64_t>(max_, static_cast<std::int64_t>(v));
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
}

std::int64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min<std::int64_t>(static_cast<std::int64_t>(upper_bound_of(i)), max_);
  }
  return max_;
}

}  // namespace quire::loadgen
