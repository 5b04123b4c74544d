#include <utility>

#include "envs/cartpole.h"
#include "envs/environment.h"
#include "envs/half_cheetah.h"
#include "envs/pendulum.h"
#include "envs/reacher.h"

namespace mbrl::envs {

Status EnvRegistry::Register(std::string name, EnvFactory factory) {
  if (name.empty()) return InvalidArgument("an environment needs a non-empty name");
  if (!factory) return InvalidArgument("environment '" + name + "' has no factory");
  auto [it, inserted] = factories_.try_emplace(std::move(name), std::move(factory));
  if (!inserted) {
    return MakeError(ErrorCode::kAlreadyExists,
                     "environment '" + it->first + "' is already registered");
  }
  return OkStatus();
}

Result<std::unique_ptr<Environment>> EnvRegistry::Create(const std::string& name) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [known_name, factory] : factories_) {
      known += known.empty() ? known_name : ", " + known_name;
    }
    return NotFound("unknown environment '" + name +
                    "'; known environments: " + (known.empty() ? std::string("(none)") : known));
  }
  std::unique_ptr<Environment> env = it->second();
  if (!env) return Internal("the factory of environment '" + name + "' returned nothing");
  return env;
}

std::vector<std::string> EnvRegistry::Names() const {
  std::vector<std::string> names;
  names.reserve(factories_.size());
  for (const auto& [name, factory] : factories_) names.push_back(name);
  return names;  // std::map keeps them sorted.
}

EnvRegistry DefaultRegistry() {
  EnvRegistry registry;
  // Default options are valid by construction, so value() cannot throw.
  (void)registry.Register("pendulum_swingup", [] { return MakePendulumSwingup().value(); });
  (void)registry.Register("cartpole_swingup", [] { return MakeCartpoleSwingup().value(); });
  (void)registry.Register("half_cheetah", [] { return MakeHalfCheetah(); });
  (void)registry.Register("reacher", [] { return MakeReacher().value(); });
  return registry;
}

}  // namespace mbrl::envs
