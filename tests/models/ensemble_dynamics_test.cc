// EnsembleDynamics: the learned ensemble as planning dynamics (TS1, TS∞,
// expectation), checked against per-row reference predictions made with the
// learner's own input transform (learner/features.h) and the model's Predict.
#include "models/ensemble_dynamics.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "learner/features.h"
#include "models/ensemble.h"
#include "tests/models/torch_test_util.h"

namespace mbrl::models {
namespace {

using planner_workers::Dynamics;
using planner_workers::DynamicsSession;
using planner_workers::RolloutLayout;
using test::TorchTest;

// Observation (x, θ, ẋ) with θ fed as sin/cos, one action: network input 5.
constexpr size_t kObs = 3;
constexpr size_t kAct = 1;
constexpr int64_t kMembers = 4;

struct Built {
  ProbabilisticEnsemble model{nullptr};
  ModelWeights weights;
  learner::FeatureSpec spec;
};

// Publishes `model` as the learner would: features described, a version.
Built Publish(ProbabilisticEnsemble model, TargetKind target = TargetKind::kDelta,
              bool learned_reward = false) {
  Built b;
  b.model = std::move(model);
  b.weights = ExportWeights(*b.model);
  b.weights.version = 7;
  learner::FeatureSpec spec;
  spec.observation_dim = kObs;
  spec.action_dim = kAct;
  spec.input_transform = InputTransform::kAngleSinCos;
  spec.angle_indices = {1};
  spec.target = target;
  spec.learned_reward = learned_reward;
  learner::DescribeFeatures(spec, b.weights.architecture);
  b.spec = learner::FeatureSpecFrom(b.weights).value();
  return b;
}

// Members that are known, different linear maps: target_e = x·W_e + b_e with
// W_e random (0.1 scale, plus 1 for x -> Δx) and b_e = 4e in every dimension,
// so members are far apart. Probabilistic members have a constant log-variance that differs per
// member (std about 0.02 to 0.05 in target units).
Built LinearEnsemble(bool probabilistic, std::vector<uint32_t> elites) {
  EnsembleOptions o;
  o.input_dim = kObs + 1 + kAct;
  o.output_dim = kObs;
  o.hidden = {};
  o.ensemble_size = kMembers;
  o.probabilistic = probabilistic;
  ProbabilisticEnsemble model(o);
  const int64_t cols = probabilistic ? 2 * kObs : kObs;
  torch::Tensor w = torch::zeros({kMembers, o.input_dim, cols});
  torch::Tensor b = torch::zeros({kMembers, 1, cols});
  for (int64_t e = 0; e < kMembers; ++e) {
    w[e].narrow(1, 0, kObs).copy_(0.1 * torch::randn({o.input_dim, static_cast<int64_t>(kObs)}));
    w[e][0][0] += 1.0;  // Δx ≈ x: a huge x overflows the next observation.
    b[e].narrow(1, 0, kObs).fill_(4.0 * static_cast<double>(e));
    if (probabilistic) b[e].narrow(1, kObs, kObs).fill_(-8.0 + 0.6 * static_cast<double>(e));
  }
  {
    torch::NoGradGuard no_grad;
    model->layer(0)->weight.copy_(w);
    model->layer(0)->bias.copy_(b);
  }
  model->set_elites(std::move(elites));
  return Publish(std::move(model));
}

// A real MLP: SiLU hidden layers, fitted normalisation, random weights.
Built MlpEnsemble(bool probabilistic, std::vector<uint32_t> elites, int64_t members = 5,
                  TargetKind target = TargetKind::kDelta) {
  EnsembleOptions o;
  o.input_dim = kObs + 1 + kAct;
  o.output_dim = kObs;
  o.hidden = {32, 32};
  o.ensemble_size = members;
  o.probabilistic = probabilistic;
  ProbabilisticEnsemble model(o);
  model->FitNormalization(torch::randn({200, o.input_dim}) * 2.0 + 0.3,
                          torch::randn({200, o.output_dim}) * 0.5 - 0.1);
  model->set_elites(std::move(elites));
  return Publish(std::move(model), target);
}

std::shared_ptr<const Dynamics> Make(const ModelWeights& weights, Propagation propagation) {
  EnsembleDynamicsOptions options;
  options.propagation = propagation;
  auto made = MakeEnsembleDynamics(weights, options);
  EXPECT_TRUE(made) << made.error().ToString();
  return made ? *made : nullptr;
}

std::unique_ptr<DynamicsSession> Session(const Dynamics& dynamics) {
  auto session = dynamics.NewSession();
  EXPECT_TRUE(session) << session.error().ToString();
  return std::move(*session);
}

std::vector<float> Uniform(size_t n, double lo, double hi) {
  const torch::Tensor t = torch::rand({static_cast<int64_t>(n)}) * (hi - lo) + lo;
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + n);
}

// Per-member predictions for one row, computed on their own: the learner's
// MakeInputs and the model's Predict on a batch of one.
struct RowReference {
  std::vector<std::vector<float>> next;  // [member][kObs]: the next observation.
  std::vector<std::vector<float>> std;   // [member][kObs]; empty when deterministic.
};

RowReference Reference(const Built& b, const float* obs, const float* act) {
  torch::NoGradGuard no_grad;
  const torch::Tensor o = torch::from_blob(const_cast<float*>(obs), {1, kObs}).clone();
  const torch::Tensor a = torch::from_blob(const_cast<float*>(act), {1, kAct}).clone();
  const torch::Tensor x = learner::MakeInputs(b.spec, o, a);
  const int64_t e = b.model->options().ensemble_size;
  const EnsembleOutput out = b.model.ptr()->Predict(x.unsqueeze(0).expand({e, 1, x.size(1)}));
  RowReference ref;
  for (int64_t m = 0; m < e; ++m) {
    const torch::Tensor next = learner::NextFromTarget(b.spec, o, out.mean[m]).contiguous();
    ref.next.emplace_back(next.data_ptr<float>(), next.data_ptr<float>() + kObs);
    if (out.logvar.defined()) {
      const torch::Tensor s = torch::exp(0.5 * out.logvar[m]).contiguous();
      ref.std.emplace_back(s.data_ptr<float>(), s.data_ptr<float>() + kObs);
    }
  }
  return ref;
}

// The member whose reference equals `got` within `tol` (relative to 1 + |x|);
// -1 when none does, -2 when several do.
int MatchMember(const RowReference& ref, const float* got, double tol) {
  int found = -1;
  for (size_t m = 0; m < ref.next.size(); ++m) {
    bool equal = true;
    for (size_t d = 0; d < kObs; ++d) {
      equal = equal && std::abs(got[d] - ref.next[m][d]) <= tol * (1.0 + std::abs(ref.next[m][d]));
    }
    if (equal) found = found == -1 ? static_cast<int>(m) : -2;
  }
  return found;
}

// The member whose mean is nearest to `got` (for sampled rows).
int NearestMember(const RowReference& ref, const float* got) {
  int best = -1;
  double best_d = std::numeric_limits<double>::infinity();
  for (size_t m = 0; m < ref.next.size(); ++m) {
    double d = 0.0;
    for (size_t k = 0; k < kObs; ++k) d += std::pow(got[k] - ref.next[m][k], 2);
    if (d < best_d) best_d = d, best = static_cast<int>(m);
  }
  return best;
}

// `steps` Steps with fresh random inputs; returns (obs, act, next) per step.
struct StepData {
  std::vector<float> obs, act, next;
};
std::vector<StepData> FreshSteps(DynamicsSession& session, const RolloutLayout& layout,
                                 uint64_t seed, int steps) {
  const size_t rows = layout.rows();
  EXPECT_TRUE(session.BeginRollout(layout, seed));
  std::vector<StepData> out;
  for (int t = 0; t < steps; ++t) {
    StepData s{Uniform(rows * kObs, -3.0, 3.0), Uniform(rows * kAct, -1.0, 1.0),
               std::vector<float>(rows * kObs)};
    const Status ok = session.Step(s.obs, s.act, s.next);
    EXPECT_TRUE(ok) << ok.error().ToString();
    out.push_back(std::move(s));
  }
  return out;
}

// Rolls candidates [first, first + count) from `start` with actions[t][g]
// (one per candidate g of the whole population); returns the next
// observations of every step (this block's rows only).
std::vector<std::vector<float>> ChainedRollout(DynamicsSession& session, size_t first, size_t count,
                                               size_t particles, uint64_t seed,
                                               const std::vector<float>& start,
                                               const std::vector<std::vector<float>>& actions) {
  const size_t rows = count * particles;
  std::vector<float> obs(rows * kObs), act(rows * kAct), next(rows * kObs);
  for (size_t r = 0; r < rows; ++r) std::copy(start.begin(), start.end(), &obs[r * kObs]);
  EXPECT_TRUE(session.BeginRollout({count, particles, first}, seed));
  std::vector<std::vector<float>> out;
  for (const std::vector<float>& a : actions) {
    for (size_t r = 0; r < rows; ++r) act[r] = a[first + r / particles];
    EXPECT_TRUE(session.Step(obs, act, next));
    out.push_back(next);
    obs = next;
  }
  return out;
}

class ModelEnsembleDynamics : public TorchTest {};

TEST_F(ModelEnsembleDynamics, DescribesTheModel) {
  const Built b = MlpEnsemble(true, {0, 3});
  auto dynamics = Make(b.weights, Propagation::kTsInf);
  ASSERT_TRUE(dynamics);
  EXPECT_EQ(dynamics->obs_dim(), kObs);
  EXPECT_EQ(dynamics->act_dim(), kAct);
  EXPECT_EQ(dynamics->model_version(), 7u);
  EXPECT_FALSE(dynamics->deterministic());
  EXPECT_TRUE(Make(b.weights, Propagation::kExpectation)->deterministic());
  EXPECT_FALSE(Make(b.weights, Propagation::kTs1)->deterministic());
}

TEST_F(ModelEnsembleDynamics, TsInfKeepsEveryParticleOnOneEliteForTheRollout) {
  const Built b = LinearEnsemble(false, {3, 1, 0});  // Member 2 is not an elite.
  auto dynamics = Make(b.weights, Propagation::kTsInf);
  ASSERT_TRUE(dynamics);
  auto session = Session(*dynamics);
  const RolloutLayout layout{10, 6, 0};
  const std::vector<StepData> steps = FreshSteps(*session, layout, 11, 5);
  std::vector<int> member(layout.rows(), -1);
  std::set<int> used;
  for (size_t t = 0; t < steps.size(); ++t) {
    for (size_t r = 0; r < layout.rows(); ++r) {
      const RowReference ref = Reference(b, &steps[t].obs[r * kObs], &steps[t].act[r * kAct]);
      const int m = MatchMember(ref, &steps[t].next[r * kObs], 1e-5);
      ASSERT_GE(m, 0) << "step " << t << " row " << r << " matches no single member";
      EXPECT_NE(m, 2) << "a non-elite member was used";
      if (t == 0) member[r] = m;
      EXPECT_EQ(m, member[r]) << "row " << r << " changed member at step " << t;
      used.insert(m);
    }
  }
  EXPECT_EQ(used, (std::set<int>{0, 1, 3}));
  // Each candidate's 6 particles are spread evenly: 2 per elite.
  for (size_t c = 0; c < layout.candidates; ++c) {
    for (int e : {0, 1, 3}) {
      EXPECT_EQ(std::count(member.begin() + c * 6, member.begin() + (c + 1) * 6, e), 2);
    }
  }
}

TEST_F(ModelEnsembleDynamics, Ts1RedrawsTheMembersAtEveryStep) {
  const Built b = LinearEnsemble(false, {3, 1, 0});
  auto dynamics = Make(b.weights, Propagation::kTs1);
  ASSERT_TRUE(dynamics);
  EXPECT_FALSE(dynamics->deterministic());
  auto session = Session(*dynamics);
  const RolloutLayout layout{10, 6, 0};
  const std::vector<StepData> steps = FreshSteps(*session, layout, 11, 6);
  std::vector<int> previous(layout.rows(), -1);
  size_t switched = 0, transitions = 0;
  for (size_t t = 0; t < steps.size(); ++t) {
    std::vector<int> member(layout.rows());
    for (size_t r = 0; r < layout.rows(); ++r) {
      const RowReference ref = Reference(b, &steps[t].obs[r * kObs], &steps[t].act[r * kAct]);
      member[r] = MatchMember(ref, &steps[t].next[r * kObs], 1e-5);
      ASSERT_GE(member[r], 0) << "step " << t << " row " << r;
      EXPECT_NE(member[r], 2) << "a non-elite member was used";
      if (t > 0) {
        ++transitions;
        switched += member[r] != previous[r];
      }
    }
    for (size_t c = 0; c < layout.candidates; ++c) {
      for (int e : {0, 1, 3}) {
        EXPECT_EQ(std::count(member.begin() + c * 6, member.begin() + (c + 1) * 6, e), 2);
      }
    }
    previous = member;
  }
  // A fresh draw keeps a particle's member with probability 1/3.
  const double fraction = static_cast<double>(switched) / static_cast<double>(transitions);
  EXPECT_GT(fraction, 0.5);
  EXPECT_LT(fraction, 0.85);
}

TEST_F(ModelEnsembleDynamics, ASingleEliteIsTheOnlyMemberUsed) {
  const Built b = LinearEnsemble(false, {2});
  for (Propagation p : {Propagation::kTsInf, Propagation::kTs1}) {
    auto dynamics = Make(b.weights, p);
    ASSERT_TRUE(dynamics);
    EXPECT_TRUE(dynamics->deterministic());  // Deterministic members, one elite.
    auto session = Session(*dynamics);
    const std::vector<StepData> steps = FreshSteps(*session, {4, 3, 0}, 5, 3);
    for (const StepData& s : steps) {
      for (size_t r = 0; r < 12; ++r) {
        EXPECT_EQ(
            MatchMember(Reference(b, &s.obs[r * kObs], &s.act[r * kAct]), &s.next[r * kObs], 1e-5),
            2);
      }
    }
  }
}

TEST_F(ModelEnsembleDynamics, ExpectationIsTheMeanOfTheElitesMeans) {
  const Built b = LinearEnsemble(true, {0, 2});
  auto dynamics = Make(b.weights, Propagation::kExpectation);
  ASSERT_TRUE(dynamics);
  auto session = Session(*dynamics);
  const RolloutLayout layout{5, 3, 0};
  for (const StepData& s : FreshSteps(*session, layout, 3, 2)) {
    for (size_t r = 0; r < layout.rows(); ++r) {
      const RowReference ref = Reference(b, &s.obs[r * kObs], &s.act[r * kAct]);
      for (size_t d = 0; d < kObs; ++d) {
        EXPECT_NEAR(s.next[r * kObs + d], 0.5 * (ref.next[0][d] + ref.next[2][d]), 1e-5);
      }
    }
  }
  // Same inputs for every particle: the same prediction, whatever the seed.
  std::vector<float> obs(6 * kObs, 0.5f), act(6 * kAct, 0.25f), a(6 * kObs), c(6 * kObs);
  ASSERT_TRUE(session->BeginRollout({2, 3, 0}, 1));
  ASSERT_TRUE(session->Step(obs, act, a));
  ASSERT_TRUE(session->BeginRollout({2, 3, 0}, 2));
  ASSERT_TRUE(session->Step(obs, act, c));
  EXPECT_EQ(a, c);
  for (size_t r = 1; r < 6; ++r) {
    EXPECT_TRUE(std::equal(&a[0], &a[kObs], &a[r * kObs]));
  }
}

TEST_F(ModelEnsembleDynamics, SamplesEachRowFromItsMembersGaussian) {
  const Built b = LinearEnsemble(true, {});  // No elites listed: all members.
  auto dynamics = Make(b.weights, Propagation::kTsInf);
  ASSERT_TRUE(dynamics);
  auto session = Session(*dynamics);
  const RolloutLayout layout{50, 8, 0};
  const std::vector<StepData> steps = FreshSteps(*session, layout, 21, 3);
  std::vector<int> member(layout.rows(), -1);
  std::vector<int> per_member(kMembers, 0);
  double sum = 0.0, sum_sq = 0.0, max_abs = 0.0;
  size_t n = 0;
  for (size_t t = 0; t < steps.size(); ++t) {
    for (size_t r = 0; r < layout.rows(); ++r) {
      const float* got = &steps[t].next[r * kObs];
      const RowReference ref = Reference(b, &steps[t].obs[r * kObs], &steps[t].act[r * kAct]);
      const int m = NearestMember(ref, got);
      if (t == 0) member[r] = m, ++per_member[m];
      ASSERT_EQ(m, member[r]) << "TS∞ row " << r << " changed member at step " << t;
      for (size_t d = 0; d < kObs; ++d) {
        const double z = (got[d] - ref.next[m][d]) / ref.std[m][d];
        sum += z, sum_sq += z * z, max_abs = std::max(max_abs, std::abs(z)), ++n;
      }
    }
  }
  for (int count : per_member) EXPECT_EQ(count, 100);  // 2 of each candidate's 8.
  const double mean = sum / n, var = sum_sq / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.08);
  EXPECT_NEAR(var, 1.0, 0.1);
  EXPECT_LT(max_abs, 6.0);
}

