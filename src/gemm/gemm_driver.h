// The BLIS-style GEMM driver: five loops around the micro-kernel, packing, edge tiles, threads.
#pragma once

#include <cstdint>
#include <cstdlib>

#include "kernels/gemm.h"
#include "src/gemm/blocking.h"

namespace propel::detail {

// The backward pass's dZ = dA * act'(.) applied to C = dA after the last k block, element by
// element, by the element-wise kernels act_backward (s: the pre-activation) or act_backward_out
// (from_output: s is the activation's output): C(i, j) = C(i, j) * act'(s(i, j)), the same
// operations as those kernels on the finished C. s: m x n, row stride lds.
struct ActGradEpilogue {
  kernels::Act act = kernels::Act::kIdentity;
  float alpha = 0.0f;
  bool from_output = false;
  const float* s = nullptr;
  int64_t lds = 0;
  kernels::ActBackwardFn fn = nullptr;
  kernels::ActBackwardOutFn fn_out = nullptr;
};

// A validated GEMM problem: C = act(alpha * op(A) * op(B) + beta * C + bias), or with act_grad
// set, C = (alpha * op(A) * op(B) + beta * C) * act'(s) (bias and act then unused).
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
  // op(B) already packed by PackWholeB for these kernels, blocking, k and n, or nullptr. The
  // blocked path reads its B micro-panels from there instead of packing them; b, ldb and trans_b
  // must still describe op(B) (the thin and transposed paths read it in place). The result is
  // bitwise the same.
  const float* b_packed = nullptr;
  const ActGradEpilogue* act_grad = nullptr;
  // Every row of C is computed by the same operations whatever m is: the thin path for few rows
  // (dot products, another summation order than the tiles') is not taken.
  bool row_invariant = false;
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
  PackBuffer c;  // C^T of the transposed path (outputs at most one NR panel wide)
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
void RunGemm(const kernels::GemmEngine& kernels, const Blocking& blocking, const GemmProblem& p,
             int threads, const GemmScratch* scratch = nullptr);

// op(B) (k x n) packed whole, as the blocked path would pack it block by block: for each KC block
// of k in order (the blocking's KC, balanced over k), ceil(n / NR) B micro-panels of that depth.
// A problem with b_packed set reads its panels from there, so that a B used by several GEMMs (the
// weights of a layer, read by every shard of a step) is packed once. PackedBFloats: the float slots
// PackWholeB writes (PanelDepth(k) * n rounded up to whole panels); dst is 64-byte aligned.
// PackWholeB runs on up to `threads` threads; the packed values do not depend on them. How many
// times RunGemm on `threads` threads packs each panel of op(B) of a problem of this shape: the rows
// of the thread grid (each thread packs the B panels of its own block), or 0 when the problem does
// not pack B (the thin and transposed paths, k == 0). A B packed more than once per use is worth
// packing whole beforehand.
int64_t BPackings(const kernels::GemmEngine& kernels, const Blocking& blocking, bool trans_a,
                  bool trans_b, int64_t m, int64_t n, int64_t k, int threads);

int64_t PackedBFloats(const kernels::GemmEngine& kernels, int64_t k, int64_t n);
void PackWholeB(const kernels::GemmEngine& kernels, const Blocking& blocking, bool trans_b,
                int64_t k, int64_t n, const float* b, int64_t ldb, float* dst, int threads);

// The part rows [p0, p1) x columns [j0, j1) of op(B) (k x n) of what PackWholeB writes, on the
// calling thread: p0 a multiple of KcStep, j0 of NR, p1 and j1 multiples of them or k and n.
// Parts that cover op(B) once write PackWholeB's panels bit for bit, in any order: the
// optimizer's update packs each band of rows of W it has just written (src/train/trainer.cc).
void PackBPart(const kernels::GemmEngine& kernels, const Blocking& blocking, bool trans_b,
               int64_t k, int64_t n, const float* b, int64_t ldb, int64_t p0, int64_t p1,
               int64_t j0, int64_t j1, float* dst);

// How often an op(B) read from [begin, end) (CountBPacksFrom; everywhere until it is called) was
// packed since then, for the tests that show a training step packs no weights: gemm, the B blocks
// RunGemm's blocked path packed itself (b_packed null); whole, the PackWholeB calls.
struct BPackCounts {
  int64_t gemm = 0;
  int64_t whole = 0;
};
void CountBPacksFrom(const float* begin, const float* end);
BPackCounts CountedBPacks();

// Grows every buffer of scratch so that RunGemm with these kernels and blocking on any problem
// of at most m x n x k, with any transposes and thread count up to scratch.count, allocates
// nothing.
void ReserveGemm(const kernels::GemmEngine& kernels, const Blocking& blocking, int64_t m, int64_t n,
                 int64_t k, const GemmScratch& scratch);

}  // namespace propel::detail
