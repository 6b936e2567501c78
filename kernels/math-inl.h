// Vector math for the element-wise kernels: exp, expm1, log1p, erfc, a refined reciprocal, and
// the sigmoid decomposition the activations and losses share. Accuracy of each function is
// measured by tests/kernels/elementwise_accuracy_test.cc and stated in docs/kernels.md.
//
// Polynomial coefficients come from tools/fit_coefficients.py (near-minimax fits, rerun it to
// reproduce them). Range reduction:
//   exp(x) = 2^n exp(r),  n = round(x / ln2),  r = x - n ln2 in [-ln2/2, ln2/2] (one FMA where the
//   target has FMA, Cody-Waite's two steps elsewhere), exp(r) = 1 + r + r^2 Q(r), Q of degree 3.
// Results that fall into the subnormal range are produced with gradual underflow (2^n applied as
// two factors, or by AVX-512's VSCALEFPS: both round the product once), not flushed to zero.
//
// kPortable (portable mode, docs/reproducibility.md), a template parameter of every function that
// divides or multiply-adds. false: divisions refine the hardware reciprocal estimate by a Newton
// step (RCP14 on AVX-512 and RCPPS on AVX2 start from different estimates, so the last bit can
// differ between targets and CPUs), and SCALAR multiplies and adds unfused; true: IEEE division
// and Fma<true> (fused on every target with FMA, emulated exactly on SCALAR: kernels/fma-inl.h),
// so that every function here is the same sequence of roundings on every target, lane by lane.

#if defined(PROPEL_KERNELS_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_MATH_INL_H_
#undef PROPEL_KERNELS_MATH_INL_H_
#else
#define PROPEL_KERNELS_MATH_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include <cmath>

#include "hwy/highway.h"
#include "kernels/fma-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace math {

// tools/fit_coefficients.py: expm1(r) = r + r^2 Q(r) on [-ln2/2, ln2/2]: relative error of the
// polynomial 4.5e-7 for expm1 and 1.9e-7 for exp.
constexpr float kExpQ0 = 0.49999404f;
constexpr float kExpQ1 = 0.166668311f;
constexpr float kExpQ2 = 0.0418725684f;
constexpr float kExpQ3 = 0.00833807234f;
// log1p(u) = 2s + 2s^3 R(s^2), s = u / (2 + u), u in [0, 1]: relative error 1.9e-7.
constexpr float kLog1pR0 = 0.333367407f;
constexpr float kLog1pR1 = 0.198179856f;
constexpr float kLog1pR2 = 0.169917777f;
// tanh(x) = x P(x^2) / Q(x^2) on [-9, 9], P = kTanhPQ[0..4], Q = 1 + u kTanhPQ[5..8]:
// relative error 2.1e-8 (and never above 1 in magnitude after rounding).
constexpr float kTanhPQ[9] = {
    1.0f,        0.133809745f,  0.00349552603f, 2.06080349e-05f, 1.33531879e-08f,
    0.46714291f, 0.0258767493f, 0.0003285532f,  7.77595858e-07f};
// erfc(z) = t exp(-z^2 + G(t)), t = 1 / (1 + z/2), z in [0, 10.5]: relative error 2.5e-7.
constexpr float kErfcG[9] = {-1.26523352f, 0.993749857f, 0.433272868f,  -0.210960135f, 0.789456844f,
                             -1.68553507f, 1.38672924f,  -0.510615826f, 0.069135502f};

constexpr float kLog2e = 1.44269504f;
constexpr float kLn2Hi = 0.693145752f;     // 11 significant bits: n * kLn2Hi is exact
constexpr float kLn2Lo = 1.42860677e-06f;  // ln2 - kLn2Hi
constexpr float kLn2 = 0.693147182f;       // ln2 rounded: 1.9e-9 too large

