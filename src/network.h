// What a model's forward and backward passes are made of, shared by inference (src/model.cc) and
// the training step (src/trainer.cc): the kernels of one SIMD target, fixed for a whole run, and
// the per-layer operations on a block of rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "propel/model.h"
#include "src/blocking.h"
#include "src/gemm_driver.h"

namespace propel::detail {

// A zero-filled, 64-byte aligned array of floats that owns its memory.
class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(int64_t n) { Resize(n); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  AlignedFloats(AlignedFloats&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedFloats& operator=(AlignedFloats&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~AlignedFloats() { std::free(data_); }

  // Reallocates to n floats (all zero); contents are not kept.
  void Resize(int64_t n);
  float* data() { return data_; }
  const float* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  float* data_ = nullptr;
  int64_t size_ = 0;
};

// Floats rounded up to a whole number of 64-byte lines.
constexpr int64_t PadToLine(int64_t floats) { return (floats + 15) / 16 * 16; }

// The kernels one run uses: captured once, so every step of a run uses the same target.
struct NetKernels {
  const kernels::GemmKernels* gemm = nullptr;
  const kernels::ElementwiseKernels* ew = nullptr;
  Blocking blocking{};
};

NetKernels ActiveNetKernels();

kernels::ActParams ActParamsFor(const NetKernels& k, Activation act, float alpha);

// z (rows x layer.out, stride ldz) = act(a_prev W^T + b) with the activation fused into the GEMM
// (fuse == true) or z = a_prev W^T + b (fuse == false). GEMM on `threads` threads.
void LayerForward(const NetKernels& k, const LayerLayout& layer, const float* params, int64_t rows,
                  const float* a_prev, int64_t lda, float* z, int64_t ldz, bool fuse, int threads,
                  const GemmScratch* scratch);

// The GEMM problems of a layer, for ReserveGemm (data pointers null).
GemmProblem ForwardProblem(const LayerLayout& layer, int64_t rows);
GemmProblem WeightGradProblem(const LayerLayout& layer, int64_t rows);
GemmProblem InputGradProblem(const LayerLayout& layer, int64_t rows);

}  // namespace propel::detail
