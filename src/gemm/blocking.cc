// GEMM block sizes: each engine's bounds (kernels/gemm.h), clamped to the caches found at run time
// by rules in the engine's own numbers.
#include "src/gemm/blocking.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "src/runtime/partition.h"

namespace propel::detail {
namespace {

// Cache share each packed operand may take. The driver's innermost loop runs over the B
// micro-panels (jr) for one A micro-panel (ir), so:
constexpr double kL1ShareA = 0.25;  // A micro-panel (MR x kc): a quarter of L1d
constexpr double kL2ShareB = 0.5;   // B block (kc x nc), streamed panel by panel: half of L2
constexpr double kL3ShareA = 0.5;   // A block (mc x kc): half of this core's L3 share

int64_t ReadSysfsCache(int index) {
  const std::string path =
      "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return 0;
  long value = 0;
  char unit = 0;
  const int got = std::fscanf(f, "%ld%c", &value, &unit);
  std::fclose(f);
  if (got < 1 || value <= 0) return 0;
  if (got == 2 && (unit == 'K' || unit == 'k')) return value * 1024;
  if (got == 2 && (unit == 'M' || unit == 'm')) return value * 1024 * 1024;
  return value;
}

int64_t SysconfOr(int name, int64_t fallback) {
  const long v = sysconf(name);
  return v > 0 ? static_cast<int64_t>(v) : fallback;
}

CacheSizes Query() {
  CacheSizes c{};
  c.l1d = SysconfOr(_SC_LEVEL1_DCACHE_SIZE, ReadSysfsCache(0));
  c.l2 = SysconfOr(_SC_LEVEL2_CACHE_SIZE, ReadSysfsCache(2));
  int64_t l3 = SysconfOr(_SC_LEVEL3_CACHE_SIZE, ReadSysfsCache(3));
  if (c.l1d <= 0) c.l1d = 32 * 1024;
  if (c.l2 <= 0) c.l2 = 256 * 1024;
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  // A shared L3 is split between the cores; at least as large as L2 per core.
  c.l3 = l3 > 0 ? std::max(c.l2, l3 / cores) : 2 * c.l2;
  return c;
}

}  // namespace

const CacheSizes& HostCacheSizes() {
  static const CacheSizes sizes = Query();
  return sizes;
}

Blocking BlockingFor(const kernels::GemmEngine& k, const CacheSizes& caches, bool portable) {
  // The engine's bounds, clamped by the cache rules in its own element bytes (two for panels of
  // bf16 pairs) and its own tile and k step.
  const kernels::BlockBounds row = k.bounds;
  const int64_t f = k.layout.element_bytes;
  Blocking b{};
  const int64_t kc_cache = static_cast<int64_t>(kL1ShareA * caches.l1d) / (k.mr * f);
  const int64_t step = kernels::KcStep(k);
  b.kc = std::max<int64_t>(std::max<int64_t>(16, step), std::min(row.kc, kc_cache) / step * step);
  // Portable mode: the k blocks fix the summation order, so they come from neither the caches
  // nor the override below (KcStep is 8 for every engine portable mode runs: kPortableKc stays).
  if (portable) {
    b.portable = true;
    b.kc = std::max(step, kPortableKc / step * step);
  }
  const int64_t nc_cache = static_cast<int64_t>(kL2ShareB * caches.l2) / (b.kc * f);
  b.nc = std::max<int64_t>(k.nr, std::min(row.nc, nc_cache) / k.nr * k.nr);
  const int64_t mc_cache = static_cast<int64_t>(kL3ShareA * caches.l3) / (b.kc * f);
  b.mc = std::max<int64_t>(k.mr, std::min(row.mc, mc_cache) / k.mr * k.mr);
  // Tuning override: PROPEL_GEMM_BLOCKING=KC,MC,NC (rounded to the tile; for experiments),
  // read once.
  static const Blocking kOverride = [] {
    Blocking o{0, 0, 0};
    if (const char* env = std::getenv("PROPEL_GEMM_BLOCKING")) {
      long kc = 0, mc = 0, nc = 0;
      if (std::sscanf(env, "%ld,%ld,%ld", &kc, &mc, &nc) == 3 && kc > 0 && mc > 0 && nc > 0) {
        o = Blocking{mc, kc, nc};
      }
    }
    return o;
  }();
  if (kOverride.kc > 0 && !portable) {
    b.kc = std::max<int64_t>(step, kOverride.kc / step * step);
    b.mc = std::max<int64_t>(k.mr, kOverride.mc / k.mr * k.mr);
    b.nc = std::max<int64_t>(k.nr, kOverride.nc / k.nr * k.nr);
  }
  return b;
}

}  // namespace propel::detail
