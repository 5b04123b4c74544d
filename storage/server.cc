#include "storage/server.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <variant>
#include <zmq.hpp>

#include "common/bounded_queue.h"
#include "common/metrics.h"
#include "common/zmq_util.h"
#include "proto/codec.h"

namespace mbrl::storage {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kRepliesEndpoint[] = "inproc://storage-replies";

// Where to send a reply: the ROUTER identity, and whether the client framed
// its request like REQ (with an empty delimiter).
struct Peer {
  std::string identity;
  bool req_style = false;
};

struct Job {
  Peer peer;
  StorageRequest request;
  Clock::time_point received;
  // A transition batch, validated and encoded by the front thread straight
  // from the message; `request` then holds an empty TransitionBatch.
  std::optional<PreparedBatch> batch;
};

// A reply travelling from a worker thread to the front thread. An empty
// identity marks a model announcement for the PUB socket.
struct OutFrame {
  Peer peer;
  std::string payload;
};

// The hot path sends and receives without the zmq_poll that SendMultipart
// and RecvMultipart make first: a system call per message, several per
// acknowledged batch.

// One whole message if one is ready now, else nullopt (also on a closed
// context). A message is all there or not at all, so this never returns
// part of one.
std::optional<std::vector<zmq::message_t>> TryRecv(zmq::socket_t& socket) {
  std::vector<zmq::message_t> parts;
  try {
    while (true) {
      zmq::message_t part;
      if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
      const bool more = part.more();
      parts.push_back(std::move(part));
      if (!more) return parts;
    }
  } catch (const zmq::error_t&) {
  }
  return std::nullopt;
}

// Sends at once when the socket takes the message now; otherwise waits for
// it as SendMultipart does, up to `timeout`. Once the first part is taken,
// ZeroMQ takes the rest of the message.
bool SendNow(zmq::socket_t& socket, std::vector<zmq::message_t>& parts, milliseconds timeout) {
  try {
    for (size_t i = 0; i < parts.size(); ++i) {
      const auto flags = i + 1 < parts.size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                              : zmq::send_flags::dontwait;
      if (!socket.send(parts[i], flags)) {
        return i == 0 && SendMultipart(socket, parts, timeout).has_value();
      }
    }
    return true;
  } catch (const zmq::error_t&) {
    return false;
  }
}

// Label values of requests{type}, in the order of StorageRequest::body.
constexpr const char* kRequestTypes[] = {
    "put_batch",     "hello", "sample_transitions", "sample_sequences", "read_cursor",
    "list_episodes", "info",  "put_model",          "get_model",        "list_models",
    "checkpoint"};
static_assert(std::size(kRequestTypes) == std::variant_size_v<decltype(StorageRequest::body)>);

}  // namespace

struct StorageServer::Impl {
  StorageServerOptions options;
  ReplayStore* store = nullptr;
  std::shared_ptr<prometheus::Registry> registry;
  zmq::context_t context{1};
  std::string endpoint;
  std::string announce_endpoint;
  // Shutdown in two steps: the front thread stops taking requests (and says
  // so in front_quiet), then the workers finish their queues and exit.
  std::atomic<bool> accepting{true};
  std::atomic<bool> front_quiet{false};
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> front_heartbeat_ms{0};

  std::unique_ptr<BoundedQueue<Job>> write_queue;
  BoundedQueue<Job> read_queue{1024};
  std::thread front;
  std::thread writer;
  std::vector<std::thread> readers;
  std::atomic<int> workers_alive{0};

  // In-progress model uploads, owned by the writer thread.
  std::map<std::pair<std::string, uint64_t>, std::vector<ModelChunk>> uploads;

