#include "apps/local_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <sstream>
#include <utility>

namespace mbrl::app {
namespace {

constexpr double kWidth = 820;
constexpr double kHeight = 620;
constexpr double kLeft = 80;  // Plot area inside each panel.
constexpr double kRight = 30;

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A tick label: short, without trailing zeros.
std::string Label(double v) {
  char buf[32];
  if (v != 0.0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-3)) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", v);
  }
  return buf;
}

// About `count` round tick values covering [lo, hi].
std::vector<double> Ticks(double lo, double hi, int count) {
  const double span = hi - lo;
  const double raw = span / std::max(1, count);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

// The range of `values`, widened a little and never empty.
std::pair<double, double> Range(const std::vector<double>& values) {
  double lo = *std::min_element(values.begin(), values.end());
  double hi = *std::max_element(values.begin(), values.end());
  if (hi - lo < 1e-12) {
    const double pad = std::max(1.0, std::abs(lo) * 0.1);
    return {lo - pad, hi + pad};
  }
  const double pad = (hi - lo) * 0.05;
  return {lo - pad, hi + pad};
}

// One panel: a frame, axes with ticks, and a series of points.
class Panel {
 public:
  Panel(std::ostringstream& out, double top, double height, std::string title)
      : out_(out), top_(top), height_(height) {
    out_ << "<text x=\"" << Num(kLeft) << "\" y=\"" << Num(top_ - 10)
         << "\" font-size=\"15\" font-weight=\"bold\">" << Escape(title) << "</text>\n";
    out_ << "<rect x=\"" << Num(kLeft) << "\" y=\"" << Num(top_) << "\" width=\""
         << Num(kWidth - kLeft - kRight) << "\" height=\"" << Num(height_)
         << "\" fill=\"none\" stroke=\"#888\"/>\n";
  }

  void Empty(const std::string& text) {
    out_ << "<text x=\"" << Num(kWidth / 2) << "\" y=\"" << Num(top_ + height_ / 2)
         << "\" text-anchor=\"middle\" fill=\"#888\">" << Escape(text) << "</text>\n";
  }

  // Axes over [x0, x1] × [y0, y1]; with `log_y` the y values given to the
  // other methods are log10 of the data, and ticks are labelled as powers.
  void Axes(double x0, double x1, double y0, double y1, bool log_y, const std::string& x_name,
            const std::string& y_name) {
    x0_ = x0, x1_ = x1, y0_ = y0, y1_ = y1;
    for (double t : Ticks(x0, x1, 10)) {
      if (std::abs(t - std::round(t)) > 1e-9) continue;  // Integer x values only.
      out_ << "<text x=\"" << Num(X(t)) << "\" y=\"" << Num(top_ + height_ + 16)
           << "\" text-anchor=\"middle\" font-size=\"11\">" << Label(t) << "</text>\n";
    }
    const std::vector<double> y_ticks =
        log_y ? Ticks(std::floor(y0), std::ceil(y1), static_cast<int>(std::ceil(y1 - y0)) + 1)
              : Ticks(y0, y1, 6);
    for (double t : y_ticks) {
      if (t < y0 || t > y1) continue;
      out_ << "<line x1=\"" << Num(kLeft) << "\" x2=\"" << Num(kWidth - kRight) << "\" y1=\""
           << Num(Y(t)) << "\" y2=\"" << Num(Y(t)) << "\" stroke=\"#eee\"/>\n";
      out_ << "<text x=\"" << Num(kLeft - 6) << "\" y=\"" << Num(Y(t) + 4)
           << "\" text-anchor=\"end\" font-size=\"11\">"
           << (log_y ? Label(std::pow(10.0, t)) : Label(t)) << "</text>\n";
    }
    out_ << "<text x=\"" << Num(kLeft + (kWidth - kLeft - kRight) / 2) << "\" y=\""
         << Num(top_ + height_ + 34) << "\" text-anchor=\"middle\" font-size=\"12\">"
         << Escape(x_name) << "</text>\n";
    out_ << "<text transform=\"translate(18," << Num(top_ + height_ / 2)
         << ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">" << Escape(y_name)
         << "</text>\n";
  }

  // A one-line key in the panel's top right corner.
  void Legend(const std::string& text) {
    out_ << "<text x=\"" << Num(kWidth - kRight) << "\" y=\"" << Num(top_ - 10)
         << "\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">" << Escape(text) << "</text>\n";
  }

  void HorizontalLine(double y, const std::string& label) {
    if (y < y0_ || y > y1_) return;
    out_ << "<line x1=\"" << Num(kLeft) << "\" x2=\"" << Num(kWidth - kRight) << "\" y1=\""
         << Num(Y(y)) << "\" y2=\"" << Num(Y(y))
         << "\" stroke=\"#2a2\" stroke-dasharray=\"6,4\"/>\n";
    // Below the line on the left, where a learning curve starts low.
    out_ << "<text x=\"" << Num(kLeft + 4) << "\" y=\"" << Num(Y(y) + 13)
         << "\" font-size=\"11\" fill=\"#2a2\">" << Escape(label) << "</text>\n";
  }

  void Polyline(const std::vector<std::pair<double, double>>& points, const std::string& color) {
    if (points.size() < 2) return;
    out_ << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.5\" points=\"";
    for (const auto& [x, y] : points) out_ << Num(X(x)) << "," << Num(Y(y)) << " ";
    out_ << "\"/>\n";
  }

  void Point(double x, double y, const std::string& color, bool hollow, const std::string& tip) {
    out_ << "<circle cx=\"" << Num(X(x)) << "\" cy=\"" << Num(Y(y)) << "\" r=\"4\" stroke=\""
         << color << "\" fill=\"" << (hollow ? "white" : color) << "\"><title>" << Escape(tip)
         << "</title></circle>\n";
  }

 private:
  double X(double x) const {
    const double w = kWidth - kLeft - kRight;
    return kLeft + (x1_ > x0_ ? (x - x0_) / (x1_ - x0_) : 0.5) * w;
  }
  double Y(double y) const { return top_ + height_ - (y - y0_) / (y1_ - y0_) * height_; }

  std::ostringstream& out_;
  double top_, height_;
  double x0_ = 0, x1_ = 1, y0_ = 0, y1_ = 1;
};

}  // namespace