TEST_F(ModelEnsembleDynamics, SameSeedSameRolloutWhateverTheCandidateSplit) {
  const Built b = MlpEnsemble(true, {4, 1, 2});
  const size_t candidates = 12, particles = 5, horizon = 4;
  std::vector<std::vector<float>> actions;
  for (size_t t = 0; t < horizon; ++t) actions.push_back(Uniform(candidates * kAct, -1.0, 1.0));
  const std::vector<float> start = {0.3f, 2.5f, -0.7f};
  for (Propagation p : {Propagation::kTsInf, Propagation::kTs1}) {
    SCOPED_TRACE(PropagationName(p));
    auto dynamics = Make(b.weights, p);
    ASSERT_TRUE(dynamics);
    auto s1 = Session(*dynamics), s2 = Session(*dynamics);
    const auto whole = ChainedRollout(*s1, 0, candidates, particles, 99, start, actions);
    EXPECT_EQ(ChainedRollout(*s1, 0, candidates, particles, 99, start, actions), whole);
    EXPECT_NE(ChainedRollout(*s1, 0, candidates, particles, 100, start, actions), whole);
    // Two blocks on two sessions, and one candidate at a time.
    for (const std::vector<size_t>& cuts :
         {std::vector<size_t>{0, 5, 12},
          std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}) {
      for (size_t k = 0; k + 1 < cuts.size(); ++k) {
        DynamicsSession& s = k % 2 ? *s2 : *s1;
        const size_t first = cuts[k], count = cuts[k + 1] - cuts[k];
        const auto part = ChainedRollout(s, first, count, particles, 99, start, actions);
        for (size_t t = 0; t < horizon; ++t) {
          for (size_t i = 0; i < count * particles * kObs; ++i) {
            // The same members and noise; the forward's other batch shapes
            // round differently in the last bits (observed), so not EXPECT_EQ.
            const float want = whole[t][first * particles * kObs + i];
            EXPECT_NEAR(part[t][i], want, 1e-5 * (1.0 + std::abs(want)))
                << "step " << t << " block " << first;
          }
        }
      }
    }
  }
}

