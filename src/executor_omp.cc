// OpenMP executor: one parallel region of the thread budget, static schedule.
#include "src/executor.h"

namespace propel::detail {
namespace {

class OpenMpExecutor final : public ExecutorBackend {
 public:
  void ParallelFor(int64_t n, int threads, IndexFn fn) override {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      ParallelRegionScope scope;
      fn(i);
    }
  }
};

}  // namespace

ExecutorBackend& OpenMpBackend() {
  static OpenMpExecutor executor;
  return executor;
}

}  // namespace propel::detail
