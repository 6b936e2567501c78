// Compiles the GEMM micro-kernels and packing once per SIMD target and registers each target's
// engines (kernels/gemm.h), each built from the target's fp32 engine with what it changes.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/gemm_bf16_amx-inl.h"
#include "kernels/gemm_bf16_dot-inl.h"
#include "kernels/gemm_pack-inl.h"
#include "kernels/gemm_thin-inl.h"
#include "kernels/gemm_ukernel-inl.h"
#include "kernels/registry.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {

static_assert(kNV <= kMaxTileVectors, "raise kMaxTileVectors");
static_assert(kMR <= kMaxTileRows, "raise kMaxTileRows");

// Block bounds of this target's engines. KC = 256 on every x86 target. Measured (propel bench
// --family gemm,train, 3 interleaved rounds, docs/gemm.md):
//   AMD EPYC Zen 3, AVX2 (32 KiB L1d, 512 KiB L2): against KC = 256, KC = 336 (the most the L1
//   rule allows there), 384 and 128 change the geometric mean of 26 GEMM and training cases by
//   +1.2%, +0.5% and +2.7% (slower, none significant): 256 stays.
//   Intel Xeon, AVX3: KC = 384 measured +4-6% on the forward and batch-256 input-gradient
//   shapes and -1 to -3% on squares of 1024 and 2048 with an earlier driver; not yet measured
//   with this one, so 256 stays until it is (the command is in docs/gemm.md).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr BlockBounds kBounds = {256, 192, 4080};
#elif HWY_TARGET == HWY_AVX2
constexpr BlockBounds kBounds = {256, 144, 4080};
#elif HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
constexpr BlockBounds kBounds = {256, 96, 4080};
#else
constexpr BlockBounds kBounds = {256, 64, 2048};
#endif

void RoundBf16N(int64_t n, const float* src, float* dst) { RoundBf16Array(n, src, dst); }

// The row kernels kMinRows..kMR of a family: make.template operator()<R>() for each R.
template <size_t R = kMinRows, class Make>
constexpr void SetRowKernels(GemmEngine& e, Make make) {
  if constexpr (R <= kMR) {
    e.ukernel_rows[R - 1] = make.template operator()<R>();
    SetRowKernels<R + 1>(e, make);
  }
}

// Their A packings, the same way.
template <size_t R = kMinRows, class Make>
constexpr void SetRowPacks(GemmEngine& e, Make make) {
  if constexpr (R <= kMR) {
    e.pack_a_rows[R - 1] = make.template operator()<R>();
    SetRowPacks<R + 1>(e, make);
  }
}

// The first NV vectors of the full width: Kernel<NV>() for each.
template <size_t NV = 1, class Kernel>
constexpr void SetCols(GemmEngine& e, Kernel kernel) {
  if constexpr (NV <= kNV) {
    e.ukernel_cols[NV - 1] = kernel.template operator()<NV>();
    SetCols<NV + 1>(e, kernel);
  }
}

// The reference engine of this target: the fp32 FMA micro-kernels (the full tile, its narrower
// right-edge forms and the row kernels), fp32 panels, the thin path, the epilogue-only scaling.
// Every other engine of the target starts from it and changes what it optimises.
// kFused: the tiles' multiply-adds (Fma<kFused>, kernels/gemm_ukernel-inl.h).
template <bool kFused = kFusedTiles>
constexpr GemmEngine Fp32Engine() {
  GemmEngine e;
  e.kind = EngineKind::kFp32;
  e.target = HWY_TARGET;
  e.mr = static_cast<int>(kMR);
  e.nr = static_cast<int>(kNR);
  e.lanes = static_cast<int>(kLanes);
  e.fused = kFused && kFusedMulAdd;
  e.bounds = kBounds;
  e.ukernel = &UkernelFor<FmaTile<kMR, kNV, kFused>>;
  SetCols(e, []<size_t NV>() { return &UkernelFor<FmaTile<kMR, NV, kFused>>; });
  e.pack_a = &PackA;
  SetRowKernels(e, []<size_t R>() { return &UkernelFor<FmaTile<R, kNV, kFused>>; });
  SetRowPacks(e, []<size_t R>() { return &PackAPanels<R, false>; });
  e.pack_b = &PackB;
  e.scale = &ScaleC;
  e.thin_nt = &ThinNT;
  e.thin_rows = static_cast<int>(kThinRows);
  e.thin_cols = static_cast<int>(kThinCols);
  e.peak = &FmaPeak;
  e.peak_macs_per_iter = static_cast<int64_t>(kPeakChains * kLanes);
  e.round_bf16 = &RoundBf16N;
  return e;
}

