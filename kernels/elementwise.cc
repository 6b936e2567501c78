// Compiles the element-wise kernel families once per SIMD target and exports the per-target
// tables (kernels/elementwise.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/activation-inl.h"
#include "kernels/loss-inl.h"
#include "kernels/optim-inl.h"
#include "kernels/reduce-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {

const ElementwiseKernels* GetElementwiseKernels() {
  static constexpr ElementwiseKernels kKernels = {
      HWY_TARGET,
      &ActForward,
      &ActBackward,
      &ActBackwardOut,
      &ActBackwardBias,
      &Softmax,
      &BceLogits,
      &BceProb,
      &Mse,
      &SoftmaxCeLabels,
      &SoftmaxCeSoft,
      &ColumnSums,
      &SumSquares,
      &ReduceSum,
      &Sgd,
      &Adam,
  };
  return &kKernels;
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace propel::kernels {

HWY_EXPORT(GetElementwiseKernels);

const ElementwiseKernels* ElementwiseKernelsFor(int64_t target) {
  const auto& table = HWY_DISPATCH_TABLE(GetElementwiseKernels);
  for (size_t i = 1; i < sizeof(table) / sizeof(table[0]); ++i) {
    if (table[i] != nullptr && table[i]()->target == target) return table[i]();
  }
  return nullptr;
}

}  // namespace propel::kernels
#endif  // HWY_ONCE
