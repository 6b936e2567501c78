// What the network code shares (inference in src/model.cc, the training step in src/trainer.cc,
// the layer in src/dense_layer.h): the kernels of one SIMD target, fixed for a whole run, and
// line-aligned float arrays.
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

}  // namespace propel::detail
