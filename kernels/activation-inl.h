// Activations, their derivatives (from the pre-activation and, where the formula allows, from the
// output), the fused derivative + bias-gradient pass, and row-wise softmax / log-softmax.
// Contracts: kernels/elementwise.h. Accuracy: docs/kernels.md.

#if defined(PROPEL_KERNELS_ACTIVATION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_ACTIVATION_INL_H_
#undef PROPEL_KERNELS_ACTIVATION_INL_H_
#else
#define PROPEL_KERNELS_ACTIVATION_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmath>

#include "hwy/cache_control.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/elementwise.h"
#include "kernels/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
// Floats in the largest vector of any compiled target (stack buffers for ragged tails).
constexpr size_t kMaxLanesF = HWY_MAX_BYTES / sizeof(float);

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
  static HWY_INLINE VF Fwd(DF, VF x, VF) { return x; }
  static HWY_INLINE VF Deriv(DF d, VF, VF) { return hn::Set(d, 1.0f); }
  static HWY_INLINE VF DerivOut(DF d, VF, VF) { return hn::Set(d, 1.0f); }
};

template <>
// The piecewise-linear activations give dy * act'(s) directly (Grad), by selection rather than a
// multiplication; s is x or y alike, since y > 0 exactly where x > 0 (alpha >= 0).
struct ActOps<Act::kRelu> {
  // x < 0 ? 0 : x (NaN kept).
  static HWY_INLINE VF Fwd(DF d, VF x, VF) { return hn::IfThenZeroElse(hn::Lt(x, hn::Zero(d)), x); }
  // dy for s > 0, 0 for s <= 0 (the subgradient at 0 is 0), NaN for NaN s.
  static HWY_INLINE VF Grad(DF d, VF s, VF dy, VF) { return Piecewise(d, s, dy, hn::Zero(d)); }
};

template <>
struct ActOps<Act::kLeakyRelu> {
  static HWY_INLINE VF Fwd(DF d, VF x, VF alpha) {
    return hn::IfThenElse(hn::Gt(x, hn::Zero(d)), x, hn::Mul(alpha, x));
  }
  // dy for s > 0, alpha dy for s <= 0, NaN for NaN s.
  static HWY_INLINE VF Grad(DF d, VF s, VF dy, VF alpha) {
    return Piecewise(d, s, dy, hn::Mul(alpha, dy));
  }
};

template <>
struct ActOps<Act::kElu> {
  // x > 0 ? x : alpha expm1(x)
  static HWY_INLINE VF Fwd(DF d, VF x, VF alpha) {
    // min(x, 0) keeping NaN, then into expm1's domain
    const VF xn = hn::IfThenElse(hn::Gt(x, hn::Zero(d)), hn::Zero(d), x);
    const VF em1 = math::Expm1Clamped(d, math::ClampLow(d, xn, -30.0f));
    return hn::IfThenElse(hn::Gt(x, hn::Zero(d)), x, hn::Mul(alpha, em1));
  }
  // x > 0 ? 1 : alpha exp(x)
  static HWY_INLINE VF Deriv(DF d, VF x, VF alpha) {
    const VF e = math::ExpNonPositive(d, hn::Min(hn::Zero(d), x));
    return Piecewise(d, x, hn::Set(d, 1.0f), hn::Mul(alpha, e));
  }
  // y > 0 ? 1 : y + alpha (alpha > 0)
  static HWY_INLINE VF DerivOut(DF d, VF y, VF alpha) {
    return Piecewise(d, y, hn::Set(d, 1.0f), hn::Add(y, alpha));
  }
};

template <>
struct ActOps<Act::kSigmoid> {
  static HWY_INLINE VF Fwd(DF d, VF x, VF) { return math::Sigmoid(d, x); }
  static HWY_INLINE VF Deriv(DF d, VF x, VF) {
    const auto s = math::Sigmoid2(d, x);
    return hn::Mul(s.e, hn::Mul(s.r, s.r));
  }
  static HWY_INLINE VF DerivOut(DF d, VF y, VF) { return hn::Mul(y, hn::Sub(hn::Set(d, 1.0f), y)); }
};

