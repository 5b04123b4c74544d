// The random source of the planners.
//
// std::mt19937_64 is fully specified by the standard but the standard
// distributions are not (their output differs between library vendors), so
// the variates are derived from the raw 64-bit words here: a planner given the
// same seed makes the same plan on every platform.
//
// Not thread-safe: each thread that samples owns its own PlannerRng.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace mbrl::planner_workers {

// Mixes two 64-bit values into a well-spread seed (splitmix64 finaliser), for
// deriving independent streams: MixSeed(plan_seed, candidate_index).
inline uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class PlannerRng {
 public:
  explicit PlannerRng(uint64_t seed = 0) : engine_(seed) {}

  void Seed(uint64_t seed) {
    engine_.seed(seed);
    has_spare_ = false;
  }

  uint64_t NextU64() { return engine_(); }

  // Uniform in [0, 1) with 53 random bits.
  double Uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Uniform in [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform01(); }

  // Standard normal (Box-Muller; both variates of a pair are used).
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - Uniform01();  // (0, 1]: the log stays finite.
    const double u2 = Uniform01();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

  // Standard normal conditioned on |z| <= 2 (rejection: 95.4 % accepted), as
  // PETS's truncated-normal CEM samples.
  double TruncatedNormal2() {
    for (;;) {
      const double z = Normal();
      if (z >= -2.0 && z <= 2.0) return z;
    }
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace mbrl::planner_workers
