// Planner benchmark (issue 5): CEM over a learned probabilistic ensemble, the
// cartpole_swingup shapes, measured in ONE run so that ratios are meaningful
// on a shared, noisy machine.
//
// The model is what the learner would publish for cartpole_swingup with its
// defaults: 5 members, 3 hidden layers of 200, SiLU, Gaussian heads; the real
// env spec (observation 4, action 1) and the real input transform (θ as
// sin/cos, learner::DefaultFeatureSpec), so the network is 6→200→200→200→8
// (mean and log-variance). Its weights are the random initial ones, with the
// normalisation fitted to real transitions of the env under random actions:
// the speed of a forward does not depend on the weights, and every row stays
// finite (checked: the "non-finite rows" column). It plans through
// models::MakeEnsembleDynamics (TS∞) with the env's own reward.
//
// What is measured, per thread configuration (--configs):
//
//   ratio    CEM plans (planner registry "cem"), and after each plan the plain
//            GEMMs of the same shapes at the same thread count. FLOPs of one
//            model row = 2·Σ in·out over the four layers (the matmuls only;
//            165 600 for 6→200→200→200→8). Effective FLOP/s of a plan =
//            FLOPs/row × PlanStats::model_steps / plan wall time. The plain
//            GEMM: for each layer torch::bmm([E, B, in] × [E, in, out]) at the
//            B a Step of the plan uses (rows per rollout thread / E), and a
//            single torch::mm([E·B, in] × [in, out]) of the same FLOPs; run by
//            as many callers at once as the plan has rollout threads.
//            Also timed alone at that B: the ensemble's Predict (the whole
//            forward) and one EnsembleDynamics::Step; with the Step time
//            measured inside the plans (a timing Dynamics decorator) they
//            split the plan time into GEMM / rest of the forward / rest of the
//            Step / outside the Step (reward, CEM). Minor page faults per Step
//            and the process's CPU time per wall second are reported beside.
//   latency  the same plans: mean, p50 and max wall time per plan (no time
//            budget), for the PETS configuration (horizon 30, population 500,
//            5 iterations, 50 elites, 20 particles, 5 members, TS∞) and for
//            the project's preset (DefaultPlannerParams("cartpole_swingup")).
//   e2e      8 plans (8 collectors' states) back to back on one planner,
//            against the same 8 spread over 2 planner threads (what the
//            worker does with --threads 2), each planner with one rollout
//            thread and one torch thread, OpenBLAS with 2 and 1 threads.
//   fusion   what fusing the 8 requests of a worker's batch into one model
//            evaluation would gain (the worker does NOT fuse; worker.h):
//            rows/s of one Predict, and of one EnsembleDynamics Step, for one
//            request's rows against 8 requests' rows in one call; with glibc
//            malloc's defaults and then with mmap disabled (mallopt), since
//            the fused tensors exceed glibc's largest mmap threshold. Runs
//            last: the mallopt settings stay for the rest of the process.
//
// The CPU this process actually gets is probed at the start and the end (all
// cores spinning): with autogroup scheduling, another session's busy process
// leaves it about one core of two, whatever its thread count.
//
// Threads. A configuration sets torch's intra-op threads (at::set_num_threads
// on the calling thread, and EnsembleDynamicsOptions::threads, which sets it
// on every rollout thread), OpenBLAS's threads (openblas_set_num_threads,
// found with dlsym; process-wide) and planner.threads (rollout threads).
//
// Prints one markdown report on stdout, progress on stderr.
//
//   planner_bench [--plans N] [--configs t1,t2,worker,local]
//                 [--presets pets,project] [--only ratio,fusion,e2e]
//                 [--e2e pets,project] [--fusion-configs t1,worker]
//                 [--seconds S] [--seed N]
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <torch/types.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "envs/environment.h"
#include "learner/features.h"
#include "models/ensemble.h"
#include "models/ensemble_dynamics.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/reward.h"

