// Compiles the GEMM micro-kernel and packing once per SIMD target and exports the per-target
// kernel tables (kernels/gemm.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/gemm_dot-inl.h"
#include "kernels/gemm_pack-inl.h"
#include "kernels/gemm_ukernel-inl.h"
#include "kernels/registry.h"

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

static_assert(kMR <= kMaxTileRows, "raise kMaxTileRows");

template <size_t R>
constexpr UkernelFn RowsKernel() {
  if constexpr (R < kMinRows || R > kMR) {
    return nullptr;
  } else {
    return &UkernelTile<R, kNV>;
  }
}

template <size_t R>
constexpr PackAFn RowsPack() {
  if constexpr (R < kMinRows || R > kMR) {
    return nullptr;
  } else {
    return &PackAPanels<R>;
  }
}

// This target's table, registered below (kernels/registry.h).
constexpr GemmKernels kGemmKernels = {
    HWY_TARGET,
    static_cast<int>(kMR),
    static_cast<int>(kNR),
    static_cast<int>(kLanes),
    &Ukernel<kNV>,
    {ColsKernel<1>(), ColsKernel<2>(), ColsKernel<3>(), ColsKernel<4>()},
    &PackA,
    {RowsKernel<1>(), RowsKernel<2>(), RowsKernel<3>(), RowsKernel<4>(), RowsKernel<5>(),
     RowsKernel<6>(), RowsKernel<7>(), RowsKernel<8>()},
    {RowsPack<1>(), RowsPack<2>(), RowsPack<3>(), RowsPack<4>(), RowsPack<5>(), RowsPack<6>(),
     RowsPack<7>(), RowsPack<8>()},
    &PackB,
    &ScaleC,
    &DotNT,
    static_cast<int>(kDotRows),
    static_cast<int>(kDotCols),
    &FmaPeak,
    static_cast<int64_t>(kPeakChains* kLanes),
};

PROPEL_REGISTER_TARGET_TABLE(GemmKernels, &kGemmKernels);

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace propel::kernels {

const GemmKernels* GemmKernelsFor(int64_t target) { return TargetTables<GemmKernels>::For(target); }

int64_t GemmCompiledTargets() { return TargetTables<GemmKernels>::Mask(); }

int64_t GemmBuiltTargets() { return HWY_TARGETS; }

}  // namespace propel::kernels
#endif  // HWY_ONCE
