#include "envs/raster.h"

#include <algorithm>
#include <cmath>

namespace mbrl::envs {

Canvas::Canvas(uint32_t width, uint32_t height, Rgb background)
    : width_(width), height_(height), pixels_(size_t{width} * height * 3) {
  for (size_t i = 0; i < pixels_.size(); i += 3) {
    pixels_[i] = background.r;
    pixels_[i + 1] = background.g;
    pixels_[i + 2] = background.b;
  }
}

void Canvas::SetView(double center_x, double center_y, double pixels_per_unit) {
  center_x_ = center_x;
  center_y_ = center_y;
  scale_ = pixels_per_unit;
}

double Canvas::PixelU(double x) const { return 0.5 * width_ + (x - center_x_) * scale_; }
double Canvas::PixelV(double y) const { return 0.5 * height_ - (y - center_y_) * scale_; }

void Canvas::Put(uint32_t column, uint32_t row, Rgb color) {
  const size_t i = (size_t{row} * width_ + column) * 3;
  pixels_[i] = color.r;
  pixels_[i + 1] = color.g;
  pixels_[i + 2] = color.b;
}

void Canvas::Span(double a, double b, uint32_t limit, uint32_t* lo, uint32_t* hi) {
  // Pixel k has its centre at k + 0.5; keep k with a <= k + 0.5 <= b.
  const double first = std::ceil(a - 0.5);
  const double last = std::floor(b - 0.5);
  const double clamped_first = std::clamp(first, 0.0, static_cast<double>(limit));
  const double clamped_end = std::clamp(last + 1.0, 0.0, static_cast<double>(limit));
  *lo = static_cast<uint32_t>(clamped_first);
  *hi = std::max(*lo, static_cast<uint32_t>(clamped_end));
}

void Canvas::FillRect(double x0, double y0, double x1, double y1, Rgb color) {
  const double u0 = PixelU(std::min(x0, x1));
  const double u1 = PixelU(std::max(x0, x1));
  const double v0 = PixelV(std::max(y0, y1));
  const double v1 = PixelV(std::min(y0, y1));
  uint32_t c_lo, c_hi, r_lo, r_hi;
  Span(u0, u1, width_, &c_lo, &c_hi);
  Span(v0, v1, height_, &r_lo, &r_hi);
  for (uint32_t r = r_lo; r < r_hi; ++r) {
    for (uint32_t c = c_lo; c < c_hi; ++c) Put(c, r, color);
  }
}

void Canvas::FillDisc(double x, double y, double radius, Rgb color) {
  DrawSegment(x, y, x, y, 2.0 * radius, color);
}

void Canvas::DrawSegment(double x0, double y0, double x1, double y1, double thickness, Rgb color) {
  const double au = PixelU(x0), av = PixelV(y0);
  const double bu = PixelU(x1), bv = PixelV(y1);
  const double radius = 0.5 * thickness * scale_;
  uint32_t c_lo, c_hi, r_lo, r_hi;
  Span(std::min(au, bu) - radius, std::max(au, bu) + radius, width_, &c_lo, &c_hi);
  Span(std::min(av, bv) - radius, std::max(av, bv) + radius, height_, &r_lo, &r_hi);
  const double du = bu - au, dv = bv - av;
  const double length_sq = du * du + dv * dv;
  const double radius_sq = radius * radius;
  for (uint32_t r = r_lo; r < r_hi; ++r) {
    const double pv = r + 0.5;
    for (uint32_t c = c_lo; c < c_hi; ++c) {
      const double pu = c + 0.5;
      // Distance from the pixel centre to the closest point of the segment.
      double t = 0.0;
      if (length_sq > 0.0) t = std::clamp(((pu - au) * du + (pv - av) * dv) / length_sq, 0.0, 1.0);
      const double eu = pu - (au + t * du), ev = pv - (av + t * dv);
      if (eu * eu + ev * ev <= radius_sq) Put(c, r, color);
    }
  }
}

}  // namespace mbrl::envs
