// Reductions: column sums (the bias gradient), sum of squares (gradient norms), and the
// fixed-order sum of K equally shaped buffers (the shard-gradient reduction).
// Contracts: kernels/elementwise.h.
//
// Accuracy: column sums and the K-buffer sum are exact functions of their order: bit-identical
// to a scalar loop adding in the same order (rows 0..rows-1; the pairwise tree of ReduceSum) on
// every target, which is what makes the step reproducible. The sum of squares (float blocks in
// fixed lanes, added in double) is within 1e-6 relative of the double sum
// (tests/src/elementwise_test.cc) and also the same on every target.

#if defined(PROPEL_KERNELS_REDUCE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_REDUCE_INL_H_
#undef PROPEL_KERNELS_REDUCE_INL_H_
#else
#define PROPEL_KERNELS_REDUCE_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hwy/highway.h"
#include "kernels/elementwise.h"
#include "kernels/fma-inl.h"
#include "kernels/lane_sums-inl.h"
#include "kernels/map-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// out[j] = (accumulate ? out[j] : 0) + x(0, j) + x(1, j) + ..., added left to right: the same
// additions in the same order on every target, so the result is identical across targets.
void ColumnSums(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* out,
                bool accumulate) {
  if (!accumulate) memset(out, 0, static_cast<size_t>(cols) * sizeof(float));
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = x + i * ldx;
    Map2(cols, out, row, out, [](VF acc, VF v) HWY_ATTR { return hn::Add(acc, v); });
  }
}

// sum x_i^2: blocks of kSumBlock floats, each in the 32 lanes of LaneSums (element i in lane
// i % 32: two AVX-512 or four AVX2 vectors of independent chains), block sums added in double.
// The same order on every target.
template <bool kPortable>
double SumSquares(int64_t n, const float* x) {
  constexpr size_t kLanes = 32;
  using Sums = LaneSums<kLanes>;
  const DF d;
  constexpr int64_t N = static_cast<int64_t>(Sums::kN);
  constexpr int64_t W = static_cast<int64_t>(kLanes);
  constexpr int64_t kSumBlock = 4096;
  double total = 0.0;
  int64_t i = 0;
  while (i < n) {
    const int64_t end = n - i > kSumBlock ? i + kSumBlock : n;
    Sums sums;
    for (; i + W <= end; i += W) {
      for (size_t v = 0; v < Sums::kVectors; ++v) {
        const VF x0 = hn::LoadU(d, x + i + static_cast<int64_t>(v) * N);
        sums.AddProduct<kPortable>(v, x0, x0);
      }
    }
    for (size_t v = 0; v < Sums::kVectors && i < end; ++v, i += N) {
      const VF x0 = LoadTail(d, x + i, static_cast<size_t>(end - i < N ? end - i : N), 0.0f);
      sums.AddProduct<kPortable>(v, x0, x0);
    }
    i = end;
    total += static_cast<double>(sums.Total());
  }
  return total;
}

// out = scale * sum_b bufs[b], over chunks of kReduceChunk floats (kept in L1). The tree is that
// of a binary counter over b = 0..k-1: each buffer is pushed on a stack, and while the two top
// entries cover equally many buffers they are replaced by their sum (lower index on the left);
// at the end the stack is folded from the top, s_0 + (s_1 + (... + s_top)). For k a power of two
// this is the balanced pairwise tree ((b0 + b1) + (b2 + b3)) + ...; it depends only on k, never
// on threads or target, and out may alias any of the buffers.
constexpr int64_t kReduceChunk = 256;
constexpr int kReduceLevels = 33;  // stack depth for k <= 2^32 buffers (the API's limit)

void ReduceSum(int64_t k, const float* const* bufs, int64_t n, float scale, float* out) {
  const DF d;
  const VF vs = hn::Set(d, scale);
  HWY_ALIGN float tmp[kReduceLevels][kReduceChunk];
  const float* entry[kReduceLevels];
  int64_t count[kReduceLevels];
  const auto add = [](VF a, VF b) HWY_ATTR { return hn::Add(a, b); };
  for (int64_t c0 = 0; c0 < n; c0 += kReduceChunk) {
    const int64_t len = n - c0 < kReduceChunk ? n - c0 : kReduceChunk;
    int top = 0;  // entries on the stack
    for (int64_t b = 0; b < k; ++b) {
      entry[top] = bufs[b] + c0;
      count[top] = 1;
      ++top;
      while (top >= 2 && count[top - 2] == count[top - 1]) {
        Map2(len, entry[top - 2], entry[top - 1], tmp[top - 2], add);
        entry[top - 2] = tmp[top - 2];
        count[top - 2] *= 2;
        --top;
      }
    }
    // Fold s_{top-2} + s_{top-1} down to s_0, then scale into out.
    for (; top >= 2; --top) {
      Map2(len, entry[top - 2], entry[top - 1], tmp[top - 2], add);
      entry[top - 2] = tmp[top - 2];
    }
    Map1(len, entry[0], out + c0, [vs](VF v) HWY_ATTR { return hn::Mul(v, vs); });
  }
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
