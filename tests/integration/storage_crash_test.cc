// Crash safety of ingest, end to end with real processes: `mbrl storage` is
// killed with SIGKILL again and again while several `mbrl collector`s stream
// into it over TCP on 127.0.0.1, and restarted on the same port and data
// directory. At the end every acknowledged transition must be stored exactly
// once and every episode must be whole and contiguous.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/client.h"
#include "storage/replay_store.h"
#include "tests/testing/testing.h"

namespace mbrl {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using testing::ChildProcess;
using testing::RunProcess;
using testing::TempDir;
using testing::WaitUntil;

constexpr uint32_t kEpisodeSteps = 200;  // pendulum_swingup's time limit.
constexpr uint32_t kBatchSteps = 10;

// A TCP port that was free a moment ago: bind port 0, read it, close.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
  }
  close(fd);
  return port;
}

std::string Tail(const std::string& text, size_t bytes = 3000) {
  if (text.size() <= bytes) return text;
  std::string out = "...";
  out.append(text, text.size() - bytes, bytes);
  return out;
}

// What a collector printed last: what it saw acknowledged.
struct CollectorReport {
  std::string id;
  int episodes = 0;
  uint64_t transitions_acked = 0;
  uint64_t last_sequence = 0;
  uint64_t resends = 0;
};

std::optional<CollectorReport> ParseDoneLine(const std::string& out) {
  static const std::regex kDone(
      R"(collector done id=(\S+) episodes=(\d+) transitions_acked=(\d+) last_sequence=(\d+) resends=(\d+))");
  std::smatch m;
  if (!std::regex_search(out, m, kDone)) return std::nullopt;
  CollectorReport r;
  r.id = m[1];
  r.episodes = std::stoi(m[2]);
  r.transitions_acked = std::stoull(m[3]);
  r.last_sequence = std::stoull(m[4]);
  r.resends = std::stoull(m[5]);
  return r;
}

// One `mbrl storage` process at a time on a fixed port and data directory.
class StorageProcess {
 public:
  StorageProcess(std::filesystem::path data_dir, std::filesystem::path logs, int port, bool sync)
      : data_dir_(std::move(data_dir)), logs_(std::move(logs)), port_(port), sync_(sync) {}

  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

  // Starts storage and waits for its "storage ready" line. A restart right
  // after a SIGKILL may find the port still held for a moment: it then exits,
  // and is started again.
  ::testing::AssertionResult Start() {
    std::string last_error;
    for (int attempt = 0; attempt < 20; ++attempt) {
      std::vector<std::string> argv = {MBRL_BINARY, "storage",  "--data-dir",  data_dir_.string(),
                                       "--listen",  endpoint(), "--log-level", "warn"};
      if (sync_) argv.push_back("--sync");
      process_ = std::make_unique<ChildProcess>(argv, logs_);
      ChildProcess* p = process_.get();
      bool exited = false;
      bool ready = WaitUntil(
          [&] {
            if (p->Stdout().find("storage ready endpoint=") != std::string::npos) return true;
            bool timed_out = false;
            p->Wait(0ms, &timed_out);
            exited = !timed_out;
            return exited;
          },
          20s);
      if (ready && !exited) {
        ++starts_;
        return ::testing::AssertionSuccess();
      }
      last_error = exited ? "exited early: " + Tail(p->Stderr()) : "not ready within 20 s";
      process_.reset();
      std::this_thread::sleep_for(100ms);
    }
    return ::testing::AssertionFailure() << "storage did not start: " << last_error;
  }

  void Kill() {
    process_->Signal(SIGKILL);
    process_->Wait(10s);
    logs_of_killed_ += Tail(process_->Stderr(), 1000);
    process_.reset();
  }

  // SIGTERM and the exit code (-1 on a signal or a timeout).
  int Stop() {
    process_->Signal(SIGTERM);
    bool timed_out = false;
    int code = process_->Wait(30s, &timed_out);
    if (timed_out) {
      process_->Signal(SIGKILL);
      process_->Wait(10s);
    }
    return code;
  }

  std::string Stderr() const { return process_ ? process_->Stderr() : logs_of_killed_; }
  int starts() const { return starts_; }

 private:
  std::filesystem::path data_dir_;
  std::filesystem::path logs_;
  int port_;
  bool sync_;
  std::unique_ptr<ChildProcess> process_;
  std::string logs_of_killed_;
  int starts_ = 0;
};

// Transitions stored now, asked over the wire; nullopt while storage does not
// answer.
std::optional<uint64_t> StoredTransitions(storage::StorageClient& client) {
  auto info = client.Info();
  if (!info) return std::nullopt;
  return info->transitions;
}

struct EpisodeSteps {
  std::vector<uint32_t> steps;
  std::vector<bool> truncated;
};

