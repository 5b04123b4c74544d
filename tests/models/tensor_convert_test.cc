// NamedTensor <-> torch::Tensor conversion keeps shapes, dtypes and exact bytes.
#include "models/tensor_convert.h"

#include <gtest/gtest.h>
#include <torch/types.h>

#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/models/torch_test_util.h"

namespace mbrl::models {
namespace {

using test::TorchTest;

std::string BytesOf(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

// Random bytes: for float dtypes this includes NaNs with payloads, infinities
// and subnormals, which a value-based copy could change.
std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
  return bytes;
}

std::string DTypeName(DType d) {
  switch (d) {
    case DType::kFloat32:
      return "Float32";
    case DType::kFloat64:
      return "Float64";
    case DType::kInt64:
      return "Int64";
    case DType::kUInt8:
      return "UInt8";
    case DType::kInt32:
      return "Int32";
  }
  return "Unknown";
}

class TensorConvertPerDtype : public TorchTest, public ::testing::WithParamInterface<DType> {};

TEST_P(TensorConvertPerDtype, NamedTensorBytesSurviveTorchRoundTripExactly) {
  NamedTensor original;
  original.name = "layer0.weight";
  original.shape = {2, 3, 5};
  original.dtype = GetParam();
  original.data = RandomBytes(30 * DTypeSize(GetParam()), 7);

  Result<at::Tensor> torch_tensor = ToTorch(original);
  ASSERT_TRUE(torch_tensor) << torch_tensor.error().ToString();
  EXPECT_EQ(torch_tensor->scalar_type(), ToTorchDtype(GetParam()));
  EXPECT_EQ(torch_tensor->sizes(), at::IntArrayRef({2, 3, 5}));
  EXPECT_TRUE(torch_tensor->is_contiguous());
  EXPECT_EQ(BytesOf(*torch_tensor), original.data);

  Result<NamedTensor> back = FromTorch(original.name, *torch_tensor);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, original);
}

TEST_P(TensorConvertPerDtype, TorchTensorSurvivesNamedTensorRoundTripExactly) {
  // In [0, 250): representable in every dtype, fractional for the float ones.
  const torch::Tensor values =
      (torch::rand({4, 7}, torch::kDouble) * 250.0).to(ToTorchDtype(GetParam()));

  Result<NamedTensor> named = FromTorch("x", values);
  ASSERT_TRUE(named) << named.error().ToString();
  EXPECT_EQ(named->dtype, GetParam());
  EXPECT_EQ(named->shape, (std::vector<int64_t>{4, 7}));
  EXPECT_EQ(named->data.size(), 28 * DTypeSize(GetParam()));

  Result<at::Tensor> back = ToTorch(*named);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_TRUE(torch::equal(*back, values));
}

INSTANTIATE_TEST_SUITE_P(TensorConvert, TensorConvertPerDtype,
                         ::testing::Values(DType::kFloat32, DType::kFloat64, DType::kInt64,
                                           DType::kInt32, DType::kUInt8),
                         [](const auto& info) { return DTypeName(info.param); });

class TensorConvert : public TorchTest {};

TEST_F(TensorConvert, DataIsReadRowMajor) {
  const std::vector<float> values = {0, 1, 2, 3, 4, 5};
  NamedTensor t{"m", {2, 3}, DType::kFloat32, std::string(6 * sizeof(float), '\0')};
  std::memcpy(t.data.data(), values.data(), t.data.size());

  Result<at::Tensor> m = ToTorch(t);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ((*m)[0][2].item<float>(), 2.0f);
  EXPECT_EQ((*m)[1][0].item<float>(), 3.0f);
}

TEST_F(TensorConvert, NonContiguousTensorIsStoredInItsLogicalRowMajorOrder) {
  const torch::Tensor base = torch::arange(6, torch::kInt64).reshape({2, 3});
  const torch::Tensor transposed = base.t();  // [[0, 3], [1, 4], [2, 5]], a strided view.
  ASSERT_FALSE(transposed.is_contiguous());

  Result<NamedTensor> named = FromTorch("t", transposed);
  ASSERT_TRUE(named) << named.error().ToString();
  EXPECT_EQ(named->shape, (std::vector<int64_t>{3, 2}));
  std::vector<int64_t> stored(6);
  std::memcpy(stored.data(), named->data.data(), named->data.size());
  EXPECT_EQ(stored, (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
}

TEST_F(TensorConvert, ScalarAndEmptyTensorsRoundTrip) {
  Result<NamedTensor> scalar = FromTorch("s", torch::tensor(2.5, torch::kDouble));
  ASSERT_TRUE(scalar) << scalar.error().ToString();
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(scalar->data.size(), sizeof(double));
  Result<at::Tensor> scalar_back = ToTorch(*scalar);
  ASSERT_TRUE(scalar_back) << scalar_back.error().ToString();
  EXPECT_EQ(scalar_back->dim(), 0);
  EXPECT_EQ(scalar_back->item<double>(), 2.5);

  Result<NamedTensor> empty = FromTorch("e", torch::zeros({0, 3}));
  ASSERT_TRUE(empty) << empty.error().ToString();
  EXPECT_TRUE(empty->data.empty());
  Result<at::Tensor> empty_back = ToTorch(*empty);
  ASSERT_TRUE(empty_back) << empty_back.error().ToString();
  EXPECT_EQ(empty_back->sizes(), at::IntArrayRef({0, 3}));
}

TEST_F(TensorConvert, ResultDoesNotAliasTheSource) {
  torch::Tensor source = torch::ones({3});
  Result<NamedTensor> named = FromTorch("a", source);
  ASSERT_TRUE(named);
  source.fill_(7.0f);
  Result<at::Tensor> back = ToTorch(*named);
  ASSERT_TRUE(back);
  EXPECT_TRUE(torch::equal(*back, torch::ones({3})));
}

TEST_F(TensorConvert, RejectsDataWhoseSizeDisagreesWithShape) {
  NamedTensor t{"layer1.bias", {5, 1, 8}, DType::kFloat32, std::string(5 * 8 * 4 - 1, '\0')};
  Result<at::Tensor> result = ToTorch(t);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(result.error().reason.find("layer1.bias"), std::string::npos);
  EXPECT_NE(result.error().reason.find("159"), std::string::npos) << result.error().reason;
}

TEST_F(TensorConvert, RejectsNegativeAndOverflowingShapesWithoutAllocating) {
  NamedTensor negative{"n", {2, -1}, DType::kFloat32, ""};
  Result<at::Tensor> a = ToTorch(negative);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ErrorCode::kInvalidArgument);

  const int64_t big = std::numeric_limits<int64_t>::max() / 2;
  NamedTensor overflowing{"o", {big, big}, DType::kFloat64, ""};
  Result<at::Tensor> b = ToTorch(overflowing);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, ErrorCode::kInvalidArgument);

  // A shape that fits but is not backed by data must not be allocated.
  NamedTensor huge{"h", {int64_t{1} << 40}, DType::kUInt8, ""};
  Result<at::Tensor> c = ToTorch(huge);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(TensorConvert, RejectsAnUnknownDtypeValue) {
  NamedTensor t{"q", {1}, static_cast<DType>(42), std::string(4, '\0')};
  Result<at::Tensor> result = ToTorch(t);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(TensorConvert, RejectsDtypesTheWireCannotCarry) {
  for (const auto type : {torch::kBool, torch::kHalf, torch::kInt16, torch::kInt8}) {
    Result<NamedTensor> result = FromTorch("w", torch::zeros({2}, type));
    ASSERT_FALSE(result) << c10::toString(type);
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().reason.find("w"), std::string::npos);
  }
  EXPECT_FALSE(FromTorch("u", torch::Tensor()));
}

}  // namespace
}  // namespace mbrl::models
