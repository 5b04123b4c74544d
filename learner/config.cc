#include "learner/config.h"

#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

namespace mbrl::learner {
namespace {

const std::set<std::string>& PerEnvKeys() {
  static const std::set<std::string> keys = {
      "ensemble_size",   "hidden",  "layers",    "probabilistic", "elites",          "lr",
      "weight_decay",    "batch",   "epochs",    "max_steps",     "eval_steps",      "patience",
      "min_improvement", "holdout", "bootstrap", "seed",          "min_transitions", "refit_every",
      "angle_indices",   "target",  "nll_beta",  "max_versions",  "learned_reward"};
  return keys;
}

const std::set<std::string>& ProcessKeys() {
  static const std::set<std::string> keys = {"poll_ms", "page_items"};
  return keys;
}

// Built-in per-environment presets, as config text.
std::map<std::string, std::string> Preset(const std::string& env) {
  // PETS used four hidden layers for the cheetah; the smaller tasks do well
  // with three.
  if (env == "half_cheetah") return {{"layers", "4"}};
  return {};
}

// Looks a key up in the order of the header comment and parses it as a
// HyperParams value would be.
class Lookup {
 public:
  Lookup(const HyperParams& params, std::string env)
      : params_(params), env_(std::move(env)), preset_(Preset(env_)) {}

  // The config key that provides `key`, or "" when none does.
  std::string Source(const std::string& key) const {
    if (!env_.empty() && params_.Has("learner." + env_ + "." + key)) {
      return "learner." + env_ + "." + key;
    }
    if (params_.Has("learner." + key)) return "learner." + key;
    return "";
  }

  // A HyperParams holding the resolved text of `key` under the name `key`
  // (empty when neither config nor preset sets it).
  HyperParams Resolved(const std::string& key) const {
    HyperParams one;
    const std::string source = Source(key);
    if (!source.empty()) {
      one.Set(SourceName(key), params_.GetString(source, ""));
    } else if (auto it = preset_.find(key); it != preset_.end()) {
      one.Set(SourceName(key), it->second);
    }
    return one;
  }

  // How errors name the key: the config key that set it, else learner.<key>.
  std::string SourceName(const std::string& key) const {
    const std::string source = Source(key);
    return source.empty() ? "learner." + key : source;
  }

  Result<int64_t> Int(const std::string& key, int64_t fallback) const {
    return Resolved(key).GetInt(SourceName(key), fallback);
  }
  Result<double> Double(const std::string& key, double fallback) const {
    return Resolved(key).GetDouble(SourceName(key), fallback);
  }
  Result<bool> Bool(const std::string& key, bool fallback) const {
    return Resolved(key).GetBool(SourceName(key), fallback);
  }
  std::optional<std::string> Text(const std::string& key) const {
    HyperParams one = Resolved(key);
    if (!one.Has(SourceName(key))) return std::nullopt;
    return one.GetString(SourceName(key), "");
  }

 private:
  const HyperParams& params_;
  std::string env_;
  std::map<std::string, std::string> preset_;
};

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto b = item.find_first_not_of(" \t[]");
    const auto e = item.find_last_not_of(" \t[]");
    if (b != std::string::npos) items.push_back(item.substr(b, e - b + 1));
  }
  return items;
}

std::unexpected<Error> BadValue(const std::string& key, const std::string& why) {
  return InvalidArgument("config key '" + key + "': " + why);
}

// Positive integer within `max`.
Result<int64_t> Positive(const Lookup& l, const std::string& key, int64_t fallback,
                         int64_t max = int64_t{1} << 40) {
  auto v = l.Int(key, fallback);
  if (!v) return v;
  if (*v <= 0 || *v > max) {
    return BadValue(l.SourceName(key), "must be between 1 and " + std::to_string(max));
  }
  return v;
}

}  // namespace

Result<ProcessConfig> ResolveProcessConfig(const HyperParams& params) {
  for (const auto& [key, value] : params.values()) {
    if (key.rfind("learner.", 0) != 0) continue;  // Other roles' keys.
    const std::string rest = key.substr(8);
    const auto dot = rest.rfind('.');
    const std::string leaf = dot == std::string::npos ? rest : rest.substr(dot + 1);
    const bool known = dot == std::string::npos
                           ? PerEnvKeys().count(leaf) > 0 || ProcessKeys().count(leaf) > 0
                           : PerEnvKeys().count(leaf) > 0 && rest.find('.') == dot;
    if (!known) return InvalidArgument("unknown config key '" + key + "'");
  }
  Lookup l(params, "");
  ProcessConfig config;
  auto poll = Positive(l, "poll_ms", config.poll_interval.count(), 600000);
  if (!poll) return std::unexpected(poll.error());
  config.poll_interval = std::chrono::milliseconds(*poll);
  auto page = Positive(l, "page_items", config.page_items, 65536);
  if (!page) return std::unexpected(page.error());
  config.page_items = static_cast<uint32_t>(*page);
  return config;
}

