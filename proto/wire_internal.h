// Internal to mbrl_proto (and its tests): the Cap'n Proto plumbing the codec
// is built on. Not part of the public API: it includes Cap'n Proto headers.
#pragma once

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/types.h"
#include "proto/codec.h"

namespace mbrl::proto::internal {

static_assert(std::endian::native == std::endian::little,
              "the codec copies list payloads as raw little-endian bytes");

// A MessageBuilder whose first segment lives inside the std::string that will
// be sent, just after room for a one-segment table. When the message fits in
// that segment (the codec sizes it from an upper-bound estimate), encoding
// costs one zero-fill plus the copies of the payloads into the message, and
// the string is returned as is. Later segments come from the heap; a message
// that needs them is flattened with one extra copy.
class FlatBuilder final : public capnp::MessageBuilder {
 public:
  explicit FlatBuilder(size_t estimated_bytes);
  ~FlatBuilder() noexcept(false) override;

  kj::ArrayPtr<capnp::word> allocateSegment(unsigned int minimum_size) override;

  // The flat message. Call once, after building.
  std::string Finish();

  // Segments used (1 when the estimate held); for tests.
  size_t SegmentCount() { return getSegmentsForOutput().size(); }

 private:
  std::string buffer_;
  capnp::word* first_ = nullptr;
  size_t first_words_ = 0;
  bool first_given_ = false;
  std::vector<std::unique_ptr<uint64_t[]>> extra_;
};

// Builds a message of root type Root with `fill(Root::Builder)`.
template <typename Root, typename Fill>
std::string EncodeFlat(size_t estimated_bytes, Fill&& fill) {
  try {
    FlatBuilder builder(estimated_bytes);
    fill(builder.initRoot<Root>());
    return builder.Finish();
  } catch (const kj::Exception& e) {
    throw std::length_error(std::string("cannot encode message: ") + e.getDescription().cStr());
  }
}

// Thrown (and caught by DecodeFlat) when a reader finds a problem deep inside
// a value whose reader has no Result to return it through.
struct DecodeFailure {
  Error error;
};

// Words of the message being decoded on this thread (0 = no limit). A list of
// structs cannot legitimately hold more elements than that: every element a
// real writer produces takes at least one word. Lists of zero-sized structs
// can claim billions of elements in a few bytes (Cap'n Proto only charges
// them to the traversal limit), and each would become a C++ struct here.
size_t CurrentMessageWords();

class MessageWordsScope {
 public:
  explicit MessageWordsScope(size_t words);
  ~MessageWordsScope();
  MessageWordsScope(const MessageWordsScope&) = delete;
  MessageWordsScope& operator=(const MessageWordsScope&) = delete;

 private:
  size_t previous_;
};

// Returns `list` after checking its element count against the message size.
template <typename List>
List CheckedStructList(List list, const char* what) {
  const size_t limit = CurrentMessageWords();
  if (limit != 0 && list.size() > limit) {
    throw DecodeFailure{Error{ErrorCode::kDataLoss, std::string("list of ") + what + " claims " +
                                                        std::to_string(list.size()) +
                                                        " elements in a message of " +
                                                        std::to_string(limit) + " words"}};
  }
  return list;
}

// Parses `bytes` as a message with root Root, checks its schemaVersion and
// hands the root to `read`, which returns Result<T>. Every failure mode of
// untrusted input ends up as an Error.
Result<kj::Array<capnp::word>> AlignedCopyIfNeeded(std::string_view bytes,
                                                   kj::ArrayPtr<const capnp::word>& words,
                                                   const DecodeLimits& limits, const char* what);
Error FromKjException(const kj::Exception& e, const char* what);
Status CheckVersion(uint16_t version, const char* what);
capnp::ReaderOptions ToReaderOptions(const DecodeLimits& limits);

template <typename Root, typename Read>
auto DecodeFlat(std::string_view bytes, const DecodeLimits& limits, const char* what, Read&& read)
    -> decltype(read(std::declval<typename Root::Reader>())) {
  kj::ArrayPtr<const capnp::word> words;
  auto copy = AlignedCopyIfNeeded(bytes, words, limits, what);
  if (!copy) return std::unexpected(copy.error());
  try {
    MessageWordsScope scope(words.size());
    capnp::FlatArrayMessageReader reader(words, ToReaderOptions(limits));
    if (reader.getEnd() != words.end()) {
      return DataLoss(std::string(what) + " has " +
                      std::to_string((words.end() - reader.getEnd()) * sizeof(capnp::word)) +
                      " trailing bytes after the message");
    }
    auto root = reader.getRoot<Root>();
    if (auto s = CheckVersion(root.getSchemaVersion(), what); !s) {
      return std::unexpected(s.error());
    }
    return read(root);
  } catch (const kj::Exception& e) {
    return std::unexpected(FromKjException(e, what));
  } catch (const DecodeFailure& failure) {
    return std::unexpected(
        Error{failure.error.code, std::string(what) + ": " + failure.error.reason});
  }
}

// ---- Field helpers ----

inline capnp::Text::Reader ToText(const std::string& s) {
  return capnp::Text::Reader(s.c_str(), s.size());
}
inline std::string FromText(capnp::Text::Reader t) { return std::string(t.begin(), t.size()); }

template <typename Bytes>
capnp::Data::Reader ToData(const Bytes& b) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(b.data()), b.size());
}
inline std::string DataToString(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}
inline std::vector<uint8_t> DataToBytes(capnp::Data::Reader d) {
  return std::vector<uint8_t>(d.begin(), d.end());
}

