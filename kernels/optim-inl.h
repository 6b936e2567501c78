// Optimizer updates, one fused pass over the parameters each: SGD (with L2 weight decay),
// momentum and Nesterov momentum, Adam and AdamW. Contracts: kernels/elementwise.h.
//
// Accuracy, against the same update in double on every compiled target
// (tests/src/elementwise_test.cc, weights of order 1): SGD, momentum, Nesterov within 1e-6 of the
// weights after several steps; Adam and AdamW within 2e-6 (the square root and the division by
// sqrt(v) + eps are hardware estimates refined by one Newton step, ~1e-7 relative each; in
// portable mode the IEEE operations).

#if defined(PROPEL_KERNELS_OPTIM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_OPTIM_INL_H_
#undef PROPEL_KERNELS_OPTIM_INL_H_
#else
#define PROPEL_KERNELS_OPTIM_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hwy/highway.h"
#include "kernels/elementwise.h"
#include "kernels/fma-inl.h"
#include "kernels/map-inl.h"
#include "kernels/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Runs f(w, g, s1, s2) -> updated w, s1, s2 (by reference) over n elements; s1/s2 may be nullptr
// when f does not use them. Ragged tails go through stack buffers.
template <class F>
HWY_INLINE void Update(int64_t n, float* w, const float* g, float* s1, float* s2, const F& f) {
  const DF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  // Three vectors per iteration: independent dependency chains for the out-of-order core.
  for (; i + 3 * N <= n; i += 3 * N) {
    VF w0 = hn::LoadU(d, w + i), w1 = hn::LoadU(d, w + i + N), w2 = hn::LoadU(d, w + i + 2 * N);
    VF a0 = hn::Zero(d), a1 = a0, a2 = a0, b0 = a0, b1 = a0, b2 = a0;
    if (s1 != nullptr) {
      a0 = hn::LoadU(d, s1 + i), a1 = hn::LoadU(d, s1 + i + N), a2 = hn::LoadU(d, s1 + i + 2 * N);
    }
    if (s2 != nullptr) {
      b0 = hn::LoadU(d, s2 + i), b1 = hn::LoadU(d, s2 + i + N), b2 = hn::LoadU(d, s2 + i + 2 * N);
    }
    f(w0, hn::LoadU(d, g + i), a0, b0);
    f(w1, hn::LoadU(d, g + i + N), a1, b1);
    f(w2, hn::LoadU(d, g + i + 2 * N), a2, b2);
    hn::StoreU(w0, d, w + i);
    hn::StoreU(w1, d, w + i + N);
    hn::StoreU(w2, d, w + i + 2 * N);
    if (s1 != nullptr) {
      hn::StoreU(a0, d, s1 + i);
      hn::StoreU(a1, d, s1 + i + N);
      hn::StoreU(a2, d, s1 + i + 2 * N);
    }
    if (s2 != nullptr) {
      hn::StoreU(b0, d, s2 + i);
      hn::StoreU(b1, d, s2 + i + N);
      hn::StoreU(b2, d, s2 + i + 2 * N);
    }
  }
  for (; i + N <= n; i += N) {
    VF vw = hn::LoadU(d, w + i);
    VF a = s1 != nullptr ? hn::LoadU(d, s1 + i) : hn::Zero(d);
    VF b = s2 != nullptr ? hn::LoadU(d, s2 + i) : hn::Zero(d);
    f(vw, hn::LoadU(d, g + i), a, b);
    hn::StoreU(vw, d, w + i);
    if (s1 != nullptr) hn::StoreU(a, d, s1 + i);
    if (s2 != nullptr) hn::StoreU(b, d, s2 + i);
  }
  if (i < n) {
    const size_t rest = static_cast<size_t>(n - i);
    HWY_ALIGN float bw[kMaxLanesF] = {}, bg[kMaxLanesF] = {};
    HWY_ALIGN float b1[kMaxLanesF] = {}, b2[kMaxLanesF] = {};
    memcpy(bw, w + i, rest * sizeof(float));
    memcpy(bg, g + i, rest * sizeof(float));
    if (s1 != nullptr) memcpy(b1, s1 + i, rest * sizeof(float));
    if (s2 != nullptr) memcpy(b2, s2 + i, rest * sizeof(float));
    VF vw = hn::Load(d, bw), a = hn::Load(d, b1), b = hn::Load(d, b2);
    f(vw, hn::Load(d, bg), a, b);
    hn::Store(vw, d, bw);
    hn::Store(a, d, b1);
    hn::Store(b, d, b2);
    memcpy(w + i, bw, rest * sizeof(float));
    if (s1 != nullptr) memcpy(s1 + i, b1, rest * sizeof(float));
    if (s2 != nullptr) memcpy(s2 + i, b2, rest * sizeof(float));
  }
}