TEST_F(ModelEnsembleDynamics, RoundTripFromModelWeightsMatchesTheModelsPredict) {
  for (TargetKind target : {TargetKind::kDelta, TargetKind::kNextState}) {
    SCOPED_TRACE(target == TargetKind::kDelta ? "delta" : "next state");
    const Built b = MlpEnsemble(true, {4, 1, 2}, 5, target);
    auto dynamics = Make(b.weights, Propagation::kExpectation);
    ASSERT_TRUE(dynamics);
    auto session = Session(*dynamics);
    const size_t rows = 64;
    const std::vector<float> obs = Uniform(rows * kObs, -4.0, 4.0);
    const std::vector<float> act = Uniform(rows * kAct, -1.0, 1.0);
    std::vector<float> next(rows * kObs);
    ASSERT_TRUE(session->BeginRollout({rows, 1, 0}, 0));
    ASSERT_TRUE(session->Step(obs, act, next));
    torch::NoGradGuard no_grad;
    const torch::Tensor want =
        learner::PredictMeanNext(*b.model.ptr(), b.spec,
                                 torch::from_blob(const_cast<float*>(obs.data()), {64, 3}),
                                 torch::from_blob(const_cast<float*>(act.data()), {64, 1}))
            .contiguous();
    for (size_t i = 0; i < next.size(); ++i) {
      EXPECT_NEAR(next[i], want.data_ptr<float>()[i], 1e-5 * (1.0 + std::abs(next[i])));
    }
  }
  // Sampled propagation of a deterministic MLP: every row is one elite's
  // prediction for that row alone.
  const Built b = MlpEnsemble(false, {4, 1, 2});
  auto dynamics = Make(b.weights, Propagation::kTs1);
  ASSERT_TRUE(dynamics);
  auto session = Session(*dynamics);
  const RolloutLayout layout{20, 6, 3};
  for (const StepData& s : FreshSteps(*session, layout, 8, 2)) {
    for (size_t r = 0; r < layout.rows(); ++r) {
      const int m =
          MatchMember(Reference(b, &s.obs[r * kObs], &s.act[r * kAct]), &s.next[r * kObs], 1e-5);
      EXPECT_TRUE(m == 4 || m == 1 || m == 2) << "row " << r << " matched " << m;
    }
  }
}

