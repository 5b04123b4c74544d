// KeepLargeBuffersForReuse: a client receives megabyte frames on ZeroMQ's I/O
// thread and frees them on its own, sample after sample. Without the setting
// glibc maps those buffers afresh each time and every page faults again.
#include "common/process.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace mbrl {
namespace {

long MinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

TEST(KeepLargeBuffersForReuse, FramesAllocatedOnOneThreadAndFreedOnAnotherAreReusedWithoutFaults) {
  KeepLargeBuffersForReuse();
  constexpr size_t kBytes = 3'200'000;  // One frame of 256 64x64x3 images.
  constexpr int kWarmUp = 3;
  constexpr int kMeasured = 20;
  std::atomic<int> asked{0};
  std::atomic<int> ready{0};
  char* frames[2] = {nullptr, nullptr};
  // The "I/O thread": fills two fresh frames whenever asked.
  std::thread io([&] {
    for (int n = 1; n <= kWarmUp + kMeasured; ++n) {
      while (asked.load() < n) std::this_thread::yield();
      for (char*& f : frames) {
        f = static_cast<char*>(std::malloc(kBytes));
        std::memset(f, n, kBytes);
      }
      ready.store(n);
    }
  });
  // The "client": copies them out (as the decoder does) and frees them.
  long before = 0;
  for (int n = 1; n <= kWarmUp + kMeasured; ++n) {
    if (n == kWarmUp + 1) before = MinorFaults();
    asked.store(n);
    while (ready.load() < n) std::this_thread::yield();
    std::vector<char> images(frames[0], frames[0] + kBytes);
    std::vector<char> next_images(frames[1], frames[1] + kBytes);
    ASSERT_EQ(images[kBytes / 2], static_cast<char>(n));
    std::free(frames[0]);
    std::free(frames[1]);
  }
  const long per_sample = (MinorFaults() - before) / kMeasured;
  io.join();
  // Fresh mappings would fault every page: about 4 × 3.2 MB / 4 KiB = 3100
  // per sample (glibc's defaults measured 1530 here).
  EXPECT_LT(per_sample, 100) << per_sample << " page faults per sample";
}

}  // namespace
}  // namespace mbrl
