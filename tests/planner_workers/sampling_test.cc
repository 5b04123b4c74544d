// The sampling helpers the planners are built from: PETS's truncated normal,
// plan shifting and fitting, elite selection, coloured noise, the thread team.
#include "planner_workers/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <vector>

#include "planner_workers/rng.h"
#include "planner_workers/thread_pool.h"

namespace mbrl::planner_workers {
namespace {

TEST(PlannerSamplingTest, TruncatedNormalSamplesNeverLeaveTheBounds) {
  // Means at, near and away from the bounds; variances far larger than the
  // box, so an unconstrained normal would leave it constantly.
  const std::vector<float> low = {-2.0f, 0.0f};
  const std::vector<float> high = {2.0f, 1.0f};
  const std::vector<float> mean = {-2.0f, 0.999f, 1.9f, 0.5f, 0.0f, 0.0f};
  const std::vector<float> var(mean.size(), 100.0f);
  PlannerRng rng(7);
  std::vector<float> out(mean.size());
  for (int n = 0; n < 20000; ++n) {
    SampleTruncatedNormal(mean, var, low, high, rng, out);
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_GE(out[i], low[i % 2]) << "element " << i;
      ASSERT_LE(out[i], high[i % 2]) << "element " << i;
    }
  }
}

TEST(PlannerSamplingTest, TruncatedNormalClipsTheVarianceSoTwoSigmaFitsTheBox) {
  // Mean 0.5 in [0, 2]: σ is capped at (0.5 − 0) / 2 = 0.25, so samples stay
  // within mean ± 0.5 and never reach the far bound 2.
  const std::vector<float> low = {0.0f}, high = {2.0f};
  const std::vector<float> mean = {0.5f}, var = {4.0f};
  PlannerRng rng(3);
  std::vector<float> out(1);
  double sum = 0.0, sum_sq = 0.0;
  float lowest = 10.0f, highest = -10.0f;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    SampleTruncatedNormal(mean, var, low, high, rng, out);
    sum += out[0];
    sum_sq += out[0] * out[0];
    lowest = std::min(lowest, out[0]);
    highest = std::max(highest, out[0]);
  }
  EXPECT_GE(lowest, 0.0f);
  EXPECT_LE(highest, 1.0f + 1e-6f);
  EXPECT_LT(lowest, 0.05f) << "the ±2σ tails are reached";
  EXPECT_GT(highest, 0.95f);
  // A standard normal truncated to [−2, 2] has std 0.8796.
  const double m = sum / n, sd = std::sqrt(sum_sq / n - m * m);
  EXPECT_NEAR(m, 0.5, 0.005);
  EXPECT_NEAR(sd, 0.25 * 0.8796, 0.003);
}

TEST(PlannerSamplingTest, TruncatedNormalKeepsASmallVarianceUnchanged) {
  const std::vector<float> low = {-1.0f}, high = {1.0f};
  const std::vector<float> mean = {0.0f}, var = {0.01f};
  PlannerRng rng(11);
  std::vector<float> out(1);
  double sum_sq = 0.0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    SampleTruncatedNormal(mean, var, low, high, rng, out);
    sum_sq += out[0] * out[0];
  }
  EXPECT_NEAR(std::sqrt(sum_sq / n), 0.1 * 0.8796, 0.002);
}

TEST(PlannerSamplingTest, UniformSamplesCoverTheBox) {
  const std::vector<float> low = {-3.0f}, high = {3.0f};
  PlannerRng rng(5);
  std::vector<float> out(10000);
  SampleUniform(low, high, rng, out);
  const auto [lo, hi] = std::minmax_element(out.begin(), out.end());
  EXPECT_GE(*lo, -3.0f);
  EXPECT_LE(*hi, 3.0f);
  EXPECT_LT(*lo, -2.9f);
  EXPECT_GT(*hi, 2.9f);
  EXPECT_NEAR(std::accumulate(out.begin(), out.end(), 0.0) / out.size(), 0.0, 0.1);
}

TEST(PlannerSamplingTest, ShiftPlanDropsTheFirstStepsAndPadsWithTheFill) {
  const std::vector<float> plan = {1, 2, 3, 4, 5, 6};  // 3 steps of 2.
  const std::vector<float> fill = {0, -1};
  EXPECT_EQ(ShiftPlan(plan, 2, 1, fill), (std::vector<float>{3, 4, 5, 6, 0, -1}));
  EXPECT_EQ(ShiftPlan(plan, 2, 2, fill), (std::vector<float>{5, 6, 0, -1, 0, -1}));
  EXPECT_EQ(ShiftPlan(plan, 2, 5, fill), (std::vector<float>{0, -1, 0, -1, 0, -1}));
}

