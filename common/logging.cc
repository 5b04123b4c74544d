#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace mbrl {

Status InitLogging(const std::string& role, const std::string& level) {
  spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    return InvalidArgument("unknown log level '" + level +
                           "' (use trace, debug, info, warn, error or off)");
  }
  spdlog::drop(role);
  auto logger = spdlog::stderr_color_mt(role);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
  return OkStatus();
}

}  // namespace mbrl
