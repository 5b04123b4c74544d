// The planners a process knows, keyed by name, and the per-environment
// hyper-parameter presets.
//
// One explicit object (no global registration): build it with
// DefaultPlannerRegistry() and pass it on. Hyper-parameters are layered:
//
//   HyperParams params = DefaultPlannerParams(env_name);  // built-in preset
//   params.Merge(from_config_file);                        // --config wins
//   auto planner = registry.Create("cem", problem, params);
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "planner_workers/planner.h"

namespace mbrl::planner_workers {

using PlannerFactory = std::function<std::unique_ptr<Planner>()>;

class PlannerRegistry {
 public:
  // kAlreadyExists when the name is taken; kInvalidArgument for an empty
  // name or factory.
  Status Register(std::string name, PlannerFactory factory);

  // A planner initialised for `problem` with `params`. Errors: kNotFound
  // (listing the known names) for an unknown name; kInvalidArgument for an
  // unknown "planner.*" key (a misspelling) or an invalid option or problem.
  Result<std::unique_ptr<Planner>> Create(const std::string& name, const PlanningProblem& problem,
                                          const HyperParams& params) const;

  bool Has(const std::string& name) const { return factories_.count(name) > 0; }
  std::vector<std::string> Names() const;  // Sorted.

 private:
  std::map<std::string, PlannerFactory> factories_;
};

// A registry of every built-in planner: "random", "cem", "mppi", "icem",
// "gradient".
PlannerRegistry DefaultPlannerRegistry();

// The built-in preset for an environment ("planner.*" keys), sized for a
// 2-core machine: population, elites, iterations, horizon, particles and
// the MPPI/iCEM knobs. An unknown environment gets the generic preset (the
// options' defaults, spelled out).
HyperParams DefaultPlannerParams(const std::string& env_name);

}  // namespace mbrl::planner_workers
