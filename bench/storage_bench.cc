// Storage benchmark: what `mbrl storage` delivers beside what RocksDB alone
// delivers on the same machine, in the same run.
//
//   ingest   transitions/s through a real `mbrl storage` process, fed by 1, 4
//            and 8 collector processes (each its own StorageClient, batches
//            of 50, the collector's window in flight: storage::SendWindow), for
//            a cartpole-sized transition and one with
//            a 64x64x3 image, with and without --sync; beside a plain RocksDB
//            DB written with one WriteBatch per 50 records of the same encoded
//            size, with and without sync.
//   sample   uniform batches of 256 through StorageClient::SampleTransitions
//            beside RocksDB MultiGet of 256 random keys of the same data
//            (image rows with next images: also each key's next step, where
//            the image of s' is read from); with and without next images.
//   latency  acknowledgement latency of one batch at a time (p50, p99).
//   prefilled  ingest into a store that already holds 10 000 episodes.
//
// Prints one markdown report on stdout (results: bench/RESULTS.md). Collector
// processes are this binary started again with `--worker`.
//
//   storage_bench [--seconds S] [--dir DIR] [--mbrl PATH]
//                 [--only raw,ingest,prefilled,sample,latency]
//                 [--records small,image] [--sync no,yes] [--collectors 1,4,8]
//                 [--transport tcp|ipc] [--window N]  (batches in flight per collector)
//                 [--legacy-values]   (raw writes the values of builds before
//                                      storage/layout.h, to measure one with --mbrl)
// For profiling:
//   storage_bench --sampler ENDPOINT ENV SECONDS   sample batches of 256 over the wire
//   storage_bench --breakdown DIR ENV              time store / encode / decode of a sample
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/messages.h"
#include "common/process.h"
#include "proto/codec.h"
#include "storage/client.h"
#include "storage/layout.h"
#include "storage/replay_store.h"

extern char** environ;

namespace mbrl::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint32_t kBatchSize = 50;
// What each collector process keeps in flight: the collector's own window
// (storage::SendWindow, which `mbrl collector` uses); --window N sets the
// number of batches.
storage::SendWindow g_window;
constexpr uint32_t kEpisodeSteps = 1000;
constexpr uint32_t kSampleSize = 256;
// Sample requests in flight in the prefetching measurement.
constexpr uint32_t kSampleDepth = 2;

// ---------------------------------------------------------------------------
// Records.

enum class Kind { kSmall, kImage };

const char* KindName(Kind kind) { return kind == Kind::kSmall ? "small" : "image"; }

EnvSpec SpecFor(Kind kind) {
  EnvSpec spec;
  spec.name = kind == Kind::kSmall ? "bench_small" : "bench_image";
  spec.observation = BoxSpace{std::vector<float>(4, -10.0f), std::vector<float>(4, 10.0f)};
  spec.action = BoxSpace{{-1.0f}, {1.0f}};
  if (kind == Kind::kImage) spec.image = ImageSpec{64, 64, 3};
  spec.max_episode_steps = kEpisodeSteps;
  spec.dt = 0.01;
  return spec;
}

// One batch of `kBatchSize` transitions with plausible values: a 4-D state,
// a 1-D action and, for kImage, a 64x64x3 image of noise (incompressible: the
// worst case for LZ4, the same for storage and raw RocksDB).
TransitionBatch TemplateBatch(Kind kind, const std::string& collector_id, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  TransitionBatch batch;
  batch.collector_id = collector_id;
  batch.incarnation = 1;
  batch.env = SpecFor(kind);
  for (uint32_t i = 0; i < kBatchSize; ++i) {
    Transition t;
    for (int d = 0; d < 4; ++d) {
      t.observation.push_back(normal(rng));
      t.next_observation.push_back(normal(rng));
    }
    t.action.push_back(std::clamp(normal(rng), -1.0f, 1.0f));
    t.reward = normal(rng);
    if (kind == Kind::kImage) {
      t.image.resize(64 * 64 * 3);
      for (auto& b : t.image) b = static_cast<uint8_t>(rng());
    }
    batch.transitions.push_back(std::move(t));
  }
  return batch;
}

// Batch `sequence` (from 1) of a collector whose episodes are kEpisodeSteps
// long: it continues the episode where the previous batch stopped.
void Renumber(TransitionBatch& batch, uint64_t sequence) {
  batch.sequence = sequence;
  const uint64_t first = (sequence - 1) * kBatchSize;
  for (uint32_t i = 0; i < batch.transitions.size(); ++i) {
    Transition& t = batch.transitions[i];
    t.episode_id = (first + i) / kEpisodeSteps + 1;
    t.step = static_cast<uint32_t>((first + i) % kEpisodeSteps);
    t.truncated = t.step + 1 == kEpisodeSteps;
  }
}

// ---------------------------------------------------------------------------
// Processes.

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

