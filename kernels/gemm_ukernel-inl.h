// GEMM register micro-kernel: an MR x NR tile of C held in vector registers, FMA over k, with the
// fused alpha/beta/bias/activation epilogue. Contract and packed layouts: kernels/gemm.h.
//
// Tile shapes per target (accumulators + B vectors + one broadcast must fit the register file):
//   AVX3 (32 x 512-bit):  MR=8,  NR=48 (3 vectors): 24 accumulators, 3 B loads + 8 broadcasts
//                         per 24 FMAs, inside the two load ports per two FMA ports of current
//                         x86 cores; M = 64/256 batches fill the 8-row tiles exactly.
//   AVX2 (16 x 256-bit):  MR=6,  NR=16 (2 vectors): 12 accumulators + 2 B + 1 broadcast = 15.
//   SSE4/SSSE3 (16 x 128-bit): MR=6, NR=8, same register budget as AVX2.
//   SCALAR: MR=4, NR=4.
//
// Row kernels (kernels/gemm.h, ukernel_rows): the same loop over kMinRows..kMR rows, for the
// transposed path of outputs narrower than a tile, whose narrow side is cut into the fewest rows
// that waste least (a 10-wide output: two 5-row panels where 6-row ones would compute 12).
//
// Accuracy: each element of C is its k products accumulated by FMA in k order (KC blocks in
// order, each block's sum added to C), so |error| <= (k + 2) u sum_p |a_ip b_pj| with u = 2^-24,
// the bound of a float dot product; tests/src/gemm_test.cc checks twice that on every target and
// transpose case, and tests/kernels/gemm_kernels_test.cc the kernel against a scalar reference.

#if defined(PROPEL_KERNELS_GEMM_UKERNEL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_GEMM_UKERNEL_INL_H_
#undef PROPEL_KERNELS_GEMM_UKERNEL_INL_H_
#else
#define PROPEL_KERNELS_GEMM_UKERNEL_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/fma-inl.h"
#include "kernels/gemm.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
// Vector length in floats: fixed per target on x86 and NEON, the targets propel compiles (the
// tile is an array of vectors, which SVE's and RVV's sizeless vector types do not allow; the
// build disables those targets, see CMakeLists.txt).
constexpr size_t kLanes = hn::MaxLanes(DF());

#if HWY_TARGET == HWY_SCALAR
constexpr size_t kMR = 4;
constexpr size_t kNV = 4;
#elif HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr size_t kMR = 8;
constexpr size_t kNV = 3;
#else
constexpr size_t kMR = 6;
constexpr size_t kNV = 2;
#endif
constexpr size_t kNR = kNV * kLanes;

// Vector-level ReLU of the epilogue (the same operation as the element-wise ReLU kernel).
// ReLU keeps NaN: a NaN pre-activation is not a negative one.
template <class D, class V>
HWY_INLINE V EpilogueRelu(D d, V v, bool relu) {
  return relu ? hn::IfThenZeroElse(hn::Lt(v, hn::Zero(d)), v) : v;
}

// The activations other than identity and ReLU, applied to rows of C just stored (in L1).
HWY_INLINE void ActivateRows(const ActParams& act, size_t rows, int64_t n, float* c, int64_t ldc) {
  if (act.act == Act::kIdentity || act.act == Act::kRelu) return;
  for (size_t r = 0; r < rows; ++r) {
    float* row = c + static_cast<int64_t>(r) * ldc;
    act.fn(act.act, act.alpha, n, row, row);
  }
}

// The C tile is read or written only after the k loop: its lines are requested before it, so
// that the epilogue does not wait on L2/L3 misses (C is rarely cache-resident for large products).
template <size_t MR, size_t NV>
HWY_INLINE void PrefetchTile(const float* c, int64_t ldc) {
  for (size_t r = 0; r < MR; ++r) {
    const float* crow = c + static_cast<int64_t>(r) * ldc;
    for (size_t off = 0; off < NV * kLanes; off += 64 / sizeof(float)) hwy::Prefetch(crow + off);
    hwy::Prefetch(crow + NV * kLanes - 1);
  }
}

