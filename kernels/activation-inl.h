// Activations and their derivatives (from the pre-activation and, where the formula allows, from
// the output), and the fused derivative + bias-gradient pass of a hidden layer's backward step.
// Contracts: kernels/elementwise.h. The array loops are kernels/map-inl.h's; the functions are
// kernels/math-inl.h's, whose comments give each one's error.
//
// Accuracy: relative error against a double reference over 1.45 million floats of the whole
// range, asserted on every compiled target by tests/kernels/elementwise_accuracy_test.cc (method
// and measured maxima: docs/kernels.md), forward and derivative from x alike:
//   identity, relu: exact            leaky_relu: 1e-7 forward (one rounding of alpha x), exact
//   sigmoid, softplus: 4e-6          tanh, elu, silu, gelu_tanh, gelu_erf: 4e-5
// (the derivatives of SiLU and GELU cross zero: their error is relative to the sum of the terms'
// magnitudes). The derivatives from the output: 1e-6 against the same formula in double on the
// same y. The fused bias pass gives bit-identical dz to ActBackward / ActBackwardOut.

#if defined(PROPEL_KERNELS_ACTIVATION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_ACTIVATION_INL_H_
#undef PROPEL_KERNELS_ACTIVATION_INL_H_
#else
#define PROPEL_KERNELS_ACTIVATION_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <array>
#include <utility>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/elementwise.h"
#include "kernels/fma-inl.h"
#include "kernels/map-inl.h"
#include "kernels/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---------------------------------------------------------------------------------------------
// Per-activation vector functions. Fwd: act(x). Deriv: act'(x). DerivOut: act'(x) from y.
// Each keeps NaN (a NaN input gives a NaN output and a NaN derivative).

// x * s for the x * sigmoid-like activations, with x = -inf giving -0 (the limit) instead of
// -inf * 0 = NaN.
HWY_INLINE VF TimesGate(DF d, VF x, VF gate) {
  return hn::Mul(math::ClampLow(d, x, -3.4028235e38f), gate);
}

// pos where x > 0, else `other`, NaN for NaN x (the piecewise-linear derivatives).
HWY_INLINE VF Piecewise(DF d, VF x, VF pos, VF other) {
  return hn::IfThenElse(hn::IsNaN(x), x, hn::IfThenElse(hn::Gt(x, hn::Zero(d)), pos, other));
}

template <Act A>
struct ActOps;

template <>
struct ActOps<Act::kIdentity> {
  template <bool kPortable>
  static HWY_INLINE VF Fwd(DF, VF x, VF) {
    return x;
  }
  template <bool kPortable>
  static HWY_INLINE VF Deriv(DF d, VF, VF) {
    return hn::Set(d, 1.0f);
  }
  template <bool kPortable>
  static HWY_INLINE VF DerivOut(DF d, VF, VF) {
    return hn::Set(d, 1.0f);
  }
};

template <>
// The piecewise-linear activations give dy * act'(s) directly (Grad), by selection rather than a
// multiplication; s is x or y alike, since y > 0 exactly where x > 0 (alpha >= 0).
struct ActOps<Act::kRelu> {
  // x < 0 ? 0 : x (NaN kept).
  template <bool kPortable>
  static HWY_INLINE VF Fwd(DF d, VF x, VF) {
    return hn::IfThenZeroElse(hn::Lt(x, hn::Zero(d)), x);
  }
  // dy for s > 0, 0 for s <= 0 (the subgradient at 0 is 0), NaN for NaN s.
  template <bool kPortable>
  static HWY_INLINE VF Grad(DF d, VF s, VF dy, VF) {
    return Piecewise(d, s, dy, hn::Zero(d));
  }
};

template <>
struct ActOps<Act::kLeakyRelu> {
  template <bool kPortable>
  static HWY_INLINE VF Fwd(DF d, VF x, VF alpha) {
    return hn::IfThenElse(hn::Gt(x, hn::Zero(d)), x, hn::Mul(alpha, x));
  }
  // dy for s > 0, alpha dy for s <= 0, NaN for NaN s.
  template <bool kPortable>
  static HWY_INLINE VF Grad(DF d, VF s, VF dy, VF alpha) {
    return Piecewise(d, s, dy, hn::Mul(alpha, dy));
  }
};

