// Chunks, sums of squares and parameter names of the step's reduction (src/train/reduction.h).
#include "src/train/reduction.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace propel::detail {

int64_t FirstNonFinite(const float* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    if (!std::isfinite(x[j])) return j;
  }
  return n;
}

double SumOfSquares(const kernels::ElementwiseKernels& ew, int64_t n, const float* x) {
  double sq = ew.sum_squares(n, x);
  if (std::isfinite(sq)) return sq;
  if (FirstNonFinite(x, n) < n) return std::numeric_limits<double>::quiet_NaN();
  sq = 0.0;
  for (int64_t j = 0; j < n; ++j) sq += static_cast<double>(x[j]) * x[j];
  return sq;
}

std::string ParameterName(const std::vector<DenseLayer>& net, int64_t j) {
  size_t l = 0;
  while (l + 1 < net.size() && j >= net[l + 1].layout().weight_offset) ++l;
  const LayerLayout& layer = net[l].layout();
  std::ostringstream what;
  if (j < layer.bias_offset) {
    const int64_t e = j - layer.weight_offset;
    what << "dW of layer " << l << " [" << e / layer.in << "][" << e % layer.in << "]";
  } else {
    what << "db of layer " << l << " [" << j - layer.bias_offset << "]";
  }
  return what.str();
}

}  // namespace propel::detail
