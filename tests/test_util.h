// Shared test helpers: seeded data, prime sizes, the list of SIMD targets to run on.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "propel/model.h"
#include "propel/target.h"
#include "propel/threading.h"

namespace propel::test {

// Uniform values in [lo, hi) from a fixed seed: every run sees the same data.
inline std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline bool IsPrime(int64_t n) {
  if (n < 2) return false;
  for (int64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

inline int64_t NextPrime(int64_t n) {
  while (!IsPrime(n)) ++n;
  return n;
}

// A model description in one expression.
inline ModelSpec MlpSpec(int64_t inputs, std::vector<Layer> hidden, int64_t outputs, Head head) {
  ModelSpec s;
  s.inputs = inputs;
  s.hidden = std::move(hidden);
  s.outputs = outputs;
  s.head = head;
  return s;
}

// Names of every target compiled into propel that this CPU runs, best first.
inline std::vector<std::string> TargetNames() {
  std::vector<std::string> names;
  for (const Target& t : available_targets()) names.emplace_back(t.name);
  return names;
}

// The executors to test. Under ThreadSanitizer the OpenMP runtime (libgomp), which is not
// instrumented, hides its synchronization from TSan and produces false reports: there the TBB
// path (annotated in src/runtime/executor.h) and the serial one are tested.
inline std::vector<Executor> Executors() {
#if defined(__SANITIZE_THREAD__)
  return {Executor::kTbb, Executor::kSerial};
#else
  return {Executor::kTbb, Executor::kOpenMp, Executor::kSerial};
#endif
}

// Pins a target for the lifetime of the object (tests run one target at a time).
class ScopedTarget {
 public:
  explicit ScopedTarget(const std::string& name) { pin_target(name); }
  ~ScopedTarget() { unpin_target(); }
  ScopedTarget(const ScopedTarget&) = delete;
  ScopedTarget& operator=(const ScopedTarget&) = delete;
};

}  // namespace propel::test
