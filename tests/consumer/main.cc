// Downstream program: links propel from its installed package and runs a small GEMM.
#include <propel/propel.hpp>

#include <cstdio>
#include <vector>

int main() {
  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {1, 0, 0, 1, 1, 1}, c(4);
  propel::sgemm(propel::Trans::kNo, propel::Trans::kNo, 2, 2, 3, 1.0f, a.data(), 3, b.data(), 2,
                0.0f, c.data(), 2);
  const bool ok = c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11;
  std::printf("propel %s consumer on %s: %s\n", PROPEL_VERSION_STRING, propel::active_target().name,
              ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
