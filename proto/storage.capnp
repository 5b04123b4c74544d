# Storage protocol: one StorageRequest, one StorageReply, over ZeroMQ; and the
# ModelAnnouncement storage publishes when a model version lands.
@0xf52c65a502613a72;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("mbrl::wire");

using Common = import "common.capnp";
using Transitions = import "transitions.capnp";
using Model = import "model.capnp";

struct ModelChunk {
  # A piece of an encoded ModelWeights message. Weights of tens of MB travel
  # in pieces of a few MB, far inside Cap'n Proto's limits.
  name @0 :Text;          # Registry name.
  version @1 :UInt64;     # Version (resolved: never 0 in a reply).
  chunkIndex @2 :UInt32;  # From 0.
  totalChunks @3 :UInt32; # At least 1.
  totalBytes @4 :UInt64;  # Size of the whole encoded message.
  data @5 :Data;          # This piece.
}

struct StorageRequest {
  # Everything a client can ask storage.
  schemaVersion @0 :UInt16;  # mbrl::kSchemaVersion of the writer.
  requestId @1 :UInt64;      # Echoed in the reply.
  body :union {
    # Exactly one of:
    putBatch @2 :Transitions.TransitionBatch;  # Store a batch; reply ack.
    hello @3 :Hello;                           # Reply collectorState.
    sampleTransitions @4 :SampleTransitions;   # Reply transitions.
    sampleSequences @5 :SampleSequences;       # Reply sequences.
    readCursor @6 :ReadCursor;                 # Reply cursorPage.
    listEpisodes @7 :ListEpisodes;             # Reply episodes.
    info @8 :Info;                             # Reply info.
    putModelChunk @9 :ModelChunk;              # Reply modelChunkAck.
    getModel @10 :GetModel;                    # Reply modelChunk.
    listModels @11 :ListModels;                # Reply modelList.
    checkpoint @12 :Checkpoint;                # Reply checkpointDone.
  }

  struct Hello {
    # A (re)starting collector learns its last acknowledged sequence.
    collectorId @0 :Text;    # The collector.
    incarnation @1 :UInt64;  # Its new incarnation.
  }

  struct SampleTransitions {
    # Uniform sample of single transitions.
    envName @0 :Text;  # Environment.
    count @1 :UInt32;  # Transitions wanted.
    seed @2 :UInt64;   # Sampling seed (same seed, same data: same sample).
    nextImages @3 :Bool = true;  # Fill nextImages (image envs); false: leave it empty.
    imagesAsFrames @4 :Bool;     # Reply with images and nextImages as frames of their own.
  }

  struct SampleSequences {
    # Uniform sample of contiguous sub-sequences of episodes.
    envName @0 :Text;   # Environment.
    count @1 :UInt32;   # Sequences wanted.
    length @2 :UInt32;  # Steps per sequence.
    seed @3 :UInt64;    # Sampling seed.
    nextImages @4 :Bool = true;  # Fill nextImages (image envs); false: leave it empty.
    imagesAsFrames @5 :Bool;     # As in SampleTransitions.
  }

  struct ReadCursor {
    # Insertion-ordered read: everything stored at or after fromPosition.
    envName @0 :Text;        # Only this environment; empty = all.
    fromPosition @1 :UInt64; # First position wanted (1 = from the start).
    maxItems @2 :UInt32;     # Page size limit in transitions (0 = server default).
    maxBytes @3 :UInt64;     # Page size limit in bytes (0 = server default).
  }

  struct ListEpisodes {
    # A page of episode records, oldest first.
    envName @0 :Text;   # Only this environment; empty = all.
    offset @1 :UInt64;  # Records to skip.
    limit @2 :UInt32;   # Records wanted (0 = server default).
  }

  struct Info {
    # Asks for counts and endpoints (no parameters yet).
  }

  struct GetModel {
    # One chunk of a stored model version.
    name @0 :Text;          # Registry name.
    version @1 :UInt64;     # Version; 0 = latest.
    chunkIndex @2 :UInt32;  # Chunk wanted.
  }

  struct ListModels {
    # The registry's names and versions.
    prefix @0 :Text;  # Only names starting with it; empty = all.
  }

  struct Checkpoint {
    # A consistent copy of the database (RocksDB Checkpoint).
    directory @0 :Text;  # Must not exist yet.
  }
}

