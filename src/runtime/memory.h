// Memory budgets: what a model or a trainer will allocate, checked against the machine before
// anything is allocated, so that an impossible size is a clear error and not std::bad_alloc or
// the kernel's OOM killer.
#pragma once

#include <cstdint>
#include <string>

namespace propel::detail {

// Bytes of physical memory of this machine (sysconf), or 0 when it cannot be told.
uint64_t PhysicalMemoryBytes();

// "40.0 GB", "12.3 MB", "512 bytes".
std::string FormatBytes(double bytes);

// Throws Error(kOutOfMemory) "<where>: <what> needs <bytes>; this machine has <physical>" when
// `bytes` exceeds the physical memory. `bytes` is a double so that a sum of products cannot wrap.
void CheckMemory(const char* where, const std::string& what, double bytes);

}  // namespace propel::detail
