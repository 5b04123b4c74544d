#include "learner/dataset.h"

#include <gtest/gtest.h>

namespace mbrl::learner {
namespace {

Transition Row(float base, size_t obs_dim = 3, size_t act_dim = 1) {
  Transition t;
  t.observation.assign(obs_dim, base);
  t.action.assign(act_dim, base + 0.5f);
  t.next_observation.assign(obs_dim, base + 1.0f);
  return t;
}

TEST(LearnerDatasetTest, AppendsRowsInCursorOrder) {
  TransitionDataset d("pendulum_swingup", 3, 1);
  ASSERT_TRUE(d.Append(4, Row(1.0f)));
  ASSERT_TRUE(d.Append(9, Row(2.0f)));
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(d.observations(), (std::vector<float>{1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(d.actions(), (std::vector<float>{1.5f, 2.5f}));
  EXPECT_EQ(d.next_observations(), (std::vector<float>{2, 2, 2, 3, 3, 3}));
  EXPECT_EQ(d.ids(), (std::vector<uint64_t>{4, 9}));
}

TEST(LearnerDatasetTest, RejectsRowsReadTwiceOrOfTheWrongWidth) {
  TransitionDataset d("pendulum_swingup", 3, 1);
  ASSERT_TRUE(d.Append(5, Row(1.0f)));
  EXPECT_FALSE(d.Append(5, Row(1.0f)));
  EXPECT_FALSE(d.Append(3, Row(1.0f)));
  EXPECT_FALSE(d.Append(6, Row(1.0f, 4, 1)));
  EXPECT_FALSE(d.Append(7, Row(1.0f, 3, 2)));
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.observations().size(), 3u);
}

TEST(LearnerDatasetTest, CountsRowsFromAPosition) {
  TransitionDataset d("x", 1, 1);
  for (uint64_t id : {2, 3, 5, 8, 13}) ASSERT_TRUE(d.Append(id, Row(0.0f, 1, 1)));
  EXPECT_EQ(d.CountFrom(0), 5u);
  EXPECT_EQ(d.CountFrom(4), 3u);
  EXPECT_EQ(d.CountFrom(5), 3u);
  EXPECT_EQ(d.CountFrom(14), 0u);
}

}  // namespace
}  // namespace mbrl::learner
