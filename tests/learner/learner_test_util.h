// Shared set-up for the learner's LibTorch tests.
#pragma once

#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cstdint>

namespace mbrl::learner::test {

inline constexpr uint64_t kSeed = 20240601;

// One intra-op thread (faster for these sizes on 2 shared cores, see
// TOOLCHAIN.md) and a fixed seed for the initial weights, so every test starts
// from the same state whatever ran before it.
class LearnerTorchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    torch::manual_seed(kSeed);
  }
};

}  // namespace mbrl::learner::test
