// Row-wise softmax and log-softmax (the multiclass head's output function, and with the losses in
// kernels/loss-inl.h the softmax cross-entropy), and the row maximum and sum of exponentials they
// share with the losses.
//
// Accuracy, against a double reference (SoftmaxAndLogSoftmax in tests/src/elementwise_test.cc, on
// every compiled target): softmax within (2e-6 + 6e-8 (max - x_j)) relative per element (the
// second term is the rounding of x_j - max in float, amplified by exp); log-softmax within
// 1e-6 (|y_j| + 1). A row holding NaN or +inf gives NaN in that row.

#if defined(PROPEL_KERNELS_SOFTMAX_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_SOFTMAX_INL_H_
#undef PROPEL_KERNELS_SOFTMAX_INL_H_
#else
#define PROPEL_KERNELS_SOFTMAX_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmath>

#include "hwy/highway.h"
#include "kernels/fma-inl.h"
#include "kernels/lane_sums-inl.h"
#include "kernels/map-inl.h"
#include "kernels/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Row-wise softmax: m = max_j x_j, e_j = exp(x_j - m), y = e / sum(e); log-softmax
// y = x - (m + log(sum(e))). A row holding NaN or +inf gives NaN in that row.

// max_j x_j over one row.
HWY_INLINE float RowMax(DF d, int64_t cols, const float* x) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const float kNegInf = -HUGE_VALF;
  VF m0 = hn::Set(d, kNegInf), m1 = m0;
  int64_t j = 0;
  for (; j + 2 * N <= cols; j += 2 * N) {
    m0 = hn::Max(m0, hn::LoadU(d, x + j));
    m1 = hn::Max(m1, hn::LoadU(d, x + j + N));
  }
  for (; j + N <= cols; j += N) m0 = hn::Max(m0, hn::LoadU(d, x + j));
  if (j < cols) m1 = hn::Max(m1, LoadTail(d, x + j, static_cast<size_t>(cols - j), kNegInf));
  return hn::GetLane(hn::MaxOfLanes(d, hn::Max(m0, m1)));
}

// Virtual lanes of the row sums (kernels/lane_sums-inl.h): the same sum on every target.
constexpr size_t kRowSumLanes = 16;

// sum_j exp(x_j - m), column j in lane j % 16 of LaneSums (the same order on every target);
// writes the exponentials to e when e != nullptr (e may alias x).
template <bool kPortable>
HWY_INLINE float RowSumExp(DF d, int64_t cols, const float* x, float m, float* e) {
  using Sums = LaneSums<kRowSumLanes>;
  constexpr int64_t N = static_cast<int64_t>(Sums::kN);
  constexpr int64_t W = static_cast<int64_t>(kRowSumLanes);
  const VF vm = hn::Set(d, m);
  Sums sums;
  int64_t j = 0;
  for (; j + W <= cols; j += W) {
    for (size_t v = 0; v < Sums::kVectors; ++v) {
      const int64_t at = j + static_cast<int64_t>(v) * N;
      const VF ev = math::ExpNonPositive<kPortable>(d, hn::Sub(hn::LoadU(d, x + at), vm));
      if (e != nullptr) hn::StoreU(ev, d, e + at);
      sums.Add(v, ev);
    }
  }
  // The last columns: padded with -inf, whose exponential adds an exact +0 to its lane.
  for (size_t v = 0; v < Sums::kVectors && j < cols; ++v, j += N) {
    const size_t rest = static_cast<size_t>(cols - j < N ? cols - j : N);
    const VF ev =
        math::ExpNonPositive<kPortable>(d, hn::Sub(LoadTail(d, x + j, rest, -HUGE_VALF), vm));
    if (e != nullptr) StoreTail(d, ev, rest, e + j);
    sums.Add(v, ev);
  }
  return sums.Total();
}

// y = scale * x + add over one row (y may alias x).
template <bool kPortable>
HWY_INLINE void RowAffine(DF d, int64_t cols, const float* x, float scale, float add, float* y) {
  const VF vs = hn::Set(d, scale);
  const VF va = hn::Set(d, add);
  Map1(cols, x, y, [vs, va](VF v) HWY_ATTR { return Fma<kPortable>(v, vs, va); });
  (void)d;
}

