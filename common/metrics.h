// Helpers for Prometheus metrics. Registries are passed in, never global:
// each role makes one and hands it to its components.
//
// Names follow mbrl_<component>_<thing>_<unit>; counters end in _total and
// latencies are _seconds histograms.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace mbrl {

// Registers mbrl_build_info{version, role} = 1 in `registry`.
void RegisterBuildInfo(prometheus::Registry& registry, const std::string& role);

// Latency buckets (seconds) from 50 µs to ~10 s, roughly ×2.5 apart.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

// Version string of this build ("0.1.0").
const char* BuildVersion();

}  // namespace mbrl
