// Scalar bf16 rounding reference, from the definition rather than the bit trick of the kernels:
// the two bf16 neighbours of x, the nearer one, ties to the one whose last kept bit is 0.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace propel::ref {

// The binary32 whose upper half is the bf16 nearest x (lower half zero), with AVX512_BF16's
// VCVTNEPS2BF16 conventions: denormals and zeros become a zero of x's sign, NaN stays NaN with the
// quiet bit set and the upper payload kept, infinities stay, values rounding past the largest
// bf16 become infinities.
inline float Bf16(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t sign = bits & 0x80000000u;
  if (std::isnan(x)) return std::bit_cast<float>((bits & 0xFFFF0000u) | 0x00400000u);
  if (std::isinf(x)) return x;
  if (x == 0.0f || std::fpclassify(x) == FP_SUBNORMAL) return std::bit_cast<float>(sign);
  const double mag = std::fabs(static_cast<double>(x));
  const uint32_t low_bits = (bits & 0x7FFFFFFFu) & 0xFFFF0000u;  // truncated magnitude
  const double low = static_cast<double>(std::bit_cast<float>(low_bits));
  int exponent = 0;
  std::frexp(low, &exponent);                        // low = f 2^exponent, f in [0.5, 1)
  const double ulp = std::ldexp(1.0, exponent - 8);  // 8 significant bits
  const double high = low + ulp;                     // may be 2^128: past the largest bf16
  const bool low_even = ((low_bits >> 16) & 1u) == 0;
  const double d_low = mag - low, d_high = high - mag;
  const bool up = d_high < d_low || (d_high == d_low && !low_even);
  double r = up ? high : low;
  if (r >= std::ldexp(1.0, 128)) r = INFINITY;
  const float out = static_cast<float>(r);
  return sign ? -out : out;
}

}  // namespace propel::ref
