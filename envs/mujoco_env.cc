#include "envs/mujoco_env.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "envs/embedded_assets.h"

namespace mbrl::envs {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "mbrl_envs: %s\n", message.c_str());
  std::abort();
}

// Compiles an embedded MJCF text via an in-memory VFS holding just that file.
MjModelPtr CompileEmbedded(std::string_view file_name) {
  const std::string_view text = EmbeddedAsset(file_name);
  if (text.empty()) Die("no embedded asset named " + std::string(file_name));
  // mjVFS holds fixed-size name tables (~2 MB): keep it off the stack.
  auto vfs = std::make_unique<mjVFS>();
  mj_defaultVFS(vfs.get());
  const std::string name(file_name);
  if (mj_makeEmptyFileVFS(vfs.get(), name.c_str(), static_cast<int>(text.size())) != 0) {
    Die("cannot add " + name + " to the MuJoCo VFS");
  }
  const int index = mj_findFileVFS(vfs.get(), name.c_str());
  if (index < 0) Die("cannot find " + name + " in the MuJoCo VFS");
  std::memcpy(vfs->filedata[index], text.data(), text.size());
  char error[1024] = {0};
  mjModel* model = mj_loadXML(name.c_str(), vfs.get(), error, sizeof(error));
  mj_deleteVFS(vfs.get());
  if (model == nullptr) Die("the embedded model " + name + " does not compile: " + error);
  return MjModelPtr(model);
}

}  // namespace

MjModelPtr LoadEmbeddedModel(std::string_view file_name) {
  static std::mutex mutex;
  static std::map<std::string, MjModelPtr, std::less<>> compiled;
  std::lock_guard lock(mutex);
  auto it = compiled.find(file_name);
  if (it == compiled.end()) {
    it = compiled.emplace(std::string(file_name), CompileEmbedded(file_name)).first;
  }
  mjModel* copy = mj_copyModel(nullptr, it->second.get());
  if (copy == nullptr) Die("cannot copy the MuJoCo model " + std::string(file_name));
  return MjModelPtr(copy);
}

MujocoSim::MujocoSim(MjModelPtr model, int frame_skip)
    : model_(std::move(model)), data_(mj_makeData(model_.get())), frame_skip_(frame_skip) {
  if (!data_) Die("mj_makeData failed");
}

void MujocoSim::ResetData() { mj_resetData(model_.get(), data_.get()); }

void MujocoSim::Step(std::span<const double> ctrl) {
  for (int i = 0; i < model_->nu; ++i) data_->ctrl[i] = ctrl[i];
  for (int i = 0; i < frame_skip_; ++i) mj_step(model_.get(), data_.get());
}

size_t MujocoSim::physics_state_size() const {
  return static_cast<size_t>(model_->nq) + 2 * static_cast<size_t>(model_->nv);
}

void MujocoSim::AppendPhysicsState(std::vector<double>* out) const {
  out->insert(out->end(), data_->qpos, data_->qpos + model_->nq);
  out->insert(out->end(), data_->qvel, data_->qvel + model_->nv);
  out->insert(out->end(), data_->qacc_warmstart, data_->qacc_warmstart + model_->nv);
}

Status MujocoSim::SetPhysicsState(std::span<const double> state) {
  if (state.size() != physics_state_size()) {
    return InvalidArgument("the physics state has " + std::to_string(state.size()) +
                           " values, the model needs " + std::to_string(physics_state_size()));
  }
  for (double v : state) {
    if (!std::isfinite(v)) return InvalidArgument("the physics state is not finite");
  }
  ClearInputs();  // Time, controls and applied forces back to 0.
  const double* p = state.data();
  std::copy(p, p + model_->nq, data_->qpos);
  p += model_->nq;
  std::copy(p, p + model_->nv, data_->qvel);
  p += model_->nv;
  std::copy(p, p + model_->nv, data_->qacc_warmstart);
  return OkStatus();
}

void MujocoSim::ClearInputs() {
  const mjModel& m = *model_;
  mjData& d = *data_;
  if (m.na > 0 || m.nmocap > 0 || m.nuserdata > 0) {
    ResetData();  // State beyond (qpos, qvel, warm start): let MuJoCo reset it.
    return;
  }
  // mj_resetData would also clear every buffer of mjData (hundreds of KB),
  // which costs more than a step and dominated planning with the true
  // dynamics (one SetState per candidate per step). mj_step recomputes all
  // derived quantities from qpos, qvel, the warm start and these inputs.
  d.time = 0.0;
  std::fill(d.ctrl, d.ctrl + m.nu, 0.0);
  std::fill(d.qfrc_applied, d.qfrc_applied + m.nv, 0.0);
  std::fill(d.xfrc_applied, d.xfrc_applied + 6 * m.nbody, 0.0);
}

std::vector<double> GetMujocoEnvState(const MujocoSim& sim, const EpisodeClock& clock) {
  std::vector<double> state;
  state.reserve(sim.physics_state_size() + 1);
  sim.AppendPhysicsState(&state);
  state.push_back(clock.elapsed());
  return state;
}

Status SetMujocoEnvState(std::span<const double> state, const std::string& env_name, MujocoSim* sim,
                         EpisodeClock* clock) {
  const size_t physics = sim->physics_state_size();
  if (state.size() != physics + 1) {
    return InvalidArgument(env_name + ": a state has " + std::to_string(physics + 1) +
                           " values (qpos, qvel, warm start, elapsed steps), got " +
                           std::to_string(state.size()));
  }
  // Check everything before changing anything.
  if (auto ok = clock->CheckRestorable(state[physics]); !ok) return ok;
  if (auto ok = sim->SetPhysicsState(state.first(physics)); !ok) {
    return InvalidArgument(env_name + ": " + ok.error().reason);
  }
  return clock->Restore(state[physics]);
}

bool MujocoSim::IsFinite() const {
  for (int i = 0; i < model_->nq; ++i) {
    if (!std::isfinite(data_->qpos[i])) return false;
  }
  for (int i = 0; i < model_->nv; ++i) {
    if (!std::isfinite(data_->qvel[i])) return false;
  }
  return true;
}

}  // namespace mbrl::envs