namespace mbrl::bench {
namespace {

using Clock = std::chrono::steady_clock;
using planner_workers::Dynamics;
using planner_workers::DynamicsSession;
using planner_workers::PlanStats;
using planner_workers::RolloutLayout;

constexpr char kEnv[] = "cartpole_swingup";
constexpr int kRequests = 8;  // Concurrent collectors served by one worker.

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "planner_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Check(Result<T> result, const std::string& what) {
  if (!result) Fail(what + ": " + result.error().ToString());
  return std::move(*result);
}

void Check(const Status& status, const std::string& what) {
  if (!status) Fail(what + ": " + status.error().ToString());
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double Mean(const std::vector<double>& v) {
  return v.empty() ? NAN : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double Max(const std::vector<double>& v) {
  return v.empty() ? NAN : *std::max_element(v.begin(), v.end());
}

std::string Fmt(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  return buf;
}

// --- OpenBLAS, found at run time (LibTorch links libblas.so.3, which is
// OpenBLAS when libopenblas0-pthread is installed) ---

struct Blas {
  void (*set_threads)(int) = nullptr;
  int (*get_threads)() = nullptr;
  char* (*config)() = nullptr;
  char* (*corename)() = nullptr;

  Blas() {
    set_threads = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    get_threads = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    config = reinterpret_cast<char* (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
    corename = reinterpret_cast<char* (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  }
  bool is_openblas() const { return set_threads != nullptr; }
  void SetThreads(int n) const {
    if (set_threads) set_threads(n);
  }
  std::string Describe() const {
    if (!is_openblas()) return "not OpenBLAS (thread settings have no effect)";
    std::string s = config ? config() : "OpenBLAS";
    if (corename) s += ", core " + std::string(corename());
    return s;
  }
};

const Blas& TheBlas() {
  static const Blas blas;
  return blas;
}

// --- thread configurations ---

struct ThreadConfig {
  std::string name;
  int rollout;  // planner.threads: rollout threads, each its own Step caller.
  int torch;    // Torch intra-op threads of every caller.
  int blas;     // OpenBLAS threads (process-wide).
  std::string what;
  int max_plans = 0;  // At most this many timed plans (0: --plans).
};

const std::vector<ThreadConfig>& AllConfigs() {
  static const std::vector<ThreadConfig> configs = {
      {"t1", 1, 1, 1, "1 rollout thread, torch 1, OpenBLAS 1"},
      {"t2", 1, 2, 2,
       "1 rollout thread, torch 2, OpenBLAS 2 (at most 2 plans: 5-10x slower than t1 here)", 2},
      {"worker", 1, 1, 2, "1 rollout thread, torch 1, OpenBLAS 2 (`mbrl planner` defaults)"},
      {"local", 2, 1, 1, "2 rollout threads, torch 1 and OpenBLAS 1 each (`mbrl local`)"},
  };
  return configs;
}

void ApplyThreads(const ThreadConfig& c) {
  at::set_num_threads(c.torch);
  TheBlas().SetThreads(c.blas);
}

// Runs fn(k) for k in [0, callers) at once, k = 0 on this thread, each caller
// with `torch_threads` intra-op threads; returns the wall time.
double RunCallers(int callers, int torch_threads, const std::function<void(int)>& fn) {
  std::vector<std::thread> team;
  const auto start = Clock::now();
  for (int k = 1; k < callers; ++k) {
    team.emplace_back([&, k] {
      at::set_num_threads(torch_threads);
      fn(k);
    });
  }
  fn(0);
  for (std::thread& t : team) t.join();
  return Since(start);
}

// --- the model ---

struct Model {
  learner::FeatureSpec features;
  ModelWeights weights;
  models::ProbabilisticEnsemble module{nullptr};    // For the kernels timed alone.
  std::vector<std::pair<int64_t, int64_t>> layers;  // (in, out) per layer.
  int64_t members = 0;
  double flops_per_row = 0.0;  // 2·Σ in·out: the matmuls of one row.
  torch::Tensor real_inputs;   // [N, in]: network inputs of real transitions.
};

struct Transitions {
  std::vector<std::vector<float>> obs, act, next;
};

// Random-action episodes of the real env.
Transitions Collect(envs::Environment& env, size_t count, uint64_t seed) {
  Transitions t;
  const BoxSpace& a = env.spec().action;
  std::mt19937_64 rng(seed);
  std::vector<float> obs = env.Reset(seed);
  while (t.obs.size() < count) {
    std::vector<float> act(a.dim());
    for (size_t i = 0; i < act.size(); ++i) {
      act[i] = std::uniform_real_distribution<float>(a.low[i], a.high[i])(rng);
    }
    envs::StepResult step = Check(env.Step(act), "env step");
    t.obs.push_back(obs);
    t.act.push_back(act);
    t.next.push_back(step.observation);
    obs = step.observation;
    if (step.terminated || step.truncated) obs = env.Reset(seed + t.obs.size());
  }
  return t;
}

torch::Tensor Stack(const std::vector<std::vector<float>>& rows) {
  const int64_t n = static_cast<int64_t>(rows.size()), d = static_cast<int64_t>(rows[0].size());
  torch::Tensor out = torch::empty({n, d});
  for (int64_t i = 0; i < n; ++i) {
    std::copy(rows[i].begin(), rows[i].end(), out[i].data_ptr<float>());
  }
  return out;
}

Model BuildModel(const EnvSpec& spec, const Transitions& data) {
  Model m;
  m.features = learner::DefaultFeatureSpec(kEnv, static_cast<uint32_t>(spec.observation.dim()),
                                           static_cast<uint32_t>(spec.action.dim()));
  models::EnsembleOptions o;  // The learner's defaults: 5 × 200³, SiLU, Gaussian.
  o.input_dim = m.features.input_dim();
  o.output_dim = m.features.output_dim();
  torch::manual_seed(1);
  m.module = Check(models::MakeEnsemble(o), "ensemble");
  torch::NoGradGuard no_grad;
  const torch::Tensor obs = Stack(data.obs), act = Stack(data.act), next = Stack(data.next);
  m.real_inputs = learner::MakeInputs(m.features, obs, act);
  m.module->FitNormalization(m.real_inputs, learner::MakeTargets(m.features, obs, next));
  std::vector<uint32_t> elites(static_cast<size_t>(o.ensemble_size));
  std::iota(elites.begin(), elites.end(), 0u);
  m.module->set_elites(elites);
  m.module->eval();
  m.weights = models::ExportWeights(*m.module);
  m.weights.version = 1;
  learner::DescribeFeatures(m.features, m.weights.architecture);
  m.members = o.ensemble_size;
  for (int64_t i = 0; i < m.module->num_layers(); ++i) {
    const auto sizes = m.module->layer(i)->weight.sizes();  // [E, in, out]
    m.layers.emplace_back(sizes[1], sizes[2]);
    m.flops_per_row += 2.0 * static_cast<double>(sizes[1] * sizes[2]);
  }
  return m;
}

long MinorFaults(int who) {
  rusage u{};
  getrusage(who, &u);
  return u.ru_minflt;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// CPU cores this process gets right now: `threads` threads spin for
// `seconds`; their CPU time over the wall time. On a shared machine with the
// kernel's autogroup scheduling, a busy process of another session caps this
// near 1 whatever the thread count.
double CoresAvailable(int threads, double seconds) {
  const double cpu = CpuSeconds();
  const double wall = RunCallers(threads, 1, [&](int) {
    const auto start = Clock::now();
    volatile uint64_t sink = 0;
    while (Since(start) < seconds) sink = sink + 1;
  });
  return (CpuSeconds() - cpu) / wall;
}

// --- a Dynamics decorator that times the Steps and checks their output ---

struct StepCounters {
  std::atomic<uint64_t> ns{0};      // Wall time inside Step, summed over the threads.
  std::atomic<uint64_t> steps{0};   // Step calls.
  std::atomic<uint64_t> faults{0};  // Minor page faults of the stepping threads inside Step.
  std::atomic<uint64_t> rows{0};
  std::atomic<uint64_t> nonfinite_rows{0};
  void Clear() { ns = steps = faults = rows = nonfinite_rows = 0; }
};

class TimedSession final : public DynamicsSession {
 public:
  TimedSession(std::unique_ptr<DynamicsSession> inner, size_t obs_dim,
               std::shared_ptr<StepCounters> counters)
      : inner_(std::move(inner)), obs_dim_(obs_dim), counters_(std::move(counters)) {}

  Status BeginRollout(const RolloutLayout& layout, uint64_t seed) override {
    return inner_->BeginRollout(layout, seed);
  }
  Status Step(std::span<const float> obs, std::span<const float> act,
              std::span<float> next_obs) override {
    const long faults = MinorFaults(RUSAGE_THREAD);
    const auto start = Clock::now();
    Status status = inner_->Step(obs, act, next_obs);
    counters_->ns += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    counters_->faults += static_cast<uint64_t>(MinorFaults(RUSAGE_THREAD) - faults);
    ++counters_->steps;
    const size_t rows = next_obs.size() / obs_dim_;
    uint64_t bad = 0;
    for (size_t r = 0; r < rows; ++r) {
      for (size_t d = 0; d < obs_dim_; ++d) {
        if (!std::isfinite(next_obs[r * obs_dim_ + d])) {
          ++bad;
          break;
        }
      }
    }
    counters_->rows += rows;
    counters_->nonfinite_rows += bad;
    return status;
  }

 private:
  std::unique_ptr<DynamicsSession> inner_;
  size_t obs_dim_;
  std::shared_ptr<StepCounters> counters_;
};

class TimedDynamics final : public Dynamics {
 public:
  explicit TimedDynamics(std::shared_ptr<const Dynamics> inner)
      : inner_(std::move(inner)), counters_(std::make_shared<StepCounters>()) {}

  size_t obs_dim() const override { return inner_->obs_dim(); }
  size_t act_dim() const override { return inner_->act_dim(); }
  uint64_t model_version() const override { return inner_->model_version(); }
  bool deterministic() const override { return inner_->deterministic(); }
  Result<std::unique_ptr<DynamicsSession>> NewSession() const override {
    auto session = inner_->NewSession();
    if (!session) return std::unexpected(session.error());
    return std::unique_ptr<DynamicsSession>(
        new TimedSession(std::move(*session), obs_dim(), counters_));
  }
  StepCounters& counters() const { return *counters_; }

 private:
  std::shared_ptr<const Dynamics> inner_;
  std::shared_ptr<StepCounters> counters_;
};

std::shared_ptr<const Dynamics> MakeDynamics(const Model& model, int torch_threads) {
  models::EnsembleDynamicsOptions options;
  options.propagation = models::Propagation::kTsInf;
  options.threads = torch_threads;
  return Check(models::MakeEnsembleDynamics(model.weights, options), "ensemble dynamics");
}

// --- presets ---

struct Preset {
  std::string name;
  std::string what;
  HyperParams params;
  int horizon = 0, population = 0, iterations = 0, elites = 0, particles = 0;
};

Preset MakePreset(const std::string& name) {
  Preset p;
  p.name = name;
  p.params = planner_workers::DefaultPlannerParams(kEnv);
  if (name == "pets") {
    p.what = "PETS cartpole";
    p.params.Set("planner.horizon", "30");
    p.params.Set("planner.population", "500");
    p.params.Set("planner.iterations", "5");
    p.params.Set("planner.elites", "50");
    p.params.Set("planner.particles", "20");
  } else if (name == "project") {
    p.what = "project preset";
  } else {
    Fail("unknown preset " + name + " (pets, project)");
  }
  p.params.Set("planner.time_budget_ms", "0");
  auto get = [&](const char* key) { return static_cast<int>(Check(p.params.GetInt(key, 0), key)); };
  p.horizon = get("planner.horizon");
  p.population = get("planner.population");
  p.iterations = get("planner.iterations");
  p.elites = get("planner.elites");
  p.particles = get("planner.particles");
  return p;
}

std::string Describe(const Preset& p) {
  return p.what + " (H " + std::to_string(p.horizon) + ", pop " + std::to_string(p.population) +
         ", " + std::to_string(p.iterations) + " it, " + std::to_string(p.elites) + " elites, " +
         std::to_string(p.particles) + " particles)";
}

// --- the kernels timed alone ---

// One caller's inputs for batch B (rows per member): random operands of the
// layers' shapes for the plain GEMMs, real network inputs for Predict, and an
// EnsembleDynamics session over B·E rows of real states for Step.
struct KernelInputs {
  std::vector<torch::Tensor> bmm_x, bmm_w, mm_x, mm_w;
  torch::Tensor predict_x;  // [E, B, in].
  std::unique_ptr<DynamicsSession> session;
  std::vector<float> obs, act, next;
};

KernelInputs MakeKernelInputs(const Model& m, const Dynamics& dynamics, const Transitions& data,
                              int64_t batch, int particles, uint64_t seed) {
  torch::NoGradGuard no_grad;
  KernelInputs k;
  const int64_t e = m.members;
  for (const auto& [in, out] : m.layers) {
    k.bmm_x.push_back(torch::randn({e, batch, in}));
    k.bmm_w.push_back(torch::randn({e, in, out}) * 0.05);
    k.mm_x.push_back(torch::randn({e * batch, in}));
    k.mm_w.push_back(torch::randn({in, out}) * 0.05);
  }
  const torch::Tensor index = torch::randint(m.real_inputs.size(0), {e * batch}, torch::kLong);
  k.predict_x = m.real_inputs.index_select(0, index).reshape({e, batch, -1}).contiguous();

  const size_t rows = static_cast<size_t>(batch * e);
  const RolloutLayout layout{std::max<size_t>(1, rows / static_cast<size_t>(particles)),
                             static_cast<size_t>(particles), 0};
  k.session = Check(dynamics.NewSession(), "session");
  Check(k.session->BeginRollout(layout, seed), "BeginRollout");
  const size_t od = dynamics.obs_dim(), ad = dynamics.act_dim();
  std::mt19937_64 rng(seed);
  for (size_t c = 0; c < layout.candidates; ++c) {
    const size_t i = rng() % data.obs.size();
    for (size_t p = 0; p < layout.particles; ++p) {
      k.obs.insert(k.obs.end(), data.obs[i].begin(), data.obs[i].end());
      k.act.insert(k.act.end(), data.act[i].begin(), data.act[i].end());
    }
  }
  k.next.resize(layout.rows() * od);
  (void)ad;
  return k;
}

enum class Kernel { kBmm, kMm, kPredict, kStep };

void RunKernel(Kernel kernel, const Model& m, KernelInputs& k) {
  torch::NoGradGuard no_grad;
  switch (kernel) {
    case Kernel::kBmm:
      for (size_t l = 0; l < k.bmm_x.size(); ++l) (void)torch::bmm(k.bmm_x[l], k.bmm_w[l]);
      break;
    case Kernel::kMm:
      for (size_t l = 0; l < k.mm_x.size(); ++l) (void)torch::mm(k.mm_x[l], k.mm_w[l]);
      break;
    case Kernel::kPredict:
      (void)m.module.ptr()->Predict(k.predict_x);
      break;
    case Kernel::kStep:
      Check(k.session->Step(k.obs, k.act, k.next), "Step");
      break;
  }
}

struct KernelTime {
  double seconds = 0.0;  // Wall time per call (all callers at once).
  double faults = 0.0;   // Minor page faults of the process per call and caller.
};

// `kernel` run by inputs.size() callers at once (each on its own inputs), for
// about `seconds`, after one warm-up call.
KernelTime TimeKernel(Kernel kernel, const Model& m, std::vector<KernelInputs>& inputs,
                      int torch_threads, double seconds) {
  RunKernel(kernel, m, inputs[0]);  // Warm (allocator, BLAS buffers).
  auto start = Clock::now();
  RunKernel(kernel, m, inputs[0]);
  const double one = std::max(Since(start), 1e-6);
  const int calls = std::max(2, static_cast<int>(seconds / one));
  const long faults = MinorFaults(RUSAGE_SELF);
  const double wall = RunCallers(static_cast<int>(inputs.size()), torch_threads, [&](int c) {
    for (int i = 0; i < calls; ++i) RunKernel(kernel, m, inputs[static_cast<size_t>(c)]);
  });
  return {wall / calls, static_cast<double>(MinorFaults(RUSAGE_SELF) - faults) /
                            (calls * static_cast<double>(inputs.size()))};
}

// --- plans ---

struct PlanRun {
  std::vector<double> seconds;     // Wall time per plan.
  std::vector<double> gflops;      // Effective GFLOP/s per plan.
  std::vector<double> step_share;  // Per plan: Step time per rollout thread / plan time.
  uint64_t model_steps = 0;        // Per plan (the same for every plan that ran all iterations).
  int iterations = 0;
  uint64_t nonfinite_rows = 0, rows = 0;
  double step_faults = 0.0;  // Minor page faults per Step inside the plans.
  double cores = 0.0;        // Process CPU time / wall time over the plans.
};

// Medians over the samples are taken when reporting.
struct KernelSamples {
  std::vector<double> bmm, mm, predict, step;       // Seconds per call at the plan's B.
  std::vector<double> predict_score, step_score;    // At the final scoring Step's B.
  std::vector<double> predict_faults, step_faults;  // Per call, at the plan's B.
};

// Plans `plans` times (after one warm-up plan) along an MPC trajectory of the
// real env, timing the plain kernels after each plan.
PlanRun RunPlans(const Model& model, envs::Environment& env, const Transitions& data,
                 const ThreadConfig& cfg, const Preset& preset, int plans, double kernel_seconds,
                 uint64_t seed, KernelSamples* kernels) {
  ApplyThreads(cfg);
  auto dynamics = MakeDynamics(model, cfg.torch);
  auto timed = std::make_shared<TimedDynamics>(dynamics);
  planner_workers::PlanningProblem problem;
  problem.dynamics = timed;
  problem.reward = std::make_shared<planner_workers::EnvReward>(env.reward());
  problem.action = env.spec().action;
  HyperParams params = preset.params;
  params.Set("planner.threads", std::to_string(cfg.rollout));
  auto registry = planner_workers::DefaultPlannerRegistry();
  auto planner = Check(registry.Create("cem", problem, params), "cem");
  planner->Reset(seed);

  // Rows per member of a Step: each rollout thread steps its share of the
  // population; the final scoring of the plan steps one candidate.
  const int64_t batch =
      static_cast<int64_t>(preset.population / cfg.rollout) * preset.particles / model.members;
  const int64_t score_batch = std::max<int64_t>(1, preset.particles / model.members);
  std::vector<KernelInputs> inputs, score_inputs;
  for (int c = 0; c < cfg.rollout; ++c) {
    inputs.push_back(MakeKernelInputs(model, *dynamics, data, batch, preset.particles, seed + c));
  }
  score_inputs.push_back(
      MakeKernelInputs(model, *dynamics, data, score_batch, preset.particles, seed));

  std::vector<float> obs = env.Reset(seed);
  std::vector<float> warm;
  PlanRun run;
  double cpu = 0.0;
  for (int k = -1; k < plans; ++k) {  // k = -1: warm-up.
    Check(planner->SetState(obs, warm), "SetState");
    timed->counters().Clear();
    const double cpu_start = CpuSeconds();
    PlanStats stats = Check(planner->OptimizePolicy({}), "plan");
    const double step_s = static_cast<double>(timed->counters().ns) * 1e-9 / cfg.rollout;
    if (k >= 0) {
      cpu += CpuSeconds() - cpu_start;
      run.seconds.push_back(stats.seconds);
      run.gflops.push_back(model.flops_per_row * static_cast<double>(stats.model_steps) /
                           stats.seconds * 1e-9);
      run.step_share.push_back(step_s / stats.seconds);
      run.model_steps = stats.model_steps;
      run.iterations = stats.iterations;
      run.rows += timed->counters().rows;
      run.nonfinite_rows += timed->counters().nonfinite_rows;
      run.step_faults += static_cast<double>(timed->counters().faults) /
                         static_cast<double>(std::max<uint64_t>(1, timed->counters().steps));
      // The plain kernels right after each plan, same threads, same callers.
      ApplyThreads(cfg);
      kernels->bmm.push_back(
          TimeKernel(Kernel::kBmm, model, inputs, cfg.torch, kernel_seconds).seconds);
      kernels->mm.push_back(
          TimeKernel(Kernel::kMm, model, inputs, cfg.torch, kernel_seconds).seconds);
      const KernelTime predict =
          TimeKernel(Kernel::kPredict, model, inputs, cfg.torch, kernel_seconds);
      kernels->predict.push_back(predict.seconds);
      kernels->predict_faults.push_back(predict.faults);
      const KernelTime step = TimeKernel(Kernel::kStep, model, inputs, cfg.torch, kernel_seconds);
      kernels->step.push_back(step.seconds);
      kernels->step_faults.push_back(step.faults);
      kernels->predict_score.push_back(
          TimeKernel(Kernel::kPredict, model, score_inputs, cfg.torch, kernel_seconds / 4).seconds);
      kernels->step_score.push_back(
          TimeKernel(Kernel::kStep, model, score_inputs, cfg.torch, kernel_seconds / 4).seconds);
    }
    // MPC: execute the first action in the real env, warm-start from the
    // shifted plan.
    const std::span<const float> plan = planner->BestTrajectory();
    const size_t ad = planner->action_dim();
    envs::StepResult step = Check(env.Step(planner->ActionFromPolicy()), "env step");
    obs = step.observation;
    if (step.terminated || step.truncated) obs = env.Reset(seed + 1 + static_cast<uint64_t>(k));
    warm.assign(plan.begin() + static_cast<ptrdiff_t>(ad), plan.end());
  }
  run.step_faults /= std::max(1, plans);
  const double total = std::accumulate(run.seconds.begin(), run.seconds.end(), 0.0);
  run.cores = total > 0 ? cpu / total : NAN;
  std::fprintf(stderr, "  %-7s %-8s plans: median %.3f s, %.1f GFLOP/s effective\n",
               cfg.name.c_str(), preset.name.c_str(), Median(run.seconds), Median(run.gflops));
  return run;
}

// --- reports ---

struct RatioRow {
  ThreadConfig cfg;
  Preset preset;
  int64_t batch = 0;
  PlanRun run;
  KernelSamples kernels;
};

void PrintRatios(const Model& m, const std::vector<RatioRow>& rows) {
  std::printf("## 1. Ensemble FLOP/s inside CEM beside a plain GEMM\n\n");
  std::printf(
      "GFLOP/s of the MLP matmuls (%.0f FLOPs per model row). **CEM** = FLOPs/row × model "
      "steps / plan wall time (median over the plans). **bmm** = the four layers as "
      "torch::bmm [E, B, in]×[E, in, out] at the B of the plan's Steps; **mm** = each layer as "
      "one torch::mm [E·B, in]×[in, out]; **Predict** = the ensemble's whole forward at that B "
      "(matmul FLOPs only); medians of one sample after each plan, by as many callers at once "
      "as rollout threads. **CEM/bmm** and **CEM/mm**: ratios of the medians; **best/best**: "
      "fastest plan over fastest bmm sample (the least disturbed by other load); **range**: "
      "each plan against the bmm sample right after it. Goal: CEM/bmm ≥ 70 %%.\n\n",
      m.flops_per_row);
  std::printf(
      "| preset | threads | B | CEM | bmm | mm | Predict | CEM/bmm | CEM/mm | best/best | "
      "range |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const RatioRow& r : rows) {
    const double work = m.flops_per_row * static_cast<double>(r.batch * m.members) * r.cfg.rollout;
    const double bmm = work / Median(r.kernels.bmm) * 1e-9;
    const double mm = work / Median(r.kernels.mm) * 1e-9;
    const double predict = work / Median(r.kernels.predict) * 1e-9;
    const double cem = Median(r.run.gflops);
    const double best_bmm = *std::min_element(r.kernels.bmm.begin(), r.kernels.bmm.end());
    const double best = Max(r.run.gflops) / (work / best_bmm * 1e-9);
    std::vector<double> per_plan;
    for (size_t i = 0; i < r.run.gflops.size() && i < r.kernels.bmm.size(); ++i) {
      per_plan.push_back(r.run.gflops[i] / (work / r.kernels.bmm[i] * 1e-9));
    }
    std::sort(per_plan.begin(), per_plan.end());
    std::printf(
        "| %s | %s | %lld | %.1f | %.1f | %.1f | %.1f | **%.0f %%** | %.0f %% | %.0f %% | "
        "%.0f–%.0f %% |\n",
        r.preset.what.c_str(), r.cfg.name.c_str(), static_cast<long long>(r.batch), cem, bmm, mm,
        predict, 100.0 * cem / bmm, 100.0 * cem / mm, 100.0 * best, 100.0 * per_plan.front(),
        100.0 * per_plan.back());
  }
  std::printf("\n");

  std::printf("### Where a plan's time goes\n\n");
  std::printf(
      "Milliseconds per plan and rollout thread, from medians. Steps per thread: iterations × "
      "horizon at B, plus horizon Steps at B = particles / E scoring the final plan. "
      "**GEMM** = bmm × Steps; **rest of forward** = (Predict − bmm) × Steps: input "
      "normalisation, bias, SiLU, log-variance clamp, de-normalisation, allocation; "
      "**rest of Step** = (Step − Predict) × Steps, Step = one EnsembleDynamics::Step timed "
      "alone: input transform (sin/cos), grouping rows by member, Gaussian noise, next "
      "observation; **outside Step** = plan − the Steps inside the plan (timed around each "
      "call): reward, CEM sampling and refit, copying actions, hand-off to the rollout threads. "
      "**parts/plan** = the four parts over the plan time (≠ 100 %% when the Steps timed alone "
      "ran faster or slower than inside the plan). **faults** = minor page faults per Step "
      "inside the plan / per Predict alone (fresh pages for big tensors). **cores** = CPU time "
      "of the process / wall time during the plans.\n\n");
  std::printf(
      "| preset | threads | plan ms | GEMM | rest of forward | rest of Step | outside Step | "
      "parts/plan | faults | cores | non-finite rows |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const RatioRow& r : rows) {
    const double plan = Median(r.run.seconds);
    const double in_steps = Median(r.run.step_share) * plan;
    const double steps = static_cast<double>(r.run.iterations) * r.preset.horizon;
    const double score_steps = r.preset.horizon;
    const double gemm = Median(r.kernels.bmm) * steps;
    const double forward =
        Median(r.kernels.predict) * steps + Median(r.kernels.predict_score) * score_steps;
    const double step = Median(r.kernels.step) * steps + Median(r.kernels.step_score) * score_steps;
    const double outside = plan - in_steps;
    auto ms = [&](double s) { return Fmt("%.0f", s * 1e3) + Fmt(" (%.0f %%)", 100.0 * s / plan); };
    std::printf(
        "| %s | %s | %.0f | %s | %s | %s | %s | %.0f %% | %.0f / %.0f | %.2f | %llu of %llu |\n",
        r.preset.what.c_str(), r.cfg.name.c_str(), plan * 1e3, ms(gemm).c_str(),
        ms(forward - gemm).c_str(), ms(step - forward).c_str(), ms(outside).c_str(),
        100.0 * (step + outside) / plan, r.run.step_faults, Median(r.kernels.predict_faults),
        r.run.cores, static_cast<unsigned long long>(r.run.nonfinite_rows),
        static_cast<unsigned long long>(r.run.rows));
  }
  std::printf("\n");
}

void PrintLatency(const std::vector<RatioRow>& rows) {
  std::printf("## 2. Plan latency\n\n");
  std::printf(
      "Wall time of one OptimizePolicy (no time budget), CEM through the ensemble (5 members, "
      "TS∞, 20 particles per candidate) with the env's reward, along an MPC trajectory of the "
      "real env (each plan warm-started from the shifted previous one), after one warm-up "
      "plan. **cores**: CPU time of the process / wall time during the plans.\n\n");
  std::printf(
      "| preset | threads | plans | mean ms | p50 ms | max ms | iterations | model steps/plan | "
      "cores |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const RatioRow& r : rows) {
    std::printf("| %s | %s | %zu | %.0f | %.0f | %.0f | %d | %llu | %.2f |\n",
                Describe(r.preset).c_str(), r.cfg.name.c_str(), r.run.seconds.size(),
                Mean(r.run.seconds) * 1e3, Median(r.run.seconds) * 1e3, Max(r.run.seconds) * 1e3,
                r.run.iterations, static_cast<unsigned long long>(r.run.model_steps), r.run.cores);
  }
  std::printf("\n");
}

// --- fusion at the model level ---

// glibc's malloc serves blocks above its mmap threshold (dynamic, at most
// 32 MiB) with fresh mmap()ed pages and unmaps them on free, so every forward
// over big tensors page-faults them in again. kNoMmap keeps every block on
// the heap and never trims it (what a caching allocator would do).
enum class Malloc { kDefault, kNoMmap };

void SetMalloc(Malloc mode) {
  if (mode == Malloc::kNoMmap) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  }
}

struct FusionSample {
  double predict1 = 0, predict8 = 0, step1 = 0, step8 = 0;  // Rows/s.
  double faults8 = 0;                                       // Per fused Step.
};

FusionSample MeasureFusion(const Model& m, const Transitions& data, const ThreadConfig& cfg,
                           const Preset& p, double seconds, uint64_t seed) {
  auto dynamics = MakeDynamics(m, cfg.torch);
  const int64_t rows1 = static_cast<int64_t>(p.population) * p.particles;
  const int64_t batch1 = rows1 / m.members;
  std::vector<FusionSample> samples;
  // Interleaved samples, so that a change of machine load hits both sizes.
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<KernelInputs> in1, in8;
    in1.push_back(MakeKernelInputs(m, *dynamics, data, batch1, p.particles, seed + rep));
    in8.push_back(
        MakeKernelInputs(m, *dynamics, data, batch1 * kRequests, p.particles, seed + rep));
    FusionSample s;
    s.predict1 = rows1 / TimeKernel(Kernel::kPredict, m, in1, cfg.torch, seconds).seconds;
    s.predict8 =
        rows1 * kRequests / TimeKernel(Kernel::kPredict, m, in8, cfg.torch, seconds).seconds;
    s.step1 = rows1 / TimeKernel(Kernel::kStep, m, in1, cfg.torch, seconds).seconds;
    const KernelTime step8 = TimeKernel(Kernel::kStep, m, in8, cfg.torch, seconds);
    s.step8 = rows1 * kRequests / step8.seconds;
    s.faults8 = step8.faults;
    samples.push_back(s);
  }
  auto median = [&](double FusionSample::*field) {
    std::vector<double> v;
    for (const FusionSample& s : samples) v.push_back(s.*field);
    return Median(v);
  };
  return {median(&FusionSample::predict1), median(&FusionSample::predict8),
          median(&FusionSample::step1), median(&FusionSample::step8),
          median(&FusionSample::faults8)};
}

void RunFusion(const Model& m, const Transitions& data, const std::vector<ThreadConfig>& configs,
               const std::vector<Preset>& presets, double seconds, uint64_t seed) {
  std::printf("## 3b. Fusing a batch of %d requests: the model level\n\n", kRequests);
  std::printf(
      "The worker takes up to max_batch (8) requests at once but plans them one by one (or on "
      "its planner threads); it does **not** fuse them into one model evaluation "
      "(planner_workers/worker.h). This measures what fusion would gain: rows/s of one Predict "
      "(the ensemble forward) and of one EnsembleDynamics Step (forward + transform + noise) "
      "for the rows of one request's Step (population × particles, one rollout thread) against "
      "%d requests' rows in one call; one caller; medians of 3 interleaved samples. Measured "
      "twice in this process: with glibc malloc's defaults, then with mmap disabled and no "
      "trimming (mallopt M_MMAP_MAX 0, M_TRIM_THRESHOLD max), because the fused tensors "
      "(64 MiB for the PETS hidden layers) are above glibc's largest mmap threshold (32 MiB) "
      "and are otherwise page-faulted in afresh at every forward. **faults**: minor page faults "
      "per fused Step.\n\n",
      kRequests);
  std::printf(
      "| malloc | preset | threads | rows: 1 request → %d | Predict Mrows/s, 1 → %d | gain | "
      "Step Mrows/s, 1 → %d | gain | faults |\n",
      kRequests, kRequests, kRequests);
  std::printf("|---|---|---|---|---:|---:|---:|---:|---:|\n");
  for (Malloc mode : {Malloc::kDefault, Malloc::kNoMmap}) {
    SetMalloc(mode);
    const char* name = mode == Malloc::kDefault ? "default" : "no mmap";
    for (const ThreadConfig& cfg : configs) {
      if (cfg.rollout != 1) continue;  // A fused evaluation has one caller.
      ApplyThreads(cfg);
      for (const Preset& p : presets) {
        const int64_t rows1 = static_cast<int64_t>(p.population) * p.particles;
        const FusionSample f = MeasureFusion(m, data, cfg, p, seconds, seed);
        std::printf(
            "| %s | %s | %s | %lld → %lld | %.3f → %.3f | ×%.2f | %.3f → %.3f | ×%.2f | %.0f |\n",
            name, p.what.c_str(), cfg.name.c_str(), static_cast<long long>(rows1),
            static_cast<long long>(rows1 * kRequests), f.predict1 * 1e-6, f.predict8 * 1e-6,
            f.predict8 / f.predict1, f.step1 * 1e-6, f.step8 * 1e-6, f.step8 / f.step1, f.faults8);
        std::fflush(stdout);
        std::fprintf(stderr, "  fusion %-7s %-7s %-8s Predict x%.2f, Step x%.2f\n", name,
                     cfg.name.c_str(), p.name.c_str(), f.predict8 / f.predict1, f.step8 / f.step1);
      }
    }
  }
  std::printf("\n");
}

// --- end to end: 8 plans on one planner thread against two ---

struct E2eResult {
  double wall = 0.0;
  double cores = 0.0;        // Process CPU time / wall.
  std::vector<double> done;  // Per request: seconds from the start until its plan was ready.
};

// Plans the 8 requests (8 states, cold starts) on `slots` planner threads,
// each with its own planner (one rollout thread, one torch thread); slot s
// plans requests s, s + slots, ... back to back, as the worker does.
E2eResult RunEndToEnd(const Model& m, envs::Environment& env, const Transitions& data,
                      const Preset& preset, int slots, int blas_threads, uint64_t seed) {
  TheBlas().SetThreads(blas_threads);
  at::set_num_threads(1);
  auto dynamics = MakeDynamics(m, 1);
  planner_workers::PlanningProblem problem;
  problem.dynamics = dynamics;
  problem.reward = std::make_shared<planner_workers::EnvReward>(env.reward());
  problem.action = env.spec().action;
  HyperParams params = preset.params;
  params.Set("planner.threads", "1");
  auto registry = planner_workers::DefaultPlannerRegistry();
  std::vector<std::unique_ptr<planner_workers::Planner>> planners;
  for (int s = 0; s < slots; ++s) {
    planners.push_back(Check(registry.Create("cem", problem, params), "cem"));
    planners.back()->Reset(seed + s);
    // Warm-up plan (allocations), not timed.
    Check(planners.back()->SetState(data.obs[0], {}), "SetState");
    Check(planners.back()->OptimizePolicy({}), "plan");
  }
  E2eResult result;
  result.done.assign(kRequests, 0.0);
  const double cpu = CpuSeconds();
  const auto start = Clock::now();
  result.wall = RunCallers(slots, 1, [&](int s) {
    for (int r = s; r < kRequests; r += slots) {
      const std::vector<float>& obs =
          data.obs[(static_cast<size_t>(r) * 97 + 13) % data.obs.size()];
      Check(planners[static_cast<size_t>(s)]->SetState(obs, {}), "SetState");
      Check(planners[static_cast<size_t>(s)]->OptimizePolicy({}), "plan");
      result.done[static_cast<size_t>(r)] = Since(start);
    }
  });
  result.cores = (CpuSeconds() - cpu) / result.wall;
  return result;
}

void RunE2e(const Model& m, envs::Environment& env, const Transitions& data,
            const std::vector<Preset>& presets, uint64_t seed) {
  std::printf("## 3a. Serving %d collectors: one planner thread against two\n\n", kRequests);
  std::printf(
      "%d plans (8 different states of the real env, cold starts) back to back on one planner "
      "against the same 8 spread over 2 planner threads (two planners, 4 plans each: the "
      "worker with --threads 2). Each planner: 1 rollout thread, torch 1. **wall** = time "
      "until all 8 plans are done; **mean done** = mean time from the start until a request's "
      "plan is ready (what a waiting collector sees); **cores** = CPU time of the process / "
      "wall. No fusion in either.\n\n",
      kRequests);
  std::printf(
      "| preset | planner threads | OpenBLAS threads | wall s | plans/s | mean done s | cores | "
      "speed-up over 1 planner thread, same OpenBLAS |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const Preset& p : presets) {
    for (int blas : {2, 1}) {
      double serial_wall = 0.0;
      for (int slots : {1, 2}) {
        const E2eResult r = RunEndToEnd(m, env, data, p, slots, blas, seed);
        if (slots == 1) serial_wall = r.wall;
        std::printf("| %s | %d | %d | %.2f | %.2f | %.2f | %.2f | %s |\n", p.what.c_str(), slots,
                    blas, r.wall, kRequests / r.wall, Mean(r.done), r.cores,
                    slots == 1 ? "1" : Fmt("×%.2f", serial_wall / r.wall).c_str());
        std::fflush(stdout);
        std::fprintf(stderr, "  e2e %-8s slots %d blas %d: %.2f s\n", p.name.c_str(), slots, blas,
                     r.wall);
      }
    }
  }
  std::printf("\n");
}

int Main(int argc, char** argv) {
  int plans = 5;
  std::vector<std::string> config_names = {"t1", "t2", "worker", "local"};
  std::vector<std::string> preset_names = {"pets", "project"};
  std::vector<std::string> e2e_names = {"project"};
  std::vector<std::string> fusion_names = {"t1", "worker"};
  std::set<std::string> only = {"ratio", "fusion", "e2e"};
  double seconds = 0.1;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Fail(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--plans") {
      plans = std::stoi(value());
    } else if (arg == "--configs") {
      config_names = SplitList(value());
    } else if (arg == "--presets") {
      preset_names = SplitList(value());
    } else if (arg == "--e2e") {
      e2e_names = SplitList(value());
    } else if (arg == "--fusion-configs") {
      fusion_names = SplitList(value());
    } else if (arg == "--only") {
      const auto list = SplitList(value());
      only = std::set<std::string>(list.begin(), list.end());
    } else if (arg == "--seconds") {
      seconds = std::stod(value());
    } else if (arg == "--seed") {
      seed = std::stoull(value());
    } else {
      Fail("unknown flag " + arg +
           " (--plans N --configs t1,t2,worker,local --presets pets,project --only "
           "ratio,fusion,e2e --e2e pets,project --fusion-configs t1,worker --seconds S "
           "--seed N)");
    }
  }
  auto find_configs = [](const std::vector<std::string>& names) {
    std::vector<ThreadConfig> found;
    for (const std::string& name : names) {
      auto it = std::find_if(AllConfigs().begin(), AllConfigs().end(),
                             [&](const ThreadConfig& c) { return c.name == name; });
      if (it == AllConfigs().end()) Fail("unknown config " + name);
      found.push_back(*it);
    }
    return found;
  };
  const std::vector<ThreadConfig> configs = find_configs(config_names);
  const std::vector<ThreadConfig> fusion_configs = find_configs(fusion_names);
  std::vector<Preset> presets, e2e_presets;
  for (const std::string& name : preset_names) presets.push_back(MakePreset(name));
  for (const std::string& name : e2e_names) e2e_presets.push_back(MakePreset(name));

  const auto run_start = Clock::now();
  const std::string load_start = ReadFirstLine("/proc/loadavg");
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  const int nproc = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  const double cores_start = CoresAvailable(nproc, 0.5);
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);

  auto env = Check(envs::DefaultRegistry().Create(kEnv), "env");
  const Transitions data = Collect(*env, 2000, seed);
  const Model model = BuildModel(env->spec(), data);

  utsname uts{};
  uname(&uts);
  std::printf("# Planner benchmark\n\n");
  std::printf("- date: %s\n", UtcNow().c_str());
  std::printf("- machine: nproc %d, CPU model \"%s\", Linux %s\n", nproc, CpuModel().c_str(),
              uts.release);
  std::printf("- load average at start: %s\n", load_start.c_str());
  std::printf(
      "- CPU cores this process got at start (%d threads spinning 0.5 s: CPU time / wall): "
      "%.2f\n",
      nproc, cores_start);
  std::printf("- command: `%s`\n", command.c_str());
  std::printf("- LibTorch %s; BLAS: %s; OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s\n", TORCH_VERSION,
              TheBlas().Describe().c_str(),
              std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "(unset)",
              std::getenv("OPENBLAS_L2_SIZE") ? std::getenv("OPENBLAS_L2_SIZE") : "(unset)");
  std::string shape;
  for (const auto& [in, out] : model.layers)
    shape += (shape.empty() ? std::to_string(in) : "") + "→" + std::to_string(out);
  std::printf(
      "- model: %s, %lld members, layers %s (SiLU; the last layer is mean + log-variance), "
      "%.0f matmul FLOPs per row; TS∞; CEM; the env's reward\n",
      kEnv, static_cast<long long>(model.members), shape.c_str(), model.flops_per_row);
  std::printf("- thread configurations:\n");
  for (const ThreadConfig& c : configs)
    std::printf("  - `%s`: %s\n", c.name.c_str(), c.what.c_str());
  std::printf("\n");
  std::fflush(stdout);

  if (only.count("ratio")) {
    std::vector<RatioRow> rows;
    for (const Preset& p : presets) {
      for (const ThreadConfig& cfg : configs) {
        RatioRow row{cfg, p};
        row.batch = static_cast<int64_t>(p.population / cfg.rollout) * p.particles / model.members;
        const int n = cfg.max_plans > 0 ? std::min(plans, cfg.max_plans) : plans;
        row.run = RunPlans(model, *env, data, cfg, p, n, seconds, seed, &row.kernels);
        rows.push_back(std::move(row));
      }
    }
    PrintRatios(model, rows);
    PrintLatency(rows);
    std::fflush(stdout);
  }
  // e2e before fusion: fusion changes malloc's settings for the rest of the process.
  if (only.count("e2e")) RunE2e(model, *env, data, e2e_presets, seed);
  std::fflush(stdout);
  if (only.count("fusion")) RunFusion(model, data, fusion_configs, presets, seconds, seed);

  std::printf(
      "Load average at the end: %s; CPU cores this process got at the end: %.2f; the run took "
      "%.0f s.\n\n",
      ReadFirstLine("/proc/loadavg").c_str(), CoresAvailable(nproc, 0.5), Since(run_start));
  return 0;
}

}  // namespace
}  // namespace mbrl::bench

int main(int argc, char** argv) { return mbrl::bench::Main(argc, argv); }