  // Metrics.
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  // requests{type} by StorageRequest::body index: looked up once, not per
  // request.
  std::vector<prometheus::Counter*> requests_by_type;
  prometheus::Family<prometheus::Counter>* rejected = nullptr;
  prometheus::Counter* messages_in = nullptr;
  prometheus::Counter* messages_out = nullptr;
  prometheus::Counter* bytes_in = nullptr;
  prometheus::Counter* transitions_stored = nullptr;
  prometheus::Counter* batches_stored = nullptr;
  prometheus::Counter* duplicates = nullptr;
  prometheus::Counter* announcements = nullptr;
  prometheus::Histogram* ingest_latency = nullptr;
  prometheus::Histogram* commit_latency = nullptr;
  prometheus::Histogram* group_size = nullptr;
  prometheus::Histogram* sample_latency = nullptr;
  prometheus::Gauge* transitions_gauge = nullptr;
  prometheus::Gauge* episodes_gauge = nullptr;
  prometheus::Gauge* db_bytes = nullptr;
  prometheus::Gauge* write_queue_depth = nullptr;
  prometheus::Gauge* evicted_episodes = nullptr;
  prometheus::Gauge* model_versions = nullptr;

  void RegisterMetrics();
  void Reject(const Peer& peer, uint64_t request_id, const std::string& reason_label,
              const Error& error, zmq::socket_t& router, uint32_t retry_after_ms = 0);
  void SendReply(zmq::socket_t& socket, const Peer& peer, const std::string& payload);
  void FrontLoop(zmq::socket_t router, zmq::socket_t pub, zmq::socket_t pull);
  // Sends up to `max` replies (and announcements) the workers handed over.
  void ForwardFromWorkers(zmq::socket_t& pull, zmq::socket_t& router, zmq::socket_t& pub, int max);
  void HandleRequest(zmq::socket_t& router, std::vector<zmq::message_t>& frames);
  void WriterLoop();
  void ReaderLoop();
  void RefreshGauges();
  StorageReply HandleModelChunk(const Job& job, zmq::socket_t& push);
  Result<CheckpointDone> CheckpointIn(const std::string& name);
  static void Push(zmq::socket_t& push, const Peer& peer, const StorageReply& reply);
  // The same with frames after the message (a sample asked for as frames).
  static void PushFramed(zmq::socket_t& push, const Peer& peer, proto::FramedReply reply);
};

void StorageServer::Impl::RegisterMetrics() {
  RegisterBuildInfo(*registry, "storage");
  auto counter = [&](const char* name, const char* help) -> prometheus::Counter& {
    return prometheus::BuildCounter().Name(name).Help(help).Register(*registry).Add({});
  };
  auto gauge = [&](const char* name, const char* help) -> prometheus::Gauge& {
    return prometheus::BuildGauge().Name(name).Help(help).Register(*registry).Add({});
  };
  auto histogram = [&](const char* name, const char* help,
                       prometheus::Histogram::BucketBoundaries buckets) -> prometheus::Histogram& {
    return prometheus::BuildHistogram().Name(name).Help(help).Register(*registry).Add({}, buckets);
  };
  requests = &prometheus::BuildCounter()
                  .Name("mbrl_storage_requests_total")
                  .Help("Requests received, by type.")
                  .Register(*registry);
  rejected = &prometheus::BuildCounter()
                  .Name("mbrl_storage_rejected_total")
                  .Help("Requests rejected, by reason.")
                  .Register(*registry);
  for (size_t i = 0; i < std::variant_size_v<decltype(StorageRequest::body)>; ++i) {
    requests_by_type.push_back(&requests->Add({{"type", kRequestTypes[i]}}));
  }
  for (const char* reason :
       {"too_large", "malformed", "invalid", "schema_version", "unknown_request", "bad_framing",
        "busy", "out_of_order", "write_error", "not_found"}) {
    rejected->Add({{"reason", reason}});
  }
  messages_in = &counter("mbrl_storage_messages_received_total", "Messages received.");
  messages_out = &counter("mbrl_storage_messages_sent_total", "Replies sent.");
  bytes_in = &counter("mbrl_storage_received_bytes_total", "Bytes of requests received.");
  transitions_stored = &counter("mbrl_storage_transitions_stored_total",
                                "Transitions written (duplicates excluded).");
  batches_stored = &counter("mbrl_storage_batches_stored_total", "Batches written.");
  duplicates = &counter("mbrl_storage_duplicate_batches_total",
                        "Batches acknowledged again without writing (retries).");
  announcements =
      &counter("mbrl_storage_model_announcements_total", "Model versions stored and announced.");
  ingest_latency =
      &histogram("mbrl_storage_ingest_latency_seconds",
                 "From receiving a batch to sending its acknowledgement.", LatencyBuckets());
  commit_latency = &histogram("mbrl_storage_commit_latency_seconds",
                              "Duration of one group commit (RocksDB write).", LatencyBuckets());
  group_size = &histogram("mbrl_storage_group_commit_batches", "Batches per group commit.",
                          {1, 2, 4, 8, 16, 32, 64, 128, 256});
  sample_latency = &histogram("mbrl_storage_sample_latency_seconds",
                              "Duration of sample and cursor reads.", LatencyBuckets());
  transitions_gauge = &gauge("mbrl_storage_transitions", "Transitions currently stored.");
  episodes_gauge = &gauge("mbrl_storage_episodes", "Episodes currently stored.");
  db_bytes = &gauge("mbrl_storage_database_bytes", "Approximate size of the database.");
  write_queue_depth = &gauge("mbrl_storage_write_queue_depth", "Write jobs waiting.");
  evicted_episodes = &gauge("mbrl_storage_evicted_episodes", "Episodes evicted since start.");
  model_versions = &gauge("mbrl_storage_model_versions", "Model versions kept in the registry.");
}

