// Losses with their gradient in the same pass: binary cross-entropy from logits and on
// probabilities, mean squared error, softmax cross-entropy with integer labels or soft targets.
// Contracts: kernels/elementwise.h. Each returns the sum of the per-sample losses in double:
// element losses in float blocks of kLossFlush, each summed in the fixed lanes of LaneSums
// (kernels/lane_sums-inl.h), the blocks in double; row losses (softmax CE) added row by row in
// double. The order is the same on every target; with kPortable (the exact reciprocal) so are
// the results.
//
// Accuracy, against double references on every compiled target (tests/src/elementwise_test.cc):
//   summed loss    BCE from logits, MSE, softmax CE: 2e-6 relative; BCE on probabilities: 4e-6
//   gradient dz    BCE from logits, softmax CE (labels): 1e-6 x grad_scale absolute; BCE on
//                  probabilities, MSE: 1e-7 absolute; softmax CE (soft targets): 2e-6 x
//                  grad_scale x (1 + |dz|)
// (softmax CE with logits of 1e30: the rounding of z - max adds 1.2e-7 |z| per row).

#if defined(PROPEL_KERNELS_LOSS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_LOSS_INL_H_
#undef PROPEL_KERNELS_LOSS_INL_H_
#else
#define PROPEL_KERNELS_LOSS_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmath>

#include "hwy/highway.h"
#include "kernels/elementwise.h"
#include "kernels/fma-inl.h"
#include "kernels/lane_sums-inl.h"
#include "kernels/map-inl.h"
#include "kernels/math-inl.h"
#include "kernels/softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Element losses are summed in float over blocks of kLossFlush elements, each block in the
// kLossLanes virtual lanes of LaneSums (the same order on every target), the block sums in double.
constexpr int64_t kLossFlush = 1024;
constexpr size_t kLossLanes = 16;
static_assert(kLossFlush % kLossLanes == 0, "blocks of whole lane rows");

// Runs f(z, y, dz?) over n elements: f returns the per-element loss vector and writes the
// gradient through its third argument. The last elements go through zero-padded buffers, and
// their padding lanes are masked out of the sum.
template <class F>
HWY_INLINE double ElementLoss(int64_t n, const float* z, const float* y, float* dz, const F& f) {
  using Sums = LaneSums<kLossLanes>;
  const DF d;
  constexpr int64_t N = static_cast<int64_t>(Sums::kN);
  constexpr int64_t W = static_cast<int64_t>(kLossLanes);
  double total = 0.0;
  int64_t i = 0;
  while (i < n) {
    const int64_t end = n - i > kLossFlush ? i + kLossFlush : n;
    Sums sums;
    for (; i + W <= end; i += W) {
      for (size_t v = 0; v < Sums::kVectors; ++v) {
        const int64_t at = i + static_cast<int64_t>(v) * N;
        VF g;
        sums.Add(v, f(hn::LoadU(d, z + at), hn::LoadU(d, y + at), &g));
        if (dz != nullptr) hn::StoreU(g, d, dz + at);
      }
    }
    if (i < end) {  // fewer than W elements left: the end of the array
      HWY_ALIGN float bz[kLossLanes] = {};
      HWY_ALIGN float by[kLossLanes] = {};
      const size_t rest = static_cast<size_t>(end - i);
      memcpy(bz, z + i, rest * sizeof(float));
      memcpy(by, y + i, rest * sizeof(float));
      for (size_t v = 0; v < Sums::kVectors; ++v) {
        const size_t first = v * Sums::kN;
        const size_t valid = rest > first ? (rest - first < Sums::kN ? rest - first : Sums::kN) : 0;
        VF g;
        const VF l = f(hn::Load(d, bz + first), hn::Load(d, by + first), &g);
        sums.Add(v, hn::IfThenElseZero(hn::FirstN(d, valid), l));
        hn::Store(g, d, bz + first);
      }
      if (dz != nullptr) memcpy(dz + i, bz, rest * sizeof(float));
      i = end;
    }
    total += static_cast<double>(sums.Total());
  }
  return total;
}

// l = max(z, 0) - z y + log1p(exp(-|z|)), dz = scale (sigmoid(z) - y).
template <bool kPortable>
double BceLogits(int64_t n, const float* z, const float* y, float grad_scale, float* dz) {
  const DF d;
  const VF vs = hn::Set(d, grad_scale);
  return ElementLoss(n, z, y, dz, [d, vs](VF vz, VF vy, VF* g) HWY_ATTR {
    const auto p = math::Sigmoid2<kPortable>(d, vz);
    const VF s = math::IfNegative(d, vz, hn::Mul(p.e, p.r), p.r);
    *g = hn::Mul(vs, hn::Sub(s, vy));
    const VF lin = NegFma<kPortable>(vz, vy, math::ClampLow(d, vz, 0.0f));
    return hn::Add(lin, math::Log1pUnit<kPortable>(d, p.e));
  });
}

