#include "common/messages.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace mbrl {
namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

// "observation has 5 values; expected 4"
Status ExpectSize(size_t actual, uint64_t expected, const std::string& what) {
  if (actual == expected) return OkStatus();
  return InvalidArgument(what + " has " + Num(actual) + " elements; expected " + Num(expected));
}

Status CheckBox(const BoxSpace& box, const std::string& what) {
  if (box.low.size() != box.high.size()) {
    return InvalidArgument(what + " space has " + Num(box.low.size()) + " lower and " +
                           Num(box.high.size()) + " upper bounds");
  }
  return OkStatus();
}

// Image bytes must be absent or exactly one image of `spec`.
Status CheckImage(size_t bytes, const std::optional<ImageSpec>& spec, const std::string& what) {
  if (bytes == 0) return OkStatus();
  if (!spec) {
    return InvalidArgument(what + " has " + Num(bytes) +
                           " bytes but the environment has no image spec");
  }
  return ExpectSize(bytes, spec->bytes(), what);
}

bool AllFinite(std::span<const float> v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

bool NoNaN(const std::vector<float>& v) {
  return std::none_of(v.begin(), v.end(), [](float x) { return std::isnan(x); });
}

}  // namespace

ErrorReply ErrorReply::From(const Error& error, uint32_t retry_after_ms) {
  return ErrorReply{error.code, error.reason, retry_after_ms};
}

void TransitionSample::Resize(uint32_t rows, bool with_images) {
  count = rows;
  observations.resize(size_t{rows} * observation_dim);
  actions.resize(size_t{rows} * action_dim);
  rewards.resize(rows);
  next_observations.resize(size_t{rows} * observation_dim);
  terminated.resize(rows);
  truncated.resize(rows);
  episode_ids.resize(rows);
  steps.resize(rows);
  const size_t image_bytes = (with_images && image) ? image->bytes() : 0;
  images.resize(size_t{rows} * image_bytes);
  next_images.resize(size_t{rows} * image_bytes);
}

std::vector<ModelChunk> SplitIntoChunks(std::string_view bytes, const std::string& name,
                                        uint64_t version, size_t chunk_bytes) {
  if (chunk_bytes == 0) chunk_bytes = kDefaultModelChunkBytes;
  const size_t total = std::max<size_t>(1, (bytes.size() + chunk_bytes - 1) / chunk_bytes);
  std::vector<ModelChunk> chunks(total);
  for (size_t i = 0; i < total; ++i) {
    ModelChunk& c = chunks[i];
    c.name = name;
    c.version = version;
    c.chunk_index = static_cast<uint32_t>(i);
    c.total_chunks = static_cast<uint32_t>(total);
    c.total_bytes = bytes.size();
    const size_t begin = i * chunk_bytes;
    c.data.assign(bytes.substr(begin, std::min(chunk_bytes, bytes.size() - begin)));
  }
  return chunks;
}

Result<std::string> JoinChunks(const std::vector<ModelChunk>& chunks) {
  if (chunks.empty()) return InvalidArgument("no model chunks to join");
  const ModelChunk& first = chunks.front();
  const std::string what = "model " + first.name + " version " + Num(first.version);
  if (chunks.size() != first.total_chunks) {
    return InvalidArgument(what + ": have " + Num(chunks.size()) + " chunks of " +
                           Num(first.total_chunks));
  }
  std::vector<const ModelChunk*> ordered(chunks.size(), nullptr);
  uint64_t sum = 0;
  for (const ModelChunk& c : chunks) {
    if (auto s = CheckShapes(c); !s) return std::unexpected(s.error());
    if (c.name != first.name || c.version != first.version ||
        c.total_chunks != first.total_chunks || c.total_bytes != first.total_bytes) {
      return InvalidArgument(what + ": chunk " + Num(c.chunk_index) + " belongs to model " +
                             c.name + " version " + Num(c.version) + " or disagrees on sizes");
    }
    if (ordered[c.chunk_index] != nullptr) {
      return InvalidArgument(what + ": chunk " + Num(c.chunk_index) + " appears twice");
    }
    ordered[c.chunk_index] = &c;
    sum += c.data.size();
  }
  if (sum != first.total_bytes) {
    return DataLoss(what + ": chunks hold " + Num(sum) + " bytes; expected " +
                    Num(first.total_bytes));
  }
  std::string out;
  out.reserve(sum);
  for (const ModelChunk* c : ordered) out += c->data;
  return out;
}

