// Process-wide settings that every mbrl binary applies first thing in main().
#pragma once

namespace mbrl {

// Keeps freed heap buffers of up to 32 MiB (a sample with images, a received
// ZeroMQ frame, a model chunk) in the process for reuse instead of handing
// them back to the kernel at every free. Without this, glibc maps every such
// buffer afresh and the process page-faults each of its pages again: a client
// reading 6 MB image samples spent half its CPU in page faults
// (bench/RESULTS.md, session 3). The cost: memory freed stays with the
// process, so its resident size stays near its peak. Call before starting
// threads.
void KeepLargeBuffersForReuse();

}  // namespace mbrl
