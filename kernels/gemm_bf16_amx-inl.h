// The bf16 GEMM kernels on AMX-BF16 tiles: a 32 x 32 micro-kernel on TDPBF16PS, the packing of
// its panels (VCVTNE2PS2BF16 as it copies), the tile configuration the driver loads around a
// thread's block, and the TDPBF16PS peak probe. Compiled into the AVX3 target's copy of
// kernels/gemm.cc only, in functions with the extra target attributes avx512bf16, amx-tile and
// amx-bf16; they run only where the CPU has AMX-BF16 and AVX512_BF16 and Linux granted the process
// the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM): the target layer checks both
// (src/runtime/target.cc, target AVX3_AMX).
//
// What TDPBF16PS computes: the Intel SDM's pseudo-code adds, for each row m and column n of the
// fp32 C tile and each pair k in order, a(m, 2k+1) b(k, 2n+1), then a(m, 2k) b(k, 2n), each
// addition rounded to binary32 (denormals flushed): VDPBF16PS's order. The CPU measured does not
// (docs/precision.md): its sums look like a tile step's products grouped before they are added,
// so AMX results differ from the other bf16 engines' in the last bits, within the same bound.
// The panels pad k with zero pairs to whole 32-depth tile steps.
//
// Tiles (palette 1, all 16 rows x 64 bytes): tmm0-3 the 2 x 2 C tiles of a 32 x 32 block, tmm4-5
// the two 16-row A tiles, tmm6-7 the two 16-column B tiles of a 32-depth step: 4 TDPBF16PS
// (4 x 8192 multiply-adds) per 4 KiB of tile loads.
//
// Panels (kernels/gemm.h, amx layout), kd = PanelDepth(kc) = ceil(kc/2) rounded up to 16 words:
//   A~: 32 rows, row r its kd pair words contiguous (the layout of an A tile, row stride kd words);
//   B~: for q in [0, kd): 32 pair words, as VDPBF16PS's B~ (a B tile: 16 of them, stride 32 words).

#if defined(PROPEL_KERNELS_GEMM_BF16_AMX_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_GEMM_BF16_AMX_INL_H_
#undef PROPEL_KERNELS_GEMM_BF16_AMX_INL_H_
#else
#define PROPEL_KERNELS_GEMM_BF16_AMX_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hwy/highway.h"
#include "kernels/gemm_pack-inl.h"        // Transpose8x8
#include "kernels/gemm_pack_pairs-inl.h"  // PairRow, PackPairsCopy/Gather, FirstLanes
#include "kernels/gemm_ukernel-inl.h"     // the epilogue

#undef PROPEL_HAVE_BF16_AMX  // defined per target: this header is included once per target
#if defined(PROPEL_HAVE_BF16_PAIRS) && HWY_ARCH_X86_64 && \
    (HWY_COMPILER_GCC_ACTUAL >= 1100 || HWY_COMPILER_CLANG >= 1200)
#define PROPEL_HAVE_BF16_AMX 1

#undef PROPEL_ATTR_BF16_AMX
#define PROPEL_ATTR_BF16_AMX __attribute__((target(HWY_TARGET_STR ",avx512bf16,amx-tile,amx-bf16")))

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t kAmxRows = 32;       // MR
constexpr int64_t kAmxCols = 32;       // NR
constexpr int64_t kAmxStepPairs = 16;  // pairs (32 depths) per tile step