void StorageServer::Impl::RefreshGauges() {
  StorageInfo info = store->Info();
  transitions_gauge->Set(static_cast<double>(info.transitions));
  episodes_gauge->Set(static_cast<double>(info.episodes));
  db_bytes->Set(static_cast<double>(info.bytes));
  evicted_episodes->Set(static_cast<double>(store->evicted_episodes()));
  write_queue_depth->Set(static_cast<double>(write_queue->size()));
  size_t versions = 0;
  for (const auto& m : store->ListModels("").models) versions += m.versions.size();
  model_versions->Set(static_cast<double>(versions));
}

void StorageServer::Impl::SendReply(zmq::socket_t& socket, const Peer& peer,
                                    const std::string& payload) {
  std::vector<zmq::message_t> frames;
  frames.emplace_back(peer.identity.data(), peer.identity.size());
  if (peer.req_style) frames.emplace_back();
  frames.emplace_back(payload.data(), payload.size());
  // A ROUTER drops messages to peers that are gone; a blocked send here would
  // stall everyone, so the timeout is short.
  if (SendNow(socket, frames, milliseconds(100))) messages_out->Increment();
}

void StorageServer::Impl::Push(zmq::socket_t& push, const Peer& peer, const StorageReply& reply) {
  PushFramed(push, peer, proto::FramedReply{proto::Encode(reply), {}});
}

void StorageServer::Impl::PushFramed(zmq::socket_t& push, const Peer& peer,
                                     proto::FramedReply reply) {
  std::vector<zmq::message_t> frames;
  frames.emplace_back(peer.identity.data(), peer.identity.size());
  frames.emplace_back(peer.req_style ? "1" : "0", 1);
  // The encoded reply and the image frames (megabytes for a sample) become
  // ZeroMQ frames as they are: ZeroMQ frees them once sent, nothing copies
  // them.
  auto* payload = new std::string(std::move(reply.message));
  frames.emplace_back(
      payload->data(), payload->size(),
      [](void* /*data*/, void* hint) { delete static_cast<std::string*>(hint); }, payload);
  for (std::vector<uint8_t>& bytes : reply.frames) {
    if (bytes.empty()) {
      frames.emplace_back();
      continue;
    }
    auto* owned = new std::vector<uint8_t>(std::move(bytes));
    frames.emplace_back(
        owned->data(), owned->size(),
        [](void* /*data*/, void* hint) { delete static_cast<std::vector<uint8_t>*>(hint); }, owned);
  }
  SendNow(push, frames, milliseconds(10000));
}

void StorageServer::Impl::Reject(const Peer& peer, uint64_t request_id,
                                 const std::string& reason_label, const Error& error,
                                 zmq::socket_t& router, uint32_t retry_after_ms) {
  rejected->Add({{"reason", reason_label}}).Increment();
  spdlog::debug("rejected ({}): {}", reason_label, error.ToString());
  StorageReply reply;
  reply.request_id = request_id;
  reply.body = ErrorReply::From(error, retry_after_ms);
  SendReply(router, peer, proto::Encode(reply));
}