std::string LearningCurveSvg(const LearningCurve& curve) {
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << Num(kWidth) << "\" height=\""
      << Num(kHeight) << "\" viewBox=\"0 0 " << Num(kWidth) << " " << Num(kHeight)
      << "\" font-family=\"sans-serif\">\n";
  out << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out << "<text x=\"" << Num(kWidth / 2)
      << "\" y=\"24\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">"
      << Escape(curve.title) << "</text>\n";

  // Episodes.
  std::vector<CurveEpisode> episodes;
  for (const CurveEpisode& e : curve.episodes) {
    if (std::isfinite(e.episode_return)) episodes.push_back(e);
  }
  std::sort(episodes.begin(), episodes.end(),
            [](const auto& a, const auto& b) { return a.index < b.index; });
  Panel returns(out, 70, 300, "Return per episode");
  if (episodes.empty()) {
    returns.Empty("no finished episodes");
  } else {
    std::vector<double> ys;
    for (const auto& e : episodes) ys.push_back(e.episode_return);
    if (curve.target_return) ys.push_back(*curve.target_return);
    auto [y0, y1] = Range(ys);
    const double x0 = episodes.front().index + 1 - 0.5;
    const double x1 = episodes.back().index + 1 + 0.5;
    returns.Axes(x0, x1, y0, y1, false, "episode", "return");
    returns.Legend("\u25CB random (warm-up or no model)   \u25CF planned through a model");
    if (curve.target_return) {
      returns.HorizontalLine(*curve.target_return, "goal " + Label(*curve.target_return));
    }
    std::vector<std::pair<double, double>> line;
    for (const auto& e : episodes) line.emplace_back(e.index + 1, e.episode_return);
    returns.Polyline(line, "#36c");
    for (const auto& e : episodes) {
      const std::string tip =
          "episode " + std::to_string(e.index + 1) + ": return " + Label(e.episode_return) +
          (e.warmup              ? " (random warm-up)"
           : e.model_version > 0 ? " (model v" + std::to_string(e.model_version) + ")"
                                 : " (no model)");
      returns.Point(e.index + 1, e.episode_return, e.warmup ? "#999" : "#36c",
                    e.warmup || e.model_version == 0, tip);
    }
  }

  // Models.
  std::vector<CurveModel> models;
  for (const CurveModel& m : curve.models) {
    if (std::isfinite(m.holdout_loss) && m.holdout_loss >= 0) models.push_back(m);
  }
  std::sort(models.begin(), models.end(),
            [](const auto& a, const auto& b) { return a.version < b.version; });
  Panel losses(out, 440, 130, "Model " + curve.loss_name + " per version");
  if (models.empty()) {
    losses.Empty("no model versions");
  } else {
    double lo = std::numeric_limits<double>::infinity(), hi = 0;
    for (const auto& m : models) {
      if (m.holdout_loss > 0) lo = std::min(lo, m.holdout_loss);
      hi = std::max(hi, m.holdout_loss);
    }
    const bool log_y = std::isfinite(lo) && hi / lo > 10.0;
    auto y = [&](double v) { return log_y ? std::log10(std::max(v, lo)) : v; };
    std::vector<double> ys;
    for (const auto& m : models) ys.push_back(y(m.holdout_loss));
    auto [y0, y1] = Range(ys);
    if (!log_y) y0 = std::max(0.0, y0);
    const double x0 = static_cast<double>(models.front().version) - 0.5;
    const double x1 = static_cast<double>(models.back().version) + 0.5;
    losses.Axes(x0, x1, y0, y1, log_y, "model version", curve.loss_name);
    std::vector<std::pair<double, double>> line;
    for (const auto& m : models) line.emplace_back(m.version, y(m.holdout_loss));
    losses.Polyline(line, "#c63");
    for (const auto& m : models) {
      losses.Point(static_cast<double>(m.version), y(m.holdout_loss), "#c63", false,
                   "version " + std::to_string(m.version) + ": " + Label(m.holdout_loss));
    }
  }
  out << "</svg>\n";
  return out.str();
}

}  // namespace mbrl::app
