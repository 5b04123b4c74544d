// Process-wide logging setup (spdlog to stderr). Components log through
// spdlog's default logger; the role name prefixes every line.
#pragma once

#include <string>

#include "common/status.h"

namespace mbrl {

// level: trace, debug, info, warn, error, off. kInvalidArgument otherwise.
Status InitLogging(const std::string& role, const std::string& level);

}  // namespace mbrl