template <>
struct ActOps<Act::kElu> {
  // x > 0 ? x : alpha expm1(x)
  template <bool kPortable>
  static HWY_INLINE VF Fwd(DF d, VF x, VF alpha) {
    // min(x, 0) keeping NaN, then into expm1's domain
    const VF xn = hn::IfThenElse(hn::Gt(x, hn::Zero(d)), hn::Zero(d), x);
    const VF em1 = math::Expm1Clamped<kPortable>(d, math::ClampLow(d, xn, -30.0f));
    return hn::IfThenElse(hn::Gt(x, hn::Zero(d)), x, hn::Mul(alpha, em1));
  }
  // x > 0 ? 1 : alpha exp(x)
  template <bool kPortable>
  static HWY_INLINE VF Deriv(DF d, VF x, VF alpha) {
    const VF e = math::ExpNonPositive<kPortable>(d, hn::Min(hn::Zero(d), x));
    return Piecewise(d, x, hn::Set(d, 1.0f), hn::Mul(alpha, e));
  }
  // y > 0 ? 1 : y + alpha (alpha > 0)
  template <bool kPortable>
  static HWY_INLINE VF DerivOut(DF d, VF y, VF alpha) {
    return Piecewise(d, y, hn::Set(d, 1.0f), hn::Add(y, alpha));
  }
};

template <>
struct ActOps<Act::kSigmoid> {
  template <bool kPortable>
  static HWY_INLINE VF Fwd(DF d, VF x, VF) {
    return math::Sigmoid<kPortable>(d, x);
  }
  template <bool kPortable>
  static HWY_INLINE VF Deriv(DF d, VF x, VF) {
    const auto s = math::Sigmoid2<kPortable>(d, x);
    return hn::Mul(s.e, hn::Mul(s.r, s.r));
  }
  template <bool kPortable>
  static HWY_INLINE VF DerivOut(DF d, VF y, VF) {
    return hn::Mul(y, hn::Sub(hn::Set(d, 1.0f), y));
  }
};

template <>
struct ActOps<Act::kTanh> {
  template <bool kPortable>
  static HWY_INLINE VF Fwd(DF d, VF x, VF) {
    return math::Tanh<kPortable>(d, x);
  }
  template <bool kPortable>
  static HWY_INLINE VF Deriv(DF d, VF x, VF) {
    return math::TanhDerivative<kPortable>(d, x);
  }
  // 1 - y^2 as (1 - y)(1 + y): the factor that cancels is exact (Sterbenz), with or without FMA.
  template <bool kPortable>
  static HWY_INLINE VF DerivOut(DF d, VF y, VF) {
    const VF one = hn::Set(d, 1.0f);
    return hn::Mul(hn::Sub(one, y), hn::Add(one, y));
  }
};

// GELU, tanh form: x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
//   (0.5 (1 + tanh(u)) == sigmoid(2u), which has no cancellation for negative x).
constexpr float kGeluK2 = 1.59576912f;               // 2 sqrt(2/pi)
constexpr float kGeluK2C = 1.59576912f * 0.044715f;  // 2 sqrt(2/pi) * 0.044715
template <>
struct ActOps<Act::kGeluTanh> {
  template <bool kPortable>
  static HWY_INLINE VF Fwd(DF d, VF x, VF) {
    const VF x2 = hn::Mul(x, x);
    const VF u2 = hn::Mul(x, Fma<kPortable>(x2, hn::Set(d, kGeluK2C), hn::Set(d, kGeluK2)));
    return TimesGate(d, x, math::Sigmoid<kPortable>(d, u2));
  }
  // s + x s (1 - s) d(2u)/dx,  d(2u)/dx = 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2)
  template <bool kPortable>
  static HWY_INLINE VF Deriv(DF d, VF x, VF) {
    const VF x2 = hn::Mul(x, x);
    const VF u2 = hn::Mul(x, Fma<kPortable>(x2, hn::Set(d, kGeluK2C), hn::Set(d, kGeluK2)));
    const auto p = math::Sigmoid2<kPortable>(d, u2);
    const VF s = math::IfNegative(d, u2, hn::Mul(p.e, p.r), p.r);
    const VF ds = hn::Mul(p.e, hn::Mul(p.r, p.r));  // s (1 - s)
    const VF xc = hn::Min(hn::Max(x, hn::Set(d, -1e4f)), hn::Set(d, 1e4f));
    const VF du = Fma<kPortable>(hn::Mul(xc, xc), hn::Set(d, 3.0f * kGeluK2C), hn::Set(d, kGeluK2));
    return Fma<kPortable>(hn::Mul(xc, ds), du, s);
  }
};