// Subnormal policy (docs/training.md, Subnormal numbers): the optimizer state is where training
// makes subnormal numbers — a momentum or Adam moment decays by its beta every step in which its
// gradient is exactly zero (dead units, always-zero input features), and crosses below FLT_MIN
// after some hundred steps, where many CPUs take a microcode assist for every operation that
// reads or writes it. Each state value below FLT_MIN in magnitude is stored as +0 instead, so it
// stays 0 until its gradient moves it; and the update of w multiplies the moment inside an FMA,
// so no product of a small moment is materialized. What changes: a moment below 2^-126 (and the
// w step it would have made, below 2^-126 lr / eps) is zero; every target and thread count
// computes the same, so results stay bitwise reproducible.
HWY_INLINE VF FlushSubnormal(DF d, VF v) {
  return hn::IfThenZeroElse(hn::Lt(hn::Abs(v), hn::Set(d, 1.17549435e-38f)), v);
}

// sqrt(v) for v >= 0 as v / sqrt(v) from the reciprocal-square-root estimate and one Newton
// step (v below FLT_MIN gives a value below 1e-19: far under any eps it is added to).
// kPortable: the correctly rounded square root (the same on every target; the estimates of
// AVX-512 and AVX2 differ).
template <bool kPortable>
HWY_INLINE VF SqrtNewton(DF d, VF v) {
  if constexpr (kPortable || HWY_TARGET == HWY_SCALAR) {
    (void)d;
    return hn::Sqrt(v);
  } else {
    const VF vc = hn::Max(v, hn::Set(d, 1.17549435e-38f));
    VF y = hn::ApproximateReciprocalSqrt(vc);
    // y = y (1.5 - 0.5 v y^2)
    const VF half_v = hn::Mul(hn::Set(d, 0.5f), vc);
    y = hn::Mul(y, NegFma<kPortable>(half_v, hn::Mul(y, y), hn::Set(d, 1.5f)));
    if constexpr (HWY_ARCH_ARM)
      y = hn::Mul(y, NegFma<kPortable>(half_v, hn::Mul(y, y), hn::Set(d, 1.5f)));
    return hn::Mul(v, y);
  }
}

template <bool kPortable>
void Sgd(int64_t n, const SgdArgs& args, float* w, const float* g, float* velocity) {
  const DF d;
  const VF lr = hn::Set(d, args.lr);
  const VF mu = hn::Set(d, args.momentum);
  const VF wd = hn::Set(d, args.weight_decay);
  const VF gs = hn::Set(d, args.grad_scale);
  const auto geff = [=](VF vw, VF vg) HWY_ATTR { return Fma<kPortable>(wd, vw, hn::Mul(gs, vg)); };
  if (args.momentum == 0.0f) {
    Update(n, w, g, nullptr, nullptr,
           [=](VF& vw, VF vg, VF&, VF&) HWY_ATTR { vw = NegFma<kPortable>(lr, geff(vw, vg), vw); });
  } else if (args.nesterov) {
    Update(n, w, g, velocity, nullptr, [=](VF& vw, VF vg, VF& v, VF&) HWY_ATTR {
      const VF ge = geff(vw, vg);
      v = FlushSubnormal(d, Fma<kPortable>(mu, v, ge));
      vw = NegFma<kPortable>(lr, Fma<kPortable>(mu, v, ge), vw);
    });
  } else {
    Update(n, w, g, velocity, nullptr, [=](VF& vw, VF vg, VF& v, VF&) HWY_ATTR {
      v = FlushSubnormal(d, Fma<kPortable>(mu, v, geff(vw, vg)));
      vw = NegFma<kPortable>(lr, v, vw);
    });
  }
}

// step = (lr / c1) m / (sqrt(v) / sqrt(c2) + eps). Square root and division by the hardware
// estimates refined by one Newton step each (relative error ~1e-7), on the FMA ports rather than
// the divider, which would otherwise bound the update at one vector per ~20 cycles; kPortable:
// the IEEE square root and division.
template <bool kPortable>
void Adam(int64_t n, const AdamArgs& args, float* w, const float* g, float* m, float* v) {
  const DF d;
  const VF b1 = hn::Set(d, args.beta1);
  const VF b2 = hn::Set(d, args.beta2);
  const VF one_b1 = hn::Set(d, 1.0f - args.beta1);
  const VF one_b2 = hn::Set(d, 1.0f - args.beta2);
  const VF gs = hn::Set(d, args.grad_scale);
  const VF l2 = hn::Set(d, args.decoupled ? 0.0f : args.weight_decay);
  const VF keep = hn::Set(d, args.decoupled ? 1.0f - args.lr * args.weight_decay : 1.0f);
  const VF step = hn::Set(d, args.lr / args.bias_correction1);
  const VF inv_sqrt_c2 = hn::Set(d, 1.0f / std::sqrt(args.bias_correction2));
  const VF eps = hn::Set(d, args.eps);
  Update(n, w, g, m, v, [=](VF& vw, VF vg, VF& vm, VF& vv) HWY_ATTR {
    const VF ge = Fma<kPortable>(l2, vw, hn::Mul(gs, vg));
    vm = FlushSubnormal(d, Fma<kPortable>(b1, vm, hn::Mul(one_b1, ge)));
    vv = FlushSubnormal(d, Fma<kPortable>(b2, vv, hn::Mul(one_b2, hn::Mul(ge, ge))));
    const VF denom = Fma<kPortable>(SqrtNewton<kPortable>(d, vv), inv_sqrt_c2, eps);
    vw = NegFma<kPortable>(vm, hn::Mul(step, math::Reciprocal<kPortable>(d, denom)),
                           hn::Mul(keep, vw));
  });
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
