// A training step allocates nothing once its Trainer exists: every heap allocation of the process
// (malloc and friends, which operator new also uses) is counted while steps run, on every
// executor and with shards run side by side or one after another. A separate program, since it
// replaces malloc; not built under the sanitizers, which replace it themselves.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <vector>

#include "propel/train.h"
#include "tests/test_util.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
inline void Count() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
  Count();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  Count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  Count();
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t align, size_t n) {
  Count();
  return __libc_memalign(align, n);
}
void* memalign(size_t align, size_t n) {
  Count();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) {
  Count();
  void* p = __libc_memalign(align, n);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
void free(void* p) { __libc_free(p); }
}

namespace propel {
namespace {

struct Case {
  Executor executor;
  int threads;
  int64_t shard_rows;
};

TEST(Allocations, NoneInsideTrainingSteps) {
  ModelSpec spec;
  spec.inputs = 100;
  spec.hidden = {{256, Activation::kRelu}, {128, Activation::kGeluErf}};
  spec.outputs = 10;
  spec.head = Head::kMulticlass;
  const int64_t batch = 96;
  const std::vector<float> x = test::RandomVector(batch * 100, 1);
  std::vector<int32_t> labels(batch);
  for (int64_t i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>(i % 10);
  DataView view;
  view.rows = batch;
  view.x = x.data();
  view.labels = labels.data();
  OptimizerConfig opt;
  opt.kind = Optimizer::kAdamW;
  opt.clip_norm = 1.0f;
  // The counter sees allocations (so that a zero below means something).
  g_allocations = 0;
  g_counting = true;
  { const Model probe(spec, 1); }
  g_counting = false;
  ASSERT_GT(g_allocations.load(), 0);

  std::vector<Case> cases;
  for (Executor e : test::Executors()) {
    // 96 rows: one shard; shards of 12 (8: side by side on 2 threads) and of 40 (3: one after
    // another, each GEMM on both threads).
    for (int64_t shard : {256, 12, 40}) {
      for (int threads : {1, 2}) cases.push_back({e, threads, shard});
    }
  }
  for (const Case& c : cases) {
    SCOPED_TRACE("executor " + std::to_string(static_cast<int>(c.executor)) + ", " +
                 std::to_string(c.threads) + " threads, shards of " + std::to_string(c.shard_rows));
    Model model(spec, 1);
    StepOptions so;
    so.executor = c.executor;
    so.threads = c.threads;
    so.shard_rows = c.shard_rows;
    Trainer trainer(model, opt, batch, so);
    trainer.step(view);  // the runtimes' first-use set-up (thread pools, TBB arenas) happens here
    g_allocations = 0;
    g_counting = true;
    for (int s = 0; s < 5; ++s) {
      view.rows = s % 2 == 0 ? batch : batch - 7;  // a short last batch too
      trainer.step(view);
    }
    g_counting = false;
    view.rows = batch;
    EXPECT_EQ(g_allocations.load(), 0);
  }
}

}  // namespace
}  // namespace propel
