#include "storage/client.h"

#include "common/zmq_util.h"
#include "proto/codec.h"

namespace mbrl::storage {

using std::chrono::milliseconds;

Result<std::unique_ptr<StorageClient>> StorageClient::Connect(const std::string& endpoint,
                                                              const StorageClientOptions& options) {
  if (!IsValidEndpoint(endpoint) || endpoint.find('*') != std::string::npos) {
    return InvalidArgument("'" + endpoint + "' is not a storage endpoint (use tcp://HOST:PORT)");
  }
  std::unique_ptr<StorageClient> client(new StorageClient());
  client->options_ = options;
  client->endpoint_ = endpoint;
  client->OpenSocket();
  return client;
}

StorageClient::~StorageClient() {
  socket_.reset();
  context_.close();
}

void StorageClient::OpenSocket() {
  socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  ConfigureSocket(*socket_, 10000);
  socket_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options_.max_reply_bytes));
  socket_->set(zmq::sockopt::reconnect_ivl, 50);
  socket_->set(zmq::sockopt::reconnect_ivl_max, 1000);
  socket_->connect(endpoint_);
}

void StorageClient::Reset() { OpenSocket(); }

size_t ApproxWireBytes(const TransitionBatch& batch) {
  // A transition's struct, list pointers and padding take a few words.
  constexpr size_t kPerTransition = 96;
  size_t bytes = 256 + batch.collector_id.size() + batch.env.name.size();
  for (const Transition& t : batch.transitions) {
    bytes += kPerTransition +
             sizeof(float) * (t.observation.size() + t.action.size() + t.next_observation.size()) +
             t.image.size() + t.next_image.size();
  }
  return bytes;
}

Result<uint64_t> StorageClient::Send(StorageRequest request, milliseconds timeout) {
  request.request_id = next_request_id_++;
  // The encoded request (a batch of images is megabytes) becomes the frame
  // as it is: ZeroMQ frees it once sent, nothing copies it.
  auto* payload = new std::string(proto::Encode(request));
  std::vector<zmq::message_t> frames;
  frames.emplace_back(
      payload->data(), payload->size(),
      [](void* /*data*/, void* hint) { delete static_cast<std::string*>(hint); }, payload);
  if (Status s = SendMultipart(*socket_, frames, timeout); !s) return std::unexpected(s.error());
  return request.request_id;
}

Result<StorageReply> StorageClient::Receive(milliseconds timeout) {
  auto frames = RecvMultipart(*socket_, timeout);
  if (!frames) return std::unexpected(frames.error());
  // [empty delimiter,] message [, image frames]: a message is never empty.
  size_t first = 0;
  while (first + 1 < frames->size() && (*frames)[first].size() == 0) ++first;
  auto view = [](const zmq::message_t& m) {
    return std::string_view(static_cast<const char*>(m.data()), m.size());
  };
  std::vector<std::string_view> attached;
  for (size_t f = first + 1; f < frames->size(); ++f) attached.push_back(view((*frames)[f]));
  proto::DecodeLimits limits;
  limits.max_message_bytes = options_.max_reply_bytes;
  limits.traversal_limit_bytes = options_.max_reply_bytes * 2;
  return proto::DecodeFramedStorageReply(view((*frames)[first]), attached, limits);
}

Result<StorageReply> StorageClient::Call(StorageRequest request, milliseconds timeout) {
  retry_after_ms_ = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto id = Send(std::move(request), timeout);
  if (!id) {
    Reset();
    return std::unexpected(id.error());
  }
  while (true) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      Reset();
      return MakeError(ErrorCode::kDeadlineExceeded, "storage at " + endpoint_ +
                                                         " did not answer within " +
                                                         std::to_string(timeout.count()) + " ms");
    }
    auto reply = Receive(left);
    if (!reply) {
      if (reply.error().code == ErrorCode::kDeadlineExceeded) continue;
      if (reply.error().code == ErrorCode::kDataLoss ||
          reply.error().code == ErrorCode::kInvalidArgument) {
        continue;  // A garbled reply: keep waiting for ours.
      }
      Reset();
      return std::unexpected(reply.error());
    }
    // Request id 0 answers a request the server could not decode (ours, since
    // this socket has one request in flight).
    if (reply->request_id != *id && reply->request_id != 0) continue;  // Stale.
    if (auto* error = std::get_if<ErrorReply>(&reply->body)) {
      retry_after_ms_ = error->retry_after_ms;
      return std::unexpected(error->ToError());
    }
    return reply;
  }
}