// bf16 emulated: the fp32 micro-kernels on panels rounded to bf16 as they are packed, the thin
// path rounding as it loads.
template <bool kFused = kFusedTiles>
constexpr GemmEngine Bf16EmulatedEngine() {
  GemmEngine e = Fp32Engine<kFused>();
  e.kind = EngineKind::kBf16Emulated;
  e.pack_a = &PackABf16;
  SetRowPacks(e, []<size_t R>() { return &PackAPanels<R, true>; });
  e.pack_b = &PackBBf16;
  e.thin_nt = &ThinNTBf16;
  return e;
}

constexpr GemmEngine kFp32 = Fp32Engine();
constexpr GemmEngine kBf16Emulated = Bf16EmulatedEngine();
// Portable mode's fp32 and emulated bf16 engines: the default ones where those are fused; on
// SCALAR their twins with the exactly emulated fused multiply-add (kernels/fma-inl.h), which
// compute what the FMA targets compute, some 30 times slower than the default ones.
#if HWY_TARGET == HWY_SCALAR
constexpr GemmEngine kFp32Fused = Fp32Engine<true>();
constexpr GemmEngine kBf16EmulatedFused = Bf16EmulatedEngine<true>();
constexpr const GemmEngine* kPortableFp32 = &kFp32Fused;
constexpr const GemmEngine* kPortableBf16Emulated = &kBf16EmulatedFused;
#elif HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
constexpr const GemmEngine* kPortableFp32 = nullptr;
constexpr const GemmEngine* kPortableBf16Emulated = nullptr;
#else
constexpr const GemmEngine* kPortableFp32 = &kFp32;
constexpr const GemmEngine* kPortableBf16Emulated = &kBf16Emulated;
#endif

#ifdef PROPEL_HAVE_BF16_DOT
// bf16 on VDPBF16PS (kernels/gemm_bf16_dot-inl.h): the tile and the block bounds of the fp32
// engine, panels of bf16 pairs (half the bytes); the thin path is the emulated engine's.
constexpr GemmEngine Bf16Vdpbf16psEngine() {
  GemmEngine e = Bf16EmulatedEngine();
  e.kind = EngineKind::kBf16Vdpbf16ps;
  e.layout = PanelLayout{.element_bytes = 2, .k_per_slot = 2};
  e.ukernel = &UkernelFor<DotTile<kMR, kNV>>;
  SetCols(e, []<size_t NV>() { return &UkernelFor<DotTile<kMR, NV>>; });
  e.pack_a = &PackAPairs<kMR>;
  SetRowKernels(e, []<size_t R>() { return &UkernelFor<DotTile<R, kNV>>; });
  SetRowPacks(e, []<size_t R>() { return &PackAPairs<R>; });
  e.pack_b = &PackBPairs;
  e.peak = &DotPeak;
  e.peak_macs_per_iter = kDotPeakMacsPerIter;
  e.round_bf16 = &RoundBf16Cvt;
  return e;
}
constexpr GemmEngine kBf16Vdpbf16ps = Bf16Vdpbf16psEngine();
#endif  // PROPEL_HAVE_BF16_DOT