class Child {
 public:
  Child(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err)
      : out_(out), err_(err) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // CPU seconds (user + system) it used, once it has exited.
  double cpu_seconds() const { return cpu_seconds_; }
  std::string Stdout() const { return ReadFile(out_); }
  std::string Stderr() const { return ReadFile(err_); }
  void Signal(int signal) {
    if (pid_ > 0) kill(pid_, signal);
  }
  // Exit code, or -1 (signal or timeout).
  int Wait(milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (pid_ > 0) {
      int status = 0;
      rusage usage{};
      if (wait4(pid_, &status, WNOHANG, &usage) == pid_) {
        pid_ = -1;
        cpu_seconds_ = Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (Clock::now() > deadline) return -1;
      std::this_thread::sleep_for(milliseconds(2));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  double cpu_seconds_ = 0.0;
  fs::path out_;
  fs::path err_;
};

// CPU seconds (user + system) a process has used so far.
double CpuSeconds(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0.0;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string raw;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) > 0) {
      char buf[8192];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return raw;
}

// The value of an unlabelled sample `name` in Prometheus text, or 0.
double MetricValue(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::atof(line.c_str() + name.size() + 1);
  }
  return 0.0;
}

// Writes back what earlier measurements left dirty in the page cache, so
// that it does not slow down the fsyncs of the next one.
void Settle() {
  ::sync();
  std::this_thread::sleep_for(milliseconds(200));
}

// `mbrl storage` on a free port, with its metrics on another.
// How clients reach storage: "tcp" (127.0.0.1, as across machines) or "ipc"
// (a Unix-domain socket beside the data directory, as for a learner on the
// same machine). Set by --transport.
std::string g_transport = "tcp";

class StorageProcess {
 public:
  StorageProcess(const std::string& mbrl, const fs::path& data_dir, bool sync) {
    // With its metrics (for the group-commit columns) when it can serve them.
    static bool with_metrics = true;
    if (Start(mbrl, data_dir, sync, with_metrics)) return;
    if (with_metrics && child_->Stderr().find("cannot serve HTTP") != std::string::npos) {
      std::fprintf(stderr,
                   "note: `mbrl storage --metrics-port` fails here (%s); measuring without its "
                   "metrics, the group-commit columns stay empty\n",
                   Trim(child_->Stderr()).c_str());
      with_metrics = false;
      if (Start(mbrl, data_dir, sync, false)) return;
    }
    std::fprintf(stderr, "storage did not start:\n%s\n", child_->Stderr().c_str());
    std::exit(1);
  }
  ~StorageProcess() { Stop(); }

  const std::string& endpoint() const { return endpoint_; }
  pid_t pid() const { return child_->pid(); }
  // Prometheus text, or "" when it serves none.
  std::string Metrics() const {
    return metrics_port_ > 0 ? HttpGet(metrics_port_, "/metrics") : "";
  }
  void Stop() {
    if (child_->pid() < 0) return;
    child_->Signal(SIGTERM);
    if (child_->Wait(std::chrono::seconds(60)) != 0) {
      std::fprintf(stderr, "storage did not stop cleanly:\n%s\n", child_->Stderr().c_str());
    }
  }

 private:
  // Starts it and waits for its "storage ready" line; false if it exits first.
  bool Start(const std::string& mbrl, const fs::path& data_dir, bool sync, bool with_metrics) {
    const std::string listen =
        g_transport == "ipc" ? "ipc://" + data_dir.string() + ".sock" : "tcp://127.0.0.1:0";
    std::vector<std::string> argv = {mbrl,       "storage", "--data-dir",  data_dir.string(),
                                     "--listen", listen,    "--log-level", "warn"};
    if (with_metrics) {
      argv.push_back("--metrics-port");
      argv.push_back("0");
    }
    if (sync) argv.push_back("--sync");
    child_ = std::make_unique<Child>(argv, data_dir.string() + ".out", data_dir.string() + ".err");
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      std::string out = child_->Stdout();
      auto at = out.find("storage ready endpoint=");
      auto eol = out.find('\n', at);
      if (at != std::string::npos && eol != std::string::npos) {
        std::istringstream line(out.substr(at, eol - at));
        std::string word;
        while (line >> word) {
          if (word.rfind("endpoint=", 0) == 0) endpoint_ = word.substr(9);
          if (word.rfind("metrics_port=", 0) == 0) metrics_port_ = std::stoi(word.substr(13));
        }
        return true;
      }
      if (child_->Wait(milliseconds(0)) != -1 || child_->pid() < 0) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  }
  static std::string Trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

