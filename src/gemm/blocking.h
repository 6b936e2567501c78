// GEMM cache blocking: the per-target KC/MC/NC table and the run-time cache-size query.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace propel::detail {

struct CacheSizes {
  int64_t l1d;  // bytes, per core
  int64_t l2;   // bytes, per core
  int64_t l3;   // bytes, per core share
};

// Queried once from the OS (sysconf, then /sys), with conservative defaults where unknown.
const CacheSizes& HostCacheSizes();

struct Blocking {
  int64_t mc;  // rows of op(A) per packed block (multiple of MR): the A block lives in L3
  int64_t kc;  // depth per packed block: an MR x kc A micro-panel lives in L1
  int64_t nc;  // columns of op(B) per packed block (multiple of NR): the B block lives in L2
  // Portable mode (docs/reproducibility.md): kc is kPortableKc whatever the caches and the engine,
  // and the driver never takes the thin path (whose sums follow the vector width), so that every
  // element of C is the same sequence of operations on every target. mc and nc change no result.
  bool portable = false;
};

// The depth of portable mode's k blocks: the default KC of every x86 target (kernels/gemm.cc).
constexpr int64_t kPortableKc = 256;

// Block sizes for the kernels' target on this host's caches; portable: portable mode's.
Blocking BlockingFor(const kernels::GemmEngine& kernels, const CacheSizes& caches,
                     bool portable = false);

}  // namespace propel::detail
