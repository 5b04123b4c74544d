// Image rendering of pendulum_swingup, cartpole_swingup and reacher.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "envs/environment.h"
#include "tests/envs/env_test_util.h"

namespace mbrl::envs {
namespace {

using mbrl::envs::testing::MakeEnv;
using mbrl::envs::testing::RandomAction;

constexpr double kPi = std::numbers::pi;

struct Pixel {
  uint8_t r, g, b;
  bool operator==(const Pixel&) const = default;
};

Pixel At(const std::vector<uint8_t>& image, int row, int column) {
  const size_t i = (static_cast<size_t>(row) * 64 + column) * 3;
  return {image[i], image[i + 1], image[i + 2]};
}

size_t DifferingPixels(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t count = 0;
  for (size_t i = 0; i + 2 < a.size() && i + 2 < b.size(); i += 3) {
    if (a[i] != b[i] || a[i + 1] != b[i + 1] || a[i + 2] != b[i + 2]) ++count;
  }
  return count;
}

class EnvRenderContractTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EnvRenderContractTest, ImagesAreDeterministicPerStateAndDifferBetweenStates) {
  auto env = MakeEnv(GetParam());
  ASSERT_NE(env, nullptr);
  ASSERT_TRUE(env->spec().image.has_value());
  const size_t bytes = env->spec().image->bytes();
  EXPECT_EQ(bytes, 64u * 64u * 3u);

  env->Reset(12);
  std::mt19937_64 rng(12);
  for (int t = 0; t < 10; ++t) ASSERT_TRUE(env->Step(RandomAction(env->spec(), rng)));
  const std::vector<double> state = env->GetState();
  const std::vector<uint8_t> first = env->Render().value();
  ASSERT_EQ(first.size(), bytes);
  EXPECT_EQ(env->Render().value(), first);

  // Another instance restored to the same state draws the same bytes.
  auto other = MakeEnv(GetParam());
  ASSERT_TRUE(other->SetState(state));
  EXPECT_EQ(other->Render().value(), first);

  // A few steps later the picture has changed visibly.
  for (int t = 0; t < 10; ++t) ASSERT_TRUE(env->Step(RandomAction(env->spec(), rng)));
  const std::vector<uint8_t> later = env->Render().value();
  ASSERT_EQ(later.size(), bytes);
  EXPECT_GT(DifferingPixels(first, later), 20u);
}

INSTANTIATE_TEST_SUITE_P(ImageEnvs, EnvRenderContractTest,
                         ::testing::Values("pendulum_swingup", "cartpole_swingup", "reacher"),
                         [](const auto& info) { return info.param; });

TEST(EnvRenderTest, PendulumRodPointsUpWhenUprightAndDownWhenHanging) {
  auto env = MakeEnv("pendulum_swingup");
  ASSERT_TRUE(env->SetState(std::vector<double>{0.0, 0.0, 0.0}));
  const std::vector<uint8_t> upright = env->Render().value();
  ASSERT_TRUE(env->SetState(std::vector<double>{kPi, 0.0, 0.0}));
  const std::vector<uint8_t> hanging = env->Render().value();
  const Pixel background = At(upright, 2, 2);
  // The pivot is the image centre; the rod reaches ~26 px from it.
  EXPECT_NE(At(upright, 12, 32), background);
  EXPECT_EQ(At(upright, 52, 32), background);
  EXPECT_EQ(At(hanging, 12, 32), background);
  EXPECT_NE(At(hanging, 52, 32), background);
  // Upside down is a mirror image: the same number of non-background pixels.
  size_t up_count = 0, down_count = 0;
  for (int r = 0; r < 64; ++r) {
    for (int c = 0; c < 64; ++c) {
      up_count += At(upright, r, c) != background;
      down_count += At(hanging, r, c) != background;
    }
  }
  EXPECT_GT(up_count, 60u);
  EXPECT_NEAR(static_cast<double>(up_count), static_cast<double>(down_count), 0.1 * up_count);
}

TEST(EnvRenderTest, CartpolePoleIsDrawnAboveTheCartWhenUpright) {
  auto env = MakeEnv("cartpole_swingup");
  ASSERT_TRUE(env->SetState(std::vector<double>{0.5, kPi, 0, 0, 0, 0, 0}));
  const std::vector<uint8_t> upright = env->Render().value();
  ASSERT_TRUE(env->SetState(std::vector<double>{0.5, 0.0, 0, 0, 0, 0, 0}));
  const std::vector<uint8_t> hanging = env->Render().value();
  const Pixel background = At(upright, 2, 2);
  // The camera follows the cart (image centre); the pole spans ~22 px.
  EXPECT_NE(At(upright, 14, 32), background);
  EXPECT_EQ(At(hanging, 14, 32), background);
  EXPECT_NE(At(hanging, 50, 32), background);
  EXPECT_EQ(At(upright, 50, 32), background);
  // The same pose elsewhere on the rail shows the rail marks shifted.
  ASSERT_TRUE(env->SetState(std::vector<double>{-0.75, kPi, 0, 0, 0, 0, 0}));
  EXPECT_NE(env->Render().value(), upright);
}

TEST(EnvRenderTest, ReacherDrawsTheTargetWhereItIs) {
  auto env = MakeEnv("reacher");
  // Arm folded along +x; target at (−0.15, 0.1), i.e. left and up of the base.
  ASSERT_TRUE(env->SetState(std::vector<double>{0.0, 0.0, 0, 0, -0.15, 0.1, 0}));
  const std::vector<uint8_t> image = env->Render().value();
  const double scale = 30.0 / 0.21;  // Pixels per metre (full reach spans 30 px).
  const int column = static_cast<int>(32 + (-0.15) * scale);
  const int row = static_cast<int>(32 - 0.1 * scale);
  const Pixel target = At(image, row, column);
  EXPECT_GT(target.r, 150);
  EXPECT_LT(target.g, 100);
  // Moving the target moves the red spot.
  ASSERT_TRUE(env->SetState(std::vector<double>{0.0, 0.0, 0, 0, 0.1, -0.15, 0}));
  EXPECT_NE(At(env->Render().value(), row, column), target);
}

}  // namespace
}  // namespace mbrl::envs
