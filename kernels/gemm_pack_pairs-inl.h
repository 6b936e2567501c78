// Panels of bf16 pairs (kernels/gemm.h, the VDPBF16PS and AMX engines' layouts), packed with
// VCVTNE2PS2BF16 as they are copied or transposed, and the rounding of single values with
// VCVTNEPS2BF16. Compiled into the AVX3 target's copy of kernels/gemm.cc only, as intrinsics in
// functions with the extra target attribute avx512bf16 (Highway 1.0.3's DemoteTo to bf16
// truncates); they run only on a CPU with AVX512_BF16 (src/runtime/target.cc).

#if defined(PROPEL_KERNELS_GEMM_PACK_PAIRS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_GEMM_PACK_PAIRS_INL_H_
#undef PROPEL_KERNELS_GEMM_PACK_PAIRS_INL_H_
#else
#define PROPEL_KERNELS_GEMM_PACK_PAIRS_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hwy/highway.h"
#include "kernels/gemm_pack-inl.h"     // PackGather: the fp32 transposes of the gathered layouts
#include "kernels/gemm_ukernel-inl.h"  // the tile width kNR

#undef PROPEL_HAVE_BF16_PAIRS  // defined per target: this header is included once per target
#if (HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL) && \
    (HWY_COMPILER_GCC_ACTUAL >= 1000 || HWY_COMPILER_CLANG >= 900)
#define PROPEL_HAVE_BF16_PAIRS 1
#include <immintrin.h>

// The target's instruction sets plus AVX512_BF16: for the functions that use its instructions.
#undef PROPEL_ATTR_BF16_DOT
#define PROPEL_ATTR_BF16_DOT __attribute__((target(HWY_TARGET_STR ",avx512bf16")))

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// 32-bit pair words in the panels' float slots.
HWY_INLINE uint32_t LoadWord(const float* p) {
  uint32_t w;
  memcpy(&w, p, sizeof(w));
  return w;
}

// Masks of the first n (0..16) 32-bit lanes.
HWY_INLINE __mmask16 FirstLanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : static_cast<__mmask16>((1u << static_cast<unsigned>(n < 0 ? 0 : n)) - 1u);
}

// W words of pairs at dst: word j = bf16(even[j]) | bf16(odd[j]) << 16 for j < cols, 0 for
// cols <= j < W; odd == nullptr pairs each even value with zero (an odd kc's last depth).
// VCVTNE2PS2BF16 rounds (to nearest even, denormals to zero, NaN quieted: kernels/bf16-inl.h)
// and VPERMW interleaves the two halves it writes.
template <size_t W>
PROPEL_ATTR_BF16_DOT HWY_INLINE void PairRow(int64_t cols, const float* HWY_RESTRICT even,
                                             const float* HWY_RESTRICT odd,
                                             float* HWY_RESTRICT dst) {
  // Word j takes bf16 j (even[j], the lower half VCVTNE2PS2BF16 writes) and 16 + j (odd[j]).
  alignas(64) static constexpr uint16_t kInterleave[32] = {
      0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i interleave = _mm512_load_si512(kInterleave);
  for (size_t c = 0; c < W; c += 16) {
    const __mmask16 in = FirstLanes(cols - static_cast<int64_t>(c));
    const __m512 e = _mm512_maskz_loadu_ps(in, even + c);
    const __m512 o = odd != nullptr ? _mm512_maskz_loadu_ps(in, odd + c) : _mm512_setzero_ps();
    const __m512i halves = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(o, e));
    const __m512i words = _mm512_permutexvar_epi16(interleave, halves);
    if constexpr (W % 16 == 0) {
      _mm512_storeu_si512(dst + c, words);
    } else {
      _mm512_mask_storeu_epi32(dst + c, FirstLanes(static_cast<int64_t>(W - c)), words);
    }
  }
}

