// `mbrl envs`: the environments this build knows, with their spaces.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/roles.h"
#include "envs/environment.h"

namespace mbrl::app {
namespace {

nlohmann::json BoxJson(const BoxSpace& box) {
  return {{"dim", box.dim()}, {"low", box.low}, {"high", box.high}};
}

std::string Bounds(const BoxSpace& box) {
  std::string out = "[";
  for (size_t i = 0; i < box.dim(); ++i) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s%g..%g", i ? ", " : "", box.low[i], box.high[i]);
    out += buf;
  }
  return out + "]";
}

}  // namespace

int RunEnvs(const EnvsOptions& options) {
  envs::EnvRegistry registry = envs::DefaultRegistry();
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& name : registry.Names()) {
    auto env = registry.Create(name);
    if (!env) return Fail("envs", kExitFailure, env.error().ToString());
    const EnvSpec& spec = (*env)->spec();
    if (options.json) {
      nlohmann::json item = {{"name", spec.name},
                             {"observation", BoxJson(spec.observation)},
                             {"action", BoxJson(spec.action)},
                             {"max_episode_steps", spec.max_episode_steps},
                             {"dt", spec.dt}};
      if (spec.image) {
        item["image"] = {spec.image->height, spec.image->width, spec.image->channels};
      }
      list.push_back(item);
    } else {
      std::printf("%-18s obs %2zu-D  action %zu-D %s  steps %u  dt %gs%s\n", spec.name.c_str(),
                  spec.observation.dim(), spec.action.dim(), Bounds(spec.action).c_str(),
                  spec.max_episode_steps, spec.dt,
                  spec.image ? ("  image " + std::to_string(spec.image->height) + "x" +
                                std::to_string(spec.image->width) + "x" +
                                std::to_string(spec.image->channels))
                                   .c_str()
                             : "");
    }
  }
  if (options.json) std::printf("%s\n", list.dump(2).c_str());
  return kExitOk;
}

}  // namespace mbrl::app