// Four collectors of six 200-step episodes at 60 steps/s (~20 s of ingest);
// storage is killed four times at seeded random moments (~14 s with restarts).
void KillStorageRepeatedlyDuringIngest(bool sync, uint32_t seed) {
  constexpr int kCollectors = 4;
  constexpr int kEpisodes = 6;
  constexpr int kStepsPerSecond = 60;
  constexpr int kKills = 4;
  std::mt19937 rng(seed);
  SCOPED_TRACE("kill schedule seed " + std::to_string(seed));

  TempDir tmp;
  const auto data_dir = tmp.path() / "data";
  const auto logs = tmp.path() / "logs";
  std::filesystem::create_directories(logs);
  const int port = FreePort();
  ASSERT_GT(port, 0);
  StorageProcess storage(data_dir, logs, port, sync);
  ASSERT_TRUE(storage.Start());

  std::vector<std::unique_ptr<ChildProcess>> collectors;
  for (int i = 0; i < kCollectors; ++i) {
    std::string id = "c";
    id += std::to_string(i);
    collectors.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{
            MBRL_BINARY, "collector", "--storage", storage.endpoint(), "--env", "pendulum_swingup",
            "--id", id, "--episodes", std::to_string(kEpisodes), "--seed", std::to_string(i + 1),
            "--steps-per-second", std::to_string(kStepsPerSecond), "--batch-steps",
            std::to_string(kBatchSteps), "--ack-timeout-ms", "300"},
        logs));
  }
  auto any_collector_running = [&] {
    bool any = false;
    for (auto& c : collectors) {
      if (c->running()) c->Wait(0ms);  // Reaps it if it has exited.
      any = any || c->running();
    }
    return any;
  };

  storage::StorageClientOptions client_options;
  client_options.timeout = 1s;
  auto client = storage::StorageClient::Connect(storage.endpoint(), client_options);
  ASSERT_TRUE(client) << client.error().reason;

  // The kills: each after the current storage has stored something new, at a
  // seeded random moment, with a seeded random time down.
  std::uniform_int_distribution<int> up_ms(800, 2000);
  std::uniform_int_distribution<int> down_ms(300, 800);
  uint64_t stored_before = 0;
  int kills_mid_ingest = 0;
  for (int k = 0; k < kKills; ++k) {
    ASSERT_TRUE(WaitUntil(
        [&] {
          auto n = StoredTransitions(**client);
          return n && *n > stored_before;
        },
        20s))
        << "storage stored nothing new after restart " << k << "\n"
        << Tail(storage.Stderr());
    std::this_thread::sleep_for(milliseconds(up_ms(rng)));
    auto n = StoredTransitions(**client);
    if (n) stored_before = *n;
    if (!any_collector_running()) break;
    storage.Kill();
    ++kills_mid_ingest;
    std::this_thread::sleep_for(milliseconds(down_ms(rng)));
    ASSERT_TRUE(storage.Start());
  }
  EXPECT_EQ(kills_mid_ingest, kKills) << "the collectors finished before every kill was done; "
                                         "slow them down";

  // Every collector rides through and finishes.
  std::map<std::string, CollectorReport> reports;
  for (auto& c : collectors) {
    bool timed_out = false;
    int code = c->Wait(90s, &timed_out);
    ASSERT_FALSE(timed_out) << "collector still running:\n" << Tail(c->Stderr());
    ASSERT_EQ(code, 0) << Tail(c->Stderr());
    auto report = ParseDoneLine(c->Stdout());
    ASSERT_TRUE(report) << c->Stdout();
    EXPECT_EQ(report->episodes, kEpisodes) << report->id;
    EXPECT_EQ(report->transitions_acked, uint64_t{kEpisodes} * kEpisodeSteps) << report->id;
    EXPECT_EQ(report->last_sequence, uint64_t{kEpisodes} * kEpisodeSteps / kBatchSteps)
        << report->id;
    reports[report->id] = *report;
  }
  ASSERT_EQ(reports.size(), size_t{kCollectors});
  uint64_t acked_total = 0;
  uint64_t resends_total = 0;
  for (const auto& [id, r] : reports) {
    acked_total += r.transitions_acked;
    resends_total += r.resends;
  }
  EXPECT_GT(resends_total, 0u) << "no collector ever resent: the kills missed the ingest";
  ASSERT_EQ(storage.Stop(), 0) << Tail(storage.Stderr());

  // `mbrl inspect` agrees with what the collectors saw acknowledged.
  auto inspected = RunProcess({MBRL_BINARY, "inspect", "--data-dir", data_dir.string()});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  auto json = nlohmann::json::parse(inspected.out);
  EXPECT_EQ(json["transitions"].get<uint64_t>(), acked_total);
  EXPECT_EQ(json["episodes"].get<uint64_t>(), uint64_t{kCollectors} * kEpisodes);
  ASSERT_EQ(json["collectors"].size(), size_t{kCollectors});
  for (const auto& c : json["collectors"]) {
    const std::string id = c["id"];
    ASSERT_TRUE(reports.count(id)) << "storage knows a collector nobody ran: " << id;
    EXPECT_EQ(c["last_sequence"].get<uint64_t>(), reports[id].last_sequence) << id;
  }
  EXPECT_EQ(json["next_position"].get<uint64_t>(), acked_total + 1)
      << "positions were handed out to writes that were not kept";

  // Read everything back through the insertion-ordered cursor.
  storage::ReplayStoreOptions read_only;
  read_only.read_only = true;
  auto store = storage::ReplayStore::Open(data_dir.string(), read_only);
  ASSERT_TRUE(store) << store.error().reason;
  std::map<std::pair<std::string, uint64_t>, EpisodeSteps> episodes;
  std::map<std::string, std::map<uint64_t, uint32_t>> per_batch;  // id -> sequence -> count.
  uint64_t read = 0;
  uint64_t last_position = 0;
  ReadCursorRequest request;
  request.from_position = 1;
  request.max_items = 1000;
  while (true) {
    auto page = (*store)->ReadCursor(request);
    ASSERT_TRUE(page) << page.error().reason;
    for (const StoredTransition& s : page->items) {
      ASSERT_GT(s.position, last_position) << "cursor out of order";
      ASSERT_EQ(s.position, last_position + 1) << "a hole in the positions";
      last_position = s.position;
      ++read;
      EpisodeSteps& e = episodes[{s.collector_id, s.transition.episode_id}];
      e.steps.push_back(s.transition.step);
      e.truncated.push_back(s.transition.truncated);
      per_batch[s.collector_id][s.batch_sequence] += 1;
    }
    if (page->end) break;
    ASSERT_GT(page->next_position, request.from_position) << "cursor did not advance";
    request.from_position = page->next_position;
  }
  EXPECT_EQ(read, acked_total) << "the cursor does not hold exactly what was acknowledged";

  // Every episode whole: steps 0..199 once each, only the last one truncated.
  EXPECT_EQ(episodes.size(), size_t{kCollectors} * kEpisodes);
  std::map<std::string, int> episodes_per_collector;
  for (auto& [key, e] : episodes) {
    const std::string where = key.first + " episode " + std::to_string(key.second);
    episodes_per_collector[key.first] += 1;
    ASSERT_EQ(e.steps.size(), kEpisodeSteps) << where;
    // Within an episode the cursor must already give steps in order.
    EXPECT_TRUE(std::is_sorted(e.steps.begin(), e.steps.end())) << where;
    std::vector<uint32_t> sorted = e.steps;
    std::sort(sorted.begin(), sorted.end());
    for (uint32_t i = 0; i < kEpisodeSteps; ++i) {
      ASSERT_EQ(sorted[i], i) << where << ": step " << i << " missing or repeated";
    }
    for (size_t i = 0; i < e.steps.size(); ++i) {
      EXPECT_EQ(e.truncated[i], e.steps[i] + 1 == kEpisodeSteps) << where << " step " << e.steps[i];
    }
  }
  for (const auto& [id, count] : episodes_per_collector) EXPECT_EQ(count, kEpisodes) << id;

  // Every acknowledged batch stored once, whole: sequences 1..last, ten each.
  for (const auto& [id, r] : reports) {
    const auto& batches = per_batch[id];
    ASSERT_EQ(batches.size(), r.last_sequence) << id;
    uint64_t expected = 1;
    for (const auto& [sequence, count] : batches) {
      ASSERT_EQ(sequence, expected++) << id;
      EXPECT_EQ(count, kBatchSteps) << id << " batch " << sequence;
    }
  }

  // And the episode index agrees: complete, 200 steps each.
  EpisodeList listed = (*store)->ListEpisodes(ListEpisodesRequest{"", 0, 1000});
  ASSERT_EQ(listed.episodes.size(), size_t{kCollectors} * kEpisodes);
  for (const auto& e : listed.episodes) {
    EXPECT_TRUE(e.complete) << e.collector_id << " " << e.episode_id;
    EXPECT_EQ(e.length, kEpisodeSteps) << e.collector_id << " " << e.episode_id;
  }
  EXPECT_EQ(storage.starts(), 1 + kills_mid_ingest);
  std::printf("storage killed %d times; %llu transitions acknowledged, %llu resends\n",
              kills_mid_ingest, static_cast<unsigned long long>(acked_total),
              static_cast<unsigned long long>(resends_total));
}

TEST(StorageCrash, KilledRepeatedlyDuringIngestLosesAndDuplicatesNothing) {
  KillStorageRepeatedlyDuringIngest(/*sync=*/false, /*seed=*/20240611);
}

TEST(StorageCrash, KilledRepeatedlyDuringSyncIngestLosesAndDuplicatesNothing) {
  KillStorageRepeatedlyDuringIngest(/*sync=*/true, /*seed=*/77);
}

}  // namespace
}  // namespace mbrl
