// The thread budget and the executor that propel's parallel work runs on.
#pragma once

namespace propel {

enum class Executor : int {
  kTbb = 0,     // oneTBB, in a task_arena sized by the thread budget (default)
  kOpenMp = 1,  // an OpenMP parallel region of the thread budget
  kSerial = 2,  // the calling thread only
};

// The most threads any propel call or trainer accepts: every thread owns packing buffers, so a
// count far past the machine's costs memory and gains nothing.
inline constexpr int kMaxThreads = 1024;

// Sets the number of threads propel may use, in [1, kMaxThreads]. The default is the number of
// CPUs the process may run on (its affinity mask on Linux). Process-wide. Throws propel::Error
// outside that range.
void set_num_threads(int n);
int num_threads();

// Chooses the executor for subsequent parallel work. Results do not depend on the choice.
void set_executor(Executor executor);
Executor executor();

}  // namespace propel