// r = x - n ln2 for |n| <= 151. With a fused multiply-add one step suffices: the product is not
// rounded, and the error of the rounded ln2 contributes at most 151 * 1.9e-9 = 2.9e-7 to r (the
// relative error of the result). Without FMA, n * ln2 would round: two steps, Cody-Waite.
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V ReduceLn2(D d, V x, V n) {
  if constexpr (kFused<kPortable>) {
    return NegFma<kPortable>(n, hn::Set(d, kLn2), x);
  } else {
    const V r = NegFma<kPortable>(n, hn::Set(d, kLn2Hi), x);
    return NegFma<kPortable>(n, hn::Set(d, kLn2Lo), r);
  }
}
constexpr float kExpMax = 88.8f;    // exp(88.8) overflows to +inf
constexpr float kExpMin = -104.0f;  // exp(-104) rounds to +0
// 1.5 * 2^23: (v + magic) - magic rounds v to an integer (nearest even) for |v| < 2^22.
constexpr float kRoundMagic = 12582912.0f;

// max(x, lo) and min(x, hi) that keep NaN (x86's MAXPS/MINPS return the second operand when
// either is NaN; elsewhere a compare and select).
template <bool kLow, class D, class V = hn::Vec<D>>
HWY_INLINE V ClampOneSide(D d, V x, float bound) {
  const V b = hn::Set(d, bound);
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR
  if constexpr (kLow) {
    return hn::Max(b, x);
  } else {
    return hn::Min(b, x);
  }
#else
  if constexpr (kLow) {
    return hn::IfThenElse(hn::Lt(x, b), b, x);
  } else {
    return hn::IfThenElse(hn::Gt(x, b), b, x);
  }
#endif
}
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ClampLow(D d, V x, float lo) {
  return ClampOneSide<true>(d, x, lo);
}
template <class D, class V = hn::Vec<D>>
HWY_INLINE V ClampHigh(D d, V x, float hi) {
  return ClampOneSide<false>(d, x, hi);
}

// x < 0 ? yes : no by the sign bit (BLENDVPS where the target has it). Highway 1.0.3's
// IfNegativeThenElse on SSSE3 selects bit by bit from a mask that is only the sign bit, so that
// target compares instead (-0 then counts as non-negative; callers give both branches the same
// value at 0).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V IfNegative(D d, V x, V yes, V no) {
#if HWY_TARGET == HWY_SSSE3
  return hn::IfThenElse(hn::Lt(x, hn::Zero(d)), yes, no);
#else
  (void)d;
  return hn::IfNegativeThenElse(x, yes, no);
#endif
}

// 1 / x for x in [FLT_MIN, 2^64] (the callers' denominators: 1 + e^-|x| of the sigmoid, and Adam's
// sqrt(v) + eps, at least eps): the hardware estimate refined by Newton
// steps (RCP14: 14 bits, one step; RCPPS: 12 bits, one step; NEON's 8-bit estimate: two). Four
// operations on the FMA ports; a division would bound the loops at the divider's throughput
// (one 512-bit VDIVPS per ~10 cycles on current Intel cores). kPortable: the division, correctly
// rounded and so the same on every target.
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V Reciprocal(D d, V x) {
  if constexpr (kPortable || HWY_TARGET == HWY_SCALAR) {
    return hn::Div(hn::Set(d, 1.0f), x);
  } else {
    const V two = hn::Set(d, 2.0f);
    V r = hn::ApproximateReciprocal(x);
    r = hn::Mul(r, NegFma<kPortable>(x, r, two));
    if constexpr (HWY_ARCH_ARM) r = hn::Mul(r, NegFma<kPortable>(x, r, two));
    return r;
  }
}

// 2^n for integral n in [-126, 127] (one exponent field, no scaling).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Pow2(D d, V n) {
  const hn::RebindToSigned<D> di;
  const auto ni = hn::ConvertTo(di, n);
  return hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(ni, hn::Set(di, 127))));
}

#if HWY_TARGET <= HWY_AVX3 && HWY_ARCH_X86
HWY_INLINE hn::Vec512<float> Pow2(hn::Full512<float> d, hn::Vec512<float> n) {
  return hn::Vec512<float>{_mm512_scalef_ps(hn::Set(d, 1.0f).raw, n.raw)};
}
#endif

