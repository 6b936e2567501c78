// GEMM thin path for C = alpha * A * B^T + beta * C with few rows or few columns (a forward
// pass into a 10-class output layer; single-row inference). Both operands are read in place,
// contiguous along k: each C element is a dot product of a row of A and a row of B, held as a
// vector of partial sums over k and reduced once at the end. No packing, no padding waste where
// a full MR x NR tile would be mostly empty.
//
// Tile: 4 rows of A x 5 rows of B = 20 accumulators, 9 loads per 20 FMAs. Per C element the
// order of operations depends only on k and the target, never on the tile or thread split; the
// order follows the vector width, so portable mode never takes this path, and its multiply-adds
// are Highway's MulAdd (fused on the FMA targets, the fast unfused pair on SCALAR).

#if defined(PROPEL_KERNELS_GEMM_THIN_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_GEMM_THIN_INL_H_
#undef PROPEL_KERNELS_GEMM_THIN_INL_H_
#else
#define PROPEL_KERNELS_GEMM_THIN_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hwy/highway.h"
#include "kernels/bf16-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t kThinRows = 4;
constexpr int64_t kThinCols = 5;

// C(R x Cn block) = alpha * dots (+ beta * C). kBf16: every operand is rounded to bf16 as it is
// loaded (the bf16 engines' thin path).
template <int64_t R, int64_t Cn, bool kBf16>
HWY_INLINE void ThinTile(int64_t k, const float* HWY_RESTRICT a, int64_t lda,
                         const float* HWY_RESTRICT b, int64_t ldb, float alpha, float beta,
                         float* HWY_RESTRICT c, int64_t ldc) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  V acc[R][Cn];
  for (int64_t r = 0; r < R; ++r) {
    for (int64_t j = 0; j < Cn; ++j) acc[r][j] = hn::Zero(d);
  }
  const auto load = [d](const float* from) {
    const V v = hn::LoadU(d, from);
    if constexpr (kBf16) {
      return RoundBf16(d, v);
    } else {
      return v;
    }
  };
  int64_t p = 0;
  for (; p + N <= k; p += N) {
    V av[R];
    for (int64_t r = 0; r < R; ++r) av[r] = load(a + r * lda + p);
    for (int64_t j = 0; j < Cn; ++j) {
      const V bv = load(b + j * ldb + p);
      for (int64_t r = 0; r < R; ++r) acc[r][j] = hn::MulAdd(av[r], bv, acc[r][j]);
    }
  }
  if (p < k) {
    // The k tail goes through zero-padded copies: a masked load may read the whole vector on
    // targets without masked loads, past the end of the operand.
    const size_t tail = static_cast<size_t>(k - p);
    HWY_ALIGN float buf[(R + Cn) * hn::MaxLanes(d)] = {};
    float* HWY_RESTRICT ab = buf;
    float* HWY_RESTRICT bb = buf + R * N;
    for (int64_t r = 0; r < R; ++r) memcpy(ab + r * N, a + r * lda + p, tail * sizeof(float));
    for (int64_t j = 0; j < Cn; ++j) memcpy(bb + j * N, b + j * ldb + p, tail * sizeof(float));
    V av[R];
    for (int64_t r = 0; r < R; ++r) av[r] = load(ab + r * N);
    for (int64_t j = 0; j < Cn; ++j) {
      const V bv = load(bb + j * N);
      for (int64_t r = 0; r < R; ++r) acc[r][j] = hn::MulAdd(av[r], bv, acc[r][j]);
    }
  }
  for (int64_t r = 0; r < R; ++r) {
    for (int64_t j = 0; j < Cn; ++j) {
      const float sum = hn::GetLane(hn::SumOfLanes(d, acc[r][j]));
      float* out = c + r * ldc + j;
      // Same rounding steps as the micro-kernel epilogue: alpha * sum, then one fused beta * C.
      const float scaled = alpha * sum;
      *out = beta != 0.0f
                 ? hn::GetLane(hn::MulAdd(hn::Set(d, beta), hn::Set(d, *out), hn::Set(d, scaled)))
                 : scaled;
    }
  }
}

// C = alpha * A * B^T + beta * C over m x n (beta == 0: C is not read). A: m x k, row stride
// lda; B: n x k, row stride ldb.
template <bool kBf16>
void ThinNTImpl(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  int64_t i = 0;
  for (; i + kThinRows <= m; i += kThinRows) {
    int64_t j = 0;
    for (; j + kThinCols <= n; j += kThinCols) {
      ThinTile<kThinRows, kThinCols, kBf16>(k, a + i * lda, lda, b + j * ldb, ldb, alpha, beta,
                                            c + i * ldc + j, ldc);
    }
    for (; j < n; ++j) {
      ThinTile<kThinRows, 1, kBf16>(k, a + i * lda, lda, b + j * ldb, ldb, alpha, beta,
                                    c + i * ldc + j, ldc);
    }
  }
  for (; i < m; ++i) {
    int64_t j = 0;
    for (; j + kThinCols <= n; j += kThinCols) {
      ThinTile<1, kThinCols, kBf16>(k, a + i * lda, lda, b + j * ldb, ldb, alpha, beta,
                                    c + i * ldc + j, ldc);
    }
    for (; j < n; ++j) {
      ThinTile<1, 1, kBf16>(k, a + i * lda, lda, b + j * ldb, ldb, alpha, beta, c + i * ldc + j,
                            ldc);
    }
  }
}

void ThinNT(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  ThinNTImpl<false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void ThinNTBf16(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  ThinNTImpl<true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
