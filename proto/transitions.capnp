# Transitions as collectors send them, and the records storage keeps in
# RocksDB (one column family each: transitions, episodes, collectors, envs).
@0x8839ddb787fe404e;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("mbrl::wire");

using Common = import "common.capnp";

struct Transition {
  # One environment step (s, a, r, s').
  episodeId @0 :UInt64;                 # Unique per episode across collectors.
  step @1 :UInt32;                      # Index inside the episode, from 0.
  observation @2 :List(Float32);        # s; length = env observation dim.
  action @3 :List(Float32);             # a; length = env action dim.
  reward @4 :Float32;                   # r.
  nextObservation @5 :List(Float32);    # s'; length = env observation dim.
  terminated @6 :Bool;                  # The MDP reached a terminal state.
  truncated @7 :Bool;                   # The episode was cut (time limit).
  image @8 :Data;                       # Optional image of s (spec bytes or empty).
  nextImage @9 :Data;                   # Optional image of s' (on an episode's last step).
}

struct TransitionBatch {
  # A numbered batch from one collector; (collectorId, sequence) identifies it.
  schemaVersion @0 :UInt16;              # mbrl::kSchemaVersion of the writer.
  collectorId @1 :Text;                  # Stable collector name.
  incarnation @2 :UInt64;                # Changes each time the collector process starts.
  sequence @3 :UInt64;                   # Strictly increasing per collector, from 1.
  env @4 :Common.EnvSpec;                # Environment and spaces of every transition.
  transitions @5 :List(Transition);      # The steps, in order.
}

struct StoredTransition {
  # Value of the transitions column family (key: episode id, step).
  schemaVersion @0 :UInt16;   # mbrl::kSchemaVersion of the writer.
  position @1 :UInt64;        # Insertion order across the store, from 1.
  envName @2 :Text;           # Environment the step belongs to.
  collectorId @3 :Text;       # Collector that sent it.
  incarnation @4 :UInt64;     # Collector incarnation that sent it.
  batchSequence @5 :UInt64;   # Batch it arrived in.
  storedUnixMs @6 :Int64;     # When storage made it durable.
  transition @7 :Transition;  # The step itself.
}

struct EpisodeRecord {
  # Value of the episodes column family (key: episode id).
  schemaVersion @0 :UInt16;  # mbrl::kSchemaVersion of the writer.
  episodeId @1 :UInt64;      # The episode.
  envName @2 :Text;          # Its environment.
  collectorId @3 :Text;      # The collector that ran it.
  length @4 :UInt32;         # Steps stored so far.
  episodeReturn @5 :Float64; # Sum of rewards so far.
  startUnixMs @6 :Int64;     # When its first step was stored.
  endUnixMs @7 :Int64;       # When its latest step was stored.
  complete @8 :Bool;         # A terminated or truncated step arrived.
}

struct CollectorState {
  # Value of the collectors column family (key: collector id).
  schemaVersion @0 :UInt16;  # mbrl::kSchemaVersion of the writer.
  collectorId @1 :Text;      # The collector.
  lastSequence @2 :UInt64;   # Highest batch sequence acknowledged (0 = none).
  incarnation @3 :UInt64;    # Incarnation of that batch.
  updatedUnixMs @4 :Int64;   # When lastSequence last changed.
}

struct EnvRecord {
  # Value of the envs column family (key: env name).
  schemaVersion @0 :UInt16;  # mbrl::kSchemaVersion of the writer.
  spec @1 :Common.EnvSpec;   # The spec its batches carry.
  transitions @2 :UInt64;    # Transitions stored for it.
  episodes @3 :UInt64;       # Episodes stored for it.
}
