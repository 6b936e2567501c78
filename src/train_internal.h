// Pieces of the training step shared with evaluation and the epoch loop (src/trainer.cc,
// src/fit.cc).
#pragma once

#include <cstdint>

#include "kernels/elementwise.h"
#include "propel/train.h"

namespace propel::detail {

// The most updates a trainer counts: Adam's bias corrections take beta^t in double, exact for
// every t up to here, and the counter can never overflow.
constexpr int64_t kMaxSteps = int64_t{1} << 53;

// Validates an optimizer configuration (kind, finite and in-range hyper-parameters) as the
// Trainer does; throws Error(kInvalidArgument) naming `where` and the field.
void CheckOptimizer(const char* where, const OptimizerConfig& optimizer);

// Validates a data view against the model: rows in [1, max_rows] (max_rows <= 0: no bound),
// strides, labels in range (kMulticlass), targets in [0, 1] (kBinary) or finite (kRegression).
void CheckData(const char* where, const Model& model, const DataView& data, int64_t max_rows);

// The head's loss summed over rows [r0, r0 + rows) of `data`, from the logits z (rows x out,
// contiguous); dz (may be null) receives grad_scale * dloss/dz; *correct (may be null) the rows
// (kMulticlass) or outputs (kBinary) classified right.
double HeadLoss(const kernels::ElementwiseKernels& ew, Head head, int64_t rows, int64_t out,
                const float* z, const DataView& data, int64_t r0, float grad_scale, float* dz,
                int64_t* correct);

}  // namespace propel::detail