  std::unique_ptr<Child> child_;
  std::string endpoint_;
  int metrics_port_ = -1;
};

// ---------------------------------------------------------------------------
// The collector worker (a child process).

struct WorkerResult {
  uint64_t acked = 0;
  int64_t end_ns = 0;
};

// Sends batches with what g_window allows in flight from `start_ns` for `seconds`, then
// waits for the last acknowledgements. Prints "acked=N end_ns=T".
int RunWorker(const std::string& endpoint, const std::string& id, Kind kind, double seconds,
              int64_t start_ns) {
  auto client = storage::StorageClient::Connect(endpoint);
  if (!client) return 2;
  auto hello = (*client)->Hello(id, 1);  // Connected and warm before the clock starts.
  if (!hello) {
    std::fprintf(stderr, "hello: %s\n", hello.error().reason.c_str());
    return 1;
  }
  TransitionBatch batch = TemplateBatch(kind, id, std::hash<std::string>{}(id));
  uint64_t next = hello->last_sequence + 1;
  std::deque<uint64_t> in_flight;
  const size_t batch_bytes = storage::ApproxWireBytes(batch);
  uint64_t acked = 0;
  while (MonotonicNs() < start_ns) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const int64_t stop_ns = start_ns + static_cast<int64_t>(seconds * 1e9);
  while (true) {
    while (g_window.Allows(static_cast<uint32_t>(in_flight.size()), in_flight.size() * batch_bytes,
                           batch_bytes) &&
           MonotonicNs() < stop_ns) {
      Renumber(batch, next);
      auto sent = (*client)->Send(StorageRequest{0, batch}, milliseconds(10000));
      if (!sent) {
        std::fprintf(stderr, "send: %s\n", sent.error().reason.c_str());
        return 1;
      }
      in_flight.push_back(next++);
    }
    if (in_flight.empty()) break;
    auto reply = (*client)->Receive(milliseconds(30000));
    if (!reply) {
      std::fprintf(stderr, "receive: %s\n", reply.error().reason.c_str());
      return 1;
    }
    const auto* ack = std::get_if<Ack>(&reply->body);
    if (ack == nullptr) {
      const auto* error = std::get_if<ErrorReply>(&reply->body);
      std::fprintf(stderr, "storage refused a batch: %s\n",
                   error ? error->reason.c_str() : "unexpected reply");
      return 1;
    }
    while (!in_flight.empty() && in_flight.front() <= ack->sequence) {
      in_flight.pop_front();
      acked += kBatchSize;
    }
  }
  std::printf("acked=%llu end_ns=%lld\n", static_cast<unsigned long long>(acked),
              static_cast<long long>(MonotonicNs()));
  return 0;
}

std::optional<WorkerResult> ParseWorker(const std::string& out) {
  WorkerResult r;
  unsigned long long acked = 0;
  long long end = 0;
  if (std::sscanf(out.c_str(), "acked=%llu end_ns=%lld", &acked, &end) != 2) return std::nullopt;
  r.acked = acked;
  r.end_ns = end;
  return r;
}

// ---------------------------------------------------------------------------
// Measurements.

struct Config {
  std::string self;  // This binary.
  std::string mbrl;
  fs::path dir;
  double seconds = 2.0;
  // Raw writes the values storage wrote before storage/layout.h (a Cap'n
  // Proto StoredTransition each): to measure an older mbrl (--mbrl) beside
  // raw RocksDB writing that mbrl's own records.
  bool legacy_values = false;
};

// The value storage writes for `stored`: today's layout, or the Cap'n Proto
// message of older builds.
std::string StoredValue(const Config& config, const StoredTransition& stored) {
  return config.legacy_values ? proto::Encode(stored) : storage::layout::EncodeStoredValue(stored);
}

struct IngestResult {
  double rate = 0.0;                    // Transitions acknowledged per second.
  double cpu_per_mtx = 0.0;             // Storage CPU seconds per million transitions.
  double collectors_cpu_per_mtx = 0.0;  // The same for all collectors together.
  double group = 0.0;                   // Mean batches per group commit.
  double commit_ms = 0.0;               // Mean duration of a group commit.
  double stored_bytes = 0.0;            // Encoded bytes per transition (RocksDB value).
  fs::path data_dir;
};

// "batches per group commit | commit ms", or n/a without storage's metrics.
std::string GroupColumns(const IngestResult& r) {
  if (r.group <= 0.0) return "n/a | n/a";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f | %.2f", r.group, r.commit_ms);
  return buf;
}

double EncodedBytes(const Config& config, Kind kind) {
  TransitionBatch batch = TemplateBatch(kind, "bench", 1);
  Renumber(batch, 1);
  StoredTransition s;
  s.position = 1;
  s.env_name = batch.env.name;
  s.collector_id = batch.collector_id;
  s.incarnation = 1;
  s.batch_sequence = 1;
  s.stored_unix_ms = 1;
  s.transition = batch.transitions[0];
  return static_cast<double>(StoredValue(config, s).size());
}

// Writes `episodes` episodes of 200 small transitions straight through a
// ReplayStore (no server), as an older store would hold them.
void Prefill(const fs::path& dir, uint64_t episodes) {
  auto store = storage::ReplayStore::Open(dir.string(), {});
  if (!store) {
    std::fprintf(stderr, "prefill: %s\n", store.error().reason.c_str());
    std::exit(1);
  }
  constexpr uint32_t kSteps = 200;
  TransitionBatch batch = TemplateBatch(Kind::kSmall, "prefill", 11);
  std::vector<TransitionBatch> group(16, batch);
  uint64_t sequence = 1;
  const uint64_t batches = episodes * kSteps / kBatchSize;
  while (sequence <= batches) {
    std::vector<const TransitionBatch*> pointers;
    for (auto& b : group) {
      if (sequence > batches) break;
      b.sequence = sequence;
      const uint64_t first = (sequence - 1) * kBatchSize;
      for (uint32_t i = 0; i < kBatchSize; ++i) {
        b.transitions[i].episode_id = (first + i) / kSteps + 1;
        b.transitions[i].step = static_cast<uint32_t>((first + i) % kSteps);
        b.transitions[i].truncated = (first + i) % kSteps + 1 == kSteps;
      }
      pointers.push_back(&b);
      ++sequence;
    }
    for (const auto& r : (*store)->Ingest(pointers)) {
      if (!r) {
        std::fprintf(stderr, "prefill: %s\n", r.error().reason.c_str());
        std::exit(1);
      }
    }
  }
}

// `prefill_episodes` > 0: the store already holds that many 200-step episodes
// (filled once, then shared by the runs that ask for it).
IngestResult MeasureIngest(const Config& config, Kind kind, bool sync, int collectors,
                           uint64_t prefill_episodes = 0) {
  IngestResult result;
  result.data_dir =
      prefill_episodes > 0
          ? config.dir / ("prefilled-" + std::to_string(prefill_episodes))
          : config.dir / (std::string("ingest-") + KindName(kind) + (sync ? "-sync-" : "-nosync-") +
                          std::to_string(collectors));
  if (prefill_episodes > 0 && !fs::exists(result.data_dir)) {
    Prefill(result.data_dir, prefill_episodes);
  }
  Settle();
  StorageProcess storage(config.mbrl, result.data_dir, sync);
  const int64_t start_ns = MonotonicNs() + 300'000'000 + collectors * 50'000'000;
  std::vector<std::unique_ptr<Child>> workers;
  for (int i = 0; i < collectors; ++i) {
    std::string id = "w" + std::to_string(i);
    fs::path log = result.data_dir.string() + "." + id;
    workers.push_back(std::make_unique<Child>(
        std::vector<std::string>{config.self, "--worker", storage.endpoint(), id, KindName(kind),
                                 std::to_string(config.seconds), std::to_string(start_ns),
                                 std::to_string(g_window.batches)},
        log.string() + ".out", log.string() + ".err"));
  }
  while (MonotonicNs() < start_ns) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const double cpu0 = CpuSeconds(storage.pid());
  const std::string metrics0 = storage.Metrics();
  uint64_t acked = 0;
  int64_t end_ns = start_ns;
  double collectors_cpu = 0.0;
  for (auto& w : workers) {
    int code = w->Wait(std::chrono::seconds(120));
    auto parsed = ParseWorker(w->Stdout());
    if (code != 0 || !parsed) {
      std::fprintf(stderr, "collector worker failed (%d):\n%s\n", code, w->Stderr().c_str());
      std::exit(1);
    }
    acked += parsed->acked;
    end_ns = std::max(end_ns, parsed->end_ns);
    collectors_cpu += w->cpu_seconds();
  }
  const double cpu1 = CpuSeconds(storage.pid());
  const std::string metrics1 = storage.Metrics();
  storage.Stop();
  const double elapsed = static_cast<double>(end_ns - start_ns) / 1e9;
  result.rate = static_cast<double>(acked) / elapsed;
  result.cpu_per_mtx = (cpu1 - cpu0) / (static_cast<double>(acked) / 1e6);
  result.collectors_cpu_per_mtx = collectors_cpu / (static_cast<double>(acked) / 1e6);
  auto delta = [&](const std::string& name) {
    return MetricValue(metrics1, name) - MetricValue(metrics0, name);
  };
  const double commits = delta("mbrl_storage_group_commit_batches_count");
  if (commits > 0) {
    result.group = delta("mbrl_storage_group_commit_batches_sum") / commits;
    result.commit_ms = 1e3 * delta("mbrl_storage_commit_latency_seconds_sum") /
                       delta("mbrl_storage_commit_latency_seconds_count");
  }
  result.stored_bytes = EncodedBytes(config, kind);
  return result;
}

struct RawIngestResult {
  double rate = 0.0;         // Records per second.
  double cpu_per_mtx = 0.0;  // CPU seconds per million records (RocksDB's threads included).
};

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
}

