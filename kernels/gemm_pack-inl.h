// GEMM packing: copies blocks of op(A) and op(B) into the contiguous micro-panels the micro-kernel
// streams (layouts in kernels/gemm.h). The transposes of backprop are absorbed here: the "N"
// layout of A and the "T" layout of B are gathers, done as 4 x 4 register transposes. The emulated
// bf16 engine's packing is the same code with kBf16: each pair of depths written in dot-product
// order (pair order), each piece rounded to bf16 while it is in L1.

#if defined(PROPEL_KERNELS_GEMM_PACK_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_GEMM_PACK_INL_H_
#undef PROPEL_KERNELS_GEMM_PACK_INL_H_
#else
#define PROPEL_KERNELS_GEMM_PACK_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hwy/highway.h"
#include "kernels/bf16-inl.h"
#include "kernels/gemm_ukernel-inl.h"  // kMR, kNR: the tile the panels feed

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Pair order (the emulated bf16 engine, kBf16): depth p of a k block lands at the other depth of
// its pair (2q <-> 2q + 1, counted from the block's start), so that a micro-kernel streaming the
// panel adds, for every element, the pair's second product before its first: the order VDPBF16PS
// accumulates a pair in (Intel SDM). An odd kc's last depth stays, as a pair whose second half
// is zero would.

// Transposes the 4 x 4 block whose rows start at src + r * ld_src (r < 4) into
// dst + c * ld_dst (c < 4): dst[c][r] = src[r][c]. kBf16: the destination rows in pair order,
// dst[c ^ 1][r] (the block starts at an even depth).
template <bool kBf16>
HWY_INLINE void Transpose4x4(const float* HWY_RESTRICT src, int64_t ld_src, float* HWY_RESTRICT dst,
                             int64_t ld_dst) {
  constexpr int kSwap = kBf16 ? 1 : 0;
#if HWY_TARGET == HWY_SCALAR
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) dst[(c ^ kSwap) * ld_dst + r] = src[r * ld_src + c];
  }
#else
  const hn::Full128<float> d4;
  const auto r0 = hn::LoadU(d4, src);
  const auto r1 = hn::LoadU(d4, src + ld_src);
  const auto r2 = hn::LoadU(d4, src + 2 * ld_src);
  const auto r3 = hn::LoadU(d4, src + 3 * ld_src);
  const auto t0 = hn::InterleaveLower(d4, r0, r1);  // r0_0 r1_0 r0_1 r1_1
  const auto t1 = hn::InterleaveLower(d4, r2, r3);  // r2_0 r3_0 r2_1 r3_1
  const auto t2 = hn::InterleaveUpper(d4, r0, r1);  // r0_2 r1_2 r0_3 r1_3
  const auto t3 = hn::InterleaveUpper(d4, r2, r3);  // r2_2 r3_2 r2_3 r3_3
  hn::StoreU(hn::ConcatLowerLower(d4, t1, t0), d4, dst + (0 ^ kSwap) * ld_dst);
  hn::StoreU(hn::ConcatUpperUpper(d4, t1, t0), d4, dst + (1 ^ kSwap) * ld_dst);
  hn::StoreU(hn::ConcatLowerLower(d4, t3, t2), d4, dst + (2 ^ kSwap) * ld_dst);
  hn::StoreU(hn::ConcatUpperUpper(d4, t3, t2), d4, dst + (3 ^ kSwap) * ld_dst);
#endif
}

#undef PROPEL_HAVE_TRANSPOSE8  // defined per target: this header is included once per target
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define PROPEL_HAVE_TRANSPOSE8 1
// 8 x 8 transpose, dst[c][r] = src[r][c]. The cross-half step is done by the loads (rows r and
// r + 4 share a register, one per 128-bit half: vinsertf128 from memory uses a load port), which
// leaves 16 in-lane shuffles per 64 floats where a 4 x 4-based transpose needs 32. kBf16: the
// destination rows in pair order, as Transpose4x4.
template <bool kBf16>
HWY_INLINE void Transpose8x8(const float* HWY_RESTRICT src, int64_t ld_src, float* HWY_RESTRICT dst,
                             int64_t ld_dst) {
  constexpr int kSwap = kBf16 ? 1 : 0;
  const hn::Full256<float> d8;
  const hn::Full128<float> d4;
  const hn::Full256<double> dd;
  for (int half = 0; half < 2; ++half) {
    const float* s = src + 4 * half;
    const auto x0 = hn::Combine(d8, hn::LoadU(d4, s + 4 * ld_src), hn::LoadU(d4, s));
    const auto x1 = hn::Combine(d8, hn::LoadU(d4, s + 5 * ld_src), hn::LoadU(d4, s + ld_src));
    const auto x2 = hn::Combine(d8, hn::LoadU(d4, s + 6 * ld_src), hn::LoadU(d4, s + 2 * ld_src));
    const auto x3 = hn::Combine(d8, hn::LoadU(d4, s + 7 * ld_src), hn::LoadU(d4, s + 3 * ld_src));
    const auto t0 = hn::BitCast(dd, hn::InterleaveLower(d8, x0, x1));
    const auto t1 = hn::BitCast(dd, hn::InterleaveLower(d8, x2, x3));
    const auto t2 = hn::BitCast(dd, hn::InterleaveUpper(d8, x0, x1));
    const auto t3 = hn::BitCast(dd, hn::InterleaveUpper(d8, x2, x3));
    float* o = dst + 4 * half * ld_dst;
    hn::StoreU(hn::BitCast(d8, hn::InterleaveLower(dd, t0, t1)), d8, o + (0 ^ kSwap) * ld_dst);
    hn::StoreU(hn::BitCast(d8, hn::InterleaveUpper(dd, t0, t1)), d8, o + (1 ^ kSwap) * ld_dst);
    hn::StoreU(hn::BitCast(d8, hn::InterleaveLower(dd, t2, t3)), d8, o + (2 ^ kSwap) * ld_dst);
    hn::StoreU(hn::BitCast(d8, hn::InterleaveUpper(dd, t2, t3)), d8, o + (3 ^ kSwap) * ld_dst);
  }
}
#endif