TEST_F(ModelEnsembleDynamics, NonFiniteRowsBecomeNaNWithoutDisturbingTheOthers) {
  const Built b = LinearEnsemble(true, {0, 1, 3});
  for (Propagation p : {Propagation::kTsInf, Propagation::kTs1, Propagation::kExpectation}) {
    SCOPED_TRACE(PropagationName(p));
    auto dynamics = Make(b.weights, p);
    ASSERT_TRUE(dynamics);
    auto session = Session(*dynamics);
    const RolloutLayout layout{4, 3, 0};
    const std::vector<float> obs = Uniform(12 * kObs, -1.0, 1.0);
    const std::vector<float> act = Uniform(12 * kAct, -1.0, 1.0);
    std::vector<float> clean(12 * kObs), dirty(12 * kObs);
    ASSERT_TRUE(session->BeginRollout(layout, 4));
    ASSERT_TRUE(session->Step(obs, act, clean));
    std::vector<float> bad_obs = obs, bad_act = act;
    bad_obs[1 * kObs + 2] = std::numeric_limits<float>::quiet_NaN();  // Row 1.
    bad_act[5] = std::numeric_limits<float>::infinity();              // Row 5.
    bad_obs[9 * kObs] = 3e38f;  // Row 9: finite input, the delta overflows.
    ASSERT_TRUE(session->BeginRollout(layout, 4));
    ASSERT_TRUE(session->Step(bad_obs, bad_act, dirty));
    for (size_t r = 0; r < 12; ++r) {
      for (size_t d = 0; d < kObs; ++d) {
        if (r == 1 || r == 5 || r == 9) {
          EXPECT_TRUE(std::isnan(dirty[r * kObs + d])) << "row " << r;
        } else {
          EXPECT_EQ(dirty[r * kObs + d], clean[r * kObs + d]) << "row " << r;
        }
      }
    }
  }
}

