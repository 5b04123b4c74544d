#include "proto/wire_internal.h"

#include <kj/io.h>

#include <algorithm>
#include <limits>

namespace mbrl::proto::internal {
namespace {

constexpr size_t kWord = sizeof(capnp::word);
// Cap'n Proto segment sizes are 32-bit word counts; stay well inside.
constexpr size_t kMaxFirstSegmentWords = size_t{1} << 28;
constexpr size_t kMinExtraSegmentWords = 1024;

bool IsAligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kWord == 0; }

thread_local size_t t_message_words = 0;

}  // namespace

size_t CurrentMessageWords() { return t_message_words; }

MessageWordsScope::MessageWordsScope(size_t words) : previous_(t_message_words) {
  t_message_words = words;
}

MessageWordsScope::~MessageWordsScope() { t_message_words = previous_; }

FlatBuilder::FlatBuilder(size_t estimated_bytes) {
  first_words_ = std::min(estimated_bytes / kWord + 16, kMaxFirstSegmentWords);
  buffer_.assign(kWord + first_words_ * kWord, '\0');
  if (IsAligned(buffer_.data())) {
    first_ = reinterpret_cast<capnp::word*>(buffer_.data() + kWord);
  }
}

FlatBuilder::~FlatBuilder() noexcept(false) = default;

kj::ArrayPtr<capnp::word> FlatBuilder::allocateSegment(unsigned int minimum_size) {
  if (!first_given_) {
    first_given_ = true;
    if (first_ != nullptr && minimum_size <= first_words_) {
      return kj::arrayPtr(first_, first_words_);
    }
  }
  const size_t words = std::max<size_t>({minimum_size, kMinExtraSegmentWords, first_words_ / 2});
  // Value-initialised: Cap'n Proto requires zeroed segments.
  extra_.push_back(std::unique_ptr<uint64_t[]>(new uint64_t[words]()));
  return kj::arrayPtr(reinterpret_cast<capnp::word*>(extra_.back().get()), words);
}

std::string FlatBuilder::Finish() {
  auto segments = getSegmentsForOutput();
  if (segments.size() == 1 && first_ != nullptr && segments[0].begin() == first_) {
    // Segment table of a one-segment message: (segment count - 1), size.
    const uint32_t header[2] = {0, static_cast<uint32_t>(segments[0].size())};
    std::memcpy(buffer_.data(), header, sizeof(header));
    buffer_.resize(kWord + segments[0].size() * kWord);
    return std::move(buffer_);
  }
  std::string out(capnp::computeSerializedSizeInWords(segments) * kWord, '\0');
  kj::ArrayOutputStream stream(kj::arrayPtr(reinterpret_cast<kj::byte*>(out.data()), out.size()));
  capnp::writeMessage(stream, segments);
  return out;
}

Result<kj::Array<capnp::word>> AlignedCopyIfNeeded(std::string_view bytes,
                                                   kj::ArrayPtr<const capnp::word>& words,
                                                   const DecodeLimits& limits, const char* what) {
  if (bytes.empty()) return DataLoss(std::string(what) + " is empty");
  if (bytes.size() % kWord != 0) {
    return DataLoss(std::string(what) + " has " + std::to_string(bytes.size()) +
                    " bytes, not a multiple of 8: truncated or not a Cap'n Proto message");
  }
  if (bytes.size() > limits.max_message_bytes) {
    return InvalidArgument(std::string(what) + " has " + std::to_string(bytes.size()) +
                           " bytes, more than the limit of " +
                           std::to_string(limits.max_message_bytes));
  }
  if (IsAligned(bytes.data())) {
    words = kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.data()), bytes.size() / kWord);
    return kj::Array<capnp::word>();
  }
  auto copy = kj::heapArray<capnp::word>(bytes.size() / kWord);
  std::memcpy(copy.begin(), bytes.data(), bytes.size());
  words = kj::ArrayPtr<const capnp::word>(copy.begin(), copy.size());
  return copy;
}

Error FromKjException(const kj::Exception& e, const char* what) {
  const std::string description = e.getDescription().cStr();
  if (description.find("traversal limit") != std::string::npos ||
      description.find("too deeply-nested") != std::string::npos) {
    return Error{ErrorCode::kInvalidArgument,
                 std::string(what) + " exceeds the decoder's limits: " + description};
  }
  return Error{ErrorCode::kDataLoss,
               std::string(what) + " is malformed (truncated or corrupted): " + description};
}

Status CheckVersion(uint16_t version, const char* what) {
  if (version >= 1 && version <= kSchemaVersion) return OkStatus();
  return InvalidArgument(std::string(what) + ": schema version " + std::to_string(version) +
                         " not supported; this build speaks " + std::to_string(kSchemaVersion));
}

capnp::ReaderOptions ToReaderOptions(const DecodeLimits& limits) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = std::max<uint64_t>(1, limits.traversal_limit_bytes / kWord);
  options.nestingLimit = limits.nesting_limit;
  return options;
}

}  // namespace mbrl::proto::internal
