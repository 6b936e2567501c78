// The executor interface: a parallel loop over an index range, with oneTBB, OpenMP and serial
// implementations (one file each). Results never depend on which one runs: callers give every
// index its own, fixed piece of work.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "propel/threading.h"

#if defined(__SANITIZE_THREAD__)
#define PROPEL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PROPEL_TSAN 1
#endif
#endif
#ifdef PROPEL_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace propel::detail {

// A non-owning reference to a callable void(int64_t): no allocation, unlike std::function.
class IndexFn {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, IndexFn>>>
  IndexFn(F& f)  // NOLINT(google-explicit-constructor)
      : obj_(static_cast<void*>(&f)), call_([](void* o, int64_t i) { (*static_cast<F*>(o))(i); }) {}
  void operator()(int64_t i) const { call_(obj_, i); }

 private:
  void* obj_;
  void (*call_)(void*, int64_t);
};

// ThreadSanitizer does not see the synchronization inside the TBB and OpenMP runtimes, which are
// not instrumented. The backends state the hand-offs those runtimes make: the caller's work before
// a parallel loop happens before every index (Release on the caller, Acquire in the index), and
// every index happens before the caller continues (Release in the index, Acquire on the caller).
// No code without ThreadSanitizer.
inline void TsanRelease([[maybe_unused]] void* sync) {
#ifdef PROPEL_TSAN
  __tsan_release(sync);
#endif
}
inline void TsanAcquire([[maybe_unused]] void* sync) {
#ifdef PROPEL_TSAN
  __tsan_acquire(sync);
#endif
}

class ExecutorBackend {
 public:
  virtual ~ExecutorBackend() = default;
  // Calls fn(i) exactly once for every i in [0, n), on at most `threads` threads.
  virtual void ParallelFor(int64_t n, int threads, IndexFn fn) = 0;
};

ExecutorBackend& TbbBackend();
ExecutorBackend& OpenMpBackend();
ExecutorBackend& SerialBackend();

// True on a thread currently running an index of a ParallelFor (any backend).
bool InParallelRegion();

// RAII marker the backends place around each index they run.
class ParallelRegionScope {
 public:
  ParallelRegionScope();
  ~ParallelRegionScope();
  ParallelRegionScope(const ParallelRegionScope&) = delete;
  ParallelRegionScope& operator=(const ParallelRegionScope&) = delete;

 private:
  bool outer_;
};

// Threads a parallel loop may use now: the budget, or 1 inside a parallel region (never nest
// one executor inside another: that multiplies threads).
int AvailableThreads();

// Makes the calling thread's parallel work, while it lives, run on `executor` with a budget of
// `threads` (>= 1), whatever the process-wide settings are: one training run keeps the executor
// and budget it was created with. Nests (the innermost scope wins).
class ScopedExecution {
 public:
  ScopedExecution(Executor executor, int threads);
  ~ScopedExecution();
  ScopedExecution(const ScopedExecution&) = delete;
  ScopedExecution& operator=(const ScopedExecution&) = delete;

 private:
  int saved_executor_;
  int saved_threads_;
};

// The executor parallel work of the calling thread runs on now.
Executor CurrentExecutor();

// Runs fn over [0, n) on the configured executor with up to `threads` threads; nested calls
// and threads <= 1 run inline on the caller.
void ParallelFor(int64_t n, int threads, IndexFn fn);

}  // namespace propel::detail