TEST_F(ModelEnsembleDynamics, SessionsStepConcurrentlyWithTheSequentialResults) {
  const Built b = MlpEnsemble(true, {0, 1, 2, 3, 4});
  auto dynamics = Make(b.weights, Propagation::kTs1);
  ASSERT_TRUE(dynamics);
  const size_t candidates = 40, particles = 5, horizon = 6;
  std::vector<std::vector<float>> actions;
  for (size_t t = 0; t < horizon; ++t) actions.push_back(Uniform(candidates * kAct, -1.0, 1.0));
  const std::vector<float> start = {0.0f, 3.0f, 0.0f};
  constexpr int kThreads = 4;
  std::vector<std::vector<std::vector<float>>> sequential, concurrent(kThreads);
  for (int k = 0; k < kThreads; ++k) {
    auto session = Session(*dynamics);
    sequential.push_back(ChainedRollout(*session, 0, candidates, particles, k, start, actions));
  }
  std::vector<std::unique_ptr<DynamicsSession>> sessions;
  for (int k = 0; k < kThreads; ++k) sessions.push_back(Session(*dynamics));
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      for (int repeat = 0; repeat < 5; ++repeat) {
        concurrent[k] = ChainedRollout(*sessions[k], 0, candidates, particles, k, start, actions);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int k = 0; k < kThreads; ++k) EXPECT_EQ(concurrent[k], sequential[k]) << "thread " << k;
}

