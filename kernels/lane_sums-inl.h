// Sums whose order does not depend on the vector width: LaneSums<W> holds W "virtual lanes",
// element i of a sequence is added into lane i % W (in sequence order within a lane), and the
// lanes are folded by one fixed tree: lane i += lane i + W/2 for i < W/2, then W/4, ..., 1.
// A target with N-float vectors keeps the W lanes in W / N vectors (W = 16: one AVX-512 vector,
// two AVX2 vectors, four SSE4 vectors, sixteen SCALAR ones), so every target adds the same
// numbers in the same order and gets the same bits. The reductions of the element-wise kernels
// (softmax and loss sums, the sum of squares) use it in every mode, which is part of what makes
// portable mode's results equal across targets (docs/reproducibility.md).

#if defined(PROPEL_KERNELS_LANE_SUMS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_LANE_SUMS_INL_H_
#undef PROPEL_KERNELS_LANE_SUMS_INL_H_
#else
#define PROPEL_KERNELS_LANE_SUMS_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include "hwy/highway.h"
#include "kernels/fma-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <size_t W>
struct LaneSums {
  using D = hn::ScalableTag<float>;
  using V = hn::Vec<D>;
  static constexpr size_t kN = hn::MaxLanes(D());  // floats per vector
  static_assert(W % kN == 0 && (W & (W - 1)) == 0, "W: a power of two, whole vectors");
  static constexpr size_t kVectors = W / kN;

  V acc[kVectors];

  HWY_INLINE LaneSums() {
    for (size_t v = 0; v < kVectors; ++v) acc[v] = hn::Zero(D());
  }
  // Lanes [v N, v N + N) += x.
  HWY_INLINE void Add(size_t v, V x) { acc[v] = hn::Add(acc[v], x); }
  // Lanes [v N, v N + N) += a * b (Fma<kExact>: fused on every target with FMA).
  template <bool kExact>
  HWY_INLINE void AddProduct(size_t v, V a, V b) {
    acc[v] = Fma<kExact>(a, b, acc[v]);
  }
  // Lane i += p[i] for the W floats at p.
  HWY_INLINE void AddBlock(const float* p) {
    for (size_t v = 0; v < kVectors; ++v) Add(v, hn::LoadU(D(), p + v * kN));
  }
  // The lanes folded by the fixed tree.
  HWY_INLINE float Total() const {
    HWY_ALIGN float lanes[W];
    for (size_t v = 0; v < kVectors; ++v) hn::Store(acc[v], D(), lanes + v * kN);
    for (size_t half = W / 2; half >= 1; half /= 2) {
      for (size_t i = 0; i < half; ++i) lanes[i] = lanes[i] + lanes[i + half];
    }
    return lanes[0];
  }
};

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
