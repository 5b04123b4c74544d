// MuJoCo plumbing shared by the MuJoCo-based environments: loading an
// embedded MJCF model through MuJoCo's virtual file system, and a simulator
// that steps with frame skip and saves/restores its full state. Internal to
// mbrl_envs (this header includes MuJoCo, a private dependency).
#pragma once

#include <mujoco/mujoco.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "envs/env_util.h"

namespace mbrl::envs {

struct MjModelDeleter {
  void operator()(mjModel* model) const { mj_deleteModel(model); }
};
struct MjDataDeleter {
  void operator()(mjData* data) const { mj_deleteData(data); }
};
using MjModelPtr = std::unique_ptr<mjModel, MjModelDeleter>;
using MjDataPtr = std::unique_ptr<mjData, MjDataDeleter>;

// A private copy of the embedded model `file_name` (see embedded_assets.h).
// Each asset is compiled once per process. Aborts when the asset is missing or
// does not compile: that is a build bug, not a run-time condition.
MjModelPtr LoadEmbeddedModel(std::string_view file_name);

// A model with its data, advanced `frame_skip` physics steps per env step.
//
// The physics state is (qpos, qvel, qacc_warmstart): the constraint solver
// starts from qacc_warmstart, so restoring it too makes a restored simulation
// reproduce the original bit for bit. Actuator activations and mocap bodies
// are not used by our models.
class MujocoSim {
 public:
  MujocoSim(MjModelPtr model, int frame_skip);

  const mjModel& model() const { return *model_; }
  mjModel& mutable_model() { return *model_; }
  const mjData& data() const { return *data_; }
  mjData& mutable_data() { return *data_; }
  int frame_skip() const { return frame_skip_; }

  // mj_resetData: the model's reference pose at rest, time 0.
  void ResetData();

  // Holds `ctrl` (model.nu values) for frame_skip physics steps.
  void Step(std::span<const double> ctrl);

  size_t physics_state_size() const;  // nq + 2 nv
  void AppendPhysicsState(std::vector<double>* out) const;
  // Restores from exactly physics_state_size() values; kInvalidArgument for
  // non-finite values.
  Status SetPhysicsState(std::span<const double> state);

  // True when qpos and qvel are finite.
  bool IsFinite() const;

 private:
  // What SetPhysicsState clears before it writes the state: time, controls
  // and applied forces (a full ResetData when the model has more state).
  void ClearInputs();

  MjModelPtr model_;
  MjDataPtr data_;
  int frame_skip_;
};

// The state of a MuJoCo environment: the physics state, then the episode's
// elapsed steps.
std::vector<double> GetMujocoEnvState(const MujocoSim& sim, const EpisodeClock& clock);

// Restores a state from GetMujocoEnvState; on error nothing changes.
Status SetMujocoEnvState(std::span<const double> state, const std::string& env_name, MujocoSim* sim,
                         EpisodeClock* clock);

}  // namespace mbrl::envs