namespace {

std::string LabelFor(const Error& e) {
  // The codec's one kInvalidArgument that is about the sender's build, not
  // its data (proto/wire_internal.cc CheckVersion): a label of its own, so an
  // operator sees a version skew between roles at once.
  if (e.code == ErrorCode::kInvalidArgument &&
      e.reason.find(": schema version ") != std::string::npos &&
      e.reason.find(" not supported; this build speaks ") != std::string::npos) {
    return "schema_version";
  }
  switch (e.code) {
    case ErrorCode::kDataLoss:
      return "malformed";
    case ErrorCode::kUnimplemented:
      return "unknown_request";
    case ErrorCode::kFailedPrecondition:
      return "out_of_order";
    case ErrorCode::kUnavailable:
      return "write_error";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kBusy:
      return "busy";
    default:
      return "invalid";
  }
}

}  // namespace

void StorageServer::Impl::HandleRequest(zmq::socket_t& router,
                                        std::vector<zmq::message_t>& frames) {
  messages_in->Increment();
  Peer peer;
  if (frames.empty()) return;
  peer.identity = frames[0].to_string();
  const zmq::message_t* body = nullptr;
  if (frames.size() == 2) {
    body = &frames[1];
  } else if (frames.size() == 3 && frames[1].size() == 0) {
    peer.req_style = true;
    body = &frames[2];
  } else {
    Reject(peer, 0, "bad_framing",
           Error{ErrorCode::kInvalidArgument,
                 "expected one frame per request (or an empty delimiter and one frame), got " +
                     std::to_string(frames.size() - 1)},
           router);
    return;
  }
  bytes_in->Increment(static_cast<double>(body->size()));
  if (body->size() > options.max_message_bytes) {
    Reject(peer, 0, "too_large",
           Error{ErrorCode::kInvalidArgument,
                 "message of " + std::to_string(body->size()) + " bytes is over the limit of " +
                     std::to_string(options.max_message_bytes) +
                     " (--max-message-bytes); send smaller batches or model chunks"},
           router);
    return;
  }
  proto::DecodeLimits limits;
  limits.max_message_bytes = options.max_message_bytes;
  limits.traversal_limit_bytes = options.max_message_bytes * 2;
  const std::string_view bytes(static_cast<const char*>(body->data()), body->size());

  // A transition batch (nearly every request) goes from the message straight
  // into the store's layout, checked on the way (shapes by the decoder, the
  // rest of ValidateBatch by the preparer): this keeps the encoding off the
  // writer, the one serial stage of ingest, and allocates nothing per
  // transition.
  struct Preparing final : proto::TransitionBatchVisitor {
    BatchPreparer preparer{IngestOptions{.decoded = true}};
    uint64_t request_id = 0;
    bool refused = false;  // The preparer's error, not the decoder's.
    Status OnHeader(const proto::TransitionBatchHeader& h) override {
      request_id = h.request_id;
      return Refused(
          preparer.Begin(h.collector_id, h.incarnation, h.sequence, h.env, h.transitions));
    }
    Status OnTransition(const TransitionView& t) override { return Refused(preparer.Add(t)); }
    Status Refused(Status s) {
      refused = !s;
      return s;
    }
  } preparing;
  auto visited = proto::VisitTransitionBatchRequest(bytes, limits, preparing);
  if (!visited) {
    if (preparing.refused) {
      Reject(peer, preparing.request_id, "invalid", visited.error(), router);
    } else {
      Reject(peer, 0, LabelFor(visited.error()), visited.error(), router);
    }
    return;
  }
  Job job{peer, StorageRequest{}, Clock::now(), std::nullopt};
  if (*visited) {
    auto prepared = preparing.preparer.Finish();
    if (!prepared) {
      Reject(peer, preparing.request_id, "invalid", prepared.error(), router);
      return;
    }
    job.request.request_id = preparing.request_id;
    job.request.body = TransitionBatch{};
    job.batch = std::move(*prepared);
  } else {
    auto decoded = proto::DecodeStorageRequest(bytes, limits);
    if (!decoded) {
      Reject(peer, 0, LabelFor(decoded.error()), decoded.error(), router);
      return;
    }
    job.request = std::move(*decoded);
  }
  requests_by_type[job.request.body.index()]->Increment();
  const uint64_t id = job.request.request_id;

  const bool is_write = std::holds_alternative<TransitionBatch>(job.request.body) ||
                        std::holds_alternative<ModelChunk>(job.request.body) ||
                        std::holds_alternative<CheckpointRequest>(job.request.body);
  if (auto* hello = std::get_if<HelloRequest>(&job.request.body)) {
    if (Status s = ValidateCollectorId(hello->collector_id); !s) {
      Reject(peer, id, "invalid", s.error(), router);
      return;
    }
    StorageReply reply;
    reply.request_id = id;
    reply.body = store->GetCollector(hello->collector_id);
    SendReply(router, peer, proto::Encode(reply));
    return;
  }
  if (std::holds_alternative<InfoRequest>(job.request.body)) {
    StorageReply reply;
    reply.request_id = id;
    StorageInfo info = store->Info();
    info.announce_endpoint = announce_endpoint;
    reply.body = std::move(info);
    SendReply(router, peer, proto::Encode(reply));
    return;
  }
  BoundedQueue<Job>& queue = is_write ? *write_queue : read_queue;
  if (!queue.TryPush(std::move(job))) {
    Reject(peer, id, "busy",
           Error{ErrorCode::kBusy, std::string(is_write ? "write" : "read") +
                                       " queue is full; retry after the hinted delay"},
           router, options.busy_retry_after_ms);
  }
}

