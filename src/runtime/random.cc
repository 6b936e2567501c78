// Philox4x32-10 and the portable uniform, normal and bounded-integer draws (src/runtime/random.h).
// Compiled with -ffp-contract=off: a fused multiply-add would round differently on machines
// that have one.
#include "src/runtime/random.h"

#include <cmath>

namespace propel::detail {
namespace {

constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;
constexpr uint32_t kWeyl1 = 0xBB67AE85u;

inline void MulHiLo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

// 53 random bits from two words, scaled into [0, 1).
inline double ToUnit(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 32 | lo) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}

}  // namespace

std::array<uint32_t, 4> Philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    MulHiLo(kMul0, c[0], &hi0, &lo0);
    MulHiLo(kMul1, c[2], &hi1, &lo1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    k[0] += kWeyl0;
    k[1] += kWeyl1;
  }
  return c;
}

std::array<uint32_t, 4> CounterRng::Block(uint32_t stream, uint64_t index, uint32_t sub) const {
  return Philox4x32({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), stream, sub},
                    {static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)});
}

double CounterRng::Uniform(uint32_t stream, uint64_t index) const {
  const std::array<uint32_t, 4> b = Block(stream, index);
  return ToUnit(b[0], b[1]);
}

double CounterRng::Normal(uint32_t stream, uint64_t index) const {
  // The acceptance probability is pi / 4 per block: 2^32 blocks never run out.
  for (uint32_t sub = 0;; ++sub) {
    const std::array<uint32_t, 4> b = Block(stream, index, sub);
    const double u = 2.0 * ToUnit(b[0], b[1]) - 1.0;
    const double v = 2.0 * ToUnit(b[2], b[3]) - 1.0;
    const double s = u * u + v * v;
    if (s >= 1.0 || s == 0.0) continue;
    return u * std::sqrt(-2.0 * PortableLog(s) / s);
  }
}

uint64_t CounterRng::Below(uint32_t stream, uint64_t index, uint64_t bound) const {
  const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
  for (uint32_t sub = 0;; ++sub) {
    const std::array<uint32_t, 4> b = Block(stream, index, sub);
    for (int half = 0; half < 2; ++half) {
      const uint64_t x = static_cast<uint64_t>(b[2 * half]) << 32 | b[2 * half + 1];
      const unsigned __int128 m = static_cast<unsigned __int128>(x) * bound;
      if (static_cast<uint64_t>(m) >= threshold) return static_cast<uint64_t>(m >> 64);
    }
  }
}

double PortableLog(double x) {
  // x = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(t), t = (m - 1) / (m + 1),
  // |t| <= 0.1716, summed to t^25 (the next term is below 2^-60 of the sum).
  int e = 0;
  double m = std::frexp(x, &e);  // exact: m in [0.5, 1)
  if (m < 0.70710678118654752) {
    m *= 2.0;
    e -= 1;
  }
  const double t = (m - 1.0) / (m + 1.0);
  const double t2 = t * t;
  double series = 0.0;
  for (int k = 25; k >= 3; k -= 2) series = (series + 1.0 / k) * t2;
  const double ln_m = 2.0 * t * (1.0 + series);
  // ln 2 in two parts: the high part has 32 significant bits, so e * kLn2Hi is exact.
  constexpr double kLn2Hi = 0.693147180369123816490;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  return static_cast<double>(e) * kLn2Hi + (ln_m + static_cast<double>(e) * kLn2Lo);
}

}  // namespace propel::detail
