// A tiny deterministic software rasteriser for the environments' image
// observations: a filled background, axis-aligned rectangles, thick line
// segments and discs, drawn without anti-aliasing. A pixel is covered when its
// centre lies inside the shape, so the same state always gives the same bytes.
// Internal to mbrl_envs.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace mbrl::envs {

struct Rgb {
  uint8_t r = 0;
  uint8_t g = 0;
  uint8_t b = 0;
};

class Canvas {
 public:
  // An RGB image, row-major, filled with `background`.
  Canvas(uint32_t width, uint32_t height, Rgb background);

  // Maps world coordinates (x right, y up) to pixels: the world point
  // (center_x, center_y) lands in the image centre, one world unit spans
  // `pixels_per_unit` pixels.
  void SetView(double center_x, double center_y, double pixels_per_unit);

  // Shapes in world coordinates (lengths in world units).
  void FillRect(double x0, double y0, double x1, double y1, Rgb color);
  void FillDisc(double x, double y, double radius, Rgb color);
  // A segment of the given total thickness with round caps.
  void DrawSegment(double x0, double y0, double x1, double y1, double thickness, Rgb color);

  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  const std::vector<uint8_t>& pixels() const { return pixels_; }
  std::vector<uint8_t> TakePixels() { return std::move(pixels_); }

 private:
  double PixelU(double x) const;  // World x -> pixel column coordinate.
  double PixelV(double y) const;  // World y -> pixel row coordinate.
  void Put(uint32_t column, uint32_t row, Rgb color);
  // Pixel index range [lo, hi) whose centres may lie in [a, b].
  static void Span(double a, double b, uint32_t limit, uint32_t* lo, uint32_t* hi);

  uint32_t width_;
  uint32_t height_;
  double center_x_ = 0.0;
  double center_y_ = 0.0;
  double scale_ = 1.0;
  std::vector<uint8_t> pixels_;
};

}  // namespace mbrl::envs
