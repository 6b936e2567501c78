// Counter-based random numbers (Philox4x32-10) and the distributions propel draws from them.
//
// Every draw is a pure function of (seed, stream, index): no generator state, so a value does not
// depend on which thread draws it or in which order, and the same seed gives the same numbers on
// every machine. The distributions use only IEEE-754 basic operations (+, -, *, /, sqrt), which
// are correctly rounded everywhere; src/runtime/random.cc is compiled without FMA contraction.
#pragma once

#include <array>
#include <cstdint>

namespace propel::detail {

// Philox4x32 with 10 rounds (Salmon, Moraes, Dror and Shaw, SC'11; the Random123 reference).
std::array<uint32_t, 4> Philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// A keyed family of streams: block `sub` of draw `index` in stream `stream` is Philox of the
// counter (index low, index high, stream, sub) under the key (seed low, seed high). Draws that
// may need more than one block (rejection sampling) take the next `sub`, so every index stands
// alone.
class CounterRng {
 public:
  explicit CounterRng(uint64_t seed) : seed_(seed) {}

  std::array<uint32_t, 4> Block(uint32_t stream, uint64_t index, uint32_t sub = 0) const;
  // A double uniform in [0, 1) with 53 random bits (the first two words of block 0).
  double Uniform(uint32_t stream, uint64_t index) const;
  // A standard normal double: Marsaglia's polar method, one candidate pair per block.
  double Normal(uint32_t stream, uint64_t index) const;
  // An integer uniform in [0, bound), bound >= 1 (Lemire's multiply-shift with rejection).
  uint64_t Below(uint32_t stream, uint64_t index, uint64_t bound) const;

 private:
  uint64_t seed_;
};

// ln(x) for finite x > 0 from basic operations only (reproducible on every machine); within a few
// ulp of the correctly rounded value.
double PortableLog(double x);

}  // namespace propel::detail