// l = -(y log p + (1 - y) log(1 - p)), p = clamp(a, eps, 1 - eps); dz = scale (a - y).
template <bool kPortable>
double BceProb(int64_t n, const float* a, const float* y, float eps, float grad_scale, float* dz) {
  const DF d;
  const VF vs = hn::Set(d, grad_scale);
  const VF lo = hn::Set(d, eps);
  const VF hi = hn::Set(d, 1.0f - eps);
  const VF one = hn::Set(d, 1.0f);
  return ElementLoss(n, a, y, dz, [=](VF va, VF vy, VF* g) HWY_ATTR {
    *g = hn::Mul(vs, hn::Sub(va, vy));
    const VF p = hn::IfThenElse(hn::IsNaN(va), va, hn::Min(hn::Max(va, lo), hi));
    const VF lp = math::Log<kPortable>(d, p);
    const VF lq = math::Log<kPortable>(d, hn::Sub(one, p));
    return hn::Neg(Fma<kPortable>(vy, lp, hn::Mul(hn::Sub(one, vy), lq)));
  });
}

// l = (a - y)^2 / 2, dz = scale (a - y).
double Mse(int64_t n, const float* a, const float* y, float grad_scale, float* dz) {
  const DF d;
  const VF vs = hn::Set(d, grad_scale);
  const VF half = hn::Set(d, 0.5f);
  return ElementLoss(n, a, y, dz, [=](VF va, VF vy, VF* g) HWY_ATTR {
    const VF diff = hn::Sub(va, vy);
    *g = hn::Mul(vs, diff);
    return hn::Mul(half, hn::Mul(diff, diff));
  });
}

// Softmax cross-entropy with integer labels, row by row:
//   m = max z, S = sum exp(z - m), l = log S + m - z[label],
//   dz = scale exp(z - m) / S, then dz[label] -= scale.
// Short rows go through transposed blocks (SoftmaxShortRows in activation-inl.h).
// Adds the first `block` lanes of l (one row's loss each) to total in row order.
HWY_INLINE double AddRowLosses(DF d, VF l, int64_t block, double total) {
  HWY_ALIGN float rows[kMaxLanesF];
  hn::Store(l, d, rows);
  for (int64_t r = 0; r < block; ++r) total += static_cast<double>(rows[r]);
  return total;
}

template <bool kPortable>
HWY_INLINE double SoftmaxCeShortRows(int64_t rows, int64_t cols, const float* z,
                                     const int32_t* labels, float grad_scale, float* dz) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  double total = 0.0;
  HWY_ALIGN ShortTile t;
  HWY_ALIGN float zl[kMaxLanesF] = {};  // z(i0 + r, label)
  for (int64_t i0 = 0; i0 < rows; i0 += N) {
    const int64_t block = rows - i0 < N ? rows - i0 : N;
    TransposeIn(block, cols, z + i0 * cols, cols, 0.0f, t);
    for (int64_t r = 0; r < N; ++r) zl[r] = r < block ? t[labels[i0 + r]][r] : 0.0f;
    const VF m = ShortRowsMax(d, cols, t);
    const VF sum = ShortRowsSumExp<kPortable>(d, cols, m, t, true);
    const VF l = hn::Add(math::Log<kPortable>(d, sum), hn::Sub(m, hn::Load(d, zl)));
    total = AddRowLosses(d, l, block, total);
    if (dz != nullptr) {
      const VF inv = hn::Div(hn::Set(d, grad_scale), sum);
      for (int64_t j = 0; j < cols; ++j) hn::Store(hn::Mul(hn::Load(d, t[j]), inv), d, t[j]);
      for (int64_t r = 0; r < block; ++r) t[labels[i0 + r]][r] -= grad_scale;
      TransposeOut(block, cols, t, dz + i0 * cols, cols);
    }
  }
  return total;
}

template <bool kPortable>
double SoftmaxCeLabels(int64_t rows, int64_t cols, const float* z, const int32_t* labels,
                       float grad_scale, float* dz) {
  const DF d;
  if (cols <= kShortCols)
    return SoftmaxCeShortRows<kPortable>(rows, cols, z, labels, grad_scale, dz);
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* zr = z + i * cols;
    const int32_t label = labels[i];
    const float z_label = zr[label];  // read before dz (which may alias z) is written
    const float m = RowMax(d, cols, zr);
    float* dzr = dz != nullptr ? dz + i * cols : nullptr;
    const float sum = RowSumExp<kPortable>(d, cols, zr, m, dzr);
    total +=
        std::log(static_cast<double>(sum)) + static_cast<double>(m) - static_cast<double>(z_label);
    if (dzr != nullptr) {
      RowAffine<kPortable>(d, cols, dzr, grad_scale / sum, 0.0f, dzr);
      dzr[label] -= grad_scale;
    }
  }
  return total;
}