// The LDTILECFG operand: palette 1, eight tiles of 16 rows x 64 bytes. A constant object: GCC's
// _tile_loadconfig tells the compiler it reads only the first bytes of its operand, so a
// configuration built on the stack could lose its stores.
struct alignas(64) AmxTileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
};
alignas(64) inline constexpr AmxTileConfig kAmxConfig = {
    1, 0, {}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

// The driver's hooks around a thread's block of micro-kernel calls (GemmEngine::tile_begin /
// tile_end).
PROPEL_ATTR_BF16_AMX void AmxBegin() { _tile_loadconfig(&kAmxConfig); }
PROPEL_ATTR_BF16_AMX void AmxEnd() { _tile_release(); }

HWY_INLINE int64_t AmxDepth(int64_t kc) {
  return ((kc + 1) / 2 + kAmxStepPairs - 1) / kAmxStepPairs * kAmxStepPairs;
}

// A not transposed: row r of A~ is row r of A converted in order (its pairs are adjacent in
// memory), zero past kc and past the rows of the matrix.
PROPEL_ATTR_BF16_AMX HWY_INLINE void AmxRowsFromRows(int64_t rows, int64_t kc,
                                                     const float* HWY_RESTRICT src, int64_t ld,
                                                     int64_t kd, float* HWY_RESTRICT panel) {
  for (int64_t r = 0; r < kAmxRows; ++r) {
    float* out = panel + r * kd;
    if (r >= rows) {
      memset(out, 0, static_cast<size_t>(kd) * sizeof(float));
      continue;
    }
    const float* in = src + r * ld;
    for (int64_t q = 0; q < kd; q += 16) {  // 16 words = 32 depths
      const int64_t p = 2 * q;
      const __m512 lo = _mm512_maskz_loadu_ps(FirstLanes(kc - p), in + p);
      const __m512 hi = _mm512_maskz_loadu_ps(FirstLanes(kc - p - 16), in + p + 16);
      _mm512_storeu_si512(out + q, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
    }
  }
}

// A transposed (A(i, p) at src[p * ld + i]): the pairs of 32 rows, 16 at a time, as the k-major
// words VDPBF16PS's packing writes, then 8 x 8 word transposes into the rows of A~.
PROPEL_ATTR_BF16_AMX HWY_INLINE void AmxRowsFromColumns(int64_t rows, int64_t kc,
                                                        const float* HWY_RESTRICT src, int64_t ld,
                                                        int64_t kd, float* HWY_RESTRICT panel) {
  alignas(64) float block[kAmxStepPairs * kAmxRows];
  const int64_t kq = (kc + 1) / 2;
  for (int64_t q0 = 0; q0 < kd; q0 += kAmxStepPairs) {
    for (int64_t q = 0; q < kAmxStepPairs; ++q) {
      float* words = block + q * kAmxRows;
      if (q0 + q >= kq) {
        memset(words, 0, kAmxRows * sizeof(float));
        continue;
      }
      const float* even = src + 2 * (q0 + q) * ld;
      PairRow<kAmxRows>(rows, even, 2 * (q0 + q) + 1 < kc ? even + ld : nullptr, words);
    }
    for (int64_t qb = 0; qb < kAmxStepPairs; qb += 8) {
      for (int64_t rb = 0; rb < kAmxRows; rb += 8) {
        Transpose8x8<false>(block + qb * kAmxRows + rb, kAmxRows, panel + rb * kd + q0 + qb, kd);
      }
    }
  }
}

PROPEL_ATTR_BF16_AMX void PackAAmx(bool trans, int64_t mc, int64_t kc, const float* a, int64_t lda,
                                   float* dst) {
  const int64_t kd = AmxDepth(kc);
  for (int64_t i = 0; i < mc; i += kAmxRows) {
    const int64_t rows = HWY_MIN(kAmxRows, mc - i);
    float* panel = dst + i * kd;
    if (trans) {
      AmxRowsFromColumns(rows, kc, a + i, lda, kd, panel);
    } else {
      AmxRowsFromRows(rows, kc, a + i * lda, lda, kd, panel);
    }
  }
}

PROPEL_ATTR_BF16_AMX void PackBAmx(bool trans, int64_t kc, int64_t nc, const float* b, int64_t ldb,
                                   float* dst) {
  const int64_t kd = AmxDepth(kc);
  if (trans) {
    PackPairsGather<kAmxCols>(nc, kc, b, ldb, dst, kd);
  } else {
    PackPairsCopy<kAmxCols>(nc, kc, b, ldb, dst, kd);
  }
}

// The 32 x 32 block: TDPBF16PS over the tile steps into tmm0-3, stored to a scratch tile in L1,
// then the fp32 kernels' epilogue row by row.
template <bool kReadC, bool kRelu>
PROPEL_ATTR_BF16_AMX HWY_INLINE void UkernelAmxImpl(int64_t kc, const float* HWY_RESTRICT a,
                                                    const float* HWY_RESTRICT b,
                                                    float* HWY_RESTRICT c, int64_t ldc,
                                                    const UkernelParams& params) {
  PrefetchTile<kAmxRows, kAmxCols / kLanes>(c, ldc);
  const int64_t kd = AmxDepth(kc);
  const int64_t a_stride = kd * static_cast<int64_t>(sizeof(float));
  constexpr int64_t kBStride = kAmxCols * sizeof(float);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const float* a_low = a;
  const float* a_high = a + 16 * kd;
  for (int64_t q = 0; q < kd; q += kAmxStepPairs) {
    _tile_loadd(4, a_low + q, a_stride);
    _tile_loadd(5, a_high + q, a_stride);
    _tile_loadd(6, b + q * kAmxCols, kBStride);
    _tile_loadd(7, b + q * kAmxCols + 16, kBStride);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float acc[kAmxRows * kAmxCols];
  _tile_stored(0, acc, kBStride);
  _tile_stored(1, acc + 16, kBStride);
  _tile_stored(2, acc + 16 * kAmxCols, kBStride);
  _tile_stored(3, acc + 16 * kAmxCols + 16, kBStride);
  const DF d;
  for (int64_t r = 0; r < kAmxRows; ++r) {
    const hn::Vec<DF> row[1][2] = {
        {hn::Load(d, acc + r * kAmxCols), hn::Load(d, acc + r * kAmxCols + kLanes)}};
    EpilogueStore<1, 2, kReadC, kRelu>(row, c + r * ldc, ldc, params);
  }
}

// The 32 x 32 AMX block (UkernelFor picks the variant).
struct AmxTile {
  template <bool kReadC, bool kRelu>
  PROPEL_ATTR_BF16_AMX static void Run(int64_t kc, const float* a, const float* b, float* c,
                                       int64_t ldc, const UkernelParams& params) {
    UkernelAmxImpl<kReadC, kRelu>(kc, a, b, c, ldc, params);
  }
};

// TDPBF16PS on four independent C tiles from A and B tiles loaded once.
PROPEL_ATTR_BF16_AMX float AmxPeak(int64_t iters) {
  struct Ones {  // pairs of bf16 1.0: sums grow by 32 per instruction, far from overflow
    uint32_t w[256];
    constexpr Ones() : w() {
      for (uint32_t& x : w) x = 0x3F803F80u;
    }
  };
  alignas(64) static constexpr Ones kOnes{};
  alignas(64) float out[256];
  _tile_loadconfig(&kAmxConfig);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, kOnes.w, 64);
  _tile_loadd(5, kOnes.w, 64);
  _tile_loadd(6, kOnes.w, 64);
  _tile_loadd(7, kOnes.w, 64);
  for (int64_t it = 0; it < iters; ++it) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, 64);
  _tile_release();
  return out[0];
}

constexpr int64_t kAmxPeakMacsPerIter = 4 * 16 * 16 * 32;

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PROPEL_HAVE_BF16_AMX
#endif  // include guard
