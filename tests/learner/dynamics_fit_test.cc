// The learner's model class on the real environments: dynamics fitted from
// random-policy episodes predict one step ahead on held-out transitions with
// a normalised MSE (MSE / target variance) of at most 0.01, and the 10-step
// open-loop error is reported.
#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "envs/environment.h"
#include "learner/features.h"
#include "learner/trainer.h"
#include "models/ensemble_dynamics.h"
#include "planner_workers/planner_registry.h"
#include "planner_workers/true_dynamics.h"
#include "tests/learner/learner_test_util.h"

namespace mbrl::learner {
namespace {

using test::LearnerTorchTest;

// Episodes of an environment under uniform random actions.
struct Episodes {
  uint32_t obs_dim = 0;
  uint32_t act_dim = 0;
  std::vector<torch::Tensor> observations;  // Per episode: [T + 1, obs_dim].
  std::vector<torch::Tensor> actions;       // Per episode: [T, act_dim].
  std::vector<torch::Tensor> rewards;       // Per episode: [T].

  TrainingData Transitions() const {
    std::vector<torch::Tensor> obs, act, next;
    for (size_t e = 0; e < observations.size(); ++e) {
      const int64_t steps = actions[e].size(0);
      obs.push_back(observations[e].narrow(0, 0, steps));
      next.push_back(observations[e].narrow(0, 1, steps));
      act.push_back(actions[e]);
    }
    TrainingData d;
    d.observations = torch::cat(obs);
    d.actions = torch::cat(act);
    d.next_observations = torch::cat(next);
    d.rewards = torch::cat(rewards);
    return d;
  }
};

Episodes RandomEpisodes(const std::string& name, int count, uint64_t seed) {
  Episodes out;
  envs::EnvRegistry registry = envs::DefaultRegistry();
  auto env = registry.Create(name);
  EXPECT_TRUE(env) << env.error().reason;
  if (!env) return out;
  const EnvSpec& spec = (*env)->spec();
  out.obs_dim = static_cast<uint32_t>(spec.observation.dim());
  out.act_dim = static_cast<uint32_t>(spec.action.dim());
  std::mt19937_64 rng(seed);
  for (int e = 0; e < count; ++e) {
    std::vector<float> obs = (*env)->Reset(seed * 1000 + static_cast<uint64_t>(e));
    std::vector<float> all_obs(obs);
    std::vector<float> all_act;
    std::vector<float> all_rewards;
    for (uint32_t t = 0; t < spec.max_episode_steps; ++t) {
      std::vector<float> a(out.act_dim);
      for (uint32_t i = 0; i < out.act_dim; ++i) {
        a[i] = std::uniform_real_distribution<float>(spec.action.low[i], spec.action.high[i])(rng);
      }
      auto step = (*env)->Step(a);
      EXPECT_TRUE(step);
      if (!step) return out;
      all_act.insert(all_act.end(), a.begin(), a.end());
      all_rewards.push_back(static_cast<float>(step->reward));
      all_obs.insert(all_obs.end(), step->observation.begin(), step->observation.end());
      if (step->terminated || step->truncated) break;
    }
    const int64_t steps = static_cast<int64_t>(all_act.size() / out.act_dim);
    out.observations.push_back(torch::tensor(all_obs).reshape({steps + 1, out.obs_dim}));
    out.actions.push_back(torch::tensor(all_act).reshape({steps, out.act_dim}));
    out.rewards.push_back(torch::tensor(all_rewards));
  }
  return out;
}

struct OpenLoopError {
  double normalized_mse = 0.0;      // Mean over dims of MSE_d / Var_d(observation).
  std::vector<double> rmse_by_dim;  // In observation units.
};

// Rolls the elite-mean model forward `horizon` steps with the recorded
// actions from every start t = 0, horizon, 2·horizon, ... of every episode
// and compares with the true observation `horizon` steps later.
OpenLoopError OpenLoop(DynamicsTrainer& trainer, const Episodes& test, int64_t horizon) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> starts, truths, action_windows;
  for (size_t e = 0; e < test.observations.size(); ++e) {
    for (int64_t t = 0; t + horizon <= test.actions[e].size(0); t += horizon) {
      starts.push_back(test.observations[e][t]);
      truths.push_back(test.observations[e][t + horizon]);
      action_windows.push_back(test.actions[e].narrow(0, t, horizon));
    }
  }
  torch::Tensor state = torch::stack(starts);               // [W, obs]
  const torch::Tensor truth = torch::stack(truths);         // [W, obs]
  const torch::Tensor acts = torch::stack(action_windows);  // [W, horizon, act]
  for (int64_t k = 0; k < horizon; ++k) {
    state = PredictMeanNext(trainer.model(), trainer.features(), state, acts.select(1, k));
  }
  const torch::Tensor all_obs = torch::cat(test.observations);
  const torch::Tensor var = all_obs.var(0, /*unbiased=*/false);
  const torch::Tensor mse = (state - truth).square().mean(0);
  OpenLoopError out;
  out.normalized_mse = (mse / var).mean().item<double>();
  for (int64_t d = 0; d < mse.size(0); ++d)
    out.rmse_by_dim.push_back(std::sqrt(mse[d].item<double>()));
  return out;
}

// Normalised one-step MSE of the elite mean on `rows` of `data`: the mean over
// observation dimensions of MSE_d / Var_d, the variance of the delta target
// over the same rows.
double NormalizedMse(DynamicsTrainer& trainer, const TrainingData& data,
                     const torch::Tensor& rows) {
  torch::NoGradGuard no_grad;
  const torch::Tensor obs = data.observations.index({rows});
  const torch::Tensor next = data.next_observations.index({rows});
  const torch::Tensor pred =
      PredictMeanNext(trainer.model(), trainer.features(), obs, data.actions.index({rows}));
  const torch::Tensor err = (pred - next).square().mean(0);
  return (err / (next - obs).var(0, /*unbiased=*/false)).mean().item<double>();
}

struct FitCase {
  std::string env;
  int train_episodes = 15;
  int64_t max_steps = 1500;
  // cartpole_swingup: the cart's slide is limited to ±2.5 m and uniform
  // random pushes of up to ±300 N drive it into the ends again and again
  // (~19 % of the transitions). The stop is a discontinuity in the one-step
  // map (whether the limit is met in the first or second 0.02 s physics step
  // changes Δẋ by metres per second). From 15 episodes (3000 rows) the fit
  // stayed at 0.012–0.020 whatever the step budget (more steps overfit the
  // impacts); from 50 episodes (10 000 rows) it reaches 0.009. The rows where
  // the cart stays within ±2.4 m are also checked on their own.
  double all_rows_bound = 0.01;
  double rail = 0.0;  // > 0: also check the rows with |x| and |x'| below this.
};

void FitAndCheck(const FitCase& c, const TrainerOptions& base) {
  const Episodes train = RandomEpisodes(c.env, c.train_episodes, 1);
  const Episodes test = RandomEpisodes(c.env, 5, 2);
  ASSERT_FALSE(train.observations.empty());
  ASSERT_FALSE(test.observations.empty());
  TrainerOptions options = base;
  options.max_steps = c.max_steps;
  const FeatureSpec features = DefaultFeatureSpec(c.env, train.obs_dim, train.act_dim);
  auto trainer = DynamicsTrainer::Create(options, features);
  ASSERT_TRUE(trainer) << trainer.error().reason;
  const TrainingData data = train.Transitions();
  auto report = (*trainer)->Fit(data);
  ASSERT_TRUE(report) << report.error().reason;

  // The trainer's holdout rows (ids are the row indices here).
  const int64_t n = data.observations.size(0);
  std::vector<int64_t> held;
  for (int64_t i = 0; i < n; ++i) {
    if (IsHoldoutRow(static_cast<uint64_t>(i), options.holdout_fraction, options.seed)) {
      held.push_back(i);
    }
  }
  const torch::Tensor holdout = torch::tensor(held, torch::kLong);
  const double holdout_nmse = NormalizedMse(**trainer, data, holdout);
  const TrainingData other = test.Transitions();
  const torch::Tensor all_other = torch::arange(other.observations.size(0), torch::kLong);
  const double other_nmse = NormalizedMse(**trainer, other, all_other);
  const OpenLoopError open_loop = OpenLoop(**trainer, test, 10);

  std::printf(
      "[ %s ] %lld transitions, %lld epochs / %lld steps in %.2f s (%.0f samples/s)%s\n"
      "[ %s ] one-step normalized MSE: holdout %.2e (MSE %.2e, NLL %.3f), other episodes "
      "%.2e\n",
      c.env.c_str(), static_cast<long long>(n), static_cast<long long>(report->epochs),
      static_cast<long long>(report->steps), report->seconds, report->samples_per_second,
      report->early_stopped ? " (early stop)" : "", c.env.c_str(), report->holdout_normalized_mse,
      report->holdout_mse, report->holdout_nll, other_nmse);
  std::printf("[ %s ] 10-step open loop: normalized MSE %.3e, RMSE per dim:", c.env.c_str(),
              open_loop.normalized_mse);
  for (double r : open_loop.rmse_by_dim) std::printf(" %.4f", r);
  std::printf("\n");

  // The trainer's own figure is the one published as a metric.
  EXPECT_NEAR(report->holdout_normalized_mse, holdout_nmse, 1e-3 * holdout_nmse + 1e-9);
  EXPECT_LE(report->holdout_normalized_mse, c.all_rows_bound);
  EXPECT_LE(other_nmse, 2.0 * c.all_rows_bound);
  if (c.rail > 0.0) {
    auto within = [&](const TrainingData& d) {
      return (d.observations.select(1, 0).abs() < c.rail) &
             (d.next_observations.select(1, 0).abs() < c.rail);
    };
    const torch::Tensor held_mask = torch::zeros({n}, torch::kBool).index_fill_(0, holdout, true);
    const torch::Tensor inner = torch::nonzero(held_mask & within(data)).squeeze(1);
    const torch::Tensor inner_other = torch::nonzero(within(other)).squeeze(1);
    const double inner_nmse = NormalizedMse(**trainer, data, inner);
    const double inner_other_nmse = NormalizedMse(**trainer, other, inner_other);
    std::printf(
        "[ %s ] rows with |x| < %.1f m (%lld of %lld holdout rows): normalized MSE holdout "
        "%.2e, other episodes %.2e\n",
        c.env.c_str(), c.rail, static_cast<long long>(inner.size(0)),
        static_cast<long long>(holdout.size(0)), inner_nmse, inner_other_nmse);
    EXPECT_LE(inner_nmse, 0.01);
    EXPECT_LE(inner_other_nmse, 0.01);
  }
  // Loose: compounding errors over 10 steps stay well below the spread of
  // the states themselves.
  EXPECT_TRUE(std::isfinite(open_loop.normalized_mse));
  EXPECT_LT(open_loop.normalized_mse, 0.1);
}

// Smaller than the learner's defaults (200 × 3) so the suite stays fast; the
// same code path.
TrainerOptions FitOptions() {
  TrainerOptions o;
  o.ensemble_size = 5;
  o.elites = 5;
  o.hidden = {128, 128, 128};
  o.batch_size = 256;
  o.max_epochs = 1000;
  o.patience = 8;
  o.learning_rate = 2e-3;
  return o;
}

TEST_F(LearnerTorchTest, FitsPendulumSwingupFromRandomEpisodes) {
  FitAndCheck({.env = "pendulum_swingup", .train_episodes = 15, .max_steps = 600}, FitOptions());
}

TEST_F(LearnerTorchTest, FitsCartpoleSwingupFromRandomEpisodes) {
  FitAndCheck({.env = "cartpole_swingup",
               .train_episodes = 50,
               .max_steps = 10000,
               .all_rows_bound = 0.01,
               .rail = 2.4},
              FitOptions());
}

// A reward head learned beside the dynamics (for environments whose reward is
// not known): it predicts pendulum_swingup's reward on other episodes, and a
// planner that knows only the learned reward swings the pendulum up.
TEST_F(LearnerTorchTest, LearnsARewardHeadThatPlansThePendulumSwingUp) {
  const std::string env_name = "pendulum_swingup";
  const Episodes train = RandomEpisodes(env_name, 15, 1);
  const Episodes test = RandomEpisodes(env_name, 5, 2);
  ASSERT_FALSE(train.observations.empty());
  TrainerOptions options = FitOptions();
  options.max_steps = 600;
  FeatureSpec features = DefaultFeatureSpec(env_name, train.obs_dim, train.act_dim);
  features.learned_reward = true;
  auto trainer = DynamicsTrainer::Create(options, features);
  ASSERT_TRUE(trainer) << trainer.error().reason;
  auto report = (*trainer)->Fit(train.Transitions());
  ASSERT_TRUE(report) << report.error().reason;
  const ModelWeights weights = (*trainer)->Export();
  ASSERT_TRUE(weights.architecture.learned_reward);

  // Through the planners' path: the published weights, MakeLearnedReward.
  auto reward = models::MakeLearnedReward(weights, {});
  ASSERT_TRUE(reward) << reward.error().reason;
  const TrainingData other = test.Transitions();
  const size_t rows = static_cast<size_t>(other.observations.size(0));
  std::vector<float> obs(other.observations.data_ptr<float>(),
                         other.observations.data_ptr<float>() + rows * train.obs_dim);
  std::vector<float> act(other.actions.data_ptr<float>(),
                         other.actions.data_ptr<float>() + rows * train.act_dim);
  std::vector<float> next(other.next_observations.data_ptr<float>(),
                          other.next_observations.data_ptr<float>() + rows * train.obs_dim);
  std::vector<float> predicted(rows);
  ASSERT_TRUE((*reward)->Evaluate(obs, act, next, rows, predicted));
  const torch::Tensor truth = other.rewards;
  const double nmse = (torch::tensor(predicted) - truth).square().mean().item<double>() /
                      truth.var(0, /*unbiased=*/false).item<double>();
  std::printf("[ %s ] learned reward: normalized MSE on other episodes %.2e (%zu rows)\n",
              env_name.c_str(), nmse, rows);
  EXPECT_LE(nmse, 0.01);

  // Plan through the true simulator with the learned reward only.
  const envs::EnvRegistry registry = envs::DefaultRegistry();
  auto dynamics = planner_workers::TrueDynamics::Create(registry, env_name);
  ASSERT_TRUE(dynamics);
  auto env = registry.Create(env_name);
  ASSERT_TRUE(env);
  HyperParams params = planner_workers::DefaultPlannerParams(env_name);
  params.Set("planner.population", "64");
  params.Set("planner.elites", "8");
  params.Set("planner.iterations", "3");
  auto planner = planner_workers::DefaultPlannerRegistry().Create(
      "cem", {*dynamics, *reward, (*env)->spec().action}, params);
  ASSERT_TRUE(planner) << planner.error().reason;
  (*planner)->Reset(1);
  std::vector<float> o = (*env)->Reset(11);
  std::vector<float> warm;
  double episode_return = 0.0;
  for (uint32_t t = 0; t < (*env)->spec().max_episode_steps; ++t) {
    ASSERT_TRUE((*planner)->SetState(o, warm));
    ASSERT_TRUE((*planner)->OptimizePolicy({}));
    auto step = (*env)->Step((*planner)->ActionFromPolicy());
    ASSERT_TRUE(step);
    episode_return += step->reward;
    o = step->observation;
    warm.assign((*planner)->BestTrajectory().begin() + 1, (*planner)->BestTrajectory().end());
    if (step->terminated || step->truncated) break;
  }
  std::printf("[ %s ] CEM with the learned reward: true return %.1f (fit %.1f s)\n",
              env_name.c_str(), episode_return, report->seconds);
  // A random policy scores about −1200 here and CEM with the true reward
  // about −365 (planner_registry.cc); swinging up and holding needs > −600.
  EXPECT_GT(episode_return, -600.0);
}

}  // namespace
}  // namespace mbrl::learner
