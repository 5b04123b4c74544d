#include "planner_workers/planner_options.h"

#include <cmath>
#include <string>

namespace mbrl::planner_workers {
namespace {

// Reads an int key into `out` (kept when absent).
Status ReadInt(const HyperParams& params, const std::string& key, int* out) {
  auto v = params.GetInt(key, *out);
  if (!v) return std::unexpected(v.error());
  if (*v < INT32_MIN || *v > INT32_MAX) return InvalidArgument(key + " is out of range");
  *out = static_cast<int>(*v);
  return OkStatus();
}

Status ReadDouble(const HyperParams& params, const std::string& key, double* out) {
  auto v = params.GetDouble(key, *out);
  if (!v) return std::unexpected(v.error());
  *out = *v;
  return OkStatus();
}

std::unexpected<Error> Fail(const std::string& what) {
  return InvalidArgument("planner option " + what);
}

}  // namespace

Status SamplingOptions::Validate() const {
  if (horizon < 1) return Fail("planner.horizon must be >= 1");
  if (population < 1) return Fail("planner.population must be >= 1");
  if (iterations < 1) return Fail("planner.iterations must be >= 1");
  if (particles < 1) return Fail("planner.particles must be >= 1");
  if (threads < 1) return Fail("planner.threads must be >= 1");
  return OkStatus();
}

Result<SamplingOptions> SamplingOptions::FromHyperParams(const HyperParams& params) {
  SamplingOptions o;
  for (auto [key, field] : {std::pair{"planner.horizon", &o.horizon},
                            {"planner.population", &o.population},
                            {"planner.iterations", &o.iterations},
                            {"planner.particles", &o.particles},
                            {"planner.threads", &o.threads}}) {
    if (auto ok = ReadInt(params, key, field); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = o.Validate(); !ok) return std::unexpected(ok.error());
  return o;
}

Result<RandomShootingOptions> RandomShootingOptions::FromHyperParams(const HyperParams& params) {
  auto sampling = SamplingOptions::FromHyperParams(params);
  if (!sampling) return std::unexpected(sampling.error());
  return RandomShootingOptions{*sampling};
}

Status CemOptions::Validate() const {
  if (auto ok = sampling.Validate(); !ok) return ok;
  if (elites < 1 || elites > sampling.population) {
    return Fail("planner.elites must be in [1, planner.population]");
  }
  if (!(alpha >= 0.0 && alpha < 1.0)) return Fail("planner.alpha must be in [0, 1)");
  if (!(min_variance >= 0.0) || !std::isfinite(min_variance)) {
    return Fail("planner.min_variance must be finite and >= 0");
  }
  return OkStatus();
}

Result<CemOptions> CemOptions::FromHyperParams(const HyperParams& params) {
  CemOptions o;
  auto sampling = SamplingOptions::FromHyperParams(params);
  if (!sampling) return std::unexpected(sampling.error());
  o.sampling = *sampling;
  if (auto ok = ReadInt(params, "planner.elites", &o.elites); !ok) {
    return std::unexpected(ok.error());
  }
  for (auto [key, field] :
       {std::pair{"planner.alpha", &o.alpha}, {"planner.min_variance", &o.min_variance}}) {
    if (auto ok = ReadDouble(params, key, field); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = o.Validate(); !ok) return std::unexpected(ok.error());
  return o;
}

Status MppiOptions::Validate() const {
  if (auto ok = sampling.Validate(); !ok) return ok;
  if (!(temperature > 0.0) || !std::isfinite(temperature)) {
    return Fail("planner.temperature must be finite and > 0");
  }
  if (!(noise_std > 0.0) || !std::isfinite(noise_std)) {
    return Fail("planner.noise_std must be finite and > 0");
  }
  if (!(smoothing >= 0.0 && smoothing < 1.0)) return Fail("planner.smoothing must be in [0, 1)");
  return OkStatus();
}

Result<MppiOptions> MppiOptions::FromHyperParams(const HyperParams& params) {
  MppiOptions o;
  auto sampling = SamplingOptions::FromHyperParams(params);
  if (!sampling) return std::unexpected(sampling.error());
  o.sampling = *sampling;
  for (auto [key, field] : {std::pair{"planner.temperature", &o.temperature},
                            {"planner.noise_std", &o.noise_std},
                            {"planner.smoothing", &o.smoothing}}) {
    if (auto ok = ReadDouble(params, key, field); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = o.Validate(); !ok) return std::unexpected(ok.error());
  return o;
}

Status GradientOptions::Validate() const {
  if (auto ok = sampling.Validate(); !ok) return ok;
  if (!(learning_rate > 0.0) || !std::isfinite(learning_rate)) {
    return Fail("planner.learning_rate must be finite and > 0");
  }
  return OkStatus();
}

Result<GradientOptions> GradientOptions::FromHyperParams(const HyperParams& params) {
  GradientOptions o;
  auto sampling = SamplingOptions::FromHyperParams(params);
  if (!sampling) return std::unexpected(sampling.error());
  o.sampling = *sampling;
  if (auto ok = ReadDouble(params, "planner.learning_rate", &o.learning_rate); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = o.Validate(); !ok) return std::unexpected(ok.error());
  return o;
}

Status IcemOptions::Validate() const {
  if (auto ok = sampling.Validate(); !ok) return ok;
  if (elites < 1 || elites > sampling.population) {
    return Fail("planner.elites must be in [1, planner.population]");
  }
  if (!(alpha >= 0.0 && alpha < 1.0)) return Fail("planner.alpha must be in [0, 1)");
  if (!(noise_exponent >= 0.0) || !std::isfinite(noise_exponent)) {
    return Fail("planner.noise_exponent must be finite and >= 0");
  }
  if (!(init_std > 0.0) || !std::isfinite(init_std)) {
    return Fail("planner.init_std must be finite and > 0");
  }
  if (!(population_decay >= 1.0) || !std::isfinite(population_decay)) {
    return Fail("planner.population_decay must be finite and >= 1");
  }
  if (!(keep_elites >= 0.0 && keep_elites <= 1.0)) {
    return Fail("planner.keep_elites must be in [0, 1]");
  }
  return OkStatus();
}

Result<IcemOptions> IcemOptions::FromHyperParams(const HyperParams& params) {
  IcemOptions o;
  auto sampling = SamplingOptions::FromHyperParams(params);
  if (!sampling) return std::unexpected(sampling.error());
  o.sampling = *sampling;
  if (auto ok = ReadInt(params, "planner.elites", &o.elites); !ok) {
    return std::unexpected(ok.error());
  }
  for (auto [key, field] : {std::pair{"planner.alpha", &o.alpha},
                            {"planner.noise_exponent", &o.noise_exponent},
                            {"planner.init_std", &o.init_std},
                            {"planner.population_decay", &o.population_decay},
                            {"planner.keep_elites", &o.keep_elites}}) {
    if (auto ok = ReadDouble(params, key, field); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = o.Validate(); !ok) return std::unexpected(ok.error());
  return o;
}

Result<std::chrono::milliseconds> TimeBudgetFromHyperParams(const HyperParams& params) {
  auto v = params.GetInt("planner.time_budget_ms", 0);
  if (!v) return std::unexpected(v.error());
  if (*v < 0) return Fail("planner.time_budget_ms must be >= 0");
  return std::chrono::milliseconds(*v);
}

const std::set<std::string>& KnownPlannerKeys() {
  static const std::set<std::string> keys = {
      "planner.horizon",        "planner.population",       "planner.iterations",
      "planner.particles",      "planner.threads",          "planner.elites",
      "planner.alpha",          "planner.min_variance",     "planner.temperature",
      "planner.noise_std",      "planner.smoothing",        "planner.noise_exponent",
      "planner.init_std",       "planner.population_decay", "planner.keep_elites",
      "planner.time_budget_ms", "planner.learning_rate"};
  return keys;
}

Status CheckPlannerKeys(const HyperParams& params) {
  std::string unknown;
  for (const auto& [key, value] : params.values()) {
    if (key.rfind("planner.", 0) != 0 || KnownPlannerKeys().count(key)) continue;
    unknown += unknown.empty() ? key : ", " + key;
  }
  if (unknown.empty()) return OkStatus();
  std::string known;
  for (const std::string& key : KnownPlannerKeys()) known += known.empty() ? key : ", " + key;
  return InvalidArgument("unknown planner hyper-parameter(s): " + unknown + " (known: " + known +
                         ")");
}

}  // namespace mbrl::planner_workers
