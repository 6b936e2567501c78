// Compiles the GEMM micro-kernel and packing once per SIMD target and exports the per-target
// kernel tables (kernels/gemm.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/gemm_bf16_amx-inl.h"
#include "kernels/gemm_bf16_dot-inl.h"
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
  } else {
    return &PackAPanels<R, kBf16>;
  }
}

void RoundBf16N(int64_t n, const float* src, float* dst) { RoundBf16Array(n, src, dst); }

// This target's table in one precision; `other` is the other precision's (kernels/gemm.h). The
// bf16 table has the fp32 one's micro-kernels, on panels rounded to bf16.
template <bool kBf16>
constexpr GemmKernels Table(const GemmKernels* other) {
  return {
      HWY_TARGET,
      static_cast<int>(kMR),
      static_cast<int>(kNR),
      static_cast<int>(kLanes),
      &Ukernel<kNV>,
      {ColsKernel<1>(), ColsKernel<2>(), ColsKernel<3>(), ColsKernel<4>()},
      kBf16 ? &PackABf16 : &PackA,
      {RowsKernel<1>(), RowsKernel<2>(), RowsKernel<3>(), RowsKernel<4>(), RowsKernel<5>(),
       RowsKernel<6>(), RowsKernel<7>(), RowsKernel<8>()},
      {RowsPack<1, kBf16>(), RowsPack<2, kBf16>(), RowsPack<3, kBf16>(), RowsPack<4, kBf16>(),
       RowsPack<5, kBf16>(), RowsPack<6, kBf16>(), RowsPack<7, kBf16>(), RowsPack<8, kBf16>()},
      kBf16 ? &PackBBf16 : &PackB,
      &ScaleC,
      kBf16 ? &DotNTBf16 : &DotNT,
      static_cast<int>(kDotRows),
      static_cast<int>(kDotCols),
      &FmaPeak,
      static_cast<int64_t>(kPeakChains * kLanes),
      &RoundBf16N,
      kBf16,
      false,
      1,
      false,
      nullptr,
      nullptr,
      other,
  };
}

extern const GemmKernels kGemmKernels;
constexpr GemmKernels kGemmKernelsBf16 = Table<true>(&kGemmKernels);
// This target's table, registered below (kernels/registry.h).
constexpr GemmKernels kGemmKernels = Table<false>(&kGemmKernelsBf16);

PROPEL_REGISTER_TARGET_TABLE(GemmKernels, &kGemmKernels);

#ifdef PROPEL_HAVE_BF16_DOT
template <size_t NV>
constexpr UkernelFn DotColsKernel() {
  if constexpr (NV == 0 || NV > kNV) {
    return nullptr;
  } else {
    return &UkernelDot<NV>;
  }
}

template <size_t R>
constexpr UkernelFn DotRowsKernel() {
  if constexpr (R < kMinRows || R > kMR) {
    return nullptr;
  } else {
    return &UkernelDotTile<R, kNV>;
  }
}

template <size_t R>
constexpr PackAFn DotRowsPack() {
  if constexpr (R < kMinRows || R > kMR) {
    return nullptr;
  } else {
    return &PackAPairs<R>;
  }
}

// The bf16 table on VDPBF16PS (kernels/gemm_bf16_dot-inl.h): the tile and blocking of the fp32
// table, panels of bf16 pairs; the skinny path and the epilogue-only scaling are the emulated bf16
// table's (operands rounded as they are loaded, fp32 FMA).
constexpr GemmKernels kGemmKernelsBf16Dot = {
    HWY_TARGET,
    static_cast<int>(kMR),
    static_cast<int>(kNR),
    static_cast<int>(kLanes),
    &UkernelDot<kNV>,
    {DotColsKernel<1>(), DotColsKernel<2>(), DotColsKernel<3>(), DotColsKernel<4>()},
    &PackAPairs<kMR>,
    {DotRowsKernel<1>(), DotRowsKernel<2>(), DotRowsKernel<3>(), DotRowsKernel<4>(),
     DotRowsKernel<5>(), DotRowsKernel<6>(), DotRowsKernel<7>(), DotRowsKernel<8>()},
    {DotRowsPack<1>(), DotRowsPack<2>(), DotRowsPack<3>(), DotRowsPack<4>(), DotRowsPack<5>(),
     DotRowsPack<6>(), DotRowsPack<7>(), DotRowsPack<8>()},
    &PackBPairs,
    &ScaleC,
    &DotNTBf16,
    static_cast<int>(kDotRows),
    static_cast<int>(kDotCols),
    &DotPeak,
    kDotPeakMacsPerIter,
    &RoundBf16Dot,
    true,
    true,
    1,
    false,
    nullptr,
    nullptr,
    &kGemmKernels,
};
constexpr Bf16DotTable kBf16DotTable = {HWY_TARGET, &kGemmKernelsBf16Dot};
PROPEL_REGISTER_TARGET_TABLE(Bf16DotTable, &kBf16DotTable);
#endif  // PROPEL_HAVE_BF16_DOT

#ifdef PROPEL_HAVE_BF16_AMX
// The bf16 table on AMX tiles (kernels/gemm_bf16_amx-inl.h): one 32 x 32 kernel, which is also
// the right-edge and the only row kernel (the driver computes narrower edges into a scratch
// tile); the skinny path and the scaling are the emulated bf16 table's.
constexpr GemmKernels kGemmKernelsBf16Amx = {
    HWY_TARGET,
    static_cast<int>(kAmxRows),
    static_cast<int>(kAmxCols),
    static_cast<int>(kLanes),
    &UkernelAmx,
    {nullptr, &UkernelAmx, nullptr, nullptr},
    &PackAAmx,
    {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
     nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
     nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
     nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, &UkernelAmx},
    {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
     nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
     nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
     nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, &PackAAmx},
    &PackBAmx,
    &ScaleC,
    &DotNTBf16,
    static_cast<int>(kDotRows),
    static_cast<int>(kDotCols),
    &AmxPeak,
    kAmxPeakMacsPerIter,
    &RoundBf16Dot,
    true,
    true,
    static_cast<int>(kAmxStepPairs),
    true,
    &AmxBegin,
    &AmxEnd,
    &kGemmKernels,
};
static_assert(kAmxRows == kMaxTileRows, "the AMX tile is the tallest row kernel");
constexpr Bf16AmxTable kBf16AmxTable = {HWY_TARGET, &kGemmKernelsBf16Amx};
PROPEL_REGISTER_TARGET_TABLE(Bf16AmxTable, &kBf16AmxTable);
#endif  // PROPEL_HAVE_BF16_AMX

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace propel::kernels {

const GemmKernels* GemmKernelsFor(int64_t target) { return TargetTables<GemmKernels>::For(target); }

const GemmKernels* Bf16DotKernelsFor(int64_t target) {
  const Bf16DotTable* t = TargetTables<Bf16DotTable>::For(target);
  return t != nullptr ? t->kernels : nullptr;
}

const GemmKernels* Bf16AmxKernelsFor(int64_t target) {
  const Bf16AmxTable* t = TargetTables<Bf16AmxTable>::For(target);
  return t != nullptr ? t->kernels : nullptr;
}

int64_t GemmCompiledTargets() { return TargetTables<GemmKernels>::Mask(); }

int64_t GemmBuiltTargets() { return HWY_TARGETS; }

}  // namespace propel::kernels
#endif  // HWY_ONCE