template <>
struct ActOps<Act::kTanh> {
  static HWY_INLINE VF Fwd(DF d, VF x, VF) { return math::Tanh(d, x); }
  static HWY_INLINE VF Deriv(DF d, VF x, VF) { return math::TanhDerivative(d, x); }
  // 1 - y^2 as (1 - y)(1 + y): the factor that cancels is exact (Sterbenz), with or without FMA.
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
  static HWY_INLINE VF Fwd(DF d, VF x, VF) {
    const VF x2 = hn::Mul(x, x);
    const VF u2 = hn::Mul(x, hn::MulAdd(x2, hn::Set(d, kGeluK2C), hn::Set(d, kGeluK2)));
    return TimesGate(d, x, math::Sigmoid(d, u2));
  }
  // s + x s (1 - s) d(2u)/dx,  d(2u)/dx = 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2)
  static HWY_INLINE VF Deriv(DF d, VF x, VF) {
    const VF x2 = hn::Mul(x, x);
    const VF u2 = hn::Mul(x, hn::MulAdd(x2, hn::Set(d, kGeluK2C), hn::Set(d, kGeluK2)));
    const auto p = math::Sigmoid2(d, u2);
    const VF s = math::IfNegative(d, u2, hn::Mul(p.e, p.r), p.r);
    const VF ds = hn::Mul(p.e, hn::Mul(p.r, p.r));  // s (1 - s)
    const VF xc = hn::Min(hn::Max(x, hn::Set(d, -1e4f)), hn::Set(d, 1e4f));
    const VF du = hn::MulAdd(hn::Mul(xc, xc), hn::Set(d, 3.0f * kGeluK2C), hn::Set(d, kGeluK2));
    return hn::MulAdd(hn::Mul(xc, ds), du, s);
  }
};

// GELU, exact: x Phi(x).
template <>
struct ActOps<Act::kGeluErf> {
  static HWY_INLINE VF Fwd(DF d, VF x, VF) {
    return TimesGate(d, x, math::NormalCdf(d, x, static_cast<VF*>(nullptr)));
  }
  // Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
  static HWY_INLINE VF Deriv(DF d, VF x, VF) {
    VF ez;
    const VF cdf = math::NormalCdf(d, x, &ez);
    const VF xc = hn::Min(hn::Max(x, hn::Set(d, -1e4f)), hn::Set(d, 1e4f));
    return hn::MulAdd(hn::Mul(xc, hn::Set(d, 0.398942280f)), ez, cdf);
  }
};

// SiLU: x sigmoid(x); derivative s + x s (1 - s).
template <>
struct ActOps<Act::kSilu> {
  static HWY_INLINE VF Fwd(DF d, VF x, VF) { return TimesGate(d, x, math::Sigmoid(d, x)); }
  static HWY_INLINE VF Deriv(DF d, VF x, VF) {
    const auto p = math::Sigmoid2(d, x);
    const VF s = math::IfNegative(d, x, hn::Mul(p.e, p.r), p.r);
    const VF xc = hn::Min(hn::Max(x, hn::Set(d, -1e4f)), hn::Set(d, 1e4f));
    return hn::MulAdd(hn::Mul(xc, p.e), hn::Mul(p.r, p.r), s);
  }
};

// Softplus: max(x, 0) + log1p(exp(-|x|)); derivative sigmoid(x).
template <>
struct ActOps<Act::kSoftplus> {
  static HWY_INLINE VF Fwd(DF d, VF x, VF) {
    const VF e = math::ExpNegAbs(d, x);
    return hn::Add(math::ClampLow(d, x, 0.0f), math::Log1pUnit(d, e));
  }
  static HWY_INLINE VF Deriv(DF d, VF x, VF) { return math::Sigmoid(d, x); }
};

// ---------------------------------------------------------------------------------------------
// Array loops.

// Arrays at least this long (per array) are written with non-temporal stores: they do not fit
// in the caches anyway, and streaming saves the read-for-ownership of every output line.
constexpr int64_t kStreamMin = int64_t{4} << 20;
// How far ahead (in floats) the streaming loops prefetch their inputs into L1, and four times
// that into L2: the compute of the transcendental functions fills the out-of-order window, so
// the hardware prefetcher alone does not keep enough lines in flight.
constexpr int64_t kPrefetchAhead = 1024;