template <typename T>
constexpr capnp::ElementSize ElementSizeOf() {
  if constexpr (sizeof(T) == 1) return capnp::ElementSize::BYTE;
  if constexpr (sizeof(T) == 2) return capnp::ElementSize::TWO_BYTES;
  if constexpr (sizeof(T) == 4) return capnp::ElementSize::FOUR_BYTES;
  return capnp::ElementSize::EIGHT_BYTES;
}

// Copies a vector of numbers into a freshly initialised primitive list: one
// memcpy on the normal (flat) layout, element by element otherwise.
template <typename T>
void CopyToList(typename capnp::List<T>::Builder dst, const std::vector<T>& src) {
  if (src.empty()) return;
  capnp::AnyList::Reader any(dst.asReader());
  if (any.getElementSize() == ElementSizeOf<T>()) {
    auto raw = any.getRawBytes();
    if (raw.size() == src.size() * sizeof(T)) {
      // The builder owns this memory; the reader view is only a way to reach it.
      std::memcpy(const_cast<kj::byte*>(raw.begin()), src.data(), raw.size());
      return;
    }
  }
  for (unsigned int i = 0; i < src.size(); ++i) dst.set(i, src[i]);
}

// Copies a primitive list from an untrusted reader into a vector.
template <typename T>
std::vector<T> CopyFromList(typename capnp::List<T>::Reader src) {
  std::vector<T> out(src.size());
  if (out.empty()) return out;
  capnp::AnyList::Reader any(src);
  if (any.getElementSize() == ElementSizeOf<T>()) {
    auto raw = any.getRawBytes();
    if (raw.size() == out.size() * sizeof(T)) {
      std::memcpy(out.data(), raw.begin(), raw.size());
      return out;
    }
  }
  for (unsigned int i = 0; i < out.size(); ++i) out[i] = src[i];
  return out;
}

// Checked casts from wire enums (which may hold values a newer writer added)
// to core enums whose numeric values match.
template <typename Core, typename Wire>
Result<Core> EnumFromWire(Wire value, uint16_t max_known, const char* what) {
  const auto raw = static_cast<uint16_t>(value);
  if (raw > max_known) {
    return InvalidArgument(std::string("unknown ") + what + " " + std::to_string(raw) +
                           " (this build knows 0.." + std::to_string(max_known) + ")");
  }
  return static_cast<Core>(raw);
}

// Size estimates: an upper bound of the bytes a value takes in a message.
inline size_t WordsFor(size_t bytes) { return (bytes + 7) / 8 * 8; }
inline size_t Est(const std::string& s) { return 8 + WordsFor(s.size() + 1); }
template <typename T>
size_t Est(const std::vector<T>& v) {
  return 8 + WordsFor(v.size() * sizeof(T));
}
// Struct overhead: the pointer to it (or list tag) plus a generous data section.
inline constexpr size_t kStructBytes = 8 + 48;

}  // namespace mbrl::proto::internal