// p * 2^n for integral n in [-151, 128], gradual underflow and overflow to inf included:
// n = n1 + n2 with n1 = floor(n / 2), both halves normal powers of two built in the exponent
// field, applied by two multiplications (the second rounds once; a NaN p stays NaN).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Scale2N(D d, V p, V n) {
  const hn::RebindToSigned<D> di;
  const auto bias = hn::Set(di, 127);
  const auto ni = hn::ConvertTo(di, n);
  const auto n1 = hn::ShiftRight<1>(ni);
  const auto n2 = hn::Sub(ni, n1);
  const V s1 = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(n1, bias)));
  const V s2 = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(n2, bias)));
  return hn::Mul(hn::Mul(p, s1), s2);
}
#if HWY_TARGET <= HWY_AVX3 && HWY_ARCH_X86
HWY_INLINE hn::Vec512<float> Scale2N(hn::Full512<float> /*d*/, hn::Vec512<float> p,
                                     hn::Vec512<float> n) {
  return hn::Vec512<float>{_mm512_scalef_ps(p.raw, n.raw)};
}
#endif

// n = round(x / ln2), by the magic-number addition (cheaper than ROUNDPS, and SSSE3 has none).
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V RoundLog2e(D d, V x) {
  const V magic = hn::Set(d, kRoundMagic);
  return hn::Sub(Fma<kPortable>(x, hn::Set(d, kLog2e), magic), magic);
}

// expm1(r) = r + r^2 Q(r) for the reduced argument r.
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V ReducedExpm1(D d, V r) {
  V q = Fma<kPortable>(hn::Set(d, kExpQ3), r, hn::Set(d, kExpQ2));
  q = Fma<kPortable>(q, r, hn::Set(d, kExpQ1));
  q = Fma<kPortable>(q, r, hn::Set(d, kExpQ0));
  return Fma<kPortable>(hn::Mul(r, r), q, r);
}

// exp(r) = 1 + r + r^2 Q(r) in Horner form: five FMAs.
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V ReducedExp(D d, V r) {
  V q = Fma<kPortable>(hn::Set(d, kExpQ3), r, hn::Set(d, kExpQ2));
  q = Fma<kPortable>(q, r, hn::Set(d, kExpQ1));
  q = Fma<kPortable>(q, r, hn::Set(d, kExpQ0));
  q = Fma<kPortable>(q, r, hn::Set(d, 1.0f));
  return Fma<kPortable>(q, r, hn::Set(d, 1.0f));
}

// exp(x + lo) for x in [kExpMin, kExpMax] (callers clamp) and |lo| << 1: lo is a correction
// term added after the range reduction (the low part of a double-float argument).
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V ExpClamped(D d, V x, V lo) {
  const V n = RoundLog2e<kPortable>(d, x);
  const V r = hn::Add(ReduceLn2<kPortable>(d, x, n), lo);
  return Scale2N(d, ReducedExp<kPortable>(d, r), n);
}
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V ExpClamped(D d, V x) {
  const V n = RoundLog2e<kPortable>(d, x);
  return Scale2N(d, ReducedExp<kPortable>(d, ReduceLn2<kPortable>(d, x, n)), n);
}

// -min(|x|, -kExpMin): the argument of exp(-|x|), clamped into exp's range, NaN kept.
// (AVX-512's VRANGEPS would do it in one instruction but returns the other operand for a NaN.)
template <class D, class V = hn::Vec<D>>
HWY_INLINE V NegAbsClamped(D d, V x) {
  return ClampLow(d, hn::Or(x, hn::SignBit(d)), kExpMin);
}

// exp(-|x|) for any x.
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V ExpNegAbs(D d, V x) {
  return ExpClamped<kPortable>(d, NegAbsClamped(d, x));
}

// exp(x) for x <= 0 (the half the sigmoid family needs).
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V ExpNonPositive(D d, V x) {
  return ExpClamped<kPortable>(d, ClampLow(d, x, kExpMin));
}

