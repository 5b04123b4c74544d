#include "common/process.h"

#include <malloc.h>

namespace mbrl {

void KeepLargeBuffersForReuse() {
  // Setting either disables glibc's own adjustment of the thresholds.
  // 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace mbrl
