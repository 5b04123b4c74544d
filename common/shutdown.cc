#include "common/shutdown.h"

#include <atomic>
#include <csignal>
#include <thread>

namespace mbrl {
namespace {
std::atomic<bool> g_shutdown{false};

extern "C" void OnSignal(int) { g_shutdown.store(true); }
}  // namespace

void InstallShutdownHandlers() {
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool ShutdownRequested() { return g_shutdown.load(); }

void RequestShutdown() { g_shutdown.store(true); }

bool WaitForShutdown(std::chrono::milliseconds timeout) {
  // Signal handlers cannot notify a condition variable safely; poll finely.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!g_shutdown.load()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace mbrl