// The same records straight into a plain RocksDB: one WriteBatch per 50.
RawIngestResult MeasureRawIngest(const Config& config, Kind kind, bool sync, int run) {
  const fs::path dir = config.dir / (std::string("raw-") + KindName(kind) +
                                     (sync ? "-sync-" : "-nosync-") + std::to_string(run));
  Settle();
  rocksdb::Options options;
  options.create_if_missing = true;
  // The store's settings (storage/replay_store.cc), one column family.
  options.compression = rocksdb::kLZ4Compression;
  options.max_background_jobs = 2;
  options.bytes_per_sync = 1 << 20;
  options.enable_pipelined_write = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir.string(), &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "raw open: %s\n", s.ToString().c_str());
    std::exit(1);
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  // Values exactly as the store writes them (storage/layout.h): one per
  // slot of a batch.
  TransitionBatch batch = TemplateBatch(kind, "raw", 7);
  Renumber(batch, 1);
  std::vector<std::string> values;
  for (const Transition& t : batch.transitions) {
    StoredTransition stored;
    stored.position = 1;
    stored.env_name = batch.env.name;
    stored.collector_id = batch.collector_id;
    stored.incarnation = 1;
    stored.batch_sequence = 1;
    stored.stored_unix_ms = 1;
    stored.transition = t;
    values.push_back(StoredValue(config, stored));
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  uint64_t written = 0;
  std::string key;
  const double cpu0 = ProcessCpuSeconds();
  const auto start = Clock::now();
  const auto stop = start + std::chrono::duration<double>(config.seconds);
  for (uint64_t n = 0; Clock::now() < stop; ++n) {
    rocksdb::WriteBatch wb;
    for (uint32_t i = 0; i < kBatchSize; ++i) {
      // The store's key: collector '\0' episode(be64) step(be32).
      const uint64_t index = n * kBatchSize + i;
      key.assign("raw");
      key.push_back('\0');
      for (int b = 7; b >= 0; --b)
        key.push_back(static_cast<char>((index / 1000 >> (8 * b)) & 255));
      for (int b = 3; b >= 0; --b)
        key.push_back(static_cast<char>((index % 1000 >> (8 * b)) & 255));
      wb.Put(key, values[i]);
    }
    s = db->Write(write_options, &wb);
    if (!s.ok()) {
      std::fprintf(stderr, "raw write: %s\n", s.ToString().c_str());
      std::exit(1);
    }
    written += kBatchSize;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = ProcessCpuSeconds() - cpu0;
  db->Close();
  db.reset();
  fs::remove_all(dir);  // Image runs write gigabytes.
  return {static_cast<double>(written) / elapsed, cpu / (static_cast<double>(written) / 1e6)};
}

struct SampleResult {
  double server_rate = 0.0;     // Transitions per second, one request at a time.
  double server_ms = 0.0;       // Mean time of one batch of 256.
  double pipelined_rate = 0.0;  // Transitions per second, kSampleDepth requests in flight.
  double raw_rate = 0.0;        // Rows (256 per MultiGet) per second.
  double raw_ms = 0.0;
  double raw_keys = 0.0;  // Keys per raw MultiGet.
  uint64_t stored = 0;
};

// Uniform samples of 256 rows through storage, then the same directory read
// with a plain RocksDB MultiGet of what those rows need: 256 random keys,
// and with `next_images` also the key of each one's next step (where s'
// comes from; an episode's last step has none, its s' image is in its own
// value).
SampleResult MeasureSampling(const Config& config, Kind kind, const fs::path& data_dir,
                             bool next_images) {
  SampleResult result;
  const std::string env = SpecFor(kind).name;
  {
    StorageProcess storage(config.mbrl, data_dir, false);
    auto client = storage::StorageClient::Connect(storage.endpoint());
    if (!client) std::exit(1);
    auto info = (*client)->Info();
    if (info) result.stored = info->transitions;
    uint64_t seed = 1;
    auto run = [&](double seconds) {
      uint64_t rows = 0, calls = 0;
      const auto start = Clock::now();
      while (Clock::now() - start < std::chrono::duration<double>(seconds)) {
        SampleTransitionsRequest request{env, kSampleSize, seed++};
        request.next_images = next_images;
        auto sample = (*client)->SampleTransitions(request);
        if (!sample) {
          std::fprintf(stderr, "sample: %s\n", sample.error().reason.c_str());
          std::exit(1);
        }
        rows += sample->count;
        ++calls;
      }
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      result.server_rate = static_cast<double>(rows) / elapsed;
      result.server_ms = 1e3 * elapsed / static_cast<double>(calls);
    };
    run(0.3);  // Warm the caches.
    run(config.seconds);
    // A consumer that asks for the next batch before it uses this one (a
    // learner's prefetching data loader): kSampleDepth requests in flight,
    // so the server reads the next batch while this one travels and decodes.
    {
      auto send = [&] {
        SampleTransitionsRequest request{env, kSampleSize, seed++};
        request.next_images = next_images;
        request.images_as_frames = true;  // As StorageClient::SampleTransitions asks.
        auto id = (*client)->Send(StorageRequest{0, request}, std::chrono::seconds(10));
        if (!id) {
          std::fprintf(stderr, "sample send: %s\n", id.error().reason.c_str());
          std::exit(1);
        }
      };
      for (uint32_t i = 0; i < kSampleDepth; ++i) send();
      uint64_t rows = 0;
      const auto start = Clock::now();
      while (Clock::now() - start < std::chrono::duration<double>(config.seconds)) {
        auto reply = (*client)->Receive(std::chrono::seconds(10));
        const auto* sample = reply ? std::get_if<TransitionSample>(&reply->body) : nullptr;
        if (sample == nullptr) {
          std::fprintf(stderr, "pipelined sample failed\n");
          std::exit(1);
        }
        rows += sample->count;
        send();
      }
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      result.pipelined_rate = static_cast<double>(rows) / elapsed;
      for (uint32_t i = 0; i < kSampleDepth; ++i)
        (void)(*client)->Receive(std::chrono::seconds(10));
    }
  }
  // The same directory opened with plain RocksDB, read-only, with the
  // store's table settings (its 64 MiB block cache, LZ4).
  std::vector<std::string> families;
  rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), data_dir.string(), &families);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(storage::ReplayStoreOptions().block_cache_bytes);
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_options.compression = rocksdb::kLZ4Compression;
  for (const auto& name : families) descriptors.emplace_back(name, cf_options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), data_dir.string(),
                                                   descriptors, &handles, &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "raw open %s: %s\n", data_dir.c_str(), s.ToString().c_str());
    std::exit(1);
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* transitions = nullptr;
  for (size_t i = 0; i < families.size(); ++i) {
    if (families[i] == "transitions") transitions = handles[i];
  }
  std::vector<std::string> keys;
  {
    rocksdb::ReadOptions scan;
    scan.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(scan, transitions));
    for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
  }
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<size_t> pick(0, keys.size() - 1);
  const bool with_next = next_images && kind == Kind::kImage;
  // The next step's key: the next key, if it is of the same episode (a
  // transitions key is the episode's prefix and a 4-byte step).
  auto has_next = [&](size_t i) {
    return i + 1 < keys.size() && keys[i].size() == keys[i + 1].size() &&
           keys[i].compare(0, keys[i].size() - 4, keys[i + 1], 0, keys[i].size() - 4) == 0;
  };
  std::vector<rocksdb::Slice> slices;
  std::vector<std::string> values;
  uint64_t keys_read = 0;
  auto run = [&](double seconds) {
    uint64_t rows = 0, calls = 0;
    keys_read = 0;
    const auto start = Clock::now();
    while (Clock::now() - start < std::chrono::duration<double>(seconds)) {
      slices.clear();
      for (uint32_t r = 0; r < kSampleSize; ++r) {
        const size_t i = pick(rng);
        slices.emplace_back(keys[i]);
        if (with_next && has_next(i)) slices.emplace_back(keys[i + 1]);
      }
      std::vector<rocksdb::ColumnFamilyHandle*> cfs(slices.size(), transitions);
      auto statuses = db->MultiGet(rocksdb::ReadOptions(), cfs, slices, &values);
      uint64_t found = 0;
      for (const auto& st : statuses) found += st.ok();
      if (found == slices.size()) rows += kSampleSize;
      keys_read += slices.size();
      ++calls;
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    result.raw_rate = static_cast<double>(rows) / elapsed;
    result.raw_ms = 1e3 * elapsed / static_cast<double>(calls);
    result.raw_keys = static_cast<double>(keys_read) / static_cast<double>(calls);
  };
  run(0.3);
  run(config.seconds);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  db->Close();
  return result;
}

