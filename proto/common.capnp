# Types shared by every mbrl wire schema: error codes, spaces, env specs.
#
# Evolution rules for every file in proto/: append new fields (next ordinal)
# and new enumerants at the end; never renumber, rename on the wire, or change
# a field's type. A breaking change bumps schemaVersion (mbrl::kSchemaVersion).
@0xc48403a03f982262;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("mbrl::wire");

const currentSchemaVersion :UInt16 = 1;
# The schemaVersion this revision of the schemas writes (mbrl::kSchemaVersion).
# Every top-level message carries it in field @0; readers reject versions
# they do not know.

enum ErrorCode {
  # Mirrors mbrl::ErrorCode (common/status.h) numerically.
  ok @0;                  # No error.
  invalidArgument @1;     # The request itself is wrong; do not retry as is.
  notFound @2;            # The named thing does not exist (yet).
  alreadyExists @3;       # E.g. a model version at or below the latest.
  failedPrecondition @4;  # The system is not in a state to do this.
  unavailable @5;         # Transient: retry later.
  busy @6;                # Flow control: retry after retryAfterMs.
  deadlineExceeded @7;    # The operation's timeout ran out.
  dataLoss @8;            # Corrupted or truncated data.
  unimplemented @9;       # Unknown request type or not built yet.
  internal @10;           # A bug: an invariant did not hold.
  cancelled @11;          # Stopped by shutdown.
}

struct Error {
  # A failure a peer can act on.
  code @0 :ErrorCode;      # What kind of failure.
  reason @1 :Text;         # Written for a person: what was wrong, what to do.
  retryAfterMs @2 :UInt32; # For busy/unavailable: wait this long (0 = no hint).
}

struct BoxSpace {
  # A box of flat float vectors: element i lies in [low[i], high[i]].
  low @0 :List(Float32);   # Lower bounds (may be -inf).
  high @1 :List(Float32);  # Upper bounds (may be +inf); same length as low.
}

struct ImageSpec {
  # Image observations: height x width x channels bytes, row-major (RGB if 3).
  height @0 :UInt32;    # Rows.
  width @1 :UInt32;     # Columns.
  channels @2 :UInt32;  # Bytes per pixel.
}

struct EnvSpec {
  # What an environment is: the spaces a learner and a planner need.
  name @0 :Text;               # Registry name, e.g. "cartpole_swingup".
  observation @1 :BoxSpace;    # Observation space.
  action @2 :BoxSpace;         # Action space.
  image @3 :ImageSpec;         # Null when the environment renders no images.
  maxEpisodeSteps @4 :UInt32;  # Time limit in steps (0 = none).
  dt @5 :Float64;              # Seconds of simulated time per step.
}