struct StorageReply {
  # Storage's answer to one StorageRequest.
  schemaVersion @0 :UInt16;  # mbrl::kSchemaVersion of the writer.
  requestId @1 :UInt64;      # From the request.
  body :union {
    # Exactly one of:
    ack @2 :Ack;                                    # To putBatch.
    error @3 :Common.Error;                         # Any request failed.
    collectorState @4 :Transitions.CollectorState;  # To hello.
    transitions @5 :TransitionSample;               # To sampleTransitions.
    sequences @6 :SequenceSample;                   # To sampleSequences.
    cursorPage @7 :CursorPage;                      # To readCursor.
    episodes @8 :EpisodeList;                       # To listEpisodes.
    info @9 :Info;                                  # To info.
    modelChunk @10 :ModelChunk;                     # To getModel.
    modelList @11 :ModelList;                       # To listModels.
    checkpointDone @12 :CheckpointDone;             # To checkpoint.
    modelChunkAck @13 :ModelChunkAck;               # To putModelChunk.
  }

  struct Ack {
    # A batch is durable (or was already).
    collectorId @0 :Text;   # From the batch.
    sequence @1 :UInt64;    # From the batch.
    duplicate @2 :Bool;     # Storage already had it; nothing was written.
    stored @3 :UInt32;      # Transitions written by this request.
  }

  struct TransitionSample {
    # Rows of (s, a, r, s') as flat row-major float lists.
    envName @0 :Text;                     # Environment.
    count @1 :UInt32;                     # Rows.
    observationDim @2 :UInt32;            # Floats per observation.
    actionDim @3 :UInt32;                 # Floats per action.
    observations @4 :List(Float32);       # count x observationDim.
    actions @5 :List(Float32);            # count x actionDim.
    rewards @6 :List(Float32);            # count.
    nextObservations @7 :List(Float32);   # count x observationDim.
    terminated @8 :List(Bool);            # count.
    truncated @9 :List(Bool);             # count.
    episodeIds @10 :List(UInt64);         # count.
    steps @11 :List(UInt32);              # count.
    image @12 :Common.ImageSpec;          # Null when rows carry no images.
    images @13 :Data;                     # Empty or count x image bytes.
    nextImages @14 :Data;                 # Empty or count x image bytes.
  }

  struct SequenceSample {
    # count sequences of length steps each, sequence-major.
    length @0 :UInt32;             # Steps per sequence.
    steps @1 :TransitionSample;    # count x length rows.
  }

  struct CursorPage {
    # One page of an insertion-ordered read.
    items @0 :List(Transitions.StoredTransition);  # In position order.
    nextPosition @1 :UInt64;  # Ask from here next time.
    end @2 :Bool;             # Nothing newer was stored yet.
  }

  struct EpisodeList {
    # A page of episode records.
    episodes @0 :List(Transitions.EpisodeRecord);  # Oldest first.
    total @1 :UInt64;                              # Matching records in all.
  }

  struct Info {
    # Counts, and what a client must know besides storage's endpoint.
    transitions @0 :UInt64;                           # Stored transitions.
    episodes @1 :UInt64;                              # Stored episodes.
    bytes @2 :UInt64;                                 # Approximate database size.
    envs @3 :List(Transitions.EnvRecord);             # Known environments.
    collectors @4 :List(Transitions.CollectorState);  # Known collectors.
    announceEndpoint @5 :Text;                        # Where ModelAnnouncements are published.
    firstPosition @6 :UInt64;                         # Oldest position still stored.
    nextPosition @7 :UInt64;                          # Position the next transition gets.
    capacityTransitions @8 :UInt64;                   # Eviction threshold (0 = unlimited).
  }

  struct ModelVersions {
    # One registry name.
    name @0 :Text;               # Registry name.
    envName @1 :Text;            # Environment it models.
    versions @2 :List(UInt64);   # Stored versions, ascending.
  }

  struct ModelList {
    # The registry's contents.
    models @0 :List(ModelVersions);  # Sorted by name.
  }

  struct CheckpointDone {
    # A checkpoint was written.
    directory @0 :Text;        # Where.
    nextPosition @1 :UInt64;   # Everything before this position is in it.
  }

  struct ModelChunkAck {
    # A model chunk was received.
    name @0 :Text;          # From the chunk.
    version @1 :UInt64;     # From the chunk.
    chunkIndex @2 :UInt32;  # From the chunk.
    complete @3 :Bool;      # All chunks are in and the version is durable.
  }
}

struct ModelAnnouncement {
  # Published on storage's PUB socket when a model version becomes durable.
  schemaVersion @0 :UInt16;  # mbrl::kSchemaVersion of the writer.
  name @1 :Text;             # Registry name.
  version @2 :UInt64;        # The new version.
  envName @3 :Text;          # Environment it models.
  kind @4 :Model.ModelKind;  # What the weights are.
  totalBytes @5 :UInt64;     # Size of the encoded weights.
}
