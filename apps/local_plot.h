// The learning curve of an `mbrl local` run as a self-contained SVG: the
// return of every episode (warm-up episodes drawn apart) above the holdout
// loss of every model version. Plain text, no dependencies; any browser shows
// it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mbrl::app {

struct CurveEpisode {
  int index = 0;  // From 0; drawn as index + 1.
  double episode_return = 0.0;
  bool warmup = false;  // Random by design (drawn hollow).
  uint64_t model_version = 0;
};

struct CurveModel {
  uint64_t version = 0;
  double holdout_loss = 0.0;  // Drawn on a log axis when it spans > 10x.
};

struct LearningCurve {
  std::string title;  // E.g. "cartpole_swingup — mpc, cem".
  std::string loss_name = "holdout loss";
  std::vector<CurveEpisode> episodes;   // Any order; non-finite returns are left out.
  std::vector<CurveModel> models;       // Any order; non-finite or negative losses left out.
  std::optional<double> target_return;  // A dashed reference line, e.g. 170.
};

// The SVG document (UTF-8, starts with "<svg", well-formed XML).
std::string LearningCurveSvg(const LearningCurve& curve);

}  // namespace mbrl::app