void StorageServer::Impl::ForwardFromWorkers(zmq::socket_t& pull, zmq::socket_t& router,
                                             zmq::socket_t& pub, int max) {
  for (int i = 0; i < max; ++i) {
    auto frames = TryRecv(pull);
    if (!frames) break;
    if (frames->size() < 3) continue;
    std::string identity = (*frames)[0].to_string();
    if (identity.empty()) {
      // An announcement: PUB carries announcements only, never data.
      zmq::message_t msg((*frames)[2].data(), (*frames)[2].size());
      if (pub.send(msg, zmq::send_flags::dontwait)) announcements->Increment();
      continue;
    }
    // Hand the worker's frames on as they are: a reply (a sample with images
    // is megabytes) is not copied again on the thread every request waits for.
    std::vector<zmq::message_t> out;
    const bool req_style = (*frames)[1].to_string() == "1";
    out.push_back(std::move((*frames)[0]));
    if (req_style) out.emplace_back();
    for (size_t f = 2; f < frames->size(); ++f) out.push_back(std::move((*frames)[f]));
    if (SendNow(router, out, milliseconds(100))) messages_out->Increment();
  }
}

void StorageServer::Impl::FrontLoop(zmq::socket_t router, zmq::socket_t pub, zmq::socket_t pull) {
  auto last_gauges = Clock::now();
  while (true) {
    front_heartbeat_ms =
        std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
    const bool accept = accepting.load();
    if (!accept) front_quiet = true;
    if (stopping.load() && workers_alive.load() == 0) {
      ForwardFromWorkers(pull, router, pub, std::numeric_limits<int>::max());
      break;
    }
    zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0},
                               {pull.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, milliseconds(50));
    if (accept && (items[0].revents & ZMQ_POLLIN)) {
      // Take a bounded number so replies are not starved, and after each
      // request hand on the replies that are ready: an acknowledgement then
      // leaves as soon as the writer has made it, not after a burst of
      // requests, and a collector with a window of batches in flight sends
      // its next batch that much sooner.
      for (int i = 0; i < 64; ++i) {
        auto frames = TryRecv(router);
        if (!frames) break;
        HandleRequest(router, *frames);
        ForwardFromWorkers(pull, router, pub, 256);
      }
    }
    if (items[1].revents & ZMQ_POLLIN) ForwardFromWorkers(pull, router, pub, 256);
    if (Clock::now() - last_gauges > milliseconds(500)) {
      RefreshGauges();
      last_gauges = Clock::now();
    }
  }
}

