// A small deterministic random source for environment resets.
//
// std::mt19937_64 is fully specified by the standard, but the standard
// distributions are not (their output differs between library vendors), so
// uniform and normal variates are derived from the raw 64-bit words here.
// The same seed therefore gives the same episode on every platform.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace mbrl::envs {

class ResetRng {
 public:
  explicit ResetRng(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 53 random bits.
  double Uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Uniform in [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform01(); }

  // Standard normal (Box-Muller; one variate per call keeps the stream simple).
  double Normal() {
    const double u1 = 1.0 - Uniform01();  // (0, 1]: log stays finite.
    const double u2 = Uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace mbrl::envs
