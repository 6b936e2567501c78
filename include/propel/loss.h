// Losses of the output layer with their gradient in the same pass.
//
// All take a contiguous rows x cols block (one sample per row) and return the mean over rows of
// the per-sample loss, the sum over the row's outputs. When dz is not null it receives
//   dz = grad_scale * d(per-sample loss) / d(input)
// so grad_scale = 1 / rows gives the gradient of the returned mean, and grad_scale = 1 the
// per-sample gradients that a shard reduction scales later. dz may alias the input.
//
// Errors (propel::Error): bad sizes or null pointers (kInvalidArgument); labels outside
// [0, cols) (kInvalidArgument, naming the row); NaN or infinite inputs, reported with the row
// and column of the first one (kNumerical). Accuracy: docs/kernels.md.
#pragma once

#include <cstdint>

namespace propel {

// Binary cross-entropy from logits z (the input of a sigmoid), targets y in [0, 1]:
//   l = max(z, 0) - z y + log(1 + exp(-|z|)),  dz = sigmoid(z) - y.
// Stable for every finite z (no log(0), no overflow at z = +-1e30).
float bce_with_logits(int64_t rows, int64_t cols, const float* z, const float* y, float* dz,
                      float grad_scale);

// Binary cross-entropy on probabilities a (a sigmoid's output), the textbook form:
//   l = -(y log p + (1 - y) log(1 - p)), p = min(max(a, eps), 1 - eps),
//   dz = a - y, the gradient with respect to the sigmoid's input. eps in (0, 0.5).
float binary_cross_entropy(int64_t rows, int64_t cols, const float* a, const float* y, float* dz,
                           float grad_scale, float eps = 1e-7f);

// Mean squared error with the per-sample loss sum_j (a_j - y_j)^2 / 2:  dz = a - y.
float mean_squared_error(int64_t rows, int64_t cols, const float* a, const float* y, float* dz,
                         float grad_scale);

// Softmax cross-entropy from logits z (rows x classes):
//   labels: l = logsumexp(z) - z[label],            dz = softmax(z) - onehot(label)
//   soft targets t (rows x classes, one-hot or a distribution):
//           l = sum_j t_j (logsumexp(z) - z_j),    dz = softmax(z) sum_j t_j - t
float softmax_cross_entropy(int64_t rows, int64_t classes, const float* z, const int32_t* labels,
                            float* dz, float grad_scale);
float softmax_cross_entropy(int64_t rows, int64_t classes, const float* z, const float* targets,
                            float* dz, float grad_scale);

}  // namespace propel
