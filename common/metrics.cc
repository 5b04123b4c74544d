#include "common/metrics.h"

#include <prometheus/gauge.h>

namespace mbrl {

#ifndef MBRL_VERSION
#define MBRL_VERSION "0.0.0"
#endif

const char* BuildVersion() { return MBRL_VERSION; }

void RegisterBuildInfo(prometheus::Registry& registry, const std::string& role) {
  auto& family = prometheus::BuildGauge()
                     .Name("mbrl_build_info")
                     .Help("Build information of this mbrl process; the value is always 1.")
                     .Register(registry);
  family.Add({{"version", BuildVersion()}, {"role", role}}).Set(1);
}

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
}

}  // namespace mbrl