TEST_F(ModelEnsembleDynamics, ASessionOutlivesItsDynamics) {
  const Built b = MlpEnsemble(true, {});
  auto dynamics = Make(b.weights, Propagation::kTsInf);
  ASSERT_TRUE(dynamics);
  auto session = Session(*dynamics);
  dynamics.reset();
  std::vector<float> obs(2 * kObs, 0.1f), act(2 * kAct, 0.2f), next(2 * kObs);
  ASSERT_TRUE(session->BeginRollout({1, 2, 0}, 1));
  ASSERT_TRUE(session->Step(obs, act, next));
  EXPECT_TRUE(std::all_of(next.begin(), next.end(), [](float x) { return std::isfinite(x); }));
}

TEST_F(ModelEnsembleDynamics, ThreadsOptionAppliesToTheSteppingThread) {
  const Built b = MlpEnsemble(true, {});
  EnsembleDynamicsOptions options;
  options.threads = 2;  // The test fixture leaves torch at 1.
  auto dynamics = MakeEnsembleDynamics(b.weights, options);
  ASSERT_TRUE(dynamics) << dynamics.error().ToString();
  ASSERT_EQ(at::get_num_threads(), 1);  // Initialises this thread's count.
  int seen = 0;
  std::thread worker([&] {
    auto session = Session(**dynamics);
    std::vector<float> obs(kObs, 0.1f), act(kAct, 0.2f), next(kObs);
    ASSERT_TRUE(session->BeginRollout({1, 1, 0}, 1));
    ASSERT_TRUE(session->Step(obs, act, next));
    seen = at::get_num_threads();
  });
  worker.join();
  EXPECT_EQ(seen, 2);
  // The count is kept per thread once the thread has used torch's
  // parallelism: this thread's setting is unchanged.
  EXPECT_EQ(at::get_num_threads(), 1);
}

TEST_F(ModelEnsembleDynamics, ARewardHeadIsTheLastColumnAndTheDynamicsIgnoreIt) {
  EnsembleOptions o;
  o.input_dim = kObs + 1 + kAct;
  o.output_dim = kObs + 1;  // The reward last.
  o.hidden = {32, 32};
  o.ensemble_size = 3;
  ProbabilisticEnsemble model(o);
  model->FitNormalization(torch::randn({200, o.input_dim}) * 2.0 + 0.3,
                          torch::randn({200, o.output_dim}) * 0.5 - 0.1);
  model->set_elites({2, 0});
  const Built b = Publish(std::move(model), TargetKind::kDelta, /*learned_reward=*/true);
  ASSERT_TRUE(b.weights.architecture.learned_reward);
  ASSERT_EQ(b.spec.observation_dim, kObs);
  auto dynamics = Make(b.weights, Propagation::kExpectation);
  ASSERT_TRUE(dynamics);
  EXPECT_EQ(dynamics->obs_dim(), kObs);
  EXPECT_EQ(dynamics->act_dim(), kAct);
  auto reward = MakeLearnedReward(b.weights, {});
  ASSERT_TRUE(reward) << reward.error().ToString();

  constexpr size_t kRows = 6;
  const std::vector<float> obs = Uniform(kRows * kObs, -2.0, 2.0);
  std::vector<float> act = Uniform(kRows * kAct, -1.0, 1.0);
  act[kAct] = std::numeric_limits<float>::quiet_NaN();  // Row 1 cannot be scored.
  std::vector<float> next(kRows * kObs), r(kRows);
  auto session = Session(*dynamics);
  ASSERT_TRUE(session->BeginRollout({kRows, 1, 0}, 1));
  ASSERT_TRUE(session->Step(obs, act, next));
  ASSERT_TRUE((*reward)->Evaluate(obs, act, next, kRows, r));
  EXPECT_TRUE(std::isnan(r[1]));
  torch::NoGradGuard no_grad;
  for (size_t row = 0; row < kRows; ++row) {
    if (row == 1) continue;
    const torch::Tensor so = torch::from_blob(const_cast<float*>(&obs[row * kObs]), {1, kObs});
    const torch::Tensor sa = torch::from_blob(&act[row * kAct], {1, kAct});
    const torch::Tensor x = learner::MakeInputs(b.spec, so, sa);
    const EnsembleOutput out = b.model.ptr()->Predict(x.unsqueeze(0).expand({3, 1, x.size(1)}));
    const torch::Tensor mean = 0.5 * (out.mean[2] + out.mean[0]);  // [1, kObs + 1]
    EXPECT_NEAR(r[row], mean[0][kObs].item<float>(), 1e-5) << "row " << row;
    const torch::Tensor expected = learner::NextFromTarget(b.spec, so, mean);
    for (size_t d = 0; d < kObs; ++d) {
      EXPECT_NEAR(next[row * kObs + d], expected[0][d].item<float>(), 1e-5)
          << "row " << row << " dim " << d;
    }
  }
}

