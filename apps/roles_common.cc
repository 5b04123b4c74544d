#include <cstdio>
#include <string>

#include "apps/roles.h"

namespace mbrl::app {

int Fail(const std::string& role, int code, const std::string& reason) {
  std::fprintf(stderr, "mbrl %s: %s\n", role.c_str(), reason.c_str());
  return code;
}

int NotBuilt(const std::string& role) {
  return Fail(role, kExitFailure, "this role is not built yet in this version of mbrl");
}

}  // namespace mbrl::app
