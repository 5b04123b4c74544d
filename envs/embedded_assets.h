// MJCF models compiled into the library (envs/assets/*.xml, embedded by CMake
// at configure time), so binaries do not need the source tree at run time.
// Internal to mbrl_envs.
#pragma once

#include <string_view>

namespace mbrl::envs {

// The text of the embedded asset with this file name (e.g. "cartpole.xml"),
// or an empty view when there is none.
std::string_view EmbeddedAsset(std::string_view file_name);

}  // namespace mbrl::envs
