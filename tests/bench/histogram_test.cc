// The benchmark histogram reports every percentile within 1% of the truth.
#include "bench/histogram.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace shmq::bench {
namespace {

TEST(Histogram, PercentilesWithinOnePercent) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(5.0, 2.0);  // ns, spread over decades
  std::vector<uint64_t> values;
  Histogram h;
  for (int i = 0; i < 200000; ++i) {
    uint64_t v = uint64_t(dist(rng)) + 1;
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999, 0.9999}) {
    uint64_t truth = values[size_t(q * double(values.size()))];
    uint64_t got = h.percentile(q);
    EXPECT_LE(std::fabs(double(got) - double(truth)), 0.01 * double(truth) + 1) << "q=" << q;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.count(), values.size());
}

TEST(Histogram, MergeAddsCounts) {
  Histogram a, b;
  for (uint64_t v = 1; v <= 1000; ++v) (v % 2 ? a : b).record(v * 1000);
  a.merge(b);
  EXPECT_EQ(a.count(), 1000u);
  EXPECT_NEAR(double(a.percentile(0.5)), 500000.0, 5000.0);
  EXPECT_EQ(a.max(), 1000000u);
}

}  // namespace
}  // namespace shmq::bench