StorageReply StorageServer::Impl::HandleModelChunk(const Job& job, zmq::socket_t& push) {
  const ModelChunk& chunk = std::get<ModelChunk>(job.request.body);
  StorageReply reply;
  reply.request_id = job.request.request_id;
  auto fail = [&](const Error& e) {
    rejected->Add({{"reason", LabelFor(e)}}).Increment();
    reply.body = ErrorReply::From(e);
    return reply;
  };
  if (chunk.total_chunks == 0 || chunk.chunk_index >= chunk.total_chunks) {
    return fail(Error{ErrorCode::kInvalidArgument, "chunk index out of range"});
  }
  if (chunk.total_bytes > options.max_model_bytes) {
    return fail(Error{ErrorCode::kInvalidArgument, "model of " + std::to_string(chunk.total_bytes) +
                                                       " bytes is over the limit of " +
                                                       std::to_string(options.max_model_bytes)});
  }
  auto key = std::make_pair(chunk.name, chunk.version);
  if (uploads.size() >= 8 && !uploads.count(key)) {
    uploads.erase(uploads.begin());  // Abandoned uploads: keep memory bounded.
  }
  auto& parts = uploads[key];
  // A retried chunk replaces the copy already received.
  std::erase_if(parts, [&](const ModelChunk& c) { return c.chunk_index == chunk.chunk_index; });
  parts.push_back(chunk);
  // The declared size bounds what one upload may stage in memory.
  uint64_t staged = 0;
  for (const ModelChunk& c : parts) staged += c.data.size();
  if (staged > chunk.total_bytes) {
    uploads.erase(key);
    return fail(Error{ErrorCode::kInvalidArgument,
                      "model chunks hold more bytes than the declared total of " +
                          std::to_string(chunk.total_bytes)});
  }
  ModelChunkAck ack{chunk.name, chunk.version, chunk.chunk_index, false};
  if (parts.size() < chunk.total_chunks) {
    reply.body = ack;
    return reply;
  }
  std::vector<ModelChunk> all = std::move(parts);
  uploads.erase(key);
  auto bytes = JoinChunks(all);
  if (!bytes) return fail(bytes.error());
  proto::DecodeLimits limits;
  limits.max_message_bytes = size_t{2} << 30;
  limits.traversal_limit_bytes = uint64_t{2} << 30;
  auto weights = proto::DecodeModelWeights(*bytes, limits);
  if (!weights) return fail(weights.error());
  if (weights->name != chunk.name || weights->version != chunk.version) {
    return fail(Error{ErrorCode::kInvalidArgument, "chunks say " + chunk.name + " v" +
                                                       std::to_string(chunk.version) +
                                                       " but the weights say " + weights->name +
                                                       " v" + std::to_string(weights->version)});
  }
  ModelRecord record;
  record.name = weights->name;
  record.version = weights->version;
  record.env_name = weights->env_name;
  record.kind = weights->kind;
  record.created_unix_ms = weights->created_unix_ms;
  record.trained_on_transitions = weights->trained_on_transitions;
  record.metrics = weights->metrics;
  auto announced = store->PutModel(record, *bytes);
  if (!announced) return fail(announced.error());
  std::vector<zmq::message_t> frames;
  frames.emplace_back();
  frames.emplace_back("0", 1);
  std::string payload = proto::Encode(*announced);
  frames.emplace_back(payload.data(), payload.size());
  SendMultipart(push, frames, milliseconds(10000));
  ack.complete = true;
  reply.body = ack;
  return reply;
}

Result<CheckpointDone> StorageServer::Impl::CheckpointIn(const std::string& name) {
  if (options.checkpoint_root.empty()) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     "checkpoints are off: start storage with --checkpoint-dir");
  }
  bool plain = !name.empty() && name.size() <= 128 && name != "." && name != "..";
  for (char c : name) {
    plain =
        plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (!plain) {
    return InvalidArgument("checkpoint name '" + name +
                           "' must be a plain name (letters, digits, '.', '_', '-'); it is "
                           "created inside the server's --checkpoint-dir");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.checkpoint_root, ec);
  return store->Checkpoint((std::filesystem::path(options.checkpoint_root) / name).string());
}