// GELU, exact: x Phi(x).
template <>
struct ActOps<Act::kGeluErf> {
  template <bool kPortable>
  static HWY_INLINE VF Fwd(DF d, VF x, VF) {
    return TimesGate(d, x, math::NormalCdf<kPortable>(d, x, static_cast<VF*>(nullptr)));
  }
  // Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
  template <bool kPortable>
  static HWY_INLINE VF Deriv(DF d, VF x, VF) {
    VF ez;
    const VF cdf = math::NormalCdf<kPortable>(d, x, &ez);
    const VF xc = hn::Min(hn::Max(x, hn::Set(d, -1e4f)), hn::Set(d, 1e4f));
    return Fma<kPortable>(hn::Mul(xc, hn::Set(d, 0.398942280f)), ez, cdf);
  }
};

// SiLU: x sigmoid(x); derivative s + x s (1 - s).
template <>
struct ActOps<Act::kSilu> {
  template <bool kPortable>
  static HWY_INLINE VF Fwd(DF d, VF x, VF) {
    return TimesGate(d, x, math::Sigmoid<kPortable>(d, x));
  }
  template <bool kPortable>
  static HWY_INLINE VF Deriv(DF d, VF x, VF) {
    const auto p = math::Sigmoid2<kPortable>(d, x);
    const VF s = math::IfNegative(d, x, hn::Mul(p.e, p.r), p.r);
    const VF xc = hn::Min(hn::Max(x, hn::Set(d, -1e4f)), hn::Set(d, 1e4f));
    return Fma<kPortable>(hn::Mul(xc, p.e), hn::Mul(p.r, p.r), s);
  }
};

// Softplus: max(x, 0) + log1p(exp(-|x|)); derivative sigmoid(x).
template <>
struct ActOps<Act::kSoftplus> {
  template <bool kPortable>
  static HWY_INLINE VF Fwd(DF d, VF x, VF) {
    const VF e = math::ExpNegAbs<kPortable>(d, x);
    return hn::Add(math::ClampLow(d, x, 0.0f), math::Log1pUnit<kPortable>(d, e));
  }
  template <bool kPortable>
  static HWY_INLINE VF Deriv(DF d, VF x, VF) {
    return math::Sigmoid<kPortable>(d, x);
  }
};

template <Act A, bool kPortable>
void ForwardT(float alpha, int64_t n, const float* x, float* y) {
  const DF d;
  const VF va = hn::Set(d, alpha);
  Map1(n, x, y, [d, va](VF v) HWY_ATTR { return ActOps<A>::template Fwd<kPortable>(d, v, va); });
}

// The piecewise-linear activations select dy or alpha dy instead of multiplying by act'.
constexpr bool SelectsGradient(Act a) { return a == Act::kRelu || a == Act::kLeakyRelu; }

// dy * act'(.) for one vector, from the pre-activation s = x or, kFromOutput, from the output
// s = y (HasOutputDerivative(A) only).
template <Act A, bool kFromOutput, bool kPortable>
HWY_INLINE VF GradVec(DF d, VF s, VF dy, VF alpha) {
  if constexpr (SelectsGradient(A)) {
    return ActOps<A>::template Grad<kPortable>(d, s, dy, alpha);
  } else if constexpr (kFromOutput) {
    return hn::Mul(dy, ActOps<A>::template DerivOut<kPortable>(d, s, alpha));
  } else {
    return hn::Mul(dy, ActOps<A>::template Deriv<kPortable>(d, s, alpha));
  }
}

// dx = dy * act'(.) over n floats (from the output: nothing for an activation without that form,
// which the API refuses before calling).
template <Act A, bool kFromOutput, bool kPortable>
void BackwardT(float alpha, int64_t n, const float* s, const float* dy, float* dx) {
  if constexpr (!kFromOutput || HasOutputDerivative(A)) {
    const DF d;
    const VF va = hn::Set(d, alpha);
    Map2(n, s, dy, dx,
         [d, va](VF v, VF g) HWY_ATTR { return GradVec<A, kFromOutput, kPortable>(d, v, g, va); });
  }
}

// A table of K::Run<A> for every activation code A, indexed by the code: the run-time activation
// selects the kernel instantiated for it.
template <class K, size_t... I>
constexpr auto MakeActTable(std::index_sequence<I...>) {
  return std::array{&K::template Run<static_cast<Act>(I)>...};
}
template <class K>
constexpr auto kActTable = MakeActTable<K>(std::make_index_sequence<kNumActs>());

