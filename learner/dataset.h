// The learner's in-memory copy of one environment's transitions, kept in step
// with storage's insertion cursor. Plain row-major float buffers (no LibTorch
// here); the learner turns them into tensors for a refit.
//
// Thread-safety: none; the learner's thread owns its datasets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/types.h"

namespace mbrl::learner {

class TransitionDataset {
 public:
  // Rows of exactly these widths are accepted.
  TransitionDataset(std::string env_name, uint32_t observation_dim, uint32_t action_dim);

  // Appends (s, a, r, s') under `id` (the storage position). Ids must increase:
  // kInvalidArgument for an id at or below the last one (a row read twice)
  // and for widths other than the dataset's; nothing is appended then.
  Status Append(uint64_t id, const Transition& transition);

  // Rows whose id is at least `id` (ids ascend, so this is a binary search).
  size_t CountFrom(uint64_t id) const;

  const std::string& env_name() const { return env_name_; }
  uint32_t observation_dim() const { return observation_dim_; }
  uint32_t action_dim() const { return action_dim_; }
  size_t size() const { return ids_.size(); }

  // size() × observation_dim, size() × action_dim, size() × observation_dim,
  // size() floats, row-major; and the ids, ascending.
  const std::vector<float>& observations() const { return observations_; }
  const std::vector<float>& actions() const { return actions_; }
  const std::vector<float>& next_observations() const { return next_observations_; }
  const std::vector<float>& rewards() const { return rewards_; }
  const std::vector<uint64_t>& ids() const { return ids_; }

 private:
  std::string env_name_;
  uint32_t observation_dim_;
  uint32_t action_dim_;
  std::vector<float> observations_;
  std::vector<float> actions_;
  std::vector<float> next_observations_;
  std::vector<float> rewards_;
  std::vector<uint64_t> ids_;
};

}  // namespace mbrl::learner