TEST_F(ModelEnsembleDynamics, RejectsMisuseAndBadWeights) {
  const Built b = MlpEnsemble(true, {0, 1});
  auto dynamics = Make(b.weights, Propagation::kTsInf);
  ASSERT_TRUE(dynamics);
  auto session = Session(*dynamics);
  std::vector<float> obs(kObs), act(kAct), next(kObs);
  const Status early = session->Step(obs, act, next);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::kFailedPrecondition);
  for (const RolloutLayout& empty : {RolloutLayout{0, 1, 0}, RolloutLayout{1, 0, 0}}) {
    const Status begun = session->BeginRollout(empty, 1);
    ASSERT_FALSE(begun);
    EXPECT_EQ(begun.error().code, ErrorCode::kInvalidArgument);
  }

  auto fails = [&](ModelWeights w, ErrorCode code, EnsembleDynamicsOptions o = {}) {
    auto made = MakeEnsembleDynamics(w, o);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error().code, code) << made.error().ToString();
  };
  ModelWeights w = b.weights;
  w.kind = ModelKind::kGaussianProcess;
  fails(w, ErrorCode::kInvalidArgument);
  {
    auto no_head = MakeLearnedReward(b.weights, {});
    ASSERT_FALSE(no_head);
    EXPECT_EQ(no_head.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(no_head.error().reason.find("no learned reward head"), std::string::npos);
  }
  w = b.weights;
  w.architecture.angle_indices = {3};
  fails(w, ErrorCode::kInvalidArgument);
  w = b.weights;
  w.architecture.angle_indices = {1, 0};
  fails(w, ErrorCode::kInvalidArgument);
  w = b.weights;
  w.architecture.angle_indices = {0, 1, 2};  // 3 + 3 angle columns leave no action.
  fails(w, ErrorCode::kInvalidArgument);
  w = b.weights;
  w.architecture.elites = {1, 1};
  fails(w, ErrorCode::kInvalidArgument);
  w = b.weights;
  w.architecture.elites = {5};
  fails(w, ErrorCode::kInvalidArgument);
  w = b.weights;
  w.tensors.pop_back();
  fails(w, ErrorCode::kInvalidArgument);
  EnsembleDynamicsOptions negative;
  negative.threads = -1;
  fails(b.weights, ErrorCode::kInvalidArgument, negative);

  for (Propagation p : {Propagation::kTs1, Propagation::kTsInf, Propagation::kExpectation}) {
    EXPECT_EQ(ParsePropagation(PropagationName(p)).value(), p);
  }
  EXPECT_FALSE(ParsePropagation("ts2"));
}

