#include "tests/testing/testing.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace mbrl::testing {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const std::string& out_path, const std::string& err_path) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setpgid(0, 0);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int WaitPid(pid_t pid, std::chrono::milliseconds timeout, bool* timed_out) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (timed_out) *timed_out = false;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      if (timed_out) *timed_out = true;
      return -1;
    }
    usleep(5000);
  }
}

}  // namespace

HttpResponse HttpGet(int port, const std::string& path, std::chrono::milliseconds timeout) {
  HttpResponse response;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return response;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return response;
  }
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return response;
  }
  std::string raw;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  auto space = raw.find(' ');
  if (raw.rfind("HTTP/", 0) != 0 || space == std::string::npos) return response;
  response.status = std::atoi(raw.c_str() + space + 1);
  auto body = raw.find("\r\n\r\n");
  if (body != std::string::npos) response.body = raw.substr(body + 4);
  return response;
}

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = std::filesystem::temp_directory_path() /
                     ("mbrl-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

RunResult RunProcess(const std::vector<std::string>& argv,
                     const std::map<std::string, std::string>& env,
                     std::chrono::milliseconds timeout) {
  TempDir logs;
  auto out = (logs.path() / "out").string();
  auto err = (logs.path() / "err").string();
  pid_t pid = Spawn(argv, env, out, err);
  RunResult result;
  result.exit_code = WaitPid(pid, timeout, &result.timed_out);
  if (result.timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  result.out = ReadFile(out);
  result.err = ReadFile(err);
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::filesystem::path& log_dir,
                           const std::map<std::string, std::string>& env) {
  static std::atomic<int> counter{0};
  int n = counter.fetch_add(1);
  std::string base = std::filesystem::path(argv[0]).filename().string() + "-" + std::to_string(n);
  out_path_ = log_dir / (base + ".out");
  err_path_ = log_dir / (base + ".err");
  pid_ = Spawn(argv, env, out_path_.string(), err_path_.string());
  running_ = true;
}

ChildProcess::~ChildProcess() {
  if (running_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void ChildProcess::Signal(int signal) {
  if (running_) kill(pid_, signal);
}

int ChildProcess::Wait(std::chrono::milliseconds timeout, bool* timed_out) {
  if (!running_) return -1;
  bool t = false;
  int code = WaitPid(pid_, timeout, &t);
  if (timed_out) *timed_out = t;
  if (!t) running_ = false;
  return code;
}

std::string ChildProcess::Stdout() const { return ReadFile(out_path_); }
std::string ChildProcess::Stderr() const { return ReadFile(err_path_); }

std::string Tail(const std::string& text, size_t bytes) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

std::string Find(const std::string& text, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(pattern)) ? m[1].str() : "";
}

std::map<std::string, std::string> Fields(const std::string& text, const std::string& prefix) {
  std::map<std::string, std::string> fields;
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return fields;
  const std::string line = text.substr(at, text.find('\n', at) - at);
  static const std::regex kField(R"((\w+)=(\S+))");
  for (auto it = std::sregex_iterator(line.begin(), line.end(), kField);
       it != std::sregex_iterator(); ++it) {
    fields[(*it)[1]] = (*it)[2];
  }
  return fields;
}

}  // namespace mbrl::testing
