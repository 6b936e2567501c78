// Per-target kernel tables without Highway's dispatch internals.
//
// A kernels/*.cc is compiled once per SIMD target by hwy/foreach_target.h; each copy defines its
// table in its own HWY_NAMESPACE and registers it here during static initialization
// (PROPEL_REGISTER_TARGET_TABLE). propel then selects a table by its HWY_* target bit, which lets
// a target be pinned per process without touching Highway's global dispatch state, and uses no
// part of Highway but its documented per-target compilation (HWY_NAMESPACE, HWY_TARGET,
// HWY_TARGETS). Tests check that every target of HWY_TARGETS registered exactly once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace propel::kernels {

template <class Table>
class TargetTables {
 public:
  // Called once per compiled target, before main; returns true (for the registrar's initializer).
  static bool Add(const Table* table) {
    Entries& e = entries();
    if (e.n < kMaxTargets) e.tables[e.n++] = table;
    return true;
  }

  // The table of `target` (one HWY_* bit), or nullptr when this build has none.
  static const Table* For(int64_t target) {
    const Entries& e = entries();
    for (size_t i = 0; i < e.n; ++i) {
      if (e.tables[i]->target == target) return e.tables[i];
    }
    return nullptr;
  }

  // The HWY_* bits of every registered table.
  static int64_t Mask() {
    const Entries& e = entries();
    int64_t mask = 0;
    for (size_t i = 0; i < e.n; ++i) mask |= e.tables[i]->target;
    return mask;
  }

  // How many tables registered (one per compiled target when nothing went wrong).
  static size_t Count() { return entries().n; }

 private:
  static constexpr size_t kMaxTargets = 64;  // one per HWY_* bit
  struct Entries {
    const Table* tables[kMaxTargets];
    size_t n;
  };
  // Zero-initialized before any dynamic initialization runs, so registration order is free.
  static Entries& entries() {
    static constinit Entries e{};
    return e;
  }
};

}  // namespace propel::kernels

// Inside HWY_NAMESPACE of a per-target compilation: registers this target's table (a pointer to
// a constant, so that registering runs none of the target's code on a CPU that may lack it).
#define PROPEL_REGISTER_TARGET_TABLE(TABLE, POINTER)            \
  [[maybe_unused]] static const bool kPropelRegistered##TABLE = \
      ::propel::kernels::TargetTables<::propel::kernels::TABLE>::Add(POINTER)