// Softmax cross-entropy with soft targets t (rows of t need not sum to 1):
//   l = sum t (m - z) + (sum t) log S   (m - z >= 0: no cancellation against large logits),
//   dz = scale (softmax(z) sum t - t).
template <bool kPortable>
HWY_INLINE double SoftmaxCeSoftShortRows(int64_t rows, int64_t cols, const float* z,
                                         const float* targets, float grad_scale, float* dz) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  double total = 0.0;
  HWY_ALIGN ShortTile t, tt;
  for (int64_t i0 = 0; i0 < rows; i0 += N) {
    const int64_t block = rows - i0 < N ? rows - i0 : N;
    TransposeIn(block, cols, z + i0 * cols, cols, 0.0f, t);
    TransposeIn(block, cols, targets + i0 * cols, cols, 0.0f, tt);
    const VF m = ShortRowsMax(d, cols, t);
    VF st = hn::Zero(d), stz = hn::Zero(d);
    for (int64_t j = 0; j < cols; ++j) {  // before the exponentials replace z
      const VF tj = hn::Load(d, tt[j]);
      st = hn::Add(st, tj);
      stz = Fma<kPortable>(tj, hn::Sub(m, hn::Load(d, t[j])), stz);  // sum t (m - z) >= 0
    }
    const VF sum = ShortRowsSumExp<kPortable>(d, cols, m, t, true);
    // sum t (m - z) + (sum t) log S
    const VF l = Fma<kPortable>(st, math::Log<kPortable>(d, sum), stz);
    total = AddRowLosses(d, l, block, total);
    if (dz != nullptr) {
      const VF vp = hn::Div(hn::Mul(hn::Set(d, grad_scale), st), sum);
      const VF vs = hn::Set(d, grad_scale);
      for (int64_t j = 0; j < cols; ++j) {
        hn::Store(FmaSub<kPortable>(hn::Load(d, t[j]), vp, hn::Mul(vs, hn::Load(d, tt[j]))), d,
                  t[j]);
      }
      TransposeOut(block, cols, t, dz + i0 * cols, cols);
    }
  }
  return total;
}

template <bool kPortable>
double SoftmaxCeSoft(int64_t rows, int64_t cols, const float* z, const float* targets,
                     float grad_scale, float* dz) {
  using Sums = LaneSums<kRowSumLanes>;
  const DF d;
  constexpr int64_t N = static_cast<int64_t>(Sums::kN);
  constexpr int64_t W = static_cast<int64_t>(kRowSumLanes);
  if (cols <= kShortCols) {
    return SoftmaxCeSoftShortRows<kPortable>(rows, cols, z, targets, grad_scale, dz);
  }
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* zr = z + i * cols;
    const float* tr = targets + i * cols;
    const float m = RowMax(d, cols, zr);
    // sum t and sum t (m - z) first (dz may alias z), column j in lane j % W of the sums.
    const VF vm = hn::Set(d, m);
    Sums st, stz;
    int64_t j = 0;
    for (; j + W <= cols; j += W) {
      for (size_t v = 0; v < Sums::kVectors; ++v) {
        const int64_t at = j + static_cast<int64_t>(v) * N;
        const VF t = hn::LoadU(d, tr + at);
        st.Add(v, t);
        stz.AddProduct<kPortable>(v, t, hn::Sub(vm, hn::LoadU(d, zr + at)));
      }
    }
    for (size_t v = 0; v < Sums::kVectors && j < cols; ++v, j += N) {
      const size_t rest = static_cast<size_t>(cols - j < N ? cols - j : N);
      const VF t = LoadTail(d, tr + j, rest, 0.0f);
      st.Add(v, t);
      stz.AddProduct<kPortable>(v, t, hn::Sub(vm, LoadTail(d, zr + j, rest, m)));
    }
    const float tsum = st.Total();
    const float tz = stz.Total();
    float* dzr = dz != nullptr ? dz + i * cols : nullptr;
    const float sum = RowSumExp<kPortable>(d, cols, zr, m, dzr);
    total +=
        static_cast<double>(tz) + static_cast<double>(tsum) * std::log(static_cast<double>(sum));
    if (dzr != nullptr) {
      const VF vp = hn::Set(d, grad_scale * tsum / sum);
      const VF vs = hn::Set(d, grad_scale);
      Map2(cols, dzr, tr, dzr,
           [vp, vs](VF e, VF t) HWY_ATTR { return FmaSub<kPortable>(e, vp, hn::Mul(vs, t)); });
    }
  }
  return total;
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