// Elements to process before y + i is vector-aligned (for the streaming stores).
HWY_INLINE int64_t HeadToAlign(const float* y, int64_t N) {
  const uintptr_t mis = reinterpret_cast<uintptr_t>(y) % (static_cast<uintptr_t>(N) * 4);
  return mis == 0 ? 0 : (static_cast<int64_t>(N) * 4 - static_cast<int64_t>(mis)) / 4;
}

// One ragged block of up to one vector through zero-padded buffers.
template <class F>
HWY_INLINE void Map1Partial(int64_t count, const float* x, float* y, const F& f) {
  const DF d;
  HWY_ALIGN float buf[kMaxLanesF] = {};
  memcpy(buf, x, static_cast<size_t>(count) * sizeof(float));
  hn::Store(f(hn::Load(d, buf)), d, buf);
  memcpy(y, buf, static_cast<size_t>(count) * sizeof(float));
}

template <class F>
HWY_INLINE void Map2Partial(int64_t count, const float* x, const float* dy, float* dx, const F& f) {
  const DF d;
  HWY_ALIGN float bx[kMaxLanesF] = {};
  HWY_ALIGN float bd[kMaxLanesF] = {};
  memcpy(bx, x, static_cast<size_t>(count) * sizeof(float));
  memcpy(bd, dy, static_cast<size_t>(count) * sizeof(float));
  hn::Store(f(hn::Load(d, bx), hn::Load(d, bd)), d, bx);
  memcpy(dx, bx, static_cast<size_t>(count) * sizeof(float));
}

// The main loops: four independent vectors per iteration (the transcendental functions are long
// dependency chains, and the instruction scheduler, -fschedule-insns for this file, interleaves
// them), then single vectors, then the ragged tail through zero-padded buffers (no partial loads
// or stores, which some targets emulate with full-width accesses). kStream: aligned
// non-temporal stores (y + i aligned on entry).
template <bool kStream, class F>
HWY_INLINE int64_t Map1Loop(int64_t i, int64_t n, const float* x, float* y, const F& f) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto store = [d](VF v, float* p) HWY_ATTR {
    if constexpr (kStream) {
      hn::Stream(v, d, p);
    } else {
      hn::StoreU(v, d, p);
    }
  };
  for (; i + 4 * N <= n; i += 4 * N) {
    if constexpr (kStream) {
      for (int64_t k = 0; k < 4 * N; k += 16) {
        hwy::Prefetch(x + i + kPrefetchAhead + k);
        __builtin_prefetch(x + i + 4 * kPrefetchAhead + k, 0, 2);
      }
    }
    const VF v0 = hn::LoadU(d, x + i);
    const VF v1 = hn::LoadU(d, x + i + N);
    const VF v2 = hn::LoadU(d, x + i + 2 * N);
    const VF v3 = hn::LoadU(d, x + i + 3 * N);
    store(f(v0), y + i);
    store(f(v1), y + i + N);
    store(f(v2), y + i + 2 * N);
    store(f(v3), y + i + 3 * N);
  }
  for (; i + N <= n; i += N) store(f(hn::LoadU(d, x + i)), y + i);
  return i;
}

template <bool kStream, class F>
HWY_INLINE int64_t Map2Loop(int64_t i, int64_t n, const float* x, const float* dy, float* dx,
                            const F& f) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto store = [d](VF v, float* p) HWY_ATTR {
    if constexpr (kStream) {
      hn::Stream(v, d, p);
    } else {
      hn::StoreU(v, d, p);
    }
  };
  for (; i + 4 * N <= n; i += 4 * N) {
    if constexpr (kStream) {
      for (int64_t k = 0; k < 4 * N; k += 16) {
        hwy::Prefetch(x + i + kPrefetchAhead + k);
        hwy::Prefetch(dy + i + kPrefetchAhead + k);
        __builtin_prefetch(x + i + 4 * kPrefetchAhead + k, 0, 2);
        __builtin_prefetch(dy + i + 4 * kPrefetchAhead + k, 0, 2);
      }
    }
    const VF a0 = hn::LoadU(d, x + i);
    const VF a1 = hn::LoadU(d, x + i + N);
    const VF a2 = hn::LoadU(d, x + i + 2 * N);
    const VF a3 = hn::LoadU(d, x + i + 3 * N);
    const VF b0 = hn::LoadU(d, dy + i);
    const VF b1 = hn::LoadU(d, dy + i + N);
    const VF b2 = hn::LoadU(d, dy + i + 2 * N);
    const VF b3 = hn::LoadU(d, dy + i + 3 * N);
    store(f(a0, b0), dx + i);
    store(f(a1, b1), dx + i + N);
    store(f(a2, b2), dx + i + 2 * N);
    store(f(a3, b3), dx + i + 3 * N);
  }
  for (; i + N <= n; i += N) store(f(hn::LoadU(d, x + i), hn::LoadU(d, dy + i)), dx + i);
  return i;
}