void StorageServer::Impl::WriterLoop() {
  zmq::socket_t push(context, zmq::socket_type::push);
  ConfigureSocket(push, 100000);
  push.connect(kRepliesEndpoint);
  while (true) {
    auto first = write_queue->Pop(milliseconds(50));
    if (!first) {
      if (stopping.load() && write_queue->size() == 0) break;
      continue;
    }
    std::vector<Job> group;
    group.push_back(std::move(*first));
    while (group.size() < options.max_group) {
      auto more = write_queue->TryPop();
      if (!more) break;
      group.push_back(std::move(*more));
    }
    // Batches are committed together; other jobs run in arrival order after.
    std::vector<const PreparedBatch*> batches;
    std::vector<size_t> batch_jobs;
    for (size_t i = 0; i < group.size(); ++i) {
      if (group[i].batch) {
        batches.push_back(&*group[i].batch);
        batch_jobs.push_back(i);
      }
    }
    if (!batches.empty()) {
      auto t0 = Clock::now();
      std::vector<IngestResult> results = store->IngestPrepared(batches);
      commit_latency->Observe(std::chrono::duration<double>(Clock::now() - t0).count());
      group_size->Observe(static_cast<double>(batches.size()));
      for (size_t k = 0; k < results.size(); ++k) {
        const Job& job = group[batch_jobs[k]];
        StorageReply reply;
        reply.request_id = job.request.request_id;
        if (results[k]) {
          if (results[k]->duplicate) {
            duplicates->Increment();
          } else {
            transitions_stored->Increment(results[k]->stored);
            batches_stored->Increment();
          }
          reply.body = *results[k];
        } else {
          rejected->Add({{"reason", LabelFor(results[k].error())}}).Increment();
          reply.body = ErrorReply::From(results[k].error(), IsRetryable(results[k].error().code)
                                                                ? options.busy_retry_after_ms * 5
                                                                : 0);
        }
        Push(push, job.peer, reply);
        ingest_latency->Observe(std::chrono::duration<double>(Clock::now() - job.received).count());
      }
    }
    for (Job& job : group) {
      if (job.batch) continue;
      StorageReply reply;
      reply.request_id = job.request.request_id;
      if (std::holds_alternative<ModelChunk>(job.request.body)) {
        reply = HandleModelChunk(job, push);
      } else if (auto* c = std::get_if<CheckpointRequest>(&job.request.body)) {
        auto done = CheckpointIn(c->directory);
        if (done) {
          reply.body = *done;
        } else {
          reply.body = ErrorReply::From(done.error());
        }
      }
      Push(push, job.peer, reply);
    }
  }
  workers_alive.fetch_sub(1);
}

void StorageServer::Impl::ReaderLoop() {
  zmq::socket_t push(context, zmq::socket_type::push);
  ConfigureSocket(push, 100000);
  push.connect(kRepliesEndpoint);
  while (true) {
    auto job = read_queue.Pop(milliseconds(50));
    if (!job) {
      if (stopping.load()) break;
      continue;
    }
    auto t0 = Clock::now();
    StorageReply reply;
    reply.request_id = job->request.request_id;
    auto set_error = [&](const Error& e) {
      rejected->Add({{"reason", LabelFor(e)}}).Increment();
      reply.body = ErrorReply::From(e);
    };
    std::visit(
        [&](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, SampleTransitionsRequest>) {
            auto r = store->SampleTransitions(body);
            if (r)
              reply.body = std::move(*r);
            else
              set_error(r.error());
          } else if constexpr (std::is_same_v<T, SampleSequencesRequest>) {
            auto r = store->SampleSequences(body);
            if (r)
              reply.body = std::move(*r);
            else
              set_error(r.error());
          } else if constexpr (std::is_same_v<T, ReadCursorRequest>) {
            auto r = store->ReadCursor(body);
            if (r)
              reply.body = std::move(*r);
            else
              set_error(r.error());
          } else if constexpr (std::is_same_v<T, ListEpisodesRequest>) {
            reply.body = store->ListEpisodes(body);
          } else if constexpr (std::is_same_v<T, ListModelsRequest>) {
            reply.body = store->ListModels(body.prefix);
          } else if constexpr (std::is_same_v<T, GetModelRequest>) {
            auto record = store->GetModelRecord(body.name, body.version);
            if (!record) {
              set_error(record.error());
              return;
            }
            auto data = store->GetModelChunk(*record, body.chunk_index);
            if (!data) {
              set_error(data.error());
              return;
            }
            ModelChunk chunk;
            chunk.name = record->name;
            chunk.version = record->version;
            chunk.chunk_index = body.chunk_index;
            chunk.total_chunks = record->total_chunks;
            chunk.total_bytes = record->total_bytes;
            chunk.data = std::move(*data);
            reply.body = std::move(chunk);
          } else {
            set_error(Error{ErrorCode::kUnimplemented, "not a read request"});
          }
        },
        job->request.body);
    sample_latency->Observe(std::chrono::duration<double>(Clock::now() - t0).count());
    const bool framed = std::visit(
        [](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, SampleTransitionsRequest> ||
                        std::is_same_v<T, SampleSequencesRequest>) {
            return body.images_as_frames;
          } else {
            return false;
          }
        },
        job->request.body);
    if (framed && !std::holds_alternative<ErrorReply>(reply.body)) {
      PushFramed(push, job->peer, proto::EncodeFramed(std::move(reply)));
    } else {
      Push(push, job->peer, reply);
    }
  }
  workers_alive.fetch_sub(1);
}

