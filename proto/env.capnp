# Remote environment protocol: a collector drives a robot (or a simulator in
# another process) with strictly alternating requests and replies.
@0xe028bd9287783cbd;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("mbrl::wire");

using Common = import "common.capnp";

struct EnvRequest {
  # What a collector asks a remote environment.
  schemaVersion @0 :UInt16;  # mbrl::kSchemaVersion of the writer.
  body :union {
    # Exactly one of:
    spec @1 :SpecRequest;    # Describe yourself; reply spec.
    reset @2 :Reset;         # Start an episode; reply observation.
    step @3 :Step;           # Apply an action; reply step.
    close @4 :Close;         # Release the robot; reply closed.
  }

  struct SpecRequest {
    # Asks for the EnvSpec (no parameters yet).
  }

  struct Reset {
    # Starts an episode.
    seed @0 :UInt64;    # Seed when hasSeed.
    hasSeed @1 :Bool;   # False: continue the environment's own randomness.
  }

  struct Step {
    # Applies one action.
    action @0 :List(Float32);  # Length = action dim.
  }

  struct Close {
    # Ends the session (no parameters yet).
  }
}

struct EnvReply {
  # What a remote environment answers.
  schemaVersion @0 :UInt16;  # mbrl::kSchemaVersion of the writer.
  body :union {
    # Exactly one of:
    spec @1 :Common.EnvSpec;  # Reply to spec.
    observation @2 :Observation;  # Reply to reset.
    step @3 :StepResult;      # Reply to step.
    error @4 :Common.Error;   # Any request failed.
    closed @5 :Closed;        # Reply to close.
  }

  struct Observation {
    # The first observation of an episode.
    observation @0 :List(Float32);  # Length = observation dim.
    image @1 :Data;                 # Optional image (spec bytes or empty).
  }

  struct StepResult {
    # The result of one step.
    observation @0 :List(Float32);  # Next observation.
    reward @1 :Float32;             # Reward of the step.
    terminated @2 :Bool;            # The MDP reached a terminal state.
    truncated @3 :Bool;             # The episode was cut (time limit).
    image @4 :Data;                 # Optional image of the next observation.
  }

  struct Closed {
    # Acknowledges close (no fields yet).
  }
}
