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

template <size_t R, bool kBf16>
constexpr PackAFn RowsPack() {
  if constexpr (R < kMinRows || R > kMR) {
    return nullptr;
  } else if constexpr (kBf16) {
    return &PackAPanelsBf16<R>;
  } else {
    return &PackAPanels<R>;
  }
}

void RoundBf16N(int64_t n, const float* src, float* dst) { RoundBf16Array(n, src, dst); }

extern const GemmKernels kGemmKernels;

// The bf16 table: the fp32 one's micro-kernels on panels rounded to bf16 (kernels/gemm.h).
constexpr GemmKernels kGemmKernelsBf16 = {
    HWY_TARGET,
    static_cast<int>(kMR),
    static_cast<int>(kNR),
    static_cast<int>(kLanes),
    &Ukernel<kNV>,
    {ColsKernel<1>(), ColsKernel<2>(), ColsKernel<3>(), ColsKernel<4>()},
    &PackABf16,
    {RowsKernel<1>(), RowsKernel<2>(), RowsKernel<3>(), RowsKernel<4>(), RowsKernel<5>(),
     RowsKernel<6>(), RowsKernel<7>(), RowsKernel<8>()},
    {RowsPack<1, true>(), RowsPack<2, true>(), RowsPack<3, true>(), RowsPack<4, true>(),
     RowsPack<5, true>(), RowsPack<6, true>(), RowsPack<7, true>(), RowsPack<8, true>()},
    &PackBBf16,
    &ScaleC,
    &DotNTBf16,
    static_cast<int>(kDotRows),
    static_cast<int>(kDotCols),
    &FmaPeak,
    static_cast<int64_t>(kPeakChains* kLanes),
    &RoundBf16N,
    true,
    &kGemmKernels,
};

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
    {RowsPack<1, false>(), RowsPack<2, false>(), RowsPack<3, false>(), RowsPack<4, false>(),
     RowsPack<5, false>(), RowsPack<6, false>(), RowsPack<7, false>(), RowsPack<8, false>()},
    &PackB,
    &ScaleC,
    &DotNT,
    static_cast<int>(kDotRows),
    static_cast<int>(kDotCols),
    &FmaPeak,
    static_cast<int64_t>(kPeakChains* kLanes),
    &RoundBf16N,
    false,
    &kGemmKernelsBf16,
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
