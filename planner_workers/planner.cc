#include "planner_workers/planner.h"

#include <cmath>
#include <string>

namespace mbrl::planner_workers {

Status PlanningProblem::Validate() const {
  if (!dynamics) return InvalidArgument("planning problem: no dynamics");
  if (!reward) return InvalidArgument("planning problem: no reward");
  const size_t ad = action.dim();
  if (ad == 0 || action.high.size() != ad) {
    return InvalidArgument("planning problem: the action box is empty or malformed");
  }
  if (ad != dynamics->act_dim()) {
    return InvalidArgument("planning problem: the action box has " + std::to_string(ad) +
                           " elements but the dynamics take " +
                           std::to_string(dynamics->act_dim()));
  }
  for (size_t j = 0; j < ad; ++j) {
    if (!std::isfinite(action.low[j]) || !std::isfinite(action.high[j]) ||
        !(action.low[j] < action.high[j])) {
      return InvalidArgument("planning problem: action bound " + std::to_string(j) +
                             " must be finite with low < high (sampling planners need a box)");
    }
  }
  return OkStatus();
}

}  // namespace mbrl::planner_workers
