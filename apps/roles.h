// Entry points of the `mbrl` subcommands. Each returns the process exit code:
// kExitOk, kExitUsage (bad usage or configuration, one line on stderr) or
// kExitFailure (failure at run time).
#pragma once

#include <cstdint>
#include <string>

#include "apps/options.h"

namespace mbrl::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int RunEnvs(const EnvsOptions& options);
int RunLocal(const LocalOptions& options, const CommonOptions& common);
int RunStorage(const StorageOptions& options, const CommonOptions& common);
int RunLearner(const LearnerOptions& options, const CommonOptions& common);
int RunBroker(const BrokerOptions& options, const CommonOptions& common);
int RunPlanner(const PlannerOptions& options, const CommonOptions& common);
int RunCollector(const CollectorOptions& options, const CommonOptions& common);
int RunInspect(const InspectOptions& options);

// `mbrl export-model`: exactly one of `storage` (an endpoint) and `data_dir`
// (a data directory, opened read-only) says where the model is read from.
struct ExportModelOptions {
  std::string storage;
  std::string data_dir;
  std::string name;
  uint64_t version = 0;  // 0: the latest.
  std::string out;
};
int RunExportModel(const ExportModelOptions& options);

// For a role whose component is not built yet: says so, returns kExitFailure.
int NotBuilt(const std::string& role);

// Prints "mbrl <role>: <reason>" on stderr and returns `code`.
int Fail(const std::string& role, int code, const std::string& reason);

}  // namespace mbrl::app
