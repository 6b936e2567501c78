// The pieces of the step between the shards' gradients and the update: the parameter chunks the
// reduction, the norm and the update are cut into, sums of squares that survive the float range,
// and the name of a parameter for the message that reports a non-finite gradient.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/elementwise.h"
#include "src/train/dense_layer.h"

namespace propel::detail {

// Parameters per chunk of the reduction, norm and update passes: 64 KiB of each array, so a
// chunk's reduced gradient is still in L2 when its sum of squares is taken. Chunks are also the
// unit a GradientExchange splits the parameters into.
constexpr int64_t kChunk = 16384;
constexpr int64_t ChunkCount(int64_t parameters) { return (parameters + kChunk - 1) / kChunk; }

// Index of the first NaN or Inf among x[0, n), or n.
int64_t FirstNonFinite(const float* x, int64_t n);

// The sum of squares of x[0, n) as the kernel takes it (float blocks added in double); NaN when x
// holds NaN or Inf; redone in double when the squares pass the float range (entries above
// ~1.8e19), which the kernel reports as Inf.
double SumOfSquares(const kernels::ElementwiseKernels& ew, int64_t n, const float* x);

// Parameter j of a model made of `net`, as "dW of layer l [i][k]" or "db of layer l [i]".
std::string ParameterName(const std::vector<DenseLayer>& net, int64_t j);

}  // namespace propel::detail
