// bf16 rounding of GEMM operands, per SIMD target: the conversion the bf16 precision applies to
// every operand of a GEMM where it is packed (docs/precision.md).
//
// bf16 is the upper half of an IEEE binary32: sign, the same 8 exponent bits, 7 fraction bits.
// RoundBf16 returns the binary32 whose lower 16 bits are zero and whose upper half is the bf16
// value of v, with the conversion of AVX512_BF16's VCVTNEPS2BF16:
//   - zero and binary32 denormals become a zero of the same sign (denormals are treated as zero);
//   - NaN stays NaN, quieted (the fraction's top bit set), its sign and upper payload kept;
//   - +-inf stays +-inf;
//   - everything else rounds to nearest, ties to even: values past the largest bf16 (0x7F7F...,
//     about 3.39e38) that round up become +-inf.
// The rounded value is a normal binary32 (or zero, inf, NaN): products of two of them are exact
// in binary32, which is what lets an FMA over rounded operands compute what VDPBF16PS computes.

#if defined(PROPEL_KERNELS_BF16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PROPEL_KERNELS_BF16_INL_H_
#undef PROPEL_KERNELS_BF16_INL_H_
#else
#define PROPEL_KERNELS_BF16_INL_H_
#endif

#include <stddef.h>
#include <stdint.h>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace propel::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V = hn::Vec<D>>
HWY_INLINE V RoundBf16(D d, V v) {
  const hn::RebindToUnsigned<D> du;
  const auto bits = hn::BitCast(du, v);
  const auto upper = hn::Set(du, 0xFFFF0000u);
  // Round to nearest even on the integer pattern: add 0x7FFF plus the lowest kept bit, truncate.
  const auto lsb = hn::And(hn::ShiftRight<16>(bits), hn::Set(du, 1u));
  const auto rounded = hn::And(hn::Add(bits, hn::Add(hn::Set(du, 0x7FFFu), lsb)), upper);
  const auto quiet_nan = hn::Or(hn::And(bits, upper), hn::Set(du, 0x00400000u));
  const auto sign = hn::And(bits, hn::Set(du, 0x80000000u));
  const auto exponent = hn::And(bits, hn::Set(du, 0x7F800000u));
  auto out = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), quiet_nan, rounded);
  out = hn::IfThenElse(hn::Eq(exponent, hn::Zero(du)), sign, out);
  return hn::BitCast(d, out);
}

// Rounds n floats at src into dst (may be the same array).
HWY_INLINE void RoundBf16Array(int64_t n, const float* src, float* dst) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(RoundBf16(d, hn::LoadU(d, src + i)), d, dst + i);
  const hn::CappedTag<float, 1> d1;
  for (; i < n; ++i) hn::StoreU(RoundBf16(d1, hn::LoadU(d1, src + i)), d1, dst + i);
}

}  // namespace propel::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
