#include "models/tensor_convert.h"

#include <ATen/ATen.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

namespace mbrl::models {
namespace {

// NamedTensor data is little-endian; copying raw bytes is only correct on a
// little-endian host. Supporting big-endian would need a byte swap per element.
static_assert(std::endian::native == std::endian::little,
              "models/tensor_convert assumes a little-endian host");

std::string DtypeName(c10::ScalarType type) { return c10::toString(type); }

}  // namespace

c10::ScalarType ToTorchDtype(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return c10::ScalarType::Float;
    case DType::kFloat64:
      return c10::ScalarType::Double;
    case DType::kInt64:
      return c10::ScalarType::Long;
    case DType::kUInt8:
      return c10::ScalarType::Byte;
    case DType::kInt32:
      return c10::ScalarType::Int;
  }
  // Unreachable for valid enum values; the codec rejects unknown ones.
  TORCH_CHECK(false, "unknown DType ", static_cast<int>(dtype));
}

Result<DType> FromTorchDtype(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Float:
      return DType::kFloat32;
    case c10::ScalarType::Double:
      return DType::kFloat64;
    case c10::ScalarType::Long:
      return DType::kInt64;
    case c10::ScalarType::Byte:
      return DType::kUInt8;
    case c10::ScalarType::Int:
      return DType::kInt32;
    default:
      return InvalidArgument("tensor dtype " + DtypeName(type) +
                             " cannot be stored in a NamedTensor; convert it to float32, "
                             "float64, int64, int32 or uint8 first");
  }
}

Result<at::Tensor> ToTorch(const NamedTensor& tensor) {
  if (DTypeSize(tensor.dtype) == 0) {
    return InvalidArgument("tensor " + tensor.name + " has unknown dtype " +
                           std::to_string(static_cast<int>(tensor.dtype)));
  }
  // Validate before allocating: the shape comes from the network and must not
  // make us allocate memory that the data does not back.
  uint64_t numel = 1;
  for (int64_t d : tensor.shape) {
    if (d < 0) {
      return InvalidArgument("tensor " + tensor.name + " has negative dimension " +
                             std::to_string(d));
    }
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidArgument("tensor " + tensor.name + " has an impossibly large shape");
    }
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(tensor.dtype)), &bytes)) {
    return InvalidArgument("tensor " + tensor.name + " has an impossibly large shape");
  }
  if (tensor.data.size() != bytes) {
    return InvalidArgument("tensor " + tensor.name + " has " + std::to_string(tensor.data.size()) +
                           " data bytes; its shape and dtype need " + std::to_string(bytes));
  }
  at::Tensor out = at::empty(tensor.shape, at::TensorOptions().dtype(ToTorchDtype(tensor.dtype)));
  if (bytes > 0) std::memcpy(out.data_ptr(), tensor.data.data(), bytes);
  return out;
}

Result<NamedTensor> FromTorch(std::string name, const at::Tensor& tensor) {
  if (!tensor.defined()) return InvalidArgument("tensor " + name + " is undefined");
  Result<DType> dtype = FromTorchDtype(tensor.scalar_type());
  if (!dtype) {
    return InvalidArgument("tensor " + name + ": " + dtype.error().reason);
  }
  // contiguous() is a no-op for a tensor that already is; a view with a
  // storage offset is handled by data_ptr().
  const at::Tensor source = tensor.detach().to(at::kCPU).contiguous();
  NamedTensor out;
  out.name = std::move(name);
  out.shape.assign(source.sizes().begin(), source.sizes().end());
  out.dtype = *dtype;
  out.data.resize(source.nbytes());
  if (!out.data.empty()) std::memcpy(out.data.data(), source.data_ptr(), out.data.size());
  return out;
}

}  // namespace mbrl::models
