// The fused multiply-add of every kernel: a * b + c rounded once, on every target that has one.
//
// Highway's MulAdd is fused on AVX2 and AVX-512 but two roundings (a multiplication, then an
// addition) on its scalar target; there Fma<true> computes the fused result exactly in double
// arithmetic (ExactFma below), on every CPU, with or without an FMA unit. So portable mode's
// fp32 arithmetic on AVX3, AVX2 and SCALAR is the same operation for operation, which is what it
// builds on (docs/reproducibility.md); the default mode keeps SCALAR's fast unfused pair. SSE4
// and SSSE3 have no FMA: portable mode runs the SCALAR kernels there.
//
// The library is compiled with -ffp-contract=off (CMakeLists.txt): a multiplication followed by
// an addition in a kernel stays two roundings on every target, and only these functions fuse.

#if defined(PROPEL_KERNELS_FMA_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_FMA_INL_H_
#undef PROPEL_KERNELS_FMA_INL_H_
#else
#define PROPEL_KERNELS_FMA_INL_H_
#endif

#include <stdint.h>
#include <string.h>

#include <cmath>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// True where Fma<true> rounds once: every target but SSE4 and SSSE3.
#if HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
constexpr bool kFusedMulAdd = false;
#else
constexpr bool kFusedMulAdd = true;
#endif
// True where Fma<kExact> rounds once: kExact matters on SCALAR only.
template <bool kExact>
constexpr bool kFused = kFusedMulAdd && (kExact || HWY_TARGET != HWY_SCALAR);

#if HWY_TARGET == HWY_SCALAR
// a * b + c rounded once to float, as IEEE fma: the product is exact in double (24 + 24 < 53
// significant bits, and its exponent within double's range); the sum is rounded to double by
// round-to-odd (round to nearest, then, where that was inexact and gave an even significand, one
// step towards the exact sum, which TwoSum's error term gives exactly), and a value rounded to
// odd at 53 bits rounds to nearest at 24 bits as the exact one would (Boldo and Melquiond: any
// precision of at least 24 + 2 bits). Non-finite sums (inf, NaN) are converted as they are.
// About ten double operations and no call (std::fma is a library call on a target compiled
// without FMA, and a slow software emulation on CPUs without the instruction), but some 30 times
// slower than the unfused pair, which the compiler vectorizes: portable mode's SCALAR kernels
// are for checking results and for CPUs without FMA, not for speed.
HWY_INLINE float ExactFma(float a, float b, float c) {
  const double p = static_cast<double>(a) * static_cast<double>(b);
  const double dc = static_cast<double>(c);
  double s = p + dc;
  const double pb = s - p;  // TwoSum: the rounding error of s, exactly
  const double e = (p - (s - pb)) + (dc - pb);
  if (e != 0.0 && std::isfinite(s)) {
    uint64_t bits;
    memcpy(&bits, &s, sizeof(bits));
    if ((bits & 1) == 0) {
      bits += (e > 0.0) == (s > 0.0) ? 1 : static_cast<uint64_t>(-1);  // towards the exact sum
      memcpy(&s, &bits, sizeof(s));
    }
  }
  return static_cast<float>(s);
}
#endif

// a * b + c: Highway's MulAdd (fused where the target has FMA); on SCALAR, kExact: ExactFma,
// else a multiplication and an addition (which the compiler vectorizes with SSE2, some 30 times
// faster than ExactFma). Portable mode's kernels take kExact = true, the default mode's false.
template <bool kExact, class V>
HWY_INLINE V Fma(V a, V b, V c) {
#if HWY_TARGET == HWY_SCALAR
  if constexpr (kExact) return V{ExactFma(a.raw, b.raw, c.raw)};
#endif
  return hn::MulAdd(a, b, c);
}

// c - a * b.
template <bool kExact, class V>
HWY_INLINE V NegFma(V a, V b, V c) {
#if HWY_TARGET == HWY_SCALAR
  if constexpr (kExact) return V{ExactFma(-a.raw, b.raw, c.raw)};
#endif
  return hn::NegMulAdd(a, b, c);
}

// a * b - c.
template <bool kExact, class V>
HWY_INLINE V FmaSub(V a, V b, V c) {
#if HWY_TARGET == HWY_SCALAR
  if constexpr (kExact) return V{ExactFma(a.raw, b.raw, -c.raw)};
#endif
  return hn::MulSub(a, b, c);
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