// The tiles' multiply-add is Fma<kFused> (kernels/fma-inl.h): kFused rounds once on every target
// with FMA and emulates that exactly on SCALAR, what portable mode needs; otherwise SCALAR
// multiplies and adds, which the compiler vectorizes with SSE2, some 30 times faster than the
// exact emulation. The engines' default: fused wherever that costs nothing (GemmEngine::fused).
constexpr bool kFusedTiles = HWY_TARGET != HWY_SCALAR;

// The epilogue of an MR x (NV vectors) tile of accumulators, in the order of the contract:
// alpha * acc, + beta * C, + bias, activation, stored to C. Without a bias, +0 is added (only the
// sign of a zero result can differ from skipping it). Shared by every micro-kernel of a target.
template <size_t MR, size_t NV, bool kReadC, bool kRelu, bool kFused = true>
HWY_INLINE void EpilogueStore(const hn::Vec<DF> (&acc)[MR][NV], float* HWY_RESTRICT c, int64_t ldc,
                              const UkernelParams& params) {
  const DF d;
  using V = hn::Vec<DF>;
  const V alpha = hn::Set(d, params.alpha);
  const V beta = hn::Set(d, params.beta);
  V bias[NV];
  for (size_t v = 0; v < NV; ++v) {
    bias[v] = params.bias ? hn::LoadU(d, params.bias + v * kLanes) : hn::Zero(d);
  }
  for (size_t r = 0; r < MR; ++r) {
    float* HWY_RESTRICT crow = c + static_cast<int64_t>(r) * ldc;
    for (size_t v = 0; v < NV; ++v) {
      V out = hn::Mul(alpha, acc[r][v]);
      if constexpr (kReadC) out = Fma<kFused>(beta, hn::LoadU(d, crow + v * kLanes), out);
      out = hn::Add(out, bias[v]);
      if constexpr (kRelu) out = EpilogueRelu(d, out, true);
      hn::StoreU(out, d, crow + v * kLanes);
    }
  }
  if constexpr (!kRelu) ActivateRows(params.act, MR, NV * kLanes, c, ldc);
}

// kReadC: beta != 0 (C is loaded); kRelu: the epilogue activation. Both are template
// parameters so that the epilogue is straight-line code over registers, without spills.
// NV <= kNV vectors of the kNR-wide B micro-panel are used: the narrower instantiations compute
// the right-edge tiles of C (n % kNR columns) in place, with the same per-element arithmetic.
template <size_t MR, size_t NV, bool kReadC, bool kRelu, bool kFused>
HWY_INLINE void UkernelImpl(int64_t kc, const float* HWY_RESTRICT a, const float* HWY_RESTRICT b,
                            float* HWY_RESTRICT c, int64_t ldc, const UkernelParams& params) {
  const DF d;
  using V = hn::Vec<DF>;
  HWY_DASSERT(hn::Lanes(d) == kLanes);

  PrefetchTile<MR, NV>(c, ldc);

  V acc[MR][NV];
  for (size_t r = 0; r < MR; ++r) {
    for (size_t v = 0; v < NV; ++v) acc[r][v] = hn::Zero(d);
  }

  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
    for (size_t v = 0; v < NV; ++v) bv[v] = hn::Load(d, b + v * kLanes);
    for (size_t r = 0; r < MR; ++r) {
      const V av = hn::Set(d, a[r]);
      for (size_t v = 0; v < NV; ++v) acc[r][v] = Fma<kFused>(av, bv[v], acc[r][v]);
    }
    a += MR;
    b += kNR;
  }

  EpilogueStore<MR, NV, kReadC, kRelu, kFused>(acc, c, ldc, params);
}

