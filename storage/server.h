// `mbrl storage` on the network: a ZeroMQ ROUTER in front of a ReplayStore.
//
// Threads and sockets (each socket has exactly one owner thread):
//   front thread  owns the ROUTER (requests in, replies out), the PUB
//                 (model announcements) and an inproc PULL that collects
//                 replies from the others. It validates every message
//                 (size, schema, shapes, NaN/Inf) before queueing it,
//                 encodes transition batches for the store
//                 (ReplayStore::Prepare, so the writer does not), and
//                 answers cheap requests (hello, info) itself.
//   writer thread pops write jobs (batches, model chunks, checkpoints) from
//                 a bounded queue, group-commits every batch that is waiting
//                 into one RocksDB write, and only then replies.
//   reader threads serve samples, cursor pages, listings and model reads.
// A full write queue answers kBusy with a retry-after hint; nothing is
// dropped silently. A bad message is answered with an ErrorReply (code and
// reason), counted in mbrl_storage_rejected_total{reason}, and forgotten.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "storage/replay_store.h"

namespace prometheus {
class Registry;
}

namespace mbrl::storage {

struct StorageServerOptions {
  // Where requests arrive. Default: tcp://127.0.0.1:5555.
  std::string listen = "tcp://127.0.0.1:5555";
  // Where model announcements are published; clients learn it from Info.
  // Default: the listen host on any free port.
  std::string announce;
  // Larger messages are rejected unread. Default: 64 MiB.
  size_t max_message_bytes = size_t{64} << 20;
  // Write jobs waiting for the writer; beyond it clients get kBusy.
  // Default: 512.
  size_t write_queue_capacity = 512;
  // Most batches committed together in one RocksDB write. Default: 256.
  size_t max_group = 256;
  // Threads serving reads. Default: 2.
  int reader_threads = 2;
  // Checkpoint requests name a directory inside this one (a plain name, no
  // path), so a client cannot make storage write elsewhere. Empty: checkpoint
  // requests are refused. Default: empty.
  std::string checkpoint_root;
  // Largest model (encoded weights) accepted for upload. Default: 1 GiB.
  uint64_t max_model_bytes = uint64_t{1} << 30;
  // Retry hint sent with kBusy. Default: 20 ms.
  uint32_t busy_retry_after_ms = 20;
};

class StorageServer {
 public:
  // Binds the sockets and starts the threads. `store` and `metrics` must
  // outlive the server. kUnavailable when an endpoint cannot be bound.
  static Result<std::unique_ptr<StorageServer>> Start(
      const StorageServerOptions& options, ReplayStore* store,
      std::shared_ptr<prometheus::Registry> metrics);

  // Stops: stops taking new requests, finishes every queued write and sends
  // its reply, then joins the threads.
  ~StorageServer();

  const std::string& endpoint() const;           // Bound request endpoint.
  const std::string& announce_endpoint() const;  // Bound PUB endpoint.
  bool healthy() const;                          // The front thread is turning (not wedged).

  struct Impl;

 private:
  explicit StorageServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mbrl::storage
