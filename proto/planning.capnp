# MPC as a service: what a collector asks a planner worker and what it gets.
@0xb70a776eac807fca;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("mbrl::wire");

struct PlanRequest {
  # One MPC step. The shifted previous plan travels with it for warm start.
  schemaVersion @0 :UInt16;         # mbrl::kSchemaVersion of the writer.
  requestId @1 :UInt64;             # Echoed in the reply.
  collectorId @2 :Text;             # Who asks.
  envName @3 :Text;                 # Environment (selects model and reward).
  planner @4 :Text;                 # Planner name; empty = worker default.
  observation @5 :List(Float32);    # Current observation.
  image @6 :Data;                   # Optional current image observation.
  previousPlan @7 :List(Float32);   # previousPlanHorizon x actionDim, row-major.
  previousPlanHorizon @8 :UInt32;   # 0 = no warm start.
  actionDim @9 :UInt32;             # Action dimension.
  budgetMs @10 :UInt32;             # Time budget; 0 = worker default.
  minModelVersion @11 :UInt64;      # Plan with at least this version.
}

enum PlanStatus {
  # Outcome of a plan request; mirrors mbrl::PlanStatus.
  ok @0;          # plan is valid.
  noModelYet @1;  # No model exists yet: act with the base policy.
  error @2;       # See error.
}

struct PlanReply {
  # The answer to a PlanRequest.
  schemaVersion @0 :UInt16;       # mbrl::kSchemaVersion of the writer.
  requestId @1 :UInt64;           # From the request.
  status @2 :PlanStatus;          # Outcome.
  modelVersion @3 :UInt64;        # Model version the plan was made with.
  plan @4 :List(Float32);         # horizon x actionDim, row-major.
  horizon @5 :UInt32;             # Steps in plan.
  actionDim @6 :UInt32;           # Action dimension.
  predictedReturn @7 :Float32;    # Model-predicted return of plan.
  planSeconds @8 :Float64;        # Time spent planning.
  workerId @9 :Text;              # Worker that planned.
  error @10 :Text;                # Set when status = error.
}