// expm1(x) for x in [-30, 40] (callers clamp; expm1(-30) rounds to -1):
//   expm1(x) = 2^n expm1(r) + (2^n - 1), exact in 2^n - 1, no cancellation near 0.
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V Expm1Clamped(D d, V x) {
  const V n = RoundLog2e<kPortable>(d, x);
  const V r = ReduceLn2<kPortable>(d, x, n);
  const V s = Pow2(d, n);
  return Fma<kPortable>(s, ReducedExpm1<kPortable>(d, r), hn::Sub(s, hn::Set(d, 1.0f)));
}

// log1p(u) for u in [-0.3, 1]: 2 atanh(s) with s = u / (2 + u) in [-0.18, 1/3] (the series is
// odd in s: R is fitted on s^2 <= 1/9).
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V Log1pUnit(D d, V u) {
  const V s = hn::Mul(u, Reciprocal<kPortable>(d, hn::Add(u, hn::Set(d, 2.0f))));
  const V w = hn::Mul(s, s);
  V rr = Fma<kPortable>(hn::Set(d, kLog1pR2), w, hn::Set(d, kLog1pR1));
  rr = Fma<kPortable>(rr, w, hn::Set(d, kLog1pR0));
  const V s2 = hn::Add(s, s);
  return Fma<kPortable>(hn::Mul(s2, w), rr, s2);
}

// log(x) for x >= 0, NaN kept, log(0) = -inf, log(+inf) = +inf (x < 0: NaN): x = 2^e m with m in
// [sqrt(1/2), sqrt(2)), log(x) = e ln2 + log1p(m - 1) (m - 1 exact), e ln2 as two FMAs with ln2
// split so that e * kLn2Hi is exact. Subnormal x is scaled by 2^24 first. Relative error at most
// 6.4 ulp (5.3 with kPortable's division; tests/kernels/elementwise_accuracy_test.cc), the
// same operations on every target.
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V Log(D d, V x) {
  const hn::RebindToSigned<D> di;
  const auto tiny = hn::Lt(x, hn::Set(d, 1.17549435e-38f));
  const V xs = hn::IfThenElse(tiny, hn::Mul(x, hn::Set(d, 16777216.0f)), x);
  const auto bits = hn::BitCast(di, xs);
  // Exponent counted from sqrt(1/2) (0x3F3504F3): e = floor(log2(x / sqrt(1/2))).
  const auto e = hn::ShiftRight<23>(hn::Sub(bits, hn::Set(di, 0x3F3504F3)));
  const V m = hn::BitCast(d, hn::Sub(bits, hn::ShiftLeft<23>(e)));
  V ef = hn::ConvertTo(d, e);
  ef = hn::IfThenElse(tiny, hn::Sub(ef, hn::Set(d, 24.0f)), ef);
  const V l = Log1pUnit<kPortable>(d, hn::Sub(m, hn::Set(d, 1.0f)));
  V r = Fma<kPortable>(ef, hn::Set(d, kLn2Lo), l);
  r = Fma<kPortable>(ef, hn::Set(d, kLn2Hi), r);
  const V zero = hn::Zero(d);
  r = hn::IfThenElse(hn::Eq(x, zero), hn::Set(d, -HUGE_VALF), r);
  r = hn::IfThenElse(hn::Lt(x, zero), hn::Set(d, NAN), r);
  return hn::IfThenElse(hn::Or(hn::IsNaN(x), hn::Eq(x, hn::Set(d, HUGE_VALF))), x, r);
}

// The sigmoid's parts for any x: e = exp(-|x|), r = 1 / (1 + e); then
//   sigmoid(x) = x >= 0 ? r : e r,   1 - sigmoid(x) = x >= 0 ? e r : r,
//   sigmoid'(x) = sigmoid(x) (1 - sigmoid(x)) = e r^2,
// all without cancellation, so each has a small relative error over the whole float range.
template <class D, class V = hn::Vec<D>>
struct SigmoidParts {
  V e;
  V r;
};
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE SigmoidParts<D, V> Sigmoid2(D d, V x) {
  const V e = ExpNegAbs<kPortable>(d, x);
  return {e, Reciprocal<kPortable>(d, hn::Add(e, hn::Set(d, 1.0f)))};
}
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V Sigmoid(D d, V x) {
  const SigmoidParts<D, V> s = Sigmoid2<kPortable>(d, x);
  return IfNegative(d, x, hn::Mul(s.e, s.r), s.r);
}