// Gathers a panel of `width` (<= 4-aligned panel width W) strided vectors into a k-major panel:
// dst[p * W + r] = src[r * ld + p] for r < rows, p < kc; rows in [rows, W) are zero (kBf16: in
// pair order, and the panel rounded to bf16 once it is written, while it is in L1).
// Rows [r, r + G) of a gathered panel: G x G register transposes along k (G is even, so every
// transposed block holds whole pairs), then the k tail; single rows (G = 1) element by element.
template <size_t W, int64_t G, bool kBf16, class Transpose>
HWY_INLINE void GatherRows(int64_t r, int64_t kc, const float* HWY_RESTRICT src, int64_t ld,
                           float* HWY_RESTRICT dst, const Transpose& transpose) {
  const int64_t w = static_cast<int64_t>(W);
  int64_t p = 0;
  if constexpr (G > 1) {
    for (; p + G <= kc; p += G) transpose(src + r * ld + p, ld, dst + p * w + r, w);
  }
  if constexpr (kBf16) {  // whole pairs of depths, each depth at the other's place (pair order)
    for (; p + 2 <= kc; p += 2) {
      for (int64_t rr = r; rr < r + G; ++rr) {
        dst[(p + 1) * w + rr] = src[rr * ld + p];
        dst[p * w + rr] = src[rr * ld + p + 1];
      }
    }
  }
  for (; p < kc; ++p) {  // fp32; bf16: an odd kc's last depth, which stays
    for (int64_t rr = r; rr < r + G; ++rr) dst[p * w + rr] = src[rr * ld + p];
  }
}

template <size_t W, bool kBf16>
HWY_INLINE void PackGather(int64_t rows, int64_t kc, const float* HWY_RESTRICT src, int64_t ld,
                           float* HWY_RESTRICT dst) {
  int64_t r = 0;
#ifdef PROPEL_HAVE_TRANSPOSE8
  for (; r + 8 <= rows; r += 8) GatherRows<W, 8, kBf16>(r, kc, src, ld, dst, Transpose8x8<kBf16>);
#endif
  for (; r + 4 <= rows; r += 4) GatherRows<W, 4, kBf16>(r, kc, src, ld, dst, Transpose4x4<kBf16>);
  for (; r < rows; ++r) GatherRows<W, 1, kBf16>(r, kc, src, ld, dst, nullptr);
  if (rows < static_cast<int64_t>(W)) {
    for (int64_t p = 0; p < kc; ++p) {
      memset(dst + p * static_cast<int64_t>(W) + rows, 0, (W - rows) * sizeof(float));
    }
  }
  // Full vectors over the contiguous panel: the transposes' narrower registers and the single
  // rows' scalars would round the same values at several times the instructions.
  if constexpr (kBf16) RoundBf16Array(kc * static_cast<int64_t>(W), dst, dst);
}

// One depth of a panel: `cols` floats from `in`, the rest of the W zero.
template <size_t W>
HWY_INLINE void CopyRow(int64_t cols, const float* HWY_RESTRICT in, float* HWY_RESTRICT row) {
  if (cols == static_cast<int64_t>(W)) {
    memcpy(row, in, W * sizeof(float));  // a constant size: inlined vector moves
  } else {
    memcpy(row, in, static_cast<size_t>(cols) * sizeof(float));
    memset(row + cols, 0, (W - static_cast<size_t>(cols)) * sizeof(float));
  }
}

