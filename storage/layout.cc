#include "storage/layout.h"

#include <bit>
#include <cstring>

namespace mbrl::storage::layout {
namespace {

static_assert(std::endian::native == std::endian::little,
              "stored values are little-endian and written with memcpy");

constexpr size_t kEpisodeIdBytes = 8;
constexpr size_t kStepBytes = 4;

template <typename T>
void Put(char* at, T value) {
  std::memcpy(at, &value, sizeof(T));
}

template <typename T>
T Get(const char* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

template <typename T>
void Append(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

void AppendBytes(std::string& out, const void* data, size_t bytes) {
  if (bytes > 0) out.append(static_cast<const char*>(data), bytes);
}

}  // namespace

// --- keys ---

void AppendBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t ReadBigEndian(std::string_view in, size_t offset, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[offset + i]);
  return v;
}

std::string EpisodeKey(std::string_view collector_id, uint64_t episode_id) {
  std::string key;
  key.reserve(collector_id.size() + 1 + kEpisodeIdBytes + kStepBytes);
  key.append(collector_id);
  key.push_back('\0');
  AppendBigEndian(key, episode_id, kEpisodeIdBytes);
  return key;
}

std::string TransitionKey(std::string_view episode_key, uint32_t step) {
  std::string key;
  key.reserve(episode_key.size() + kStepBytes);
  key.append(episode_key);
  AppendBigEndian(key, step, kStepBytes);
  return key;
}

void SetStep(std::string& transition_key, uint32_t step) {
  char* at = transition_key.data() + transition_key.size() - kStepBytes;
  for (size_t i = 0; i < kStepBytes; ++i) {
    at[i] = static_cast<char>((step >> (8 * (kStepBytes - 1 - i))) & 0xff);
  }
}

std::string PositionKey(uint64_t position) {
  std::string key;
  AppendBigEndian(key, position, 8);
  return key;
}

Result<TransitionKeyParts> ParseTransitionKey(std::string_view key) {
  const size_t nul = key.find('\0');
  if (nul == std::string_view::npos || nul == 0 ||
      key.size() != nul + 1 + kEpisodeIdBytes + kStepBytes) {
    return DataLoss("not a transitions key (" + std::to_string(key.size()) + " bytes)");
  }
  TransitionKeyParts parts;
  parts.collector_id = key.substr(0, nul);
  parts.episode_key = key.substr(0, key.size() - kStepBytes);
  parts.episode_id = ReadBigEndian(key, nul + 1, kEpisodeIdBytes);
  parts.step = static_cast<uint32_t>(ReadBigEndian(key, nul + 1 + kEpisodeIdBytes, kStepBytes));
  return parts;
}

// --- transition values ---

size_t StoredValueBytes(size_t env_name_bytes, size_t observation_dim, size_t action_dim,
                        size_t image_bytes, size_t next_image_bytes) {
  return kStoredValueHeaderBytes + env_name_bytes + 4 * (2 * observation_dim + action_dim) +
         image_bytes + next_image_bytes;
}

void AppendUnstampedValue(std::string& out, std::string_view env_name, uint64_t incarnation,
                          uint64_t batch_sequence, const TransitionView& t) {
  const size_t begin = out.size();
  const size_t bytes = StoredValueBytes(env_name.size(), t.observation.size(), t.action.size(),
                                        t.image.size(), t.next_image.size()) -
                       kStampBytes;
  out.resize(begin + bytes);
  char* p = out.data() + begin;
  const uint8_t flags = (t.terminated ? 1 : 0) | (t.truncated ? 2 : 0);
  Put<uint8_t>(p + 0, kStoredValueFormat);
  Put<uint8_t>(p + 1, flags);
  Put<uint16_t>(p + 2, static_cast<uint16_t>(env_name.size()));
  Put<float>(p + 4, t.reward);
  // The stamp (bytes 8..24 of the value) is left out: everything after it
  // sits kStampBytes earlier than in the value.
  static_assert(kStampOffset + kStampBytes == 24);
  Put<uint64_t>(p + 24 - kStampBytes, incarnation);
  Put<uint64_t>(p + 32 - kStampBytes, batch_sequence);
  Put<uint32_t>(p + 40 - kStampBytes, static_cast<uint32_t>(t.observation.size()));
  Put<uint32_t>(p + 44 - kStampBytes, static_cast<uint32_t>(t.action.size()));
  Put<uint32_t>(p + 48 - kStampBytes, static_cast<uint32_t>(t.image.size()));
  Put<uint32_t>(p + 52 - kStampBytes, static_cast<uint32_t>(t.next_image.size()));
  p += kStoredValueHeaderBytes - kStampBytes;
  auto copy = [&p](const void* src, size_t n) {
    if (n > 0) std::memcpy(p, src, n);
    p += n;
  };
  copy(env_name.data(), env_name.size());
  copy(t.observation.data(), 4 * t.observation.size());
  copy(t.action.data(), 4 * t.action.size());
  copy(t.next_observation.data(), 4 * t.next_observation.size());
  copy(t.image.data(), t.image.size());
  copy(t.next_image.data(), t.next_image.size());
}

void EncodeStamp(char* out, uint64_t position, int64_t stored_unix_ms) {
  Put<uint64_t>(out, position);
  Put<int64_t>(out + 8, stored_unix_ms);
}

std::string EncodeStoredValue(const StoredTransition& stored) {
  std::string unstamped;
  AppendUnstampedValue(unstamped, stored.env_name, stored.incarnation, stored.batch_sequence,
                       TransitionView::Of(stored.transition));
  std::string value;
  value.reserve(unstamped.size() + kStampBytes);
  value.append(unstamped, 0, kStampOffset);
  char stamp[kStampBytes];
  EncodeStamp(stamp, stored.position, stored.stored_unix_ms);
  AppendBytes(value, stamp, kStampBytes);
  value.append(unstamped, kStampOffset);
  return value;
}

Result<StoredValueView> ParseStoredValue(std::string_view value) {
  if (value.size() < kStoredValueHeaderBytes) {
    return DataLoss("stored transition of " + std::to_string(value.size()) +
                    " bytes is shorter than its header");
  }
  const char* p = value.data();
  if (Get<uint8_t>(p) != kStoredValueFormat) {
    return DataLoss("stored transition has format " + std::to_string(Get<uint8_t>(p)) +
                    "; this build reads format " + std::to_string(kStoredValueFormat));
  }
  StoredValueView v;
  const uint8_t flags = Get<uint8_t>(p + 1);
  v.terminated = (flags & 1) != 0;
  v.truncated = (flags & 2) != 0;
  const size_t env_bytes = Get<uint16_t>(p + 2);
  v.reward = Get<float>(p + 4);
  v.position = Get<uint64_t>(p + 8);
  v.stored_unix_ms = Get<int64_t>(p + 16);
  v.incarnation = Get<uint64_t>(p + 24);
  v.batch_sequence = Get<uint64_t>(p + 32);
  v.observation_dim = Get<uint32_t>(p + 40);
  v.action_dim = Get<uint32_t>(p + 44);
  const uint32_t image_bytes = Get<uint32_t>(p + 48);
  const uint32_t next_image_bytes = Get<uint32_t>(p + 52);
  // 64-bit arithmetic: the sizes come from disk and cannot overflow it.
  const uint64_t expected = uint64_t{kStoredValueHeaderBytes} + env_bytes +
                            4 * (2 * uint64_t{v.observation_dim} + v.action_dim) + image_bytes +
                            next_image_bytes;
  if (expected != value.size()) {
    return DataLoss("stored transition of " + std::to_string(value.size()) +
                    " bytes declares sizes that add up to " + std::to_string(expected));
  }
  size_t at = kStoredValueHeaderBytes;
  v.env_name = value.substr(at, env_bytes);
  at += env_bytes;
  v.observation = p + at;
  at += 4 * size_t{v.observation_dim};
  v.action = p + at;
  at += 4 * size_t{v.action_dim};
  v.next_observation = p + at;
  at += 4 * size_t{v.observation_dim};
  v.image = value.substr(at, image_bytes);
  at += image_bytes;
  v.next_image = value.substr(at, next_image_bytes);
  return v;
}

void AppendFloats(std::vector<float>& out, const char* src, size_t count) {
  const size_t old = out.size();
  out.resize(old + count);
  if (count > 0) std::memcpy(out.data() + old, src, 4 * count);
}

Result<StoredTransition> DecodeStoredTransition(std::string_view key, std::string_view value) {
  auto parts = ParseTransitionKey(key);
  if (!parts) return std::unexpected(parts.error());
  auto v = ParseStoredValue(value);
  if (!v) return std::unexpected(v.error());
  StoredTransition s;
  s.position = v->position;
  s.env_name = std::string(v->env_name);
  s.collector_id = std::string(parts->collector_id);
  s.incarnation = v->incarnation;
  s.batch_sequence = v->batch_sequence;
  s.stored_unix_ms = v->stored_unix_ms;
  Transition& t = s.transition;
  t.episode_id = parts->episode_id;
  t.step = parts->step;
  AppendFloats(t.observation, v->observation, v->observation_dim);
  AppendFloats(t.action, v->action, v->action_dim);
  t.reward = v->reward;
  AppendFloats(t.next_observation, v->next_observation, v->observation_dim);
  t.terminated = v->terminated;
  t.truncated = v->truncated;
  t.image.assign(v->image.begin(), v->image.end());
  t.next_image.assign(v->next_image.begin(), v->next_image.end());
  return s;
}

// --- cursor runs ---

std::string EncodeCursorRun(std::string_view episode_key, uint32_t first_step, uint32_t count,
                            std::string_view env_name) {
  std::string value;
  value.reserve(episode_key.size() + kStepBytes + 4 + env_name.size());
  value.append(episode_key);
  AppendBigEndian(value, first_step, kStepBytes);
  AppendBigEndian(value, count, 4);
  value.append(env_name);
  return value;
}

Result<CursorRun> ParseCursorRun(std::string_view value) {
  const size_t nul = value.find('\0');
  const size_t fixed = kEpisodeIdBytes + kStepBytes + 4;
  if (nul == std::string_view::npos || nul == 0 || value.size() < nul + 1 + fixed) {
    return DataLoss("not a cursor run (" + std::to_string(value.size()) + " bytes)");
  }
  CursorRun run;
  const size_t episode_end = nul + 1 + kEpisodeIdBytes;
  run.episode_key = value.substr(0, episode_end);
  run.first_step = static_cast<uint32_t>(ReadBigEndian(value, episode_end, kStepBytes));
  run.count = static_cast<uint32_t>(ReadBigEndian(value, episode_end + kStepBytes, 4));
  run.env_name = value.substr(episode_end + kStepBytes + 4);
  if (run.count == 0) return DataLoss("cursor run of no transitions");
  return run;
}

}  // namespace mbrl::storage::layout
