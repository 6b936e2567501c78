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

// Block size (a multiple of `granule`) for cutting `total` into blocks of about `max_block`:
// a remainder under a quarter of a block is absorbed by the others (k = 784 with max_block 256
// gives blocks of 264, 264, 256 rather than 256, 256, 256, 16: a 16-deep pass costs a full
// read-modify-write of C; n = 1024 with max_block 1008 stays one block rather than packing A a
// second time for 16 columns), and larger remainders are balanced.
constexpr int64_t BalancedBlock(int64_t total, int64_t max_block, int64_t granule) {
  if (total <= max_block) return RoundUp(total, granule);
  int64_t blocks = CeilDiv(total, max_block);
  if (total - (blocks - 1) * max_block < max_block / 4) --blocks;
  return RoundUp(CeilDiv(total, blocks), granule);
}

}  // namespace propel::detail
