#include "learner/dataset.h"

#include <algorithm>

namespace mbrl::learner {

TransitionDataset::TransitionDataset(std::string env_name, uint32_t observation_dim,
                                     uint32_t action_dim)
    : env_name_(std::move(env_name)), observation_dim_(observation_dim), action_dim_(action_dim) {}

Status TransitionDataset::Append(uint64_t id, const Transition& t) {
  if (!ids_.empty() && id <= ids_.back()) {
    return InvalidArgument("transition " + std::to_string(id) + " of " + env_name_ +
                           " is not newer than the last one read (" + std::to_string(ids_.back()) +
                           ")");
  }
  if (t.observation.size() != observation_dim_ || t.next_observation.size() != observation_dim_ ||
      t.action.size() != action_dim_) {
    return InvalidArgument("transition " + std::to_string(id) + " of " + env_name_ +
                           " has observation/action widths " +
                           std::to_string(t.observation.size()) + "/" +
                           std::to_string(t.action.size()) + "; the dataset holds " +
                           std::to_string(observation_dim_) + "/" + std::to_string(action_dim_));
  }
  observations_.insert(observations_.end(), t.observation.begin(), t.observation.end());
  actions_.insert(actions_.end(), t.action.begin(), t.action.end());
  next_observations_.insert(next_observations_.end(), t.next_observation.begin(),
                            t.next_observation.end());
  rewards_.push_back(t.reward);
  ids_.push_back(id);
  return OkStatus();
}

size_t TransitionDataset::CountFrom(uint64_t id) const {
  return static_cast<size_t>(ids_.end() - std::lower_bound(ids_.begin(), ids_.end(), id));
}

}  // namespace mbrl::learner