Result<EnvConfig> ResolveEnvConfig(const HyperParams& params, const std::string& env,
                                   uint32_t observation_dim, uint32_t action_dim) {
  Lookup l(params, env);
  EnvConfig c;
  TrainerOptions& t = c.trainer;

#define MBRL_TRY(var, expr) \
  auto var = (expr);        \
  if (!var) return std::unexpected(var.error())

  MBRL_TRY(members, Positive(l, "ensemble_size", t.ensemble_size, 1024));
  t.ensemble_size = *members;
  MBRL_TRY(width, Positive(l, "hidden", 200, 1 << 16));
  MBRL_TRY(layers, l.Int("layers", 3));
  if (*layers < 0 || *layers > 64) return BadValue(l.SourceName("layers"), "must be 0..64");
  t.hidden.assign(static_cast<size_t>(*layers), *width);
  MBRL_TRY(probabilistic, l.Bool("probabilistic", t.probabilistic));
  t.probabilistic = *probabilistic;
  MBRL_TRY(elites, Positive(l, "elites", std::min<int64_t>(5, t.ensemble_size), 1024));
  t.elites = *elites;
  MBRL_TRY(beta, l.Double("nll_beta", t.nll_beta));
  t.nll_beta = *beta;
  MBRL_TRY(lr, l.Double("lr", t.learning_rate));
  t.learning_rate = *lr;
  if (auto text = l.Text("weight_decay")) {
    t.weight_decay.clear();
    for (const std::string& item : SplitList(*text)) {
      HyperParams one;
      one.Set("v", item);
      auto v = one.GetDouble("v", 0.0);
      if (!v) return BadValue(l.SourceName("weight_decay"), "'" + item + "' is not a number");
      t.weight_decay.push_back(*v);
    }
  }
  MBRL_TRY(batch, Positive(l, "batch", t.batch_size, 1 << 20));
  t.batch_size = *batch;
  MBRL_TRY(epochs, Positive(l, "epochs", t.max_epochs));
  t.max_epochs = *epochs;
  MBRL_TRY(steps, Positive(l, "max_steps", t.max_steps));
  t.max_steps = *steps;
  MBRL_TRY(eval_steps, l.Int("eval_steps", t.min_steps_per_evaluation));
  t.min_steps_per_evaluation = *eval_steps;
  MBRL_TRY(patience, l.Int("patience", t.patience));
  t.patience = *patience;
  MBRL_TRY(min_improvement, l.Double("min_improvement", t.min_improvement));
  t.min_improvement = *min_improvement;
  MBRL_TRY(holdout, l.Double("holdout", t.holdout_fraction));
  t.holdout_fraction = *holdout;
  MBRL_TRY(bootstrap, l.Bool("bootstrap", t.bootstrap));
  t.bootstrap = *bootstrap;
  MBRL_TRY(seed, l.Int("seed", 0));
  t.seed = static_cast<uint64_t>(*seed);
  if (Status s = t.Validate(); !s) {
    return InvalidArgument("learner config for " + env + ": " + s.error().reason);
  }

  c.features = DefaultFeatureSpec(env, observation_dim, action_dim);
  if (auto text = l.Text("angle_indices")) {
    c.features.angle_indices.clear();
    for (const std::string& item : SplitList(*text)) {
      uint32_t index = 0;
      auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), index);
      if (ec != std::errc() || ptr != item.data() + item.size()) {
        return BadValue(l.SourceName("angle_indices"), "'" + item + "' is not an index");
      }
      c.features.angle_indices.push_back(index);
    }
    c.features.input_transform =
        c.features.angle_indices.empty() ? InputTransform::kNone : InputTransform::kAngleSinCos;
  }
  if (auto text = l.Text("target")) {
    if (*text == "delta") {
      c.features.target = TargetKind::kDelta;
    } else if (*text == "next_state") {
      c.features.target = TargetKind::kNextState;
    } else {
      return BadValue(l.SourceName("target"), "must be delta or next_state, not '" + *text + "'");
    }
  }
  MBRL_TRY(learned_reward, l.Bool("learned_reward", false));
  c.features.learned_reward = *learned_reward;
  if (Status s = c.features.Validate(); !s) {
    return InvalidArgument("learner features for " + env + ": " + s.error().reason);
  }

  MBRL_TRY(min_transitions, Positive(l, "min_transitions", 200));
  c.schedule.min_transitions = static_cast<uint64_t>(*min_transitions);
  MBRL_TRY(refit_every, Positive(l, "refit_every", 200));
  c.schedule.refit_every = static_cast<uint64_t>(*refit_every);
  MBRL_TRY(max_versions, l.Int("max_versions", 0));
  if (*max_versions < 0) return BadValue(l.SourceName("max_versions"), "must be >= 0");
  c.schedule.max_versions = static_cast<uint64_t>(*max_versions);
#undef MBRL_TRY
  return c;
}

}  // namespace mbrl::learner
