// `mbrl export-model`: a stored model version as a file Python PyTorch loads
// with torch.load (format: models/export.h).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "apps/roles.h"
#include "common/messages.h"
#include "models/export.h"
#include "proto/codec.h"
#include "storage/client.h"
#include "storage/replay_store.h"

namespace mbrl::app {
namespace {

// The weights of `name` at `version` (0: latest) from a running storage.
Result<ModelWeights> FetchFromStorage(const std::string& endpoint, const std::string& name,
                                      uint64_t version) {
  auto client = storage::StorageClient::Connect(endpoint);
  if (!client) return std::unexpected(client.error());
  return (*client)->GetModel(name, version);
}

// The same straight from a data directory, opened read-only (a running
// storage may keep writing it).
Result<ModelWeights> FetchFromDataDir(const std::string& data_dir, const std::string& name,
                                      uint64_t version) {
  storage::ReplayStoreOptions options;
  options.read_only = true;
  auto store = storage::ReplayStore::Open(data_dir, options);
  if (!store) return std::unexpected(store.error());
  Result<ModelRecord> record = (*store)->GetModelRecord(name, version);
  if (!record) return std::unexpected(record.error());
  std::string bytes;
  bytes.reserve(record->total_bytes);
  for (uint32_t c = 0; c < record->total_chunks; ++c) {
    Result<std::string> chunk = (*store)->GetModelChunk(*record, c);
    if (!chunk) return std::unexpected(chunk.error());
    bytes += *chunk;
  }
  if (bytes.size() != record->total_bytes) {
    return DataLoss("model " + name + " version " + std::to_string(record->version) + " has " +
                    std::to_string(bytes.size()) + " bytes; its record says " +
                    std::to_string(record->total_bytes));
  }
  // Models may be larger than a network message; the store holds whole ones.
  proto::DecodeLimits limits;
  limits.max_message_bytes = std::max<size_t>(limits.max_message_bytes, bytes.size());
  limits.traversal_limit_bytes = std::max<uint64_t>(limits.traversal_limit_bytes, 2 * bytes.size());
  return proto::DecodeModelWeights(bytes, limits);
}

}  // namespace

int RunExportModel(const ExportModelOptions& options) {
  const std::string role = "export-model";
  if (options.storage.empty() == options.data_dir.empty()) {
    return Fail(role, kExitUsage,
                "give exactly one of --storage ENDPOINT and --data-dir DIR (also set by "
                "MBRL_STORAGE and MBRL_DATA_DIR)");
  }
  Result<ModelWeights> weights =
      options.storage.empty() ? FetchFromDataDir(options.data_dir, options.name, options.version)
                              : FetchFromStorage(options.storage, options.name, options.version);
  if (!weights) {
    const bool usage = weights.error().code == ErrorCode::kInvalidArgument;
    return Fail(role, usage ? kExitUsage : kExitFailure, weights.error().reason);
  }
  if (Status written = models::WriteForPyTorch(*weights, options.out); !written) {
    return Fail(role, kExitFailure, written.error().reason);
  }
  spdlog::info("exported {} version {} ({} tensors, {} normalization tensors) to {}", weights->name,
               weights->version, weights->tensors.size(), weights->normalization.size(),
               options.out);
  std::printf("exported name=%s version=%llu out=%s\n", weights->name.c_str(),
              static_cast<unsigned long long>(weights->version), options.out.c_str());
  return kExitOk;
}

}  // namespace mbrl::app
