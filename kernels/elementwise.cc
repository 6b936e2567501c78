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

// This target's table, registered below (kernels/registry.h).
constexpr ElementwiseKernels kElementwiseKernels = {
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

PROPEL_REGISTER_TARGET_TABLE(ElementwiseKernels, &kElementwiseKernels);

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace propel::kernels {

const ElementwiseKernels* ElementwiseKernelsFor(int64_t target) {
  return TargetTables<ElementwiseKernels>::For(target);
}

int64_t ElementwiseBuiltTargets() { return HWY_TARGETS; }

}  // namespace propel::kernels
#endif  // HWY_ONCE
