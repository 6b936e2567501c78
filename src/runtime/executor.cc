// Thread budget and executor selection (propel/threading.h), and the dispatching ParallelFor.
#include "src/runtime/executor.h"

#include <atomic>
#include <thread>

#ifdef __linux__
#include <sched.h>
#endif

#include "src/runtime/check.h"

namespace propel {
namespace {

// CPUs this process may run on (its affinity mask, which containers and taskset narrow), else
// the hardware thread count.
int DefaultThreads() {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

std::atomic<int> g_threads{0};  // 0: default
std::atomic<int> g_executor{static_cast<int>(Executor::kTbb)};
thread_local bool t_in_region = false;
// ScopedExecution's overrides; -1 / 0: none.
thread_local int t_executor = -1;
thread_local int t_threads = 0;

}  // namespace

void set_num_threads(int n) {
  detail::Check(n >= 1 && n <= kMaxThreads, "propel::set_num_threads", "n = ", n,
                " is outside [1, ", kMaxThreads, "]");
  g_threads.store(n);
}

int num_threads() {
  const int n = g_threads.load();
  return n > 0 ? n : DefaultThreads();
}

void set_executor(Executor executor) {
  const int e = static_cast<int>(executor);
  detail::Check(e >= 0 && e <= 2, "propel::set_executor", "unknown executor ", e,
                " (expected kTbb, kOpenMp or kSerial)");
  g_executor.store(e);
}

Executor executor() { return static_cast<Executor>(g_executor.load()); }

namespace detail {

bool InParallelRegion() { return t_in_region; }

ParallelRegionScope::ParallelRegionScope() : outer_(t_in_region) { t_in_region = true; }
ParallelRegionScope::~ParallelRegionScope() { t_in_region = outer_; }

ScopedExecution::ScopedExecution(Executor executor, int threads)
    : saved_executor_(t_executor), saved_threads_(t_threads) {
  t_executor = static_cast<int>(executor);
  t_threads = threads < 1 ? 1 : threads;
}

ScopedExecution::~ScopedExecution() {
  t_executor = saved_executor_;
  t_threads = saved_threads_;
}

Executor CurrentExecutor() {
  return t_executor >= 0 ? static_cast<Executor>(t_executor) : executor();
}

int AvailableThreads() {
  if (InParallelRegion()) return 1;
  return t_threads > 0 ? t_threads : num_threads();
}

void ParallelFor(int64_t n, int threads, IndexFn fn) {
  if (n <= 0) return;
  if (threads <= 1 || n == 1 || InParallelRegion()) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  switch (CurrentExecutor()) {
    case Executor::kTbb:
      TbbBackend().ParallelFor(n, threads, fn);
      return;
    case Executor::kOpenMp:
      OpenMpBackend().ParallelFor(n, threads, fn);
      return;
    case Executor::kSerial:
      SerialBackend().ParallelFor(n, threads, fn);
      return;
  }
}

}  // namespace detail
}  // namespace propel
