// Errors that a caller can act on, returned rather than thrown.
//
// Contract: functions that can fail for reasons outside the program's control
// (bad input from the network, a missing file, a busy peer) return
// `Result<T>` = std::expected<T, Error>. `Error::reason` is written for a
// person: it says what was wrong and, where possible, what to do about it.
// Invariant violations (bugs) are asserted, not returned.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace mbrl {

// Machine-readable error codes. The numeric values are part of the wire
// contract (proto/common.capnp mirrors them): never renumber.
enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument = 1,     // The request itself is wrong; do not retry as is.
  kNotFound = 2,            // The named thing does not exist (yet).
  kAlreadyExists = 3,       // E.g. a model version at or below the latest.
  kFailedPrecondition = 4,  // The system is not in a state to do this.
  kUnavailable = 5,         // Transient: retry later (peer down, disk error).
  kBusy = 6,                // Flow control: retry after the hinted delay.
  kDeadlineExceeded = 7,    // The operation's timeout ran out.
  kDataLoss = 8,            // Corrupted or truncated data.
  kUnimplemented = 9,       // Unknown request type or not built yet.
  kInternal = 10,           // A bug: an invariant did not hold.
  kCancelled = 11,          // Stopped by shutdown.
};

// Short stable name of a code ("invalid_argument"), usable as a metric label.
std::string_view ErrorCodeName(ErrorCode code);

// True for codes after which the same request may succeed later.
bool IsRetryable(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string reason;

  std::string ToString() const;  // "invalid_argument: <reason>"
};

template <typename T>
using Result = std::expected<T, Error>;

// A Result without a value: `Status s = OkStatus();`
using Status = std::expected<void, Error>;

inline Status OkStatus() { return {}; }

inline std::unexpected<Error> MakeError(ErrorCode code, std::string reason) {
  return std::unexpected<Error>(Error{code, std::move(reason)});
}
inline std::unexpected<Error> InvalidArgument(std::string reason) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(reason));
}
inline std::unexpected<Error> NotFound(std::string reason) {
  return MakeError(ErrorCode::kNotFound, std::move(reason));
}
inline std::unexpected<Error> Unavailable(std::string reason) {
  return MakeError(ErrorCode::kUnavailable, std::move(reason));
}
inline std::unexpected<Error> DataLoss(std::string reason) {
  return MakeError(ErrorCode::kDataLoss, std::move(reason));
}
inline std::unexpected<Error> Internal(std::string reason) {
  return MakeError(ErrorCode::kInternal, std::move(reason));
}

}  // namespace mbrl