Status CheckShapes(const EnvSpec& spec) {
  if (auto s = CheckBox(spec.observation, "observation"); !s) return s;
  if (auto s = CheckBox(spec.action, "action"); !s) return s;
  if (spec.image && spec.image->bytes() == 0) {
    return InvalidArgument("image spec " + Num(spec.image->height) + "x" + Num(spec.image->width) +
                           "x" + Num(spec.image->channels) + " has no pixels");
  }
  return OkStatus();
}

Status CheckShapes(const EnvSpec& env, const TransitionView& t, size_t index) {
  const size_t obs_dim = env.observation.dim();
  const size_t image_bytes = env.image ? env.image->bytes() : 0;
  auto image_ok = [&](size_t bytes) { return bytes == 0 || (env.image && bytes == image_bytes); };
  // The common case costs a few comparisons; the reason is only put into
  // words for the transition that fails.
  if (t.observation.size() == obs_dim && t.action.size() == env.action.dim() &&
      t.next_observation.size() == obs_dim && image_ok(t.image.size()) &&
      image_ok(t.next_image.size())) {
    return OkStatus();
  }
  const std::string at = "transition " + Num(index) + " (env " + env.name + "): ";
  if (auto s = ExpectSize(t.observation.size(), obs_dim, at + "observation"); !s) return s;
  if (auto s = ExpectSize(t.action.size(), env.action.dim(), at + "action"); !s) return s;
  if (auto s = ExpectSize(t.next_observation.size(), obs_dim, at + "next observation"); !s) {
    return s;
  }
  if (auto s = CheckImage(t.image.size(), env.image, at + "image"); !s) return s;
  return CheckImage(t.next_image.size(), env.image, at + "next image");
}

Status CheckShapes(const TransitionBatch& batch) {
  if (auto s = CheckShapes(batch.env); !s) return s;
  for (size_t i = 0; i < batch.transitions.size(); ++i) {
    if (auto s = CheckShapes(batch.env, TransitionView::Of(batch.transitions[i]), i); !s) return s;
  }
  return OkStatus();
}

Status CheckShapes(const ModelWeights& weights) {
  auto check = [](const NamedTensor& t, const std::string& kind) -> Status {
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) {
        return InvalidArgument(kind + " " + t.name + " has negative dimension " +
                               std::to_string(d));
      }
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) {
        return InvalidArgument(kind + " " + t.name + " has an impossibly large shape");
      }
    }
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(DTypeSize(t.dtype)), &bytes)) {
      return InvalidArgument(kind + " " + t.name + " has an impossibly large shape");
    }
    if (t.data.size() != bytes) {
      return InvalidArgument(kind + " " + t.name + " has " + Num(t.data.size()) +
                             " data bytes; its shape and dtype need " + Num(bytes));
    }
    return OkStatus();
  };
  for (const NamedTensor& t : weights.tensors) {
    if (auto s = check(t, "tensor"); !s) return s;
  }
  for (const NamedTensor& t : weights.normalization) {
    if (auto s = check(t, "normalization tensor"); !s) return s;
  }
  for (uint32_t e : weights.architecture.elites) {
    if (e >= weights.architecture.ensemble_size) {
      return InvalidArgument("elite index " + Num(e) + " is not below the ensemble size " +
                             Num(weights.architecture.ensemble_size));
    }
  }
  return OkStatus();
}

Status CheckShapes(const PlanRequest& request) {
  return ExpectSize(request.previous_plan.size(),
                    uint64_t{request.previous_plan_horizon} * request.action_dim,
                    "previous plan (horizon " + Num(request.previous_plan_horizon) +
                        " x action dim " + Num(request.action_dim) + ")");
}

Status CheckShapes(const PlanReply& reply) {
  return ExpectSize(
      reply.plan.size(), uint64_t{reply.horizon} * reply.action_dim,
      "plan (horizon " + Num(reply.horizon) + " x action dim " + Num(reply.action_dim) + ")");
}