// Step time for the PETS-sized problem: 400 candidates × 20 particles = 8000
// rows through a 5-member ensemble with 3 hidden layers of 200, at 1 and 2
// torch threads; beside it the bare Predict of the same rows and two sessions
// of 4000 rows stepping concurrently (two planner threads). The settings
// alternate in rounds, so load from other processes hits them alike. Run with
// --gtest_also_run_disabled_tests --gtest_filter='*StepTiming*'.
TEST_F(ModelEnsembleDynamics, DISABLED_StepTiming) {
  struct Shape {
    const char* name;
    uint32_t obs, act;
    std::vector<uint32_t> angles;
  };
  constexpr int kRounds = 8, kPerRound = 5;
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  auto report = [](const std::string& what, double flops, std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    std::printf("%-52s median %7.2f ms  min %7.2f  p90 %7.2f  (%5.1f GFLOP/s at the median)\n",
                what.c_str(), median, ms.front(), ms[ms.size() * 9 / 10], flops / median * 1e-6);
  };
  for (const Shape& shape : {Shape{"pendulum-like 4->200x3->3", 3, 1, {}},
                             Shape{"cartpole-like 6->200x3->4", 4, 1, {1}}}) {
    EnsembleOptions o;
    o.input_dim = shape.obs + shape.angles.size() + shape.act;
    o.output_dim = shape.obs;
    o.hidden = {200, 200, 200};
    o.ensemble_size = 5;
    ProbabilisticEnsemble model(o);
    ModelWeights w = ExportWeights(*model);
    w.architecture.input_transform =
        shape.angles.empty() ? InputTransform::kNone : InputTransform::kAngleSinCos;
    w.architecture.angle_indices = shape.angles;
    // FLOPs of one row through one member (2 per multiply-add; the output
    // layer has mean and log-variance columns).
    double row_flops = 0.0;
    const std::vector<uint32_t>& sizes = w.architecture.layer_sizes;
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      row_flops += 2.0 * sizes[i] * sizes[i + 1] * (i + 2 == sizes.size() ? 2.0 : 1.0);
    }
    const std::string name = shape.name;

    {  // The bare forward: [5, 1600, in].
      torch::NoGradGuard no_grad;
      const torch::Tensor x = torch::rand({5, 1600, o.input_dim});
      std::map<int, std::vector<double>> ms;
      for (int round = 0; round < kRounds; ++round) {
        for (int threads : {1, 2}) {
          torch::set_num_threads(threads);
          model->Predict(x);  // Warm after the switch.
          for (int k = 0; k < kPerRound; ++k) {
            const auto t0 = Clock::now();
            model->Predict(x);
            ms[threads].push_back(ms_since(t0));
          }
        }
      }
      for (int threads : {1, 2}) {
        report(name + " Predict 8000 rows, threads " + std::to_string(threads), 8000 * row_flops,
               ms[threads]);
      }
    }

    for (Propagation p : {Propagation::kTsInf, Propagation::kTs1, Propagation::kExpectation}) {
      const size_t candidates = 400;
      const size_t particles = p == Propagation::kExpectation ? 1 : 20;
      const size_t rows = candidates * particles;
      // Rows through one member each, or through all 5 for the mean.
      const double flops = (p == Propagation::kExpectation ? 5.0 : 1.0) * rows * row_flops;
      const std::vector<float> obs = Uniform(rows * shape.obs, -1.0, 1.0);
      const std::vector<float> act = Uniform(rows * shape.act, -1.0, 1.0);
      std::vector<float> next(obs.size());
      std::map<int, std::shared_ptr<const Dynamics>> dynamics;
      std::map<int, std::unique_ptr<DynamicsSession>> sessions;
      for (int threads : {1, 2}) {
        EnsembleDynamicsOptions options;
        options.propagation = p;
        options.threads = threads;
        auto made = MakeEnsembleDynamics(w, options);
        ASSERT_TRUE(made) << made.error().ToString();
        dynamics[threads] = *made;
        sessions[threads] = Session(*dynamics[threads]);
        ASSERT_TRUE(sessions[threads]->BeginRollout({candidates, particles, 0}, 1));
      }
      std::map<int, std::vector<double>> ms;
      for (int round = 0; round < kRounds; ++round) {
        for (int threads : {1, 2}) {
          ASSERT_TRUE(sessions[threads]->Step(obs, act, next));  // Warm after the switch.
          for (int k = 0; k < kPerRound; ++k) {
            const auto t0 = Clock::now();
            ASSERT_TRUE(sessions[threads]->Step(obs, act, next));
            ms[threads].push_back(ms_since(t0));
          }
        }
      }
      for (int threads : {1, 2}) {
        report(name + " " + std::string(PropagationName(p)) + " " + std::to_string(rows) +
                   " rows, threads " + std::to_string(threads),
               flops, ms[threads]);
      }
    }

    {  // Two planner threads, each stepping 200 candidates × 20 particles.
      std::map<int, std::shared_ptr<const Dynamics>> dynamics;
      for (int threads : {1, 2}) {
        EnsembleDynamicsOptions options;
        options.threads = threads;
        auto made = MakeEnsembleDynamics(w, options);
        ASSERT_TRUE(made) << made.error().ToString();
        dynamics[threads] = *made;
      }
      const size_t rows = 200 * 20;
      const std::vector<float> obs = Uniform(rows * shape.obs, -1.0, 1.0);
      const std::vector<float> act = Uniform(rows * shape.act, -1.0, 1.0);
      std::map<int, std::vector<double>> ms;  // Wall time per step of both.
      for (int round = 0; round < kRounds; ++round) {
        for (int threads : {1, 2}) {
          std::vector<std::thread> workers;
          std::vector<double> wall(2);
          for (size_t k = 0; k < 2; ++k) {
            workers.emplace_back([&, k] {
              auto session = Session(*dynamics[threads]);
              std::vector<float> next(obs.size());
              ASSERT_TRUE(session->BeginRollout({200, 20, 200 * k}, 1));
              ASSERT_TRUE(session->Step(obs, act, next));  // Warm.
              const auto t0 = Clock::now();
              for (int i = 0; i < kPerRound; ++i) ASSERT_TRUE(session->Step(obs, act, next));
              wall[k] = ms_since(t0) / kPerRound;
            });
          }
          for (std::thread& t : workers) t.join();
          ms[threads].push_back(std::max(wall[0], wall[1]));
        }
      }
      for (int threads : {1, 2}) {
        report(name + " tsinf 2 x 4000 rows concurrently, threads " + std::to_string(threads),
               8000 * row_flops, ms[threads]);
      }
    }
  }
  torch::set_num_threads(1);
}

}  // namespace
}  // namespace mbrl::models
