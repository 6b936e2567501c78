// Deterministic static splits of an index range (balance211 style): pure functions, tested.
#pragma once

#include <cstdint>

namespace propel::detail {

struct Range {
  int64_t begin;
  int64_t end;
};

// Splits [0, n) into `parts` contiguous ranges whose sizes differ by at most one, the larger
// ones first; returns range `part` (0 <= part < parts). Empty ranges when parts > n.
constexpr Range Balance211(int64_t n, int64_t parts, int64_t part) {
  const int64_t base = n / parts;
  const int64_t extra = n % parts;
  const int64_t begin = part * base + (part < extra ? part : extra);
  return {begin, begin + base + (part < extra ? 1 : 0)};
}

constexpr int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
constexpr int64_t RoundUp(int64_t a, int64_t b) { return CeilDiv(a, b) * b; }

}  // namespace propel::detail