// y[i] = f(x[i]) for i < n (y may be x).
template <class F>
HWY_INLINE void Map1(int64_t n, const float* x, float* y, const F& f) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  int64_t i = 0;
  if (n >= kStreamMin && N > 1) {
    i = HeadToAlign(y, N);
    if (i > 0) Map1Partial(i, x, y, f);
    i = Map1Loop<true>(i, n, x, y, f);
    hwy::FlushStream();
  } else {
    i = Map1Loop<false>(0, n, x, y, f);
  }
  if (i < n) Map1Partial(n - i, x + i, y + i, f);
}

// dx[i] = f(x[i], dy[i]) for i < n (dx may be x or dy).
template <class F>
HWY_INLINE void Map2(int64_t n, const float* x, const float* dy, float* dx, const F& f) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(DF()));
  int64_t i = 0;
  if (n >= kStreamMin && N > 1) {
    i = HeadToAlign(dx, N);
    if (i > 0) Map2Partial(i, x, dy, dx, f);
    i = Map2Loop<true>(i, n, x, dy, dx, f);
    hwy::FlushStream();
  } else {
    i = Map2Loop<false>(0, n, x, dy, dx, f);
  }
  if (i < n) Map2Partial(n - i, x + i, dy + i, dx + i, f);
}

template <Act A>
void ForwardT(float alpha, int64_t n, const float* x, float* y) {
  const DF d;
  const VF va = hn::Set(d, alpha);
  Map1(n, x, y, [d, va](VF v) HWY_ATTR { return ActOps<A>::Fwd(d, v, va); });
}

// dy * act'(x); the piecewise-linear activations select instead of multiplying.
constexpr bool SelectsGradient(Act a) { return a == Act::kRelu || a == Act::kLeakyRelu; }

template <Act A>
HWY_INLINE VF BackwardVec(DF d, VF x, VF dy, VF alpha) {
  if constexpr (SelectsGradient(A)) {
    return ActOps<A>::Grad(d, x, dy, alpha);
  } else {
    return hn::Mul(dy, ActOps<A>::Deriv(d, x, alpha));
  }
}

template <Act A>
void BackwardT(float alpha, int64_t n, const float* x, const float* dy, float* dx) {
  const DF d;
  const VF va = hn::Set(d, alpha);
  Map2(n, x, dy, dx, [d, va](VF v, VF g) HWY_ATTR { return BackwardVec<A>(d, v, g, va); });
}

// dy * act'(x) from y = act(x).
template <Act A>
HWY_INLINE VF BackwardOutVec(DF d, VF y, VF dy, VF alpha) {
  if constexpr (SelectsGradient(A)) {
    return ActOps<A>::Grad(d, y, dy, alpha);
  } else {
    return hn::Mul(dy, ActOps<A>::DerivOut(d, y, alpha));
  }
}

template <Act A>
void BackwardOutT(float alpha, int64_t n, const float* y, const float* dy, float* dx) {
  if constexpr (HasOutputDerivative(A)) {
    const DF d;
    const VF va = hn::Set(d, alpha);
    Map2(n, y, dy, dx, [d, va](VF v, VF g) HWY_ATTR { return BackwardOutVec<A>(d, v, g, va); });
  }
}

