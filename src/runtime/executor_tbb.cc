// oneTBB executor: a task_arena sized by the thread budget, static partition of the index range.
#include <map>
#include <memory>
#include <mutex>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include "src/runtime/executor.h"

namespace propel::detail {
namespace {

class TbbExecutor final : public ExecutorBackend {
 public:
  void ParallelFor(int64_t n, int threads, IndexFn fn) override {
    tbb::task_arena& arena = Arena(threads);
    char start = 0, done = 0;  // ThreadSanitizer's sync objects (see TsanRelease)
    TsanRelease(&start);
    arena.execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<int64_t>(0, n, 1),
          [&](const tbb::blocked_range<int64_t>& r) {
            TsanAcquire(&start);
            ParallelRegionScope scope;
            for (int64_t i = r.begin(); i != r.end(); ++i) fn(i);
            TsanRelease(&done);
          },
          tbb::static_partitioner());
    });
    TsanAcquire(&done);
  }

 private:
  // One arena per budget, created on first use and kept: creating an arena per call costs more
  // than a small GEMM, and an arena in use by one caller is never destroyed by another caller
  // that asks for a different budget.
  tbb::task_arena& Arena(int threads) {
    std::lock_guard<std::mutex> lock(mu_);
    std::unique_ptr<tbb::task_arena>& arena = arenas_[threads];
    if (!arena) arena = std::make_unique<tbb::task_arena>(threads);
    return *arena;
  }

  std::mutex mu_;
  std::map<int, std::unique_ptr<tbb::task_arena>> arenas_;
};

}  // namespace

ExecutorBackend& TbbBackend() {
  static TbbExecutor executor;
  return executor;
}

}  // namespace propel::detail