struct LatencyResult {
  double p50_ms = 0.0;
  double p99_ms = 0.0;
  double mean_ms = 0.0;
  size_t batches = 0;
};

LatencyResult MeasureLatency(const Config& config, bool sync) {
  const fs::path dir = config.dir / (std::string("latency-") + (sync ? "sync" : "nosync"));
  Settle();
  StorageProcess storage(config.mbrl, dir, sync);
  auto client = storage::StorageClient::Connect(storage.endpoint());
  if (!client) std::exit(1);
  TransitionBatch batch = TemplateBatch(Kind::kSmall, "lat", 3);
  std::vector<double> ms;
  uint64_t sequence = 1;
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::duration<double>(config.seconds)) {
    Renumber(batch, sequence++);
    const auto t0 = Clock::now();
    auto ack = (*client)->PutBatch(batch);
    const auto t1 = Clock::now();
    if (!ack) {
      std::fprintf(stderr, "put: %s\n", ack.error().reason.c_str());
      std::exit(1);
    }
    if (sequence > 20) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  LatencyResult result;
  result.batches = ms.size();
  if (ms.empty()) return result;
  double sum = 0;
  for (double v : ms) sum += v;
  result.mean_ms = sum / static_cast<double>(ms.size());
  std::sort(ms.begin(), ms.end());
  result.p50_ms = ms[ms.size() / 2];
  result.p99_ms = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  return result;
}

