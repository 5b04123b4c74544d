// Helpers shared by the environment tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "envs/environment.h"

namespace mbrl::envs::testing {

// A fresh environment from the default registry (fails the test if unknown).
inline std::unique_ptr<Environment> MakeEnv(const std::string& name) {
  auto env = DefaultRegistry().Create(name);
  EXPECT_TRUE(env.has_value()) << (env ? "" : env.error().ToString());
  return env ? std::move(*env) : nullptr;
}

// A random action drawn uniformly in the action box widened by `overshoot`
// around its centre (overshoot > 1 also gives out-of-bounds actions).
inline std::vector<float> RandomAction(const EnvSpec& spec, std::mt19937_64& rng,
                                       double overshoot = 1.0) {
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::vector<float> action(spec.action.dim());
  for (size_t i = 0; i < action.size(); ++i) {
    const double mid = 0.5 * (spec.action.low[i] + spec.action.high[i]);
    const double half = 0.5 * (spec.action.high[i] - spec.action.low[i]);
    action[i] = static_cast<float>(mid + overshoot * half * unit(rng));
  }
  return action;
}

// True when both vectors hold the same bits.
template <typename T>
bool BitEqual(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

inline bool BitEqual(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// Times of upward zero crossings of samples[k] taken at t = k * dt, linearly
// interpolated between samples.
inline std::vector<double> UpwardZeroCrossings(const std::vector<double>& samples, double dt) {
  std::vector<double> times;
  for (size_t k = 1; k < samples.size(); ++k) {
    if (samples[k - 1] < 0.0 && samples[k] >= 0.0) {
      const double fraction = -samples[k - 1] / (samples[k] - samples[k - 1]);
      times.push_back((static_cast<double>(k - 1) + fraction) * dt);
    }
  }
  return times;
}

// Mean period from a list of crossing times (first to last).
inline double MeanPeriod(const std::vector<double>& crossings) {
  if (crossings.size() < 2) return 0.0;
  return (crossings.back() - crossings.front()) / static_cast<double>(crossings.size() - 1);
}

inline const std::vector<std::string>& AllEnvNames() {
  static const std::vector<std::string> names = {"cartpole_swingup", "half_cheetah",
                                                 "pendulum_swingup", "reacher"};
  return names;
}

}  // namespace mbrl::envs::testing
