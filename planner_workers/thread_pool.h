// A fixed team of threads for the planners' rollouts.
//
// Run(fn) calls fn(k) once for every k in [0, size()): k = 0 on the calling
// thread, the others on the team's threads, each always on the same thread,
// so a task index can own per-thread scratch (a DynamicsSession). Run returns
// when every call has returned. One Run at a time: the pool belongs to one
// planner, which is driven by one thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mbrl::planner_workers {

class ThreadPool {
 public:
  // `threads` >= 1 in all, the caller included: threads − 1 are started.
  explicit ThreadPool(int threads);
  ~ThreadPool();  // Joins the team.
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Blocks until fn(0) … fn(size() − 1) have all returned. fn must not throw.
  void Run(const std::function<void(int task)>& fn);

 private:
  void WorkerLoop(int task);

  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int)>* job_ = nullptr;  // Guarded by mu_.
  uint64_t generation_ = 0;                        // Guarded by mu_.
  int pending_ = 0;                                // Guarded by mu_.
  bool stopping_ = false;                          // Guarded by mu_.
  std::vector<std::thread> workers_;
};

}  // namespace mbrl::planner_workers
