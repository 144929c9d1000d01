// Histogram: latencies in nanoseconds, HDR-style — exact below 128 ns, then 64
// linear sub-buckets per power of two (at most 1.6% relative error), up to
// 2^41 ns (36 minutes; larger values count in the last bucket). Fixed size (18 KiB),
// so recording is an increment and merging is a sum.
// Thread-safety: none; one per thread (the load generator has one thread).
#pragma once

#include <array>
#include <cstdint>

namespace quire::loadgen {

class Histogram {
 public:
  void record(std::int64_t value_ns);
  void merge(const Histogram& other);
  void clear() { *this = Histogram(); }

  [[nodiscard]] std::uint64_t count() const { return count_; }
  // The value below which a fraction `q` (0..1) of the samples lie, as the upper
  // bound of its bucket; 0 when empty.
  [[nodiscard]] std::int64_t percentile(double q) const;
  [[nodiscard]] std::int64_t max() const { return max_; }
  [[nodiscard]] double mean() const { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }

 private:
  static constexpr int kLinear = 128;  // exact values below this
  static constexpr int kMaxExponent = 34;
  static constexpr std::size_t kBuckets = (kMaxExponent + 2) * 64;

  static std::size_t index_of(std::uint64_t v);
  static std::uint64_t upper_bound_of(std::size_t index);

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::int64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace quire::loadgen
