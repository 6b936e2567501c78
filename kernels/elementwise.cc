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
#include "kernels/registry.h"
#include "kernels/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {

// This target's tables, one per mode, registered below (kernels/registry.h).
template <bool kPortable>
constexpr ElementwiseKernels MakeElementwiseKernels() {
  return {
      HWY_TARGET,
      kPortable,
      &ActForward<kPortable>,
      &ActBackward<kPortable>,
      &ActBackwardOut<kPortable>,
      &ActBackwardBias<kPortable>,
      &Softmax<kPortable>,
      &BceLogits<kPortable>,
      &BceProb<kPortable>,
      &Mse,
      &SoftmaxCeLabels<kPortable>,
      &SoftmaxCeSoft<kPortable>,
      &ColumnSums,
      &SumSquares<kPortable>,
      &ReduceSum,
      &Sgd<kPortable>,
      &Adam<kPortable>,
  };
}
constexpr ElementwiseKernels kElementwiseKernels = MakeElementwiseKernels<false>();
constexpr ElementwiseKernels kPortableElementwiseKernels = MakeElementwiseKernels<true>();
constexpr ElementwiseTables kElementwiseTables = {HWY_TARGET, &kElementwiseKernels,
                                                  &kPortableElementwiseKernels};

PROPEL_REGISTER_TARGET_TABLE(ElementwiseTables, &kElementwiseTables);

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace propel::kernels {

const ElementwiseKernels* ElementwiseKernelsFor(int64_t target, bool portable) {
  const ElementwiseTables* tables = TargetTables<ElementwiseTables>::For(target);
  if (tables == nullptr) return nullptr;
  return portable ? tables->portable : tables->fast;
}

int64_t ElementwiseBuiltTargets() { return HWY_TARGETS; }

}  // namespace propel::kernels
#endif  // HWY_ONCE
