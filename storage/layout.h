// The replay store's on-disk layout: its RocksDB keys and the values of the
// transitions and cursor column families. Only storage/replay_store.cc
// writes them; tools and benchmarks read them through these functions.
//
// transitions: key   collector_id '\0' episode_id(be64) step(be32)
//                    (an episode is one contiguous key range)
//              value one transition, flat and little-endian, written with a
//                    few memcpys and parsed in place (no Cap'n Proto message
//                    and no alignment copy):
//   offset  bytes  field
//        0      1  format (kStoredValueFormat)
//        1      1  flags: bit 0 terminated, bit 1 truncated
//        2      2  E: bytes of the env name
//        4      4  reward (f32)
//        8      8  position (u64)         } the stamp: set by the writer
//       16      8  stored_unix_ms (i64)   } when it commits
//       24      8  incarnation (u64)
//       32      8  batch_sequence (u64)
//       40      4  O: observation floats
//       44      4  A: action floats
//       48      4  I: image bytes
//       52      4  J: next image bytes
//       56      E  env name
//                  4·O observation, 4·A action, 4·O next observation (f32)
//                  I image, J next image
//              The collector id, episode id and step are the key's.
// cursor:      key   position(be64) of the first transition of a run
//              value transitions key of the run's first step, count(be32),
//                    env name
//              A run is consecutive steps of one episode stored at
//              consecutive positions (usually one batch, or more when a
//              group commit holds several batches of one episode back to
//              back): one record per run, not per transition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/messages.h"
#include "common/status.h"
#include "common/types.h"

namespace mbrl::storage::layout {

// --- keys ---

// collector_id '\0' episode_id(be64): the prefix of an episode's transitions.
std::string EpisodeKey(std::string_view collector_id, uint64_t episode_id);
// EpisodeKey + step(be32).
std::string TransitionKey(std::string_view episode_key, uint32_t step);
// Overwrites the step of a transitions key in place (no allocation).
void SetStep(std::string& transition_key, uint32_t step);
// position(be64): keys of the cursor column family.
std::string PositionKey(uint64_t position);

struct TransitionKeyParts {
  std::string_view collector_id;
  std::string_view episode_key;  // The key without its step.
  uint64_t episode_id = 0;
  uint32_t step = 0;
};
// kDataLoss when `key` is not a transitions key.
Result<TransitionKeyParts> ParseTransitionKey(std::string_view key);

void AppendBigEndian(std::string& out, uint64_t value, int bytes);
uint64_t ReadBigEndian(std::string_view in, size_t offset, int bytes);

// --- transition values ---

inline constexpr uint8_t kStoredValueFormat = 1;
inline constexpr size_t kStoredValueHeaderBytes = 56;
// The stamp (position, stored_unix_ms) sits at these bytes of a value.
inline constexpr size_t kStampOffset = 8;
inline constexpr size_t kStampBytes = 16;

// Bytes of the value of a transition of `env_name` with these sizes.
size_t StoredValueBytes(size_t env_name_bytes, size_t observation_dim, size_t action_dim,
                        size_t image_bytes, size_t next_image_bytes);

// Appends the value of `t` without its stamp (kStampBytes shorter than the
// value): what a prepared batch holds until the writer knows the position
// and the time. The env name must be at most 65535 bytes.
void AppendUnstampedValue(std::string& out, std::string_view env_name, uint64_t incarnation,
                          uint64_t batch_sequence, const TransitionView& t);

// Writes the stamp into `out` (kStampBytes).
void EncodeStamp(char* out, uint64_t position, int64_t stored_unix_ms);

// The whole value of a stored transition (for tools, tests and benchmarks;
// the writer puts an unstamped value and a stamp together instead).
std::string EncodeStoredValue(const StoredTransition& stored);

// A value parsed in place: the views point into the value's bytes and are
// valid as long as they are. Float arrays may be unaligned: copy them out
// with memcpy (CopyFloats).
struct StoredValueView {
  bool terminated = false;
  bool truncated = false;
  float reward = 0.0f;
  uint64_t position = 0;
  int64_t stored_unix_ms = 0;
  uint64_t incarnation = 0;
  uint64_t batch_sequence = 0;
  std::string_view env_name;
  uint32_t observation_dim = 0;
  uint32_t action_dim = 0;
  const char* observation = nullptr;       // observation_dim floats.
  const char* action = nullptr;            // action_dim floats.
  const char* next_observation = nullptr;  // observation_dim floats.
  std::string_view image;
  std::string_view next_image;
};

// kDataLoss when `value` is not a well-formed value of this format (wrong
// format byte, sizes that disagree with its length).
Result<StoredValueView> ParseStoredValue(std::string_view value);

// Appends `count` floats from possibly unaligned `src` to `out`.
void AppendFloats(std::vector<float>& out, const char* src, size_t count);

// A key and its value back to the struct the cursor returns.
Result<StoredTransition> DecodeStoredTransition(std::string_view key, std::string_view value);

// --- cursor runs ---

struct CursorRun {
  std::string_view episode_key;
  uint32_t first_step = 0;
  uint32_t count = 0;
  std::string_view env_name;
};

std::string EncodeCursorRun(std::string_view episode_key, uint32_t first_step, uint32_t count,
                            std::string_view env_name);
// kDataLoss when `value` is not a cursor run (the views point into it).
Result<CursorRun> ParseCursorRun(std::string_view value);

}  // namespace mbrl::storage::layout