template <bool kPortable>
struct ForwardK {
  template <Act A>
  static void Run(float alpha, int64_t n, const float* x, float* y) {
    ForwardT<A, kPortable>(alpha, n, x, y);
  }
};
template <bool kPortable>
struct BackwardK {
  template <Act A>
  static void Run(float alpha, int64_t n, const float* x, const float* dy, float* dx) {
    BackwardT<A, false, kPortable>(alpha, n, x, dy, dx);
  }
};
template <bool kPortable>
struct BackwardOutK {
  template <Act A>
  static void Run(float alpha, int64_t n, const float* y, const float* dy, float* dx) {
    BackwardT<A, true, kPortable>(alpha, n, y, dy, dx);
  }
};

template <bool kPortable>
void ActForward(Act act, float alpha, int64_t n, const float* x, float* y) {
  kActTable<ForwardK<kPortable>>[static_cast<size_t>(act)](alpha, n, x, y);
}

template <bool kPortable>
void ActBackward(Act act, float alpha, int64_t n, const float* x, const float* dy, float* dx) {
  kActTable<BackwardK<kPortable>>[static_cast<size_t>(act)](alpha, n, x, dy, dx);
}

template <bool kPortable>
void ActBackwardOut(Act act, float alpha, int64_t n, const float* y, const float* dy, float* dx) {
  kActTable<BackwardOutK<kPortable>>[static_cast<size_t>(act)](alpha, n, y, dy, dx);
}

// dz = da * act'(s) row by row, and db += dz in row order, in one pass.
template <Act A, bool kFromOutput, bool kPortable>
void BackwardBiasT(float alpha, int64_t rows, int64_t cols, const float* s, int64_t lds,
                   const float* da, int64_t ldda, float* dz, int64_t lddz, float* db) {
  const DF d;
  const VF va = hn::Set(d, alpha);
  // dz for one vector: the same operations as the separate backward kernels.
  const auto grad = [d, va](VF v, VF g)
                        HWY_ATTR { return GradVec<A, kFromOutput, kPortable>(d, v, g, va); };
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t i = 0; i < rows; ++i) {
    const float* srow = s + i * lds;
    const float* darow = da + i * ldda;
    float* dzrow = dz + i * lddz;
    int64_t j = 0;
    for (; j + N <= cols; j += N) {
      const VF g = grad(hn::LoadU(d, srow + j), hn::LoadU(d, darow + j));
      hn::StoreU(g, d, dzrow + j);
      if (db != nullptr) hn::StoreU(hn::Add(hn::LoadU(d, db + j), g), d, db + j);
    }
    if (j < cols) {
      HWY_ALIGN float bs[kMaxLanesF] = {};
      HWY_ALIGN float bd[kMaxLanesF] = {};
      HWY_ALIGN float bb[kMaxLanesF] = {};
      const size_t rest = static_cast<size_t>(cols - j);
      memcpy(bs, srow + j, rest * sizeof(float));
      memcpy(bd, darow + j, rest * sizeof(float));
      const VF g = grad(hn::Load(d, bs), hn::Load(d, bd));
      hn::Store(g, d, bd);
      memcpy(dzrow + j, bd, rest * sizeof(float));
      if (db != nullptr) {
        memcpy(bb, db + j, rest * sizeof(float));
        hn::Store(hn::Add(hn::Load(d, bb), g), d, bb);
        memcpy(db + j, bb, rest * sizeof(float));
      }
    }
  }
}

// The fused pass for one activation, in the form (from the output or not) the caller chose.
template <bool kPortable>
struct BackwardBiasK {
  template <Act A>
  static void Run(float alpha, bool from_output, int64_t rows, int64_t cols, const float* s,
                  int64_t lds, const float* da, int64_t ldda, float* dz, int64_t lddz, float* db) {
    if constexpr (HasOutputDerivative(A)) {
      if (from_output) {
        BackwardBiasT<A, true, kPortable>(alpha, rows, cols, s, lds, da, ldda, dz, lddz, db);
        return;
      }
    }
    BackwardBiasT<A, false, kPortable>(alpha, rows, cols, s, lds, da, ldda, dz, lddz, db);
  }
};

template <bool kPortable>
void ActBackwardBias(Act act, float alpha, bool from_output, int64_t rows, int64_t cols,
                     const float* s, int64_t lds, const float* da, int64_t ldda, float* dz,
                     int64_t lddz, float* db) {
  kActTable<BackwardBiasK<kPortable>>[static_cast<size_t>(act)](alpha, from_output, rows, cols, s,
                                                                lds, da, ldda, dz, lddz, db);
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