Status CheckShapes(const TransitionSample& s) {
  const uint64_t n = s.count;
  if (auto r = ExpectSize(s.observations.size(), n * s.observation_dim, "sample observations");
      !r) {
    return r;
  }
  if (auto r = ExpectSize(s.actions.size(), n * s.action_dim, "sample actions"); !r) return r;
  if (auto r = ExpectSize(s.rewards.size(), n, "sample rewards"); !r) return r;
  if (auto r =
          ExpectSize(s.next_observations.size(), n * s.observation_dim, "sample next observations");
      !r) {
    return r;
  }
  if (auto r = ExpectSize(s.terminated.size(), n, "sample terminated flags"); !r) return r;
  if (auto r = ExpectSize(s.truncated.size(), n, "sample truncated flags"); !r) return r;
  if (auto r = ExpectSize(s.episode_ids.size(), n, "sample episode ids"); !r) return r;
  if (auto r = ExpectSize(s.steps.size(), n, "sample steps"); !r) return r;
  const uint64_t image_bytes = s.image ? n * s.image->bytes() : 0;
  if (!s.images.empty()) {
    if (auto r = ExpectSize(s.images.size(), image_bytes, "sample images"); !r) return r;
  }
  if (!s.next_images.empty()) {
    if (auto r = ExpectSize(s.next_images.size(), image_bytes, "sample next images"); !r) {
      return r;
    }
  }
  return OkStatus();
}

Status CheckShapes(const SequenceSample& sample) {
  if (auto r = CheckShapes(sample.steps); !r) return r;
  if (sample.steps.count == 0) return OkStatus();
  if (sample.length == 0 || sample.steps.count % sample.length != 0) {
    return InvalidArgument("sequence sample has " + Num(sample.steps.count) +
                           " rows, not a multiple of its sequence length " + Num(sample.length));
  }
  return OkStatus();
}

Status CheckShapes(const ModelChunk& chunk) {
  if (chunk.total_chunks == 0 || chunk.chunk_index >= chunk.total_chunks) {
    return InvalidArgument("model chunk index " + Num(chunk.chunk_index) + " is not below " +
                           "its total of " + Num(chunk.total_chunks) + " chunks");
  }
  if (chunk.data.size() > chunk.total_bytes) {
    return InvalidArgument("model chunk holds " + Num(chunk.data.size()) +
                           " bytes, more than the model's " + Num(chunk.total_bytes));
  }
  return OkStatus();
}

Status ValidateBatchHeader(std::string_view collector_id, uint64_t sequence, const EnvSpec& env,
                           size_t transitions) {
  if (collector_id.empty()) return InvalidArgument("batch has an empty collector id");
  if (env.name.empty()) return InvalidArgument("batch has an empty env name");
  const std::string from = std::string(collector_id);
  if (sequence == 0) {
    return InvalidArgument("batch from " + from + " has sequence 0; sequences start at 1");
  }
  if (transitions == 0) {
    return InvalidArgument("batch " + Num(sequence) + " from " + from + " has no transitions");
  }
  if (!NoNaN(env.observation.low) || !NoNaN(env.observation.high) || !NoNaN(env.action.low) ||
      !NoNaN(env.action.high)) {
    return InvalidArgument("env " + env.name + " has NaN space bounds");
  }
  return OkStatus();
}

Status CheckFinite(const TransitionView& t, size_t index, std::string_view collector_id,
                   uint64_t sequence) {
  const char* bad = nullptr;
  if (!AllFinite(t.observation)) {
    bad = "observation";
  } else if (!AllFinite(t.action)) {
    bad = "action";
  } else if (!std::isfinite(t.reward)) {
    bad = "reward";
  } else if (!AllFinite(t.next_observation)) {
    bad = "next observation";
  }
  if (bad == nullptr) return OkStatus();
  return InvalidArgument("batch " + Num(sequence) + " from " + std::string(collector_id) +
                         ": transition " + Num(index) + " (episode " + Num(t.episode_id) +
                         ", step " + Num(t.step) + ") has a non-finite " + bad);
}

Status ValidateBatch(const TransitionBatch& batch, bool shapes_checked) {
  if (auto s = ValidateBatchHeader(batch.collector_id, batch.sequence, batch.env,
                                   batch.transitions.size());
      !s) {
    return s;
  }
  if (!shapes_checked) {
    if (auto s = CheckShapes(batch); !s) return s;
  }
  for (size_t i = 0; i < batch.transitions.size(); ++i) {
    if (auto s = CheckFinite(TransitionView::Of(batch.transitions[i]), i, batch.collector_id,
                             batch.sequence);
        !s) {
      return s;
    }
  }
  return OkStatus();
}

}  // namespace mbrl