// Calls F::template Run<A>(args...) for the runtime activation code.
#define PROPEL_ACT_SWITCH(act, CALL) \
  switch (act) {                     \
    case Act::kIdentity:             \
      CALL(Act::kIdentity);          \
      break;                         \
    case Act::kRelu:                 \
      CALL(Act::kRelu);              \
      break;                         \
    case Act::kSigmoid:              \
      CALL(Act::kSigmoid);           \
      break;                         \
    case Act::kTanh:                 \
      CALL(Act::kTanh);              \
      break;                         \
    case Act::kLeakyRelu:            \
      CALL(Act::kLeakyRelu);         \
      break;                         \
    case Act::kElu:                  \
      CALL(Act::kElu);               \
      break;                         \
    case Act::kGeluTanh:             \
      CALL(Act::kGeluTanh);          \
      break;                         \
    case Act::kGeluErf:              \
      CALL(Act::kGeluErf);           \
      break;                         \
    case Act::kSilu:                 \
      CALL(Act::kSilu);              \
      break;                         \
    case Act::kSoftplus:             \
      CALL(Act::kSoftplus);          \
      break;                         \
  }

void ActForward(Act act, float alpha, int64_t n, const float* x, float* y) {
#define PROPEL_CALL(A) ForwardT<A>(alpha, n, x, y)
  PROPEL_ACT_SWITCH(act, PROPEL_CALL)
#undef PROPEL_CALL
}

void ActBackward(Act act, float alpha, int64_t n, const float* x, const float* dy, float* dx) {
#define PROPEL_CALL(A) BackwardT<A>(alpha, n, x, dy, dx)
  PROPEL_ACT_SWITCH(act, PROPEL_CALL)
#undef PROPEL_CALL
}

void ActBackwardOut(Act act, float alpha, int64_t n, const float* y, const float* dy, float* dx) {
#define PROPEL_CALL(A) BackwardOutT<A>(alpha, n, y, dy, dx)
  PROPEL_ACT_SWITCH(act, PROPEL_CALL)
#undef PROPEL_CALL
}

// dz = da * act'(s) row by row, and db += dz in row order, in one pass.
template <Act A, bool kFromOutput>
void BackwardBiasT(float alpha, int64_t rows, int64_t cols, const float* s, int64_t lds,
                   const float* da, int64_t ldda, float* dz, int64_t lddz, float* db) {
  const DF d;
  const VF va = hn::Set(d, alpha);
  // dz for one vector: the same operations as the separate backward kernels.
  const auto grad = [d, va](VF v, VF g) HWY_ATTR {
    if constexpr (kFromOutput) {
      return BackwardOutVec<A>(d, v, g, va);
    } else {
      return BackwardVec<A>(d, v, g, va);
    }
  };
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

template <Act A>
void BackwardBiasDispatch(float alpha, bool from_output, int64_t rows, int64_t cols, const float* s,
                          int64_t lds, const float* da, int64_t ldda, float* dz, int64_t lddz,
                          float* db) {
  if constexpr (HasOutputDerivative(A)) {
    if (from_output) {
      BackwardBiasT<A, true>(alpha, rows, cols, s, lds, da, ldda, dz, lddz, db);
      return;
    }
  }
  BackwardBiasT<A, false>(alpha, rows, cols, s, lds, da, ldda, dz, lddz, db);
}

void ActBackwardBias(Act act, float alpha, bool from_output, int64_t rows, int64_t cols,
                     const float* s, int64_t lds, const float* da, int64_t ldda, float* dz,
                     int64_t lddz, float* db) {
#define PROPEL_CALL(A) \
  BackwardBiasDispatch<A>(alpha, from_output, rows, cols, s, lds, da, ldda, dz, lddz, db)
  PROPEL_ACT_SWITCH(act, PROPEL_CALL)
#undef PROPEL_CALL
}

#undef PROPEL_ACT_SWITCH

// ---------------------------------------------------------------------------------------------
// Row-wise softmax: m = max_j x_j, e_j = exp(x_j - m), y = e / sum(e); log-softmax
// y = x - (m + log(sum(e))). A row holding NaN or +inf gives NaN in that row.

// Loads the ragged tail x[0, rest) of a row into a full vector padded with `pad`.
HWY_INLINE VF LoadTail(DF d, const float* x, size_t rest, float pad) {
  HWY_ALIGN float buf[kMaxLanesF];
  for (size_t k = 0; k < kMaxLanesF; ++k) buf[k] = pad;
  memcpy(buf, x, rest * sizeof(float));
  return hn::Load(d, buf);
}

HWY_INLINE void StoreTail(DF d, VF v, size_t rest, float* y) {
  HWY_ALIGN float buf[kMaxLanesF];
  hn::Store(v, d, buf);
  memcpy(y, buf, rest * sizeof(float));
}

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

// sum_j exp(x_j - m); writes the exponentials to e when e != nullptr (e may alias x).
HWY_INLINE float RowSumExp(DF d, int64_t cols, const float* x, float m, float* e) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const VF vm = hn::Set(d, m);
  VF s0 = hn::Zero(d), s1 = hn::Zero(d);
  int64_t j = 0;
  for (; j + 2 * N <= cols; j += 2 * N) {
    const VF e0 = math::ExpNonPositive(d, hn::Sub(hn::LoadU(d, x + j), vm));
    const VF e1 = math::ExpNonPositive(d, hn::Sub(hn::LoadU(d, x + j + N), vm));
    if (e != nullptr) {
      hn::StoreU(e0, d, e + j);
      hn::StoreU(e1, d, e + j + N);
    }
    s0 = hn::Add(s0, e0);
    s1 = hn::Add(s1, e1);
  }
  for (; j + N <= cols; j += N) {
    const VF e0 = math::ExpNonPositive(d, hn::Sub(hn::LoadU(d, x + j), vm));
    if (e != nullptr) hn::StoreU(e0, d, e + j);
    s0 = hn::Add(s0, e0);
  }
  if (j < cols) {
    const size_t rest = static_cast<size_t>(cols - j);
    const VF e0 = math::ExpNonPositive(d, hn::Sub(LoadTail(d, x + j, rest, -HUGE_VALF), vm));
    if (e != nullptr) StoreTail(d, e0, rest, e + j);
    s1 = hn::Add(s1, e0);
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1)));
}