template <typename T>
Result<T> StorageClient::CallFor(StorageRequest request) {
  auto reply = Call(std::move(request), options_.timeout);
  if (!reply) return std::unexpected(reply.error());
  if (auto* body = std::get_if<T>(&reply->body)) return std::move(*body);
  return Internal("storage answered with an unexpected reply type");
}

Result<CollectorState> StorageClient::Hello(const std::string& collector_id, uint64_t incarnation) {
  return CallFor<CollectorState>(StorageRequest{0, HelloRequest{collector_id, incarnation}});
}

Result<Ack> StorageClient::PutBatch(const TransitionBatch& batch) {
  return CallFor<Ack>(StorageRequest{0, batch});
}

Result<TransitionSample> StorageClient::SampleTransitions(SampleTransitionsRequest r) {
  r.images_as_frames = true;
  return CallFor<TransitionSample>(StorageRequest{0, std::move(r)});
}

Result<SequenceSample> StorageClient::SampleSequences(SampleSequencesRequest r) {
  r.images_as_frames = true;
  return CallFor<SequenceSample>(StorageRequest{0, std::move(r)});
}

Result<CursorPage> StorageClient::ReadCursor(const ReadCursorRequest& r) {
  return CallFor<CursorPage>(StorageRequest{0, r});
}

Result<EpisodeList> StorageClient::ListEpisodes(const ListEpisodesRequest& r) {
  return CallFor<EpisodeList>(StorageRequest{0, r});
}

Result<StorageInfo> StorageClient::Info() {
  return CallFor<StorageInfo>(StorageRequest{0, InfoRequest{}});
}

Result<ModelList> StorageClient::ListModels(const std::string& prefix) {
  return CallFor<ModelList>(StorageRequest{0, ListModelsRequest{prefix}});
}

Status StorageClient::PutModel(const ModelWeights& weights) {
  std::string bytes = proto::Encode(weights);
  std::vector<ModelChunk> chunks = SplitIntoChunks(bytes, weights.name, weights.version);
  for (const ModelChunk& chunk : chunks) {
    auto ack = CallFor<ModelChunkAck>(StorageRequest{0, chunk});
    if (!ack) return std::unexpected(ack.error());
    if (chunk.chunk_index + 1 == chunk.total_chunks && !ack->complete) {
      return Internal("storage took every chunk but did not complete the model");
    }
  }
  return OkStatus();
}

Result<ModelWeights> StorageClient::GetModel(const std::string& name, uint64_t version) {
  auto first = CallFor<ModelChunk>(StorageRequest{0, GetModelRequest{name, version, 0}});
  if (!first) return std::unexpected(first.error());
  std::vector<ModelChunk> chunks;
  const uint64_t resolved = first->version;
  const uint32_t total = first->total_chunks;
  chunks.push_back(std::move(*first));
  for (uint32_t c = 1; c < total; ++c) {
    auto chunk = CallFor<ModelChunk>(StorageRequest{0, GetModelRequest{name, resolved, c}});
    if (!chunk) return std::unexpected(chunk.error());
    chunks.push_back(std::move(*chunk));
  }
  auto bytes = JoinChunks(chunks);
  if (!bytes) return std::unexpected(bytes.error());
  proto::DecodeLimits limits;
  limits.max_message_bytes = size_t{2} << 30;
  limits.traversal_limit_bytes = uint64_t{2} << 30;
  return proto::DecodeModelWeights(*bytes, limits);
}

Result<CheckpointDone> StorageClient::Checkpoint(const std::string& directory) {
  return CallFor<CheckpointDone>(StorageRequest{0, CheckpointRequest{directory}});
}

}  // namespace mbrl::storage