// Short rows (up to kShortCols values) are processed a block of one vector's worth of rows at a
// time, transposed through a stack buffer so that each vector lane holds one row: the max, the
// exponentials, the sum and its log are then vertical vector operations. Row by row, the
// reductions across lanes and the exp chain would leave the core waiting on latency.
constexpr int64_t kShortCols = 32;
using ShortTile = float[kShortCols][kMaxLanesF];  // t[j][r] = x(i0 + r, j)

// t[j][r] = x(r, j) for r < block; rows from block to the vector length are `pad`.
HWY_INLINE void TransposeIn(int64_t block, int64_t cols, const float* x, int64_t ldx, float pad,
                            ShortTile& t) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  for (int64_t r = 0; r < block; ++r) {
    for (int64_t j = 0; j < cols; ++j) t[j][r] = x[r * ldx + j];
  }
  for (int64_t r = block; r < N; ++r) {
    for (int64_t j = 0; j < cols; ++j) t[j][r] = pad;
  }
}

HWY_INLINE void TransposeOut(int64_t block, int64_t cols, const ShortTile& t, float* y,
                             int64_t ldy) {
  for (int64_t r = 0; r < block; ++r) {
    for (int64_t j = 0; j < cols; ++j) y[r * ldy + j] = t[j][r];
  }
}

// Per lane (row) of a transposed block: max_j t[j].
HWY_INLINE VF ShortRowsMax(DF d, int64_t cols, const ShortTile& t) {
  VF m = hn::Load(d, t[0]);
  for (int64_t j = 1; j < cols; ++j) m = hn::Max(m, hn::Load(d, t[j]));
  return m;
}

// Per lane: sum_j exp(t[j] - m); the exponentials replace t[j] when `store`.
template <bool kPortable>
HWY_INLINE VF ShortRowsSumExp(DF d, int64_t cols, VF m, ShortTile& t, bool store) {
  VF sum = hn::Zero(d);
  for (int64_t j = 0; j < cols; ++j) {
    const VF e = math::ExpNonPositive<kPortable>(d, hn::Sub(hn::Load(d, t[j]), m));
    if (store) hn::Store(e, d, t[j]);
    sum = hn::Add(sum, e);
  }
  return sum;
}

template <bool kPortable>
void SoftmaxShortRows(bool log, int64_t rows, int64_t cols, const float* x, int64_t ldx, float* y,
                      int64_t ldy) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  HWY_ALIGN ShortTile t;
  for (int64_t i0 = 0; i0 < rows; i0 += N) {
    const int64_t block = rows - i0 < N ? rows - i0 : N;
    TransposeIn(block, cols, x + i0 * ldx, ldx, 0.0f, t);
    const VF m = ShortRowsMax(d, cols, t);
    const VF sum = ShortRowsSumExp<kPortable>(d, cols, m, t, !log);
    if (log) {
      const VF lse = hn::Add(m, math::Log<kPortable>(d, sum));
      for (int64_t j = 0; j < cols; ++j) hn::Store(hn::Sub(hn::Load(d, t[j]), lse), d, t[j]);
    } else {
      const VF inv = hn::Div(hn::Set(d, 1.0f), sum);
      for (int64_t j = 0; j < cols; ++j) hn::Store(hn::Mul(hn::Load(d, t[j]), inv), d, t[j]);
    }
    TransposeOut(block, cols, t, y + i0 * ldy, ldy);
  }
}

template <bool kPortable>
void Softmax(bool log, int64_t rows, int64_t cols, const float* x, int64_t ldx, float* y,
             int64_t ldy) {
  const DF d;
  if (cols <= kShortCols) {
    SoftmaxShortRows<kPortable>(log, rows, cols, x, ldx, y, ldy);
    return;
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * ldx;
    float* yr = y + i * ldy;
    const float m = RowMax(d, cols, xr);
    if (log) {
      const float sum = RowSumExp<kPortable>(d, cols, xr, m, nullptr);
      const float lse = m + static_cast<float>(std::log(static_cast<double>(sum)));
      RowAffine<kPortable>(d, cols, xr, 1.0f, -lse, yr);
    } else {
      const float sum = RowSumExp<kPortable>(d, cols, xr, m, yr);
      RowAffine<kPortable>(d, cols, yr, 1.0f / sum, 0.0f, yr);
    }
  }
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