// y = scale * x + add over one row (y may alias x).
HWY_INLINE void RowAffine(DF d, int64_t cols, const float* x, float scale, float add, float* y) {
  const VF vs = hn::Set(d, scale);
  const VF va = hn::Set(d, add);
  Map1(cols, x, y, [vs, va](VF v) HWY_ATTR { return hn::MulAdd(v, vs, va); });
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
HWY_INLINE VF ShortRowsSumExp(DF d, int64_t cols, VF m, ShortTile& t, bool store) {
  VF sum = hn::Zero(d);
  for (int64_t j = 0; j < cols; ++j) {
    const VF e = math::ExpNonPositive(d, hn::Sub(hn::Load(d, t[j]), m));
    if (store) hn::Store(e, d, t[j]);
    sum = hn::Add(sum, e);
  }
  return sum;
}

void SoftmaxShortRows(bool log, int64_t rows, int64_t cols, const float* x, int64_t ldx, float* y,
                      int64_t ldy) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  HWY_ALIGN ShortTile t;
  for (int64_t i0 = 0; i0 < rows; i0 += N) {
    const int64_t block = rows - i0 < N ? rows - i0 : N;
    TransposeIn(block, cols, x + i0 * ldx, ldx, 0.0f, t);
    const VF m = ShortRowsMax(d, cols, t);
    const VF sum = ShortRowsSumExp(d, cols, m, t, !log);
    if (log) {
      const VF lse = hn::Add(m, hn::Log(d, sum));
      for (int64_t j = 0; j < cols; ++j) hn::Store(hn::Sub(hn::Load(d, t[j]), lse), d, t[j]);
    } else {
      const VF inv = hn::Div(hn::Set(d, 1.0f), sum);
      for (int64_t j = 0; j < cols; ++j) hn::Store(hn::Mul(hn::Load(d, t[j]), inv), d, t[j]);
    }
    TransposeOut(block, cols, t, y + i0 * ldy, ldy);
  }
}

void Softmax(bool log, int64_t rows, int64_t cols, const float* x, int64_t ldx, float* y,
             int64_t ldy) {
  const DF d;
  if (cols <= kShortCols) {
    SoftmaxShortRows(log, rows, cols, x, ldx, y, ldy);
    return;
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * ldx;
    float* yr = y + i * ldy;
    const float m = RowMax(d, cols, xr);
    if (log) {
      const float sum = RowSumExp(d, cols, xr, m, nullptr);
      const float lse = m + static_cast<float>(std::log(static_cast<double>(sum)));
      RowAffine(d, cols, xr, 1.0f, -lse, yr);
    } else {
      const float sum = RowSumExp(d, cols, xr, m, yr);
      RowAffine(d, cols, yr, 1.0f / sum, 0.0f, yr);
    }
  }
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
