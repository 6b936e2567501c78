// Serial executor: every index on the calling thread, in order.
#include "src/runtime/executor.h"

namespace propel::detail {
namespace {

class SerialExecutor final : public ExecutorBackend {
 public:
  void ParallelFor(int64_t n, int /*threads*/, IndexFn fn) override {
    ParallelRegionScope scope;
    for (int64_t i = 0; i < n; ++i) fn(i);
  }
};

}  // namespace

ExecutorBackend& SerialBackend() {
  static SerialExecutor executor;
  return executor;
}

}  // namespace propel::detail
