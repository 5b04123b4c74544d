#include "common/types.h"

namespace mbrl {

bool BoxSpace::Contains(const std::vector<float>& x) const {
  if (x.size() != low.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] >= low[i] && x[i] <= high[i])) return false;
  }
  return true;
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return 4;
    case DType::kFloat64:
      return 8;
    case DType::kInt64:
      return 8;
    case DType::kUInt8:
      return 1;
    case DType::kInt32:
      return 4;
  }
  return 0;
}

int64_t NamedTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace mbrl
