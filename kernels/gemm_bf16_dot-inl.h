// The bf16 GEMM engine on AVX512_BF16: a micro-kernel on VDPBF16PS over panels of bf16 pairs
// (layout in kernels/gemm.h, packed by kernels/gemm_pack_pairs-inl.h), and the VDPBF16PS peak
// probe. Compiled into the AVX3 target's copy of kernels/gemm.cc only, as
// intrinsics in functions with the extra target attribute avx512bf16: Highway 1.0.3 has no
// native bf16 dot product (its ReorderWidenMulAccumulate widens to fp32 and runs at the fp32
// rate) and its DemoteTo to bf16 truncates. These functions run only on a CPU with AVX512_BF16:
// the target layer selects their engine (src/runtime/target.cc, target AVX3_BF16).
//
// What VDPBF16PS computes (Intel SDM, VDPBF16PS): for each fp32 lane i of the accumulator and the
// bf16 pairs (a0, a1), (b0, b1) of that lane, acc = (acc + a1 * b1) + a0 * b0, each addition
// rounded to nearest even in binary32, denormal inputs read as zero and denormal results flushed
// to zero. Products of two bf16 values are exact in binary32, so each addition is the one
// rounding of an fp32 FMA: element for element, the sums of the emulated bf16 engines,
// whose packing puts depth 2q + 1 before 2q for that reason (kernels/gemm_pack-inl.h), except
// that those keep denormal sums (below 2^-126 in magnitude) and an odd kc's last pair adds a
// product 0 * 0 first (which only turns a sum of -0 into +0).
//
// Tile: the fp32 AVX3 tile, MR = 8 rows x NR = 48 columns (3 vectors): 24 accumulators, 3 B loads
// and 8 broadcast A words per 24 VDPBF16PS, each of which covers two depths.

#if defined(PROPEL_KERNELS_GEMM_BF16_DOT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_GEMM_BF16_DOT_INL_H_
#undef PROPEL_KERNELS_GEMM_BF16_DOT_INL_H_
#else
#define PROPEL_KERNELS_GEMM_BF16_DOT_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hwy/highway.h"
#include "kernels/gemm_pack_pairs-inl.h"  // the panels of bf16 pairs
#include "kernels/gemm_ukernel-inl.h"     // the tile, its prefetch and epilogue

#undef PROPEL_HAVE_BF16_DOT  // defined per target: this header is included once per target
#ifdef PROPEL_HAVE_BF16_PAIRS
#define PROPEL_HAVE_BF16_DOT 1

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The MR x (NV vectors) tile over ceil(kc/2) pairs, then the fp32 kernels' epilogue.
template <size_t MR, size_t NV, bool kReadC, bool kRelu>
PROPEL_ATTR_BF16_DOT HWY_INLINE void UkernelDotImpl(int64_t kc, const float* HWY_RESTRICT a,
                                                    const float* HWY_RESTRICT b,
                                                    float* HWY_RESTRICT c, int64_t ldc,
                                                    const UkernelParams& params) {
  PrefetchTile<MR, NV>(c, ldc);
  hn::Vec<DF> acc[MR][NV];
  for (size_t r = 0; r < MR; ++r) {
    for (size_t v = 0; v < NV; ++v) acc[r][v].raw = _mm512_setzero_ps();
  }
  const int64_t kq = (kc + 1) / 2;
  for (int64_t q = 0; q < kq; ++q) {
    __m512bh bv[NV];
    for (size_t v = 0; v < NV; ++v) {
      bv[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + v * kLanes));
    }
    for (size_t r = 0; r < MR; ++r) {
      const __m512bh av =
          reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(LoadWord(a + r))));
      for (size_t v = 0; v < NV; ++v) acc[r][v].raw = _mm512_dpbf16_ps(acc[r][v].raw, av, bv[v]);
    }
    a += MR;
    b += kNR;
  }
  EpilogueStore<MR, NV, kReadC, kRelu>(acc, c, ldc, params);
}

// The VDPBF16PS tile of MR rows x NV vectors (UkernelFor picks the variant).
template <size_t MR, size_t NV>
struct DotTile {
  template <bool kReadC, bool kRelu>
  PROPEL_ATTR_BF16_DOT static void Run(int64_t kc, const float* a, const float* b, float* c,
                                       int64_t ldc, const UkernelParams& params) {
    UkernelDotImpl<MR, NV, kReadC, kRelu>(kc, a, b, c, ldc, params);
  }
};

// Independent VDPBF16PS chains (the FMA probe's count); each lane of each does two multiply-adds.
PROPEL_ATTR_BF16_DOT float DotPeak(int64_t iters) {
  __m512 acc[kPeakChains];
  for (size_t i = 0; i < kPeakChains; ++i) acc[i] = _mm512_set1_ps(1.0f + 0.001f * i);
  const __m512bh x = reinterpret_cast<__m512bh>(_mm512_set1_epi32(0x3F7F3F80));  // 0.996, 1
  const __m512bh y = reinterpret_cast<__m512bh>(_mm512_set1_epi32(0x358637BD));  // ~1e-6, 1e-5
  for (int64_t it = 0; it < iters; ++it) {
    for (size_t i = 0; i < kPeakChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
  }
  __m512 sum = acc[0];
  for (size_t i = 1; i < kPeakChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

constexpr int64_t kDotPeakMacsPerIter = static_cast<int64_t>(kPeakChains * kLanes * 2);

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PROPEL_HAVE_BF16_PAIRS
#endif  // include guard
