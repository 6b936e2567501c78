// The BLIS-style GEMM driver: five loops around the micro-kernel, packing, edge tiles, threads.
#pragma once

#include <cstdint>
#include <cstdlib>

#include "kernels/gemm.h"
#include "src/gemm/blocking.h"

namespace propel::detail {

// A validated GEMM problem: C = act(alpha * op(A) * op(B) + beta * C + bias).
struct GemmProblem {
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  float beta = 0.0f;
  float* c = nullptr;
  int64_t ldc = 0;
  const float* bias = nullptr;  // n values added to every row, or nullptr
  kernels::ActParams act;       // act.fn set for activations other than identity and ReLU
};

// How the output is cut between threads: a tm x tn grid of blocks aligned to MR x NR tiles.
struct ThreadGrid {
  int64_t tm = 1;
  int64_t tn = 1;
};

// Grow-only, 64-byte aligned scratch for packed panels.
class PackBuffer {
 public:
  PackBuffer() = default;
  PackBuffer(const PackBuffer&) = delete;
  PackBuffer& operator=(const PackBuffer&) = delete;
  ~PackBuffer() { std::free(data_); }
  // At least `floats` floats; allocates only when more than the current capacity is asked for.
  float* Get(int64_t floats);
  void Reserve(int64_t floats);

 private:
  float* data_ = nullptr;
  int64_t capacity_ = 0;
};

// The packing buffers one GEMM task (one thread's block of C) uses.
struct PackBuffers {
  PackBuffer a;
  PackBuffer b;
};

// Caller-owned packing buffers, one per task of the thread grid: task t uses tasks[t]. Tasks
// without one use buffers that belong to the running thread.
struct GemmScratch {
  PackBuffers* tasks = nullptr;
  int64_t count = 0;
};

// Threads worth using for a problem of this size with `budget` threads, and their grid.
// Depends only on the shape, the tile and the budget.
ThreadGrid ChooseThreadGrid(int64_t m, int64_t n, int64_t k, int mr, int nr, int budget);

// Runs the problem with the given kernels and blocking on up to `threads` threads of the
// configured executor. The result is bitwise identical for every thread count. With scratch,
// the packing buffers are the caller's (see ReserveGemm).
void RunGemm(const kernels::GemmKernels& kernels, const Blocking& blocking, const GemmProblem& p,
             int threads, const GemmScratch* scratch = nullptr);

// Grows every buffer of scratch so that RunGemm with these kernels and blocking on any problem
// of at most m x n x k, with any transposes and thread count up to scratch.count, allocates
// nothing.
void ReserveGemm(const kernels::GemmKernels& kernels, const Blocking& blocking, int64_t m,
                 int64_t n, int64_t k, const GemmScratch& scratch);

}  // namespace propel::detail
