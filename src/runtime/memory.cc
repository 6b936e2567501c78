// Memory budgets checked before allocation (src/runtime/memory.h).
#include "src/runtime/memory.h"

#include <unistd.h>

#include <cstdio>

#include "src/runtime/check.h"

namespace propel::detail {

uint64_t PhysicalMemoryBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
}

std::string FormatBytes(double bytes) {
  char buf[48];
  if (bytes >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.1f GB", bytes / 1e9);
  } else if (bytes >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.1f MB", bytes / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f bytes", bytes);
  }
  return buf;
}

void CheckMemory(const char* where, const std::string& what, double bytes) {
  const uint64_t physical = PhysicalMemoryBytes();
  if (physical == 0 || bytes <= static_cast<double>(physical)) return;
  Fail(ErrorCode::kOutOfMemory, where, what, " needs ", FormatBytes(bytes), "; this machine has ",
       FormatBytes(static_cast<double>(physical)));
}

}  // namespace propel::detail
