#include "common/bounded_queue.h"

#include <gtest/gtest.h>

#include <thread>

namespace mbrl {
namespace {

using std::chrono::milliseconds;

TEST(BoundedQueue, RefusesPushWhenFull) {
  BoundedQueue<int> q(2);
  EXPECT_TRUE(q.TryPush(1));
  EXPECT_TRUE(q.TryPush(2));
  EXPECT_FALSE(q.TryPush(3));
  EXPECT_FALSE(q.Push(3, milliseconds(20)));
  EXPECT_EQ(q.size(), 2u);
}

TEST(BoundedQueue, PopTimesOutWhenEmpty) {
  BoundedQueue<int> q(1);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(q.Pop(milliseconds(30)).has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(25));
}

TEST(BoundedQueue, KeepsFifoOrderAcrossThreads) {
  BoundedQueue<int> q(4);
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(q.Push(i, milliseconds(5000)));
  });
  for (int i = 0; i < 100; ++i) {
    auto v = q.Pop(milliseconds(5000));
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, i);
  }
  producer.join();
}

TEST(BoundedQueue, CloseDrainsRemainingItemsThenFails) {
  BoundedQueue<int> q(4);
  q.TryPush(1);
  q.Close();
  EXPECT_FALSE(q.TryPush(2));
  EXPECT_EQ(q.TryPop(), 1);
  EXPECT_FALSE(q.Pop(milliseconds(1000)).has_value());
}

}  // namespace
}  // namespace mbrl
