// The head of a model: what its data must satisfy (CheckData) and its loss with the gradient with
// respect to the logits (HeadLoss). Shared by the training step (src/train/trainer.cc) and
// evaluation (src/train/fit.cc).
#pragma once

#include <cstdint>

#include "kernels/elementwise.h"
#include "propel/train.h"

namespace propel::detail {

// Validates a data view against the model: rows in [1, max_rows] (max_rows <= 0: no bound),
// strides, labels in range (kMulticlass), targets in [0, 1] (kBinary) or finite (kRegression).
void CheckData(const char* where, const Model& model, const DataView& data, int64_t max_rows);

// The head's loss summed over rows [r0, r0 + rows) of `data`, from the logits z (rows x out,
// contiguous); dz (may be null) receives d(summed loss)/dz; *correct (may be null) the rows
// (kMulticlass) or outputs (kBinary) classified right.
double HeadLoss(const kernels::ElementwiseKernels& ew, Head head, int64_t rows, int64_t out,
                const float* z, const DataView& data, int64_t r0, float* dz, int64_t* correct);

}  // namespace propel::detail