// tanh(x) by the rational approximation, x clamped to [-9, 9] (tanh(9) rounds to 1); odd by
// construction, so -0 stays -0.
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V Tanh(D d, V x) {
  const V xc = ClampHigh(d, ClampLow(d, x, -9.0f), 9.0f);
  const V u = hn::Mul(xc, xc);
  V p = Fma<kPortable>(hn::Set(d, kTanhPQ[4]), u, hn::Set(d, kTanhPQ[3]));
  p = Fma<kPortable>(p, u, hn::Set(d, kTanhPQ[2]));
  p = Fma<kPortable>(p, u, hn::Set(d, kTanhPQ[1]));
  p = Fma<kPortable>(p, u, hn::Set(d, kTanhPQ[0]));
  V q = Fma<kPortable>(hn::Set(d, kTanhPQ[8]), u, hn::Set(d, kTanhPQ[7]));
  q = Fma<kPortable>(q, u, hn::Set(d, kTanhPQ[6]));
  q = Fma<kPortable>(q, u, hn::Set(d, kTanhPQ[5]));
  q = Fma<kPortable>(q, u, hn::Set(d, 1.0f));
  return hn::Mul(hn::Mul(xc, p), Reciprocal<kPortable>(d, q));
}

// tanh'(x) = 1 - tanh^2 = 4 e / (1 + e)^2 with e = exp(-2|x|).
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V TanhDerivative(D d, V x) {
  const V e = ExpNonPositive<kPortable>(d, hn::Mul(hn::Set(d, -2.0f), hn::Abs(x)));
  const V r = Reciprocal<kPortable>(d, hn::Add(e, hn::Set(d, 1.0f)));
  return hn::Mul(hn::Mul(hn::Set(d, 4.0f), e), hn::Mul(r, r));
}

// Standard normal CDF Phi(x) = erfc(-x / sqrt2) / 2, and exp(-x^2 / 2) (for the density) when
// `density` is given. erfc(z) for z >= 0 is t exp(-z^2 + G(t)); z^2 is carried as hi + lo so
// that its rounding does not reach the result; z < 0 uses erfc(z) = 2 - erfc(-z).
template <bool kPortable, class D, class V = hn::Vec<D>>
HWY_INLINE V NormalCdf(D d, V x, V* density) {
  const V z = hn::Mul(x, hn::Set(d, -0.707106781f));
  const V a = ClampHigh(d, hn::Abs(z), 10.5f);
  const V t = Reciprocal<kPortable>(d, Fma<kPortable>(a, hn::Set(d, 0.5f), hn::Set(d, 1.0f)));
  V g = hn::Set(d, kErfcG[8]);
  for (int i = 7; i >= 0; --i) g = Fma<kPortable>(g, t, hn::Set(d, kErfcG[i]));
  const V hi = hn::Mul(a, a);
  const V lo = FmaSub<kPortable>(a, a, hi);  // a^2 = hi + lo exactly
  V erfc_half;
  if (density != nullptr) {
    // exp(-a^2) = exp(-x^2 / 2)
    const V ez = ExpClamped<kPortable>(d, ClampLow(d, hn::Neg(hi), kExpMin), hn::Neg(lo));
    *density = ez;
    erfc_half = hn::Mul(hn::Mul(hn::Mul(t, hn::Set(d, 0.5f)), ez), ExpClamped<kPortable>(d, g));
  } else {
    erfc_half =
        hn::Mul(hn::Mul(t, hn::Set(d, 0.5f)),
                ExpClamped<kPortable>(d, ClampLow(d, hn::Sub(g, hi), kExpMin), hn::Neg(lo)));
  }
  // z >= 0 (x <= 0): Phi = erfc(z) / 2; z < 0: Phi = 1 - erfc(|z|) / 2.
  return IfNegative(d, z, hn::Sub(hn::Set(d, 1.0f), erfc_half), erfc_half);
}

}  // namespace math
}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
