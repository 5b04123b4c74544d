// A client of `mbrl storage` (ZeroMQ DEALER, Cap'n Proto messages).
//
// Not thread-safe: one thread owns a client (it owns a socket). Every call
// takes a timeout. After a timeout the socket is closed and reopened (the
// zguide's Lazy Pirate), so a late reply can never be taken for the answer to
// a later request; replies are also matched by request id.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "common/messages.h"
#include "common/status.h"

namespace mbrl::storage {

// How much a pipelined sender of transition batches (a collector) keeps in
// flight: at most `batches` batches and about `bytes` bytes, whichever comes
// first, and always at least one batch. Deep enough that one collector keeps
// storage's writer busy (each group commit then holds many batches), bounded
// in bytes so that image batches do not pile up in storage's write queue.
struct SendWindow {
  uint32_t batches = 64;
  size_t bytes = size_t{8} << 20;

  // May a batch of `next_bytes` go out with these already in flight?
  bool Allows(uint32_t in_flight, size_t in_flight_bytes, size_t next_bytes) const {
    return in_flight == 0 || (in_flight < batches && in_flight_bytes + next_bytes <= bytes);
  }
};

// About the encoded size of `batch` (its payload plus a fixed overhead per
// transition): what SendWindow counts.
size_t ApproxWireBytes(const TransitionBatch& batch);

struct StorageClientOptions {
  // Default timeout of the typed calls. Default: 10 s.
  std::chrono::milliseconds timeout{10000};
  // Replies larger than this are refused. Default: 256 MiB.
  size_t max_reply_bytes = size_t{256} << 20;
};

class StorageClient {
 public:
  // Connects lazily (ZeroMQ connects in the background); never blocks.
  // kInvalidArgument for a malformed endpoint.
  static Result<std::unique_ptr<StorageClient>> Connect(const std::string& endpoint,
                                                        const StorageClientOptions& options = {});
  ~StorageClient();

  // --- pipelined use: many requests in flight ---

  // Sends `request` with a fresh request id (returned). kBusy when the socket
  // cannot take it within `timeout`.
  Result<uint64_t> Send(StorageRequest request, std::chrono::milliseconds timeout);
  // Next reply, whichever request it answers. kDeadlineExceeded on timeout.
  Result<StorageReply> Receive(std::chrono::milliseconds timeout);
  // Drops the socket and every request in flight (their replies are lost;
  // resend what still matters).
  void Reset();

  // --- one request at a time ---

  // Sends and waits for the matching reply. An ErrorReply from the server
  // becomes an Error with its code and reason; retry_after_ms() has its hint.
  Result<StorageReply> Call(StorageRequest request, std::chrono::milliseconds timeout);

  Result<CollectorState> Hello(const std::string& collector_id, uint64_t incarnation);
  Result<Ack> PutBatch(const TransitionBatch& batch);
  // Samples ask for their images as frames of their own (images_as_frames is
  // set whatever the request says): fewer copies of megabytes of images.
  Result<TransitionSample> SampleTransitions(SampleTransitionsRequest request);
  Result<SequenceSample> SampleSequences(SampleSequencesRequest request);
  Result<CursorPage> ReadCursor(const ReadCursorRequest& request);
  Result<EpisodeList> ListEpisodes(const ListEpisodesRequest& request);
  Result<StorageInfo> Info();
  Result<ModelList> ListModels(const std::string& prefix = "");
  // Uploads in chunks; OK once the version is durable and announced.
  Status PutModel(const ModelWeights& weights);
  // version 0 = latest. Downloads every chunk and decodes.
  Result<ModelWeights> GetModel(const std::string& name, uint64_t version = 0);
  Result<CheckpointDone> Checkpoint(const std::string& directory);

  uint32_t retry_after_ms() const { return retry_after_ms_; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  StorageClient() = default;
  void OpenSocket();
  template <typename T>
  Result<T> CallFor(StorageRequest request);

  StorageClientOptions options_;
  std::string endpoint_;
  zmq::context_t context_{1};
  std::unique_ptr<zmq::socket_t> socket_;
  uint64_t next_request_id_ = 1;
  uint32_t retry_after_ms_ = 0;
};

}  // namespace mbrl::storage