Result<std::unique_ptr<StorageServer>> StorageServer::Start(
    const StorageServerOptions& options, ReplayStore* store,
    std::shared_ptr<prometheus::Registry> metrics) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->store = store;
  impl->registry = std::move(metrics);
  impl->RegisterMetrics();
  impl->write_queue = std::make_unique<BoundedQueue<Job>>(options.write_queue_capacity);

  zmq::socket_t router(impl->context, zmq::socket_type::router);
  ConfigureSocket(router, 10000);
  router.set(zmq::sockopt::router_mandatory, 0);
  router.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options.max_message_bytes + 4096));
  auto bound = Bind(router, options.listen);
  if (!bound) return std::unexpected(bound.error());
  impl->endpoint = *bound;

  std::string announce = options.announce;
  if (announce.empty()) {
    auto colon = impl->endpoint.rfind(':');
    announce = impl->endpoint.starts_with("tcp://") ? impl->endpoint.substr(0, colon) + ":0"
                                                    : impl->endpoint + "-announce";
  }
  zmq::socket_t pub(impl->context, zmq::socket_type::pub);
  ConfigureSocket(pub, 10000);
  auto pub_bound = Bind(pub, announce);
  if (!pub_bound) return std::unexpected(pub_bound.error());
  impl->announce_endpoint = *pub_bound;

  zmq::socket_t pull(impl->context, zmq::socket_type::pull);
  ConfigureSocket(pull, 100000);
  pull.bind(kRepliesEndpoint);

  Impl* raw = impl.get();
  // The gauges hold the store's real figures from the first scrape on (the
  // front thread refreshes them every 500 ms after this).
  raw->RefreshGauges();
  raw->workers_alive = 1 + std::max(1, options.reader_threads);
  raw->writer = std::thread([raw] { raw->WriterLoop(); });
  for (int i = 0; i < std::max(1, options.reader_threads); ++i) {
    raw->readers.emplace_back([raw] { raw->ReaderLoop(); });
  }
  raw->front =
      std::thread([raw, r = std::move(router), p = std::move(pub), q = std::move(pull)]() mutable {
        raw->FrontLoop(std::move(r), std::move(p), std::move(q));
      });
  spdlog::info("storage serving on {} (announcements on {})", raw->endpoint,
               raw->announce_endpoint);
  return std::unique_ptr<StorageServer>(new StorageServer(std::move(impl)));
}

StorageServer::StorageServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StorageServer::~StorageServer() {
  impl_->accepting = false;
  while (!impl_->front_quiet.load()) std::this_thread::sleep_for(milliseconds(1));
  impl_->stopping = true;
  impl_->writer.join();
  for (auto& t : impl_->readers) t.join();
  impl_->front.join();
}

const std::string& StorageServer::endpoint() const { return impl_->endpoint; }
const std::string& StorageServer::announce_endpoint() const { return impl_->announce_endpoint; }

bool StorageServer::healthy() const {
  int64_t now = std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
  return now - impl_->front_heartbeat_ms.load() < 10000;
}

}  // namespace mbrl::storage