// Depths [p0, p0 + rows) of one panel of PackCopyRows: `cols` source floats per depth at `in`
// (the first of them), into the panel at `panel`.
template <size_t W, bool kBf16>
HWY_INLINE void CopyRowGroup(int64_t p0, int64_t rows, int64_t cols, const float* HWY_RESTRICT in,
                             int64_t ld, float* HWY_RESTRICT panel) {
  const int64_t w = static_cast<int64_t>(W);
  float* HWY_RESTRICT out = panel + p0 * w;
  int64_t r = 0;
  if constexpr (kBf16) {  // whole pairs of depths, each depth at the other's place (pair order)
    for (; r + 2 <= rows; r += 2) {
      CopyRow<W>(cols, in + r * ld, out + (r + 1) * w);
      CopyRow<W>(cols, in + (r + 1) * ld, out + r * w);
    }
  }
  for (; r < rows; ++r) CopyRow<W>(cols, in + r * ld, out + r * w);  // bf16: an odd kc's last
  // The group's rows are contiguous and in L1: rounded in one vector pass.
  if constexpr (kBf16) RoundBf16Array(rows * w, out, out);
}

// Copies `total` contiguous floats per k into ceil(total / W) k-major panels:
// dst[(j / W) * W * kc + p * W + j % W] = src[p * ld + j]; columns past `total` in the last panel
// are zero (kBf16: the values rounded, in pair order). Goes through the source kRowGroup
// rows at a time, panel by panel: every source row is read sequentially (the hardware prefetcher
// follows kRowGroup streams) and every panel receives kRowGroup * W contiguous floats per visit,
// rounded while they are in L1. Row by row, each k would scatter W floats into every panel, one
// page apart (1.25 cycles per float for W = 8, against 0.67 grouped); panel by panel, each k would
// read W floats per source row at a stride of ld, a page per access.
template <size_t W, bool kBf16>
HWY_INLINE void PackCopyRows(int64_t total, int64_t kc, const float* HWY_RESTRICT src, int64_t ld,
                             float* HWY_RESTRICT dst) {
  constexpr int64_t kRowGroup = 8;  // even: a group holds whole pairs of depths
  const int64_t w = static_cast<int64_t>(W);
  const int64_t full = total / w;
  const int64_t rest = total - full * w;
  for (int64_t p0 = 0; p0 < kc; p0 += kRowGroup) {
    const int64_t rows = HWY_MIN(kRowGroup, kc - p0);
    for (int64_t jp = 0; jp < full; ++jp) {
      CopyRowGroup<W, kBf16>(p0, rows, w, src + p0 * ld + jp * w, ld, dst + jp * w * kc);
    }
    if (rest != 0) {
      CopyRowGroup<W, kBf16>(p0, rows, rest, src + p0 * ld + full * w, ld, dst + full * w * kc);
    }
  }
}

// A in panels of W rows: kMR for the blocked path, fewer for the row kernels (pack_a_rows).
template <size_t W, bool kBf16>
void PackAPanels(bool trans, int64_t mc, int64_t kc, const float* a, int64_t lda, float* dst) {
  if (trans) {
    PackCopyRows<W, kBf16>(mc, kc, a, lda, dst);
    return;
  }
  for (int64_t i = 0; i < mc; i += static_cast<int64_t>(W)) {
    const int64_t rows = HWY_MIN(static_cast<int64_t>(W), mc - i);
    PackGather<W, kBf16>(rows, kc, a + i * lda, lda, dst + i * kc);
  }
}

template <bool kBf16>
void PackAT(bool trans, int64_t mc, int64_t kc, const float* a, int64_t lda, float* dst) {
  PackAPanels<kMR, kBf16>(trans, mc, kc, a, lda, dst);
}

template <bool kBf16>
void PackBT(bool trans, int64_t kc, int64_t nc, const float* b, int64_t ldb, float* dst) {
  if (!trans) {
    PackCopyRows<kNR, kBf16>(nc, kc, b, ldb, dst);
    return;
  }
  for (int64_t j = 0; j < nc; j += static_cast<int64_t>(kNR)) {
    const int64_t cols = HWY_MIN(static_cast<int64_t>(kNR), nc - j);
    PackGather<kNR, kBf16>(cols, kc, b + j * ldb, ldb, dst + j * kc);
  }
}

// The fp32 engine's packing, and the emulated bf16 engine's: the same panels, every value rounded
// to bf16 and each pair of depths in dot-product order (pair order).
void PackA(bool trans, int64_t mc, int64_t kc, const float* a, int64_t lda, float* dst) {
  PackAT<false>(trans, mc, kc, a, lda, dst);
}
void PackB(bool trans, int64_t kc, int64_t nc, const float* b, int64_t ldb, float* dst) {
  PackBT<false>(trans, kc, nc, b, ldb, dst);
}
void PackABf16(bool trans, int64_t mc, int64_t kc, const float* a, int64_t lda, float* dst) {
  PackAT<true>(trans, mc, kc, a, lda, dst);
}
void PackBBf16(bool trans, int64_t kc, int64_t nc, const float* b, int64_t ldb, float* dst) {
  PackBT<true>(trans, kc, nc, b, ldb, dst);
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
