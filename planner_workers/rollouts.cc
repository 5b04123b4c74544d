#include "planner_workers/rollouts.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <optional>

namespace mbrl::planner_workers {

Result<std::unique_ptr<RolloutEvaluator>> RolloutEvaluator::Create(
    std::shared_ptr<const Dynamics> dynamics, std::shared_ptr<const RewardModel> reward,
    int threads) {
  if (!dynamics || !reward) return InvalidArgument("rollouts need dynamics and a reward");
  if (threads < 1) return InvalidArgument("rollouts need at least one thread");
  std::unique_ptr<RolloutEvaluator> evaluator(
      new RolloutEvaluator(std::move(dynamics), std::move(reward), threads));
  if (auto ok = evaluator->MakeSessions(); !ok) return std::unexpected(ok.error());
  return evaluator;
}

Status RolloutEvaluator::MakeSessions() {
  std::vector<Workspace> workspaces(static_cast<size_t>(pool_.size()));
  for (Workspace& ws : workspaces) {
    auto session = dynamics_->NewSession();
    if (!session) return std::unexpected(session.error());
    ws.session = std::move(*session);
  }
  workspaces_ = std::move(workspaces);
  return OkStatus();
}

Status RolloutEvaluator::SetDynamics(std::shared_ptr<const Dynamics> dynamics) {
  if (!dynamics) return InvalidArgument("no dynamics given");
  if (dynamics->obs_dim() != dynamics_->obs_dim() || dynamics->act_dim() != dynamics_->act_dim()) {
    return InvalidArgument(
        "the new dynamics have obs/act dims " + std::to_string(dynamics->obs_dim()) + "/" +
        std::to_string(dynamics->act_dim()) + ", the planner was set up for " +
        std::to_string(dynamics_->obs_dim()) + "/" + std::to_string(dynamics_->act_dim()));
  }
  std::shared_ptr<const Dynamics> old = std::move(dynamics_);
  dynamics_ = std::move(dynamics);
  if (auto ok = MakeSessions(); !ok) {
    dynamics_ = std::move(old);  // The old sessions are still in place.
    return ok;
  }
  return OkStatus();
}

Status RolloutEvaluator::Evaluate(std::span<const float> observation,
                                  std::span<const float> candidates, size_t n, size_t horizon,
                                  size_t particles, uint64_t seed, std::span<double> returns) {
  [[maybe_unused]] const size_t ad = dynamics_->act_dim();
  assert(observation.size() == dynamics_->obs_dim() && candidates.size() >= n * horizon * ad &&
         returns.size() >= n && particles >= 1 && horizon >= 1);
  if (n == 0) return OkStatus();
  // Contiguous blocks, one per thread; fewer when there are few candidates.
  const size_t blocks = std::min(n, workspaces_.size());
  std::vector<Status> status(blocks, OkStatus());
  pool_.Run([&](int task) {
    const size_t k = static_cast<size_t>(task);
    if (k >= blocks) return;
    const size_t first = n * k / blocks;
    const size_t last = n * (k + 1) / blocks;
    status[k] = EvaluateBlock(workspaces_[k], observation, candidates, first, last - first, horizon,
                              particles, seed, returns);
  });
  for (const Status& s : status) {
    if (!s) return s;
  }
  return OkStatus();
}

Status RolloutEvaluator::EvaluateBlock(Workspace& ws, std::span<const float> observation,
                                       std::span<const float> candidates, size_t first,
                                       size_t count, size_t horizon, size_t particles,
                                       uint64_t seed, std::span<double> returns) const {
  const size_t od = dynamics_->obs_dim(), ad = dynamics_->act_dim();
  const size_t rows = count * particles;
  ws.obs.resize(rows * od);
  ws.next_obs.resize(rows * od);
  ws.act.resize(rows * ad);
  ws.reward.resize(rows);
  ws.sums.assign(rows, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    std::copy(observation.begin(), observation.end(), ws.obs.begin() + r * od);
  }
  RolloutLayout layout{count, particles, first};
  if (auto ok = ws.session->BeginRollout(layout, seed); !ok) return ok;
  const size_t stride = horizon * ad;
  for (size_t t = 0; t < horizon; ++t) {
    for (size_t c = 0; c < count; ++c) {
      const float* a = &candidates[(first + c) * stride + t * ad];
      for (size_t p = 0; p < particles; ++p) {
        std::copy(a, a + ad, ws.act.begin() + (c * particles + p) * ad);
      }
    }
    if (auto ok = ws.session->Step(ws.obs, ws.act, ws.next_obs); !ok) return ok;
    if (auto ok = reward_->Evaluate(ws.obs, ws.act, ws.next_obs, rows, ws.reward); !ok) return ok;
    for (size_t r = 0; r < rows; ++r) ws.sums[r] += ws.reward[r];
    std::swap(ws.obs, ws.next_obs);
  }
  for (size_t c = 0; c < count; ++c) {
    double total = 0.0;
    for (size_t p = 0; p < particles; ++p) total += ws.sums[c * particles + p];
    const double mean = total / static_cast<double>(particles);
    returns[first + c] = std::isfinite(mean) ? mean : -std::numeric_limits<double>::infinity();
  }
  return OkStatus();
}

}  // namespace mbrl::planner_workers
