// A latency histogram with bounded relative error (HdrHistogram's idea in a
// page of code): values in nanoseconds land in log-linear buckets, 128 linear
// sub-buckets per power of two, so any recorded value is reported within
// 1/128 < 0.8% of itself. Recording is a shift, a mask and an increment: no
// allocation, cheap enough for the measurement loop.
//
// Thread safety: none; give each thread or process its own and merge.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace shmq::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 7;  // 128 sub-buckets: < 0.8 % error
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kMaxExp = 64 - kSubBits;

  void record(uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  void merge(const Histogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }
  uint64_t count() const { return total_; }
  uint64_t min() const { return total_ ? min_ : 0; }
  uint64_t max() const { return max_; }

  // The value at quantile q in [0, 1]: the midpoint of its bucket (exact max
  // for q == 1).
  uint64_t percentile(double q) const {
    if (total_ == 0) return 0;
    if (q >= 1.0) return max_;
    uint64_t rank = uint64_t(q * double(total_));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return std::min(max_, midpoint(i));
    }
    return max_;
  }

 private:
  static size_t index(uint64_t v) {
    if (v < kSub) return size_t(v);
    int exp = 63 - std::countl_zero(v) - kSubBits + 1;  // >= 1
    uint64_t sub = v >> exp;                            // in [kSub/2, kSub)
    return size_t(exp) * (kSub / 2) + size_t(sub);
  }
  static uint64_t midpoint(size_t i) {
    if (i < size_t(kSub)) return i;
    size_t exp = (i - kSub / 2) / (kSub / 2);
    uint64_t sub = (i - kSub / 2) % (kSub / 2) + kSub / 2;
    uint64_t low = sub << exp;
    return low + (uint64_t(1) << exp) / 2;
  }

  std::array<uint64_t, (kMaxExp + 2) * (kSub / 2) + kSub> counts_{};
  uint64_t total_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace shmq::bench