TEST(PlannerSamplingTest, FitPlanTruncatesPadsAndClipsIntoTheBounds) {
  const std::vector<float> fill = {0.0f}, low = {-1.0f}, high = {1.0f};
  EXPECT_EQ(FitPlan(std::vector<float>{0.5f, 2.0f, -3.0f, 0.1f}, 3, fill, low, high),
            (std::vector<float>{0.5f, 1.0f, -1.0f}));
  EXPECT_EQ(FitPlan(std::vector<float>{0.5f}, 3, fill, low, high),
            (std::vector<float>{0.5f, 0.0f, 0.0f}));
  EXPECT_EQ(FitPlan({}, 2, fill, low, high), (std::vector<float>{0.0f, 0.0f}));
}

TEST(PlannerSamplingTest, TopKOrdersByReturnAndBreaksTiesByIndex) {
  const std::vector<double> returns = {1.0, 5.0, -INFINITY, 5.0, 3.0};
  EXPECT_EQ(TopK(returns, 3), (std::vector<size_t>{1, 3, 4}));
  EXPECT_EQ(TopK(returns, 10).size(), 5u);
  EXPECT_EQ(TopK(returns, 10).back(), 2u);
}

// Lag-1 autocorrelation and variance over many series.
void NoiseMoments(double exponent, size_t length, double* variance, double* lag1) {
  ColoredNoise noise(exponent, length);
  PlannerRng rng(21);
  std::vector<float> series(length);
  double sum_sq = 0.0, sum_lag = 0.0;
  const int n = 4000;
  for (int s = 0; s < n; ++s) {
    noise.Sample(rng, series);
    for (size_t t = 0; t < length; ++t) sum_sq += series[t] * series[t];
    for (size_t t = 1; t < length; ++t) sum_lag += series[t] * series[t - 1];
  }
  *variance = sum_sq / (n * length);
  *lag1 = (sum_lag / (n * (length - 1))) / *variance;
}

TEST(PlannerSamplingTest, ColoredNoiseHasUnitVarianceAndLargerExponentsAreSmoother) {
  for (size_t length : {size_t{15}, size_t{30}}) {
    double white_var, white_lag, pink_var, pink_lag, red_var, red_lag;
    NoiseMoments(0.0, length, &white_var, &white_lag);
    NoiseMoments(1.0, length, &pink_var, &pink_lag);
    NoiseMoments(2.0, length, &red_var, &red_lag);
    EXPECT_NEAR(white_var, 1.0, 0.05) << length;
    EXPECT_NEAR(pink_var, 1.0, 0.05) << length;
    EXPECT_NEAR(red_var, 1.0, 0.07) << length;
    EXPECT_NEAR(white_lag, 0.0, 0.05) << length;
    EXPECT_GT(pink_lag, white_lag + 0.2) << length;
    EXPECT_GT(red_lag, 0.7) << length;
  }
}

TEST(PlannerSamplingTest, ColoredNoiseWritesAStridedColumn) {
  ColoredNoise noise(2.0, 4);
  PlannerRng a(1), b(1);
  std::vector<float> column(4), strided(8, 99.0f);
  noise.Sample(a, column);
  noise.Sample(b, strided, 2);
  for (size_t t = 0; t < 4; ++t) {
    EXPECT_EQ(strided[2 * t], column[t]);
    EXPECT_EQ(strided[2 * t + 1], 99.0f);
  }
}

TEST(PlannerThreadPoolTest, RunsEveryTaskOnceOnAFixedThreadPerTask) {
  ThreadPool pool(3);
  ASSERT_EQ(pool.size(), 3);
  std::vector<std::thread::id> first(3), second(3);
  std::atomic<int> calls{0};
  pool.Run([&](int k) {
    first[k] = std::this_thread::get_id();
    ++calls;
  });
  pool.Run([&](int k) {
    second[k] = std::this_thread::get_id();
    ++calls;
  });
  EXPECT_EQ(calls.load(), 6);
  EXPECT_EQ(first, second);
  EXPECT_EQ(first[0], std::this_thread::get_id());
  EXPECT_NE(first[1], first[2]);
}

}  // namespace
}  // namespace mbrl::planner_workers