// The copied layouts (A transposed, B not): depth p of column j at src[p * ld + j], `total`
// columns into ceil(total / W) panels of W columns, each kd * W words (kd >= ceil(kc / 2): the
// pairs past kc zero). Four pairs (eight source rows, as the fp32 packing's row groups) per visit
// of a panel.
template <size_t W>
PROPEL_ATTR_BF16_DOT void PackPairsCopy(int64_t total, int64_t kc, const float* HWY_RESTRICT src,
                                        int64_t ld, float* HWY_RESTRICT dst, int64_t kd) {
  constexpr int64_t kGroup = 4;
  const int64_t w = static_cast<int64_t>(W);
  const int64_t kq = (kc + 1) / 2;
  const int64_t panels = (total + w - 1) / w;
  if (kd > kq) {
    for (int64_t jp = 0; jp < panels; ++jp) {
      memset(dst + jp * w * kd + kq * w, 0, static_cast<size_t>((kd - kq) * w) * sizeof(float));
    }
  }
  for (int64_t q0 = 0; q0 < kq; q0 += kGroup) {
    const int64_t q1 = HWY_MIN(q0 + kGroup, kq);
    for (int64_t jp = 0; jp < panels; ++jp) {
      const int64_t cols = HWY_MIN(w, total - jp * w);
      float* panel = dst + jp * w * kd;
      for (int64_t q = q0; q < q1; ++q) {
        const float* even = src + 2 * q * ld + jp * w;
        PairRow<W>(cols, even, 2 * q + 1 < kc ? even + ld : nullptr, panel + q * w);
      }
    }
  }
}

// The gathered layouts (A not transposed, B transposed): depth p of row r at src[r * ld + p],
// `total` rows into panels of W, kd words deep as PackPairsCopy. Each panel is gathered kChunk
// depths at a time into a k-major fp32 block in L1 by the fp32 packing's register transposes,
// whose row pairs are then converted.
template <size_t W>
PROPEL_ATTR_BF16_DOT void PackPairsGather(int64_t total, int64_t kc, const float* HWY_RESTRICT src,
                                          int64_t ld, float* HWY_RESTRICT dst, int64_t kd) {
  constexpr int64_t kChunk = 16;  // even: whole pairs per chunk
  const int64_t w = static_cast<int64_t>(W);
  const int64_t kq = (kc + 1) / 2;
  alignas(64) float block[kChunk * W];
  for (int64_t i = 0; i < total; i += w) {
    const int64_t rows = HWY_MIN(w, total - i);
    float* panel = dst + i * kd;
    if (kd > kq) memset(panel + kq * w, 0, static_cast<size_t>((kd - kq) * w) * sizeof(float));
    for (int64_t p0 = 0; p0 < kc; p0 += kChunk) {
      const int64_t depths = HWY_MIN(kChunk, kc - p0);
      PackGather<W, false>(rows, depths, src + i * ld + p0, ld, block);
      for (int64_t p = 0; p < depths; p += 2) {
        const float* even = block + p * w;
        PairRow<W>(w, even, p + 1 < depths ? even + w : nullptr, panel + (p0 + p) / 2 * w);
      }
    }
  }
}

// A in panels of W rows (the blocked path's kMR, or a row kernel's rows).
template <size_t W>
void PackAPairs(bool trans, int64_t mc, int64_t kc, const float* a, int64_t lda, float* dst) {
  if (trans) {
    PackPairsCopy<W>(mc, kc, a, lda, dst, (kc + 1) / 2);
  } else {
    PackPairsGather<W>(mc, kc, a, lda, dst, (kc + 1) / 2);
  }
}

void PackBPairs(bool trans, int64_t kc, int64_t nc, const float* b, int64_t ldb, float* dst) {
  if (trans) {
    PackPairsGather<kNR>(nc, kc, b, ldb, dst, (kc + 1) / 2);
  } else {
    PackPairsCopy<kNR>(nc, kc, b, ldb, dst, (kc + 1) / 2);
  }
}

// Rounds with VCVTNEPS2BF16 (the conversion the packing applies) and widens back to binary32.
PROPEL_ATTR_BF16_DOT void RoundBf16Cvt(int64_t n, const float* src, float* dst) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = FirstLanes(n - i);
    const __m256i h =
        reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i)));
    const __m512i wide = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_castsi512_ps(wide));
  }
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // AVX3 with a compiler that has AVX512_BF16
#endif  // include guard
