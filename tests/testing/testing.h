// Test utilities shared by the suites: a minimal HTTP GET client, a child
// process runner with timeouts, and temporary directories. Tests only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace mbrl::testing {

struct HttpResponse {
  int status = 0;  // 0 when the connection failed.
  std::string body;
};

// GET http://127.0.0.1:<port><path>, waiting at most `timeout`.
HttpResponse HttpGet(int port, const std::string& path,
                     std::chrono::milliseconds timeout = std::chrono::seconds(5));

// A temporary directory removed (recursively) by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out.
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] a path) to completion with extra environment variables,
// killing it after `timeout`. Stdout and stderr are captured.
RunResult RunProcess(const std::vector<std::string>& argv,
                     const std::map<std::string, std::string>& env = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A child process running in the background; killed (SIGKILL) by the
// destructor if still running. Output goes to files under `log_dir`.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log_dir,
               const std::map<std::string, std::string>& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal);
  // Waits up to `timeout`; returns the exit code, or -1 (signal/timeout).
  int Wait(std::chrono::milliseconds timeout, bool* timed_out = nullptr);
  bool running() const { return running_; }
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  bool running_ = false;
  std::filesystem::path out_path_;
  std::filesystem::path err_path_;
};

// The last `bytes` of `text` ("..." first when cut), for failure messages.
std::string Tail(const std::string& text, size_t bytes = 3000);

// Group 1 of the first match of `pattern` in `text`; "" when none.
std::string Find(const std::string& text, const std::string& pattern);

// The key=value fields of the first line of `text` that contains `prefix`
// (e.g. a role's "storage ready endpoint=… metrics_port=…" line).
std::map<std::string, std::string> Fields(const std::string& text, const std::string& prefix);

// Polls `condition` every 10 ms until it holds or `timeout` passes.
template <typename F>
bool WaitUntil(F condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    struct timespec ts {
      0, 10'000'000
    };
    nanosleep(&ts, nullptr);
  }
  return condition();
}

}  // namespace mbrl::testing
