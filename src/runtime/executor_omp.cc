// OpenMP executor: one parallel region of the thread budget, static schedule.
#include <exception>
#include <mutex>

#include "src/runtime/executor.h"

namespace propel::detail {
namespace {

class OpenMpExecutor final : public ExecutorBackend {
 public:
  // An exception must not leave an OpenMP region (that terminates the process): the first one
  // is kept, the remaining indices are skipped, and it is rethrown on the calling thread.
  void ParallelFor(int64_t n, int threads, IndexFn fn) override {
    std::exception_ptr error;
    std::mutex mu;
    char start = 0, done = 0;  // ThreadSanitizer's sync objects (see TsanRelease)
    TsanRelease(&start);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      TsanAcquire(&start);
      {
        std::lock_guard<std::mutex> lock(mu);
        if (error) continue;
      }
      try {
        ParallelRegionScope scope;
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
      TsanRelease(&done);
    }
    TsanAcquire(&done);
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace

ExecutorBackend& OpenMpBackend() {
  static OpenMpExecutor executor;
  return executor;
}

}  // namespace propel::detail
