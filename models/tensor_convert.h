// Conversion between the wire/core tensor type (NamedTensor, common/types.h)
// and LibTorch tensors.
//
// This header includes only <ATen/core/Tensor.h> (about 1.5 s to parse, against
// ~12 s for <torch/torch.h>), so code that merely moves tensors in and out of
// messages stays cheap to compile. torch::Tensor is the same type as at::Tensor.
//
// Both directions copy: the result never aliases the source's memory. Bytes are
// copied exactly (no rounding, NaN payloads kept) in row-major (C-contiguous)
// order, little-endian as NamedTensor requires (this build targets
// little-endian hosts only; see the static_assert in tensor_convert.cc).
//
// Supported dtypes: float32, float64, int64, int32, uint8 (all of DType).
// Thread-safety: the functions are pure and may be called concurrently.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <string>

#include "common/status.h"
#include "common/types.h"

namespace mbrl::models {

// The LibTorch scalar type for a DType. Total: every DType has one.
c10::ScalarType ToTorchDtype(DType dtype);

// The DType for a LibTorch scalar type; kInvalidArgument for scalar types the
// wire format cannot carry (bool, float16, complex, ...).
Result<DType> FromTorchDtype(c10::ScalarType type);

// A new CPU tensor with `tensor.shape`, its dtype and a copy of its bytes.
// Errors (kInvalidArgument, naming the tensor): an unknown dtype value, a
// negative dimension, a shape whose byte size overflows, or `data` whose size
// is not numel × dtype size.
// A shape of {} yields a 0-dim (scalar) tensor holding one element.
Result<at::Tensor> ToTorch(const NamedTensor& tensor);

// A NamedTensor called `name` holding a row-major copy of `tensor` (moved to
// the CPU and made contiguous first if needed; autograd history is ignored).
// Errors: kInvalidArgument for an undefined tensor or an unsupported dtype.
Result<NamedTensor> FromTorch(std::string name, const at::Tensor& tensor);

}  // namespace mbrl::models
