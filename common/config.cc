#include "common/config.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

namespace mbrl {

std::string EnvVarForFlag(const std::string& flag) {
  std::string out = "MBRL_";
  for (char c : flag) {
    out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

void BindEnvironmentVariables(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    const auto& names = option->get_lnames();
    if (names.empty() || names.front() == "help") continue;
    // MBRL_VERSION is what deployments set to the image's version: it must
    // not turn every run into a version print, nor pick a model version.
    if (names.front() == "version") continue;
    option->envname(EnvVarForFlag(names.front()));
  }
  for (CLI::App* sub : app.get_subcommands({})) BindEnvironmentVariables(*sub);
}

namespace {

Status Flatten(const YAML::Node& node, const std::string& prefix,
               std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      Status s = Flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out);
      if (!s) return s;
    }
    return OkStatus();
  }
  if (node.IsScalar()) {
    out[prefix] = node.Scalar();
    return OkStatus();
  }
  if (node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) {
      if (!item.IsScalar()) {
        return InvalidArgument("key '" + prefix + "': lists may hold only scalars");
      }
      if (!joined.empty()) joined += ",";
      joined += item.Scalar();
    }
    out[prefix] = joined;
    return OkStatus();
  }
  if (node.IsNull()) return OkStatus();
  return InvalidArgument("key '" + prefix + "': unsupported YAML node");
}

}  // namespace

Result<HyperParams> HyperParams::FromYamlString(const std::string& text) {
  HyperParams params;
  try {
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) return params;
    if (!root.IsMap()) return InvalidArgument("the top level of a config must be a mapping");
    Status s = Flatten(root, "", params.values_);
    if (!s) return std::unexpected(s.error());
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("YAML parse error: ") + e.what());
  }
  return params;
}

Result<HyperParams> HyperParams::FromYamlFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument("cannot read config file '" + path + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto parsed = FromYamlString(buffer.str());
  if (!parsed) return InvalidArgument(path + ": " + parsed.error().reason);
  return parsed;
}

void HyperParams::Merge(const HyperParams& other) {
  for (const auto& [k, v] : other.values_) values_[k] = v;
}

Result<double> HyperParams::GetDouble(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  try {
    size_t used = 0;
    double v = std::stod(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (...) {
  }
  return InvalidArgument("config key '" + key + "': '" + it->second + "' is not a number");
}

Result<int64_t> HyperParams::GetInt(const std::string& key, int64_t fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  int64_t v = 0;
  const std::string& s = it->second;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) {
    return InvalidArgument("config key '" + key + "': '" + s + "' is not an integer");
  }
  return v;
}

Result<bool> HyperParams::GetBool(const std::string& key, bool fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& s = it->second;
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  return InvalidArgument("config key '" + key + "': '" + s + "' is not a boolean");
}

std::string HyperParams::GetString(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

std::vector<std::string> HyperParams::UnknownKeys(const std::set<std::string>& known) const {
  std::vector<std::string> unknown;
  for (const auto& [k, v] : values_) {
    if (!known.count(k)) unknown.push_back(k);
  }
  return unknown;
}

}  // namespace mbrl