#ifdef PROPEL_HAVE_BF16_AMX
// bf16 on AMX tiles (kernels/gemm_bf16_amx-inl.h): one 32 x 32 kernel, which is also the only
// right-edge and row kernel (the driver computes narrower edges into a scratch tile), row-major A
// panels padded to whole tile steps, the tile configuration around each block; the thin path is
// the emulated engine's.
constexpr GemmEngine Bf16AmxEngine() {
  GemmEngine e = Bf16EmulatedEngine();
  e.kind = EngineKind::kBf16Amx;
  e.mr = static_cast<int>(kAmxRows);
  e.nr = static_cast<int>(kAmxCols);
  e.layout = PanelLayout{.element_bytes = 2,
                         .k_per_slot = 2,
                         .k_granule = static_cast<int>(kAmxStepPairs),
                         .a_row_major = true};
  e.ukernel = &UkernelFor<AmxTile>;
  for (UkernelFn& f : e.ukernel_cols) f = nullptr;
  e.ukernel_cols[kAmxCols / kLanes - 1] = e.ukernel;
  for (int r = 0; r < kMaxTileRows; ++r) {
    e.ukernel_rows[r] = nullptr;
    e.pack_a_rows[r] = nullptr;
  }
  e.ukernel_rows[kAmxRows - 1] = e.ukernel;
  e.pack_a_rows[kAmxRows - 1] = &PackAAmx;
  e.pack_a = &PackAAmx;
  e.pack_b = &PackBAmx;
  e.peak = &AmxPeak;
  e.peak_macs_per_iter = kAmxPeakMacsPerIter;
  e.round_bf16 = &RoundBf16Cvt;
  e.tile_begin = &AmxBegin;
  e.tile_end = &AmxEnd;
  return e;
}
constexpr GemmEngine kBf16Amx = Bf16AmxEngine();
static_assert(kAmxRows <= kMaxTileRows, "the AMX tile is a row kernel");
#endif  // PROPEL_HAVE_BF16_AMX

// The native bf16 engines where this target's copy has them.
#ifdef PROPEL_HAVE_BF16_DOT
constexpr const GemmEngine* kVdpbf16psIfAny = &kBf16Vdpbf16ps;
#else
constexpr const GemmEngine* kVdpbf16psIfAny = nullptr;
#endif
#ifdef PROPEL_HAVE_BF16_AMX
constexpr const GemmEngine* kAmxIfAny = &kBf16Amx;
#else
constexpr const GemmEngine* kAmxIfAny = nullptr;
#endif

constexpr GemmEngines kEngines = {HWY_TARGET,
                                  {&kFp32, &kBf16Emulated, kVdpbf16psIfAny, kAmxIfAny},
                                  {kPortableFp32, kPortableBf16Emulated, kVdpbf16psIfAny, nullptr}};
PROPEL_REGISTER_TARGET_TABLE(GemmEngines, &kEngines);

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace propel::kernels {

const char* EngineKindName(EngineKind kind) {
  switch (kind) {
    case EngineKind::kFp32:
      return "fp32";
    case EngineKind::kBf16Emulated:
      return "bf16 emulated";
    case EngineKind::kBf16Vdpbf16ps:
      return "bf16 VDPBF16PS";
    case EngineKind::kBf16Amx:
      return "bf16 AMX";
  }
  return "unknown";
}

const GemmEngine* FindEngine(int64_t target, EngineKind kind, bool portable) {
  const int k = static_cast<int>(kind);
  if (k < 0 || k >= kEngineKinds) return nullptr;
  const GemmEngines* set = TargetTables<GemmEngines>::For(target);
  if (set == nullptr) return nullptr;
  return portable ? set->portable[k] : set->engines[k];
}

std::vector<const GemmEngine*> CompiledEngines() {
  std::vector<const GemmEngine*> out;
  for (int64_t bits = GemmCompiledTargets(); bits != 0; bits &= bits - 1) {
    const GemmEngines* set = TargetTables<GemmEngines>::For(bits & -bits);
    for (const GemmEngine* e : set->engines) {
      if (e != nullptr) out.push_back(e);
    }
    for (int k = 0; k < kEngineKinds; ++k) {
      const GemmEngine* e = set->portable[k];
      if (e != nullptr && e != set->engines[k]) out.push_back(e);
    }
  }
  return out;
}

int64_t GemmCompiledTargets() { return TargetTables<GemmEngines>::Mask(); }

int64_t GemmBuiltTargets() { return HWY_TARGETS; }

}  // namespace propel::kernels
#endif  // HWY_ONCE
