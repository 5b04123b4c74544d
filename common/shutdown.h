// Clean shutdown on SIGTERM and SIGINT (Ctrl-C).
//
// InstallShutdownHandlers() is called once by main(); every role polls
// ShutdownRequested() or waits with WaitForShutdown(timeout) and then hands
// back or finishes what is in flight. The flag is the one piece of
// process-wide state, because a signal handler can reach nothing else.
#pragma once

#include <chrono>

namespace mbrl {

void InstallShutdownHandlers();
bool ShutdownRequested();
// Requests shutdown from inside the process (tests, fatal errors in a thread).
void RequestShutdown();
// Blocks until shutdown is requested or `timeout` passes; true if requested.
bool WaitForShutdown(std::chrono::milliseconds timeout);

}  // namespace mbrl