// A micro-kernel of any engine, from its four epilogue variants Tile::Run<kReadC, kRelu> (kReadC:
// beta != 0, C is loaded; kRelu: the epilogue activation; both template parameters so that each
// variant's epilogue is straight-line code over registers): the variant of each call's
// parameters. The kernel the engines name.
template <class Tile>
void UkernelFor(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                const UkernelParams& params) {
  static constexpr UkernelFn kVariants[2][2] = {
      {&Tile::template Run<false, false>, &Tile::template Run<false, true>},
      {&Tile::template Run<true, false>, &Tile::template Run<true, true>}};
  kVariants[params.beta != 0.0f][params.act.act == Act::kRelu](kc, a, b, c, ldc, params);
}

// The fp32 FMA tile of MR rows x NV vectors (kFused: the multiply-add Fma<kFused>).
template <size_t MR, size_t NV, bool kFused = kFusedTiles>
struct FmaTile {
  template <bool kReadC, bool kRelu>
  static void Run(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                  const UkernelParams& params) {
    UkernelImpl<MR, NV, kReadC, kRelu, kFused>(kc, a, b, c, ldc, params);
  }
};

// The row kernels (GemmEngine::ukernel_rows): kMinRows..kMR rows of the full kNR width. Fewer
// than kMinRows rows hold fewer than 8 accumulators, too few to cover the FMA latency (4 cycles)
// on two FMA ports: such a tile runs at a fraction of the rate, so the driver never asks for one.
constexpr size_t kMinRows = (8 + kNV - 1) / kNV;

// C = (beta == 0 ? 0 : beta * C) + bias, then the activation, over m x n. Same per-element
// arithmetic as the micro-kernel epilogue with alpha * acc == 0.
void ScaleC(int64_t m, int64_t n, float beta, const float* bias, const ActParams& act, float* c,
            int64_t ldc) {
  const bool relu = act.act == Act::kRelu;
  const DF d;
  const size_t N = hn::Lanes(d);
  const auto vbeta = hn::Set(d, beta);
  for (int64_t i = 0; i < m; ++i) {
    float* HWY_RESTRICT row = c + i * ldc;
    int64_t j = 0;
    for (; j + static_cast<int64_t>(N) <= n; j += static_cast<int64_t>(N)) {
      auto out = hn::Zero(d);
      if (beta != 0.0f) out = Fma<false>(vbeta, hn::LoadU(d, row + j), out);
      out = hn::Add(out, bias ? hn::LoadU(d, bias + j) : hn::Zero(d));
      hn::StoreU(EpilogueRelu(d, out, relu), d, row + j);
    }
    const hn::CappedTag<float, 1> d1;
    for (; j < n; ++j) {
      auto out = hn::Zero(d1);
      if (beta != 0.0f) out = Fma<false>(hn::Set(d1, beta), hn::LoadU(d1, row + j), out);
      out = hn::Add(out, bias ? hn::LoadU(d1, bias + j) : hn::Zero(d1));
      hn::StoreU(EpilogueRelu(d1, out, relu), d1, row + j);
    }
    ActivateRows(act, 1, n, row, ldc);
  }
}

// Independent FMA chains, enough to cover latency x ports on every x86 core propel targets
// (4-cycle FMA latency x 2 ports needs 8; 12 leave headroom and fit 16 registers).
constexpr size_t kPeakChains = 12;

float FmaPeak(int64_t iters) {
  const DF d;
  using V = hn::Vec<DF>;
  V acc[kPeakChains];
  for (size_t i = 0; i < kPeakChains; ++i) acc[i] = hn::Set(d, 1.0f + 0.001f * i);
  const V mul = hn::Set(d, 0.999999f);
  const V add = hn::Set(d, 1e-6f);
  for (int64_t it = 0; it < iters; ++it) {
    for (size_t i = 0; i < kPeakChains; ++i) acc[i] = Fma<kFusedTiles>(acc[i], mul, add);
  }
  V sum = acc[0];
  for (size_t i = 1; i < kPeakChains; ++i) sum = hn::Add(sum, acc[i]);
  return hn::GetLane(hn::SumOfLanes(d, sum));
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
