// Compiles the GEMM micro-kernel and packing once per SIMD target and exports the per-target
// kernel tables (kernels/gemm.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/gemm_dot-inl.h"
#include "kernels/gemm_pack-inl.h"
#include "kernels/gemm_ukernel-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {

static_assert(kNV <= kMaxTileVectors, "raise kMaxTileVectors");

template <size_t NV>
constexpr UkernelFn ColsKernel() {
  if constexpr (NV == 0 || NV > kNV) {
    return nullptr;
  } else {
    return &Ukernel<NV>;
  }
}

const GemmKernels* GetGemmKernels() {
  static constexpr GemmKernels kKernels = {
      HWY_TARGET,
      static_cast<int>(kMR),
      static_cast<int>(kNR),
      static_cast<int>(kLanes),
      &Ukernel<kNV>,
      {ColsKernel<1>(), ColsKernel<2>(), ColsKernel<3>(), ColsKernel<4>()},
      &PackA,
      &PackB,
      &ScaleC,
      &DotNT,
      static_cast<int>(kDotRows),
      static_cast<int>(kDotCols),
      &FmaPeak,
      static_cast<int64_t>(kPeakChains * kLanes),
  };
  return &kKernels;
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace propel::kernels {

HWY_EXPORT(GetGemmKernels);

// HWY_EXPORT's table holds one entry per compiled target (entry 0 is Highway's own dispatcher
// initializer, absent targets are nullptr). propel selects by target itself so that a target can
// be pinned per process without touching Highway's global state.
const GemmKernels* GemmKernelsFor(int64_t target) {
  const auto& table = HWY_DISPATCH_TABLE(GetGemmKernels);
  for (size_t i = 1; i < sizeof(table) / sizeof(table[0]); ++i) {
    if (table[i] != nullptr && table[i]()->target == target) return table[i]();
  }
  return nullptr;
}

int64_t GemmCompiledTargets() {
  int64_t mask = 0;
  const auto& table = HWY_DISPATCH_TABLE(GetGemmKernels);
  for (size_t i = 1; i < sizeof(table) / sizeof(table[0]); ++i) {
    if (table[i] != nullptr) mask |= table[i]()->target;
  }
  return mask;
}

}  // namespace propel::kernels
#endif  // HWY_ONCE
