// Configuration: command-line flags that can also come from MBRL_<FLAG>
// environment variables, and YAML hyper-parameter files (--config FILE).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace CLI {
class App;
}

namespace mbrl {

// "metrics-port" -> "MBRL_METRICS_PORT".
std::string EnvVarForFlag(const std::string& flag);

// Makes every long flag of `app` and of its subcommands (recursively) also
// readable from its MBRL_<FLAG> environment variable. A flag given on the
// command line wins over the environment. Call after all options are added.
void BindEnvironmentVariables(CLI::App& app);

// Hyper-parameters from a YAML file, flattened to dotted keys:
//   planner: {population: 400}   ->   "planner.population" = "400"
// Values are kept as text and parsed on access, so a typo in a value is
// reported with its key when the component that owns the key reads it.
class HyperParams {
 public:
  HyperParams() = default;

  // Reads a YAML mapping. Errors (kInvalidArgument) name the file and line.
  static Result<HyperParams> FromYamlFile(const std::string& path);
  static Result<HyperParams> FromYamlString(const std::string& text);

  bool Has(const std::string& key) const { return values_.count(key) > 0; }
  // Sets or overrides a key (flags override files this way).
  void Set(const std::string& key, std::string value) { values_[key] = std::move(value); }
  // Overlays `other` on top of this: keys in `other` win.
  void Merge(const HyperParams& other);

  // Typed access. A missing key yields `fallback`; a present key that does not
  // parse as the type is kInvalidArgument naming the key and the value.
  Result<double> GetDouble(const std::string& key, double fallback) const;
  Result<int64_t> GetInt(const std::string& key, int64_t fallback) const;
  Result<bool> GetBool(const std::string& key, bool fallback) const;
  std::string GetString(const std::string& key, const std::string& fallback) const;

  // Keys not in `known` (so a misspelt hyper-parameter is an error, not
  // silently ignored).
  std::vector<std::string> UnknownKeys(const std::set<std::string>& known) const;

  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace mbrl