// ---------------------------------------------------------------------------
// Report.

std::string Machine() {
  std::string cpu = "unknown";
  std::istringstream cpuinfo(ReadFile("/proc/cpuinfo"));
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  double ram_gib = 0;
  std::istringstream meminfo(ReadFile("/proc/meminfo"));
  for (std::string line; std::getline(meminfo, line);) {
    if (line.rfind("MemTotal:", 0) == 0) ram_gib = std::atof(line.c_str() + 9) / (1024.0 * 1024.0);
  }
  utsname u{};
  uname(&u);
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%ld CPUs (nproc), %s, %.1f GiB RAM, Linux %s",
                sysconf(_SC_NPROCESSORS_ONLN), cpu.c_str(), ram_gib, u.release);
  return buf;
}

std::string Rate(double per_second) {
  char buf[64];
  if (per_second >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2f M", per_second / 1e6);
  } else if (per_second >= 1e3) {
    std::snprintf(buf, sizeof(buf), "%.1f k", per_second / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", per_second);
  }
  return buf;
}

int Main(int argc, char** argv) {
  if (argc == 8 && std::string(argv[1]) == "--worker") {
    g_window.batches = static_cast<uint32_t>(std::max(1, std::atoi(argv[7])));
    return RunWorker(argv[2], argv[3],
                     std::string(argv[4]) == "image" ? Kind::kImage : Kind::kSmall,
                     std::atof(argv[5]), std::atoll(argv[6]));
  }
  if (argc == 5 && std::string(argv[1]) == "--sampler") {
    // For profiling: sample batches of 256 from ENDPOINT ENV for SECONDS.
    auto client = storage::StorageClient::Connect(argv[2]);
    if (!client) return 2;
    uint64_t rows = 0, seed = 1;
    const auto start = Clock::now();
    while (Clock::now() - start < std::chrono::duration<double>(std::atof(argv[4]))) {
      auto sample = (*client)->SampleTransitions({argv[3], kSampleSize, seed++});
      if (!sample) return 1;
      rows += sample->count;
    }
    std::printf("rows=%llu\n", static_cast<unsigned long long>(rows));
    return 0;
  }
  if (argc == 4 && std::string(argv[1]) == "--breakdown") {
    // For profiling: where the time of one sample of 256 goes, in-process,
    // on a store directory (read-only): DIR ENV.
    storage::ReplayStoreOptions options;
    options.read_only = true;
    auto store = storage::ReplayStore::Open(argv[2], options);
    if (!store) return 1;
    for (bool next_images : {true, false}) {
      double sample_ms = 0, encode_ms = 0, decode_ms = 0;
      size_t bytes = 0;
      const int kRounds = 200;
      for (int i = 0; i < kRounds; ++i) {
        SampleTransitionsRequest request{argv[3], kSampleSize, uint64_t(i + 1)};
        request.next_images = next_images;
        auto t0 = Clock::now();
        auto sample = (*store)->SampleTransitions(request);
        auto t1 = Clock::now();
        if (!sample) return 1;
        StorageReply reply;
        reply.body = std::move(*sample);
        std::string encoded = proto::Encode(reply);
        auto t2 = Clock::now();
        auto decoded = proto::DecodeStorageReply(encoded);
        auto t3 = Clock::now();
        if (!decoded) return 1;
        bytes = encoded.size();
        sample_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
        encode_ms += std::chrono::duration<double, std::milli>(t2 - t1).count();
        decode_ms += std::chrono::duration<double, std::milli>(t3 - t2).count();
      }
      std::printf(
          "per sample of %u, next images %s: store %.2f ms, encode %.2f ms, decode %.2f ms, "
          "reply %zu bytes\n",
          kSampleSize, next_images ? "yes" : "no", sample_ms / kRounds, encode_ms / kRounds,
          decode_ms / kRounds, bytes);
    }
    return 0;
  }
  Config config;
  config.self = fs::canonical("/proc/self/exe").string();
  config.mbrl = MBRL_BINARY;
  std::string dir_flag;
  std::string only;  // Comma-separated sections; empty = all.
  // Which ingest rows to measure (comma-separated); empty = all.
  std::string records, syncs, collector_counts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      config.seconds = std::atof(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      dir_flag = argv[++i];
    } else if (a == "--mbrl" && i + 1 < argc) {
      config.mbrl = argv[++i];
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--records" && i + 1 < argc) {
      records = argv[++i];
    } else if (a == "--sync" && i + 1 < argc) {
      syncs = argv[++i];
    } else if (a == "--collectors" && i + 1 < argc) {
      collector_counts = argv[++i];
    } else if (a == "--transport" && i + 1 < argc &&
               (std::string(argv[i + 1]) == "tcp" || std::string(argv[i + 1]) == "ipc")) {
      g_transport = argv[++i];
    } else if (a == "--window" && i + 1 < argc) {
      g_window.batches = static_cast<uint32_t>(std::max(1, std::atoi(argv[++i])));
    } else if (a == "--legacy-values") {
      config.legacy_values = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--seconds S] [--dir DIR] [--mbrl PATH] "
                   "[--only raw,ingest,prefilled,sample,latency] [--records small,image] "
                   "[--sync no,yes] [--collectors 1,4,8] [--transport tcp|ipc] [--window N] "
                   "[--legacy-values]\n",
                   argv[0]);
      return 2;
    }
  }
  auto listed = [](const std::string& list, const std::string& item) {
    return list.empty() || ("," + list + ",").find("," + item + ",") != std::string::npos;
  };
  auto wanted = [&](const std::string& section) { return listed(only, section); };
  // RocksDB directories on the real disk (not a tmpfs), so that sync means fsync.
  config.dir = dir_flag.empty()
                   ? fs::temp_directory_path() / ("mbrl-storage-bench-" + std::to_string(getpid()))
                   : fs::path(dir_flag);
  fs::remove_all(config.dir);
  fs::create_directories(config.dir);
  const auto wall_start = Clock::now();

  std::printf("## Storage benchmark\n\n");
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  std::printf("- date: %s\n- machine: %s\n- data: %s\n", date, Machine().c_str(),
              config.dir.c_str());
  std::printf(
      "- each measurement: %.1f s; batches of %u transitions, at most %u batches and %zu MiB in "
      "flight per collector\n",
      config.seconds, kBatchSize, g_window.batches, g_window.bytes >> 20);
  std::printf("- transport: %s\n", g_transport == "ipc" ? "ipc:// (Unix-domain socket)"
                                                        : "tcp://127.0.0.1 (loopback TCP)");
  std::printf("- stored value: small %.0f B, image %.0f B (%s)\n",
              EncodedBytes(config, Kind::kSmall), EncodedBytes(config, Kind::kImage),
              config.legacy_values ? "Cap'n Proto StoredTransition, as before storage/layout.h"
                                   : "storage/layout.h");
  std::printf("- storage: %s\n\n", config.mbrl.c_str());
  std::fflush(stdout);

  // Ingest.
  fs::path sample_dirs[2];
  std::printf(
      "### Ingest (transitions/s acknowledged; raw = plain RocksDB, one WriteBatch of 50)\n\n");
  std::printf(
      "| record | sync | collectors | storage | raw RocksDB | storage / raw | CPU s per M: "
      "storage | CPU s per M: collectors | CPU s per M: raw | batches per group commit | commit "
      "ms |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::fflush(stdout);
  for (Kind kind : {Kind::kSmall, Kind::kImage}) {
    if (!wanted("ingest") && !wanted("raw")) break;
    if (!listed(records, KindName(kind))) continue;
    for (bool sync : {false, true}) {
      if (!listed(syncs, sync ? "yes" : "no")) continue;
      RawIngestResult raw = MeasureRawIngest(config, kind, sync, 0);
      if (!wanted("ingest")) {  // Only the raw RocksDB rate.
        std::printf("| %s | %s | | | %s | | | | %.2f | | |\n", KindName(kind), sync ? "yes" : "no",
                    Rate(raw.rate).c_str(), raw.cpu_per_mtx);
        continue;
      }
      bool first = true;
      for (int collectors : {1, 4, 8}) {
        if (!listed(collector_counts, std::to_string(collectors))) continue;
        // Raw measured right before, as the disk (shared, other writers on it)
        // changes speed over minutes; fsync latency most of all.
        if (!first) raw = MeasureRawIngest(config, kind, sync, collectors);
        first = false;
        IngestResult r = MeasureIngest(config, kind, sync, collectors);
        std::printf("| %s | %s | %d | %s | %s | %.0f %% | %.2f | %.2f | %.2f | %s |\n",
                    KindName(kind), sync ? "yes" : "no", collectors, Rate(r.rate).c_str(),
                    Rate(raw.rate).c_str(), 100.0 * r.rate / raw.rate, r.cpu_per_mtx,
                    r.collectors_cpu_per_mtx, raw.cpu_per_mtx, GroupColumns(r).c_str());
        std::fflush(stdout);
        if (!sync && collectors == 8) {
          sample_dirs[kind == Kind::kSmall ? 0 : 1] = r.data_dir;
        } else if (dir_flag.empty()) {
          fs::remove_all(r.data_dir);
        }
      }
    }
  }

  // The same into a store that already holds many episodes.
  constexpr uint64_t kPrefillEpisodes = 10000;
  for (int collectors : {1, 4}) {
    if (!wanted("prefilled")) break;
    IngestResult r = MeasureIngest(config, Kind::kSmall, false, collectors, kPrefillEpisodes);
    std::printf(
        "| small, store already holding %llu episodes | no | %d | %s | | | %.2f | %.2f | | %s |\n",
        static_cast<unsigned long long>(kPrefillEpisodes), collectors, Rate(r.rate).c_str(),
        r.cpu_per_mtx, r.collectors_cpu_per_mtx, GroupColumns(r).c_str());
    std::fflush(stdout);
  }

  // Sampling.
  std::printf(
      "\n### Uniform sampling, batches of %u (one client: one request at a time, then %u in "
      "flight)\n\n",
      kSampleSize, kSampleDepth);
  std::printf(
      "| record | next images | stored | storage (transitions/s) | ms per batch | raw keys per "
      "MultiGet | raw MultiGet (rows/s) | ms per batch | storage / raw | storage, %u in flight | "
      "in flight / raw |\n",
      kSampleDepth);
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (Kind kind : {Kind::kSmall, Kind::kImage}) {
    if (!wanted("sample")) break;
    fs::path& dir = sample_dirs[kind == Kind::kSmall ? 0 : 1];
    if (dir.empty()) dir = MeasureIngest(config, kind, false, 8).data_dir;
    for (bool next_images : {true, false}) {
      if (kind == Kind::kSmall && !next_images) break;  // No images: the same request.
      SampleResult r = MeasureSampling(config, kind, dir, next_images);
      std::printf("| %s | %s | %llu | %s | %.2f | %.0f | %s | %.2f | %.0f %% | %s | %.0f %% |\n",
                  KindName(kind), kind == Kind::kSmall ? "n/a" : (next_images ? "yes" : "no"),
                  static_cast<unsigned long long>(r.stored), Rate(r.server_rate).c_str(),
                  r.server_ms, r.raw_keys, Rate(r.raw_rate).c_str(), r.raw_ms,
                  100.0 * r.server_rate / r.raw_rate, Rate(r.pipelined_rate).c_str(),
                  100.0 * r.pipelined_rate / r.raw_rate);
      std::fflush(stdout);
    }
  }

  // Latency.
  std::printf(
      "\n### Acknowledgement latency (small records, 50 per batch, one batch at a time)\n\n");
  std::printf("| sync | batches | p50 ms | p99 ms | mean ms |\n|---|---:|---:|---:|---:|\n");
  for (bool sync : {false, true}) {
    if (!wanted("latency")) break;
    LatencyResult r = MeasureLatency(config, sync);
    std::printf("| %s | %zu | %.3f | %.3f | %.3f |\n", sync ? "yes" : "no", r.batches, r.p50_ms,
                r.p99_ms, r.mean_ms);
    std::fflush(stdout);
  }
  std::printf("\nwall time: %.0f s\n",
              std::chrono::duration<double>(Clock::now() - wall_start).count());
  if (dir_flag.empty()) fs::remove_all(config.dir);
  return 0;
}

}  // namespace
}  // namespace mbrl::bench

int main(int argc, char** argv) {
  // As every mbrl binary (apps/main.cc): the bench's clients stand for a
  // learner and collectors.
  mbrl::KeepLargeBuffersForReuse();
  return mbrl::bench::Main(argc, argv);
}
