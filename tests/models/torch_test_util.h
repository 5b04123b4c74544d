// Shared set-up for the LibTorch model tests.
#pragma once

#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cstdint>

namespace mbrl::models::test {

inline constexpr uint64_t kSeed = 20240531;

// One intra-op thread (faster for the small matmuls here on 2 shared cores,
// see /work/shared/TOOLCHAIN.md) and a fixed seed, so every test starts from
// the same random state whatever ran before it.
class TorchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    torch::manual_seed(kSeed);
  }
};

}  // namespace mbrl::models::test
