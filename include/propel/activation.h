// Activation functions and their derivatives over float arrays, and row-wise softmax.
//
// Every function validates its arguments and throws propel::Error naming the bad one; the work
// runs on the active SIMD target (propel/target.h) on the calling thread. Outputs may alias their
// inputs exactly (y == x, dx == dy) but must not overlap them partially.
//
// Example (the backward step of a sigmoid layer, from its stored output):
//   propel::activation_forward(propel::Activation::kSigmoid, 0.0f, n, z, a);
//   ...
//   propel::activation_backward_from_output(propel::Activation::kSigmoid, 0.0f, n, a, da, dz);
//
// Accuracy per function (maximum error against a double-precision reference over every float
// input class, on every SIMD target): docs/kernels.md.
#pragma once

#include <cstdint>
#include <string_view>

namespace propel {

// The numbering is the C API's PROPEL_ACT_* and is stable.
enum class Activation : int {
  kIdentity = 0,
  kRelu = 1,     // max(x, 0); derivative 0 at x = 0
  kSigmoid = 2,  // 1 / (1 + exp(-x))
  kTanh = 3,
  kLeakyRelu = 4,  // x > 0 ? x : alpha x  (alpha >= 0, typically 0.01)
  kElu = 5,        // x > 0 ? x : alpha (exp(x) - 1)  (alpha > 0, typically 1)
  kGeluTanh = 6,   // x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  kGeluErf = 7,    // x Phi(x) = x/2 (1 + erf(x / sqrt 2))
  kSilu = 8,       // x sigmoid(x) (swish)
  kSoftplus = 9,   // log(1 + exp(x))
};

// "identity", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu_tanh", "gelu_erf", "silu",
// "softplus"; parse_activation accepts these names and throws propel::Error for others.
const char* activation_name(Activation act);
Activation parse_activation(std::string_view name);

// The conventional alpha: 0.01 for leaky ReLU, 1 for ELU, 0 for the others (unused).
float default_alpha(Activation act);

// True where act'(x) is a function of y = act(x): identity, ReLU, sigmoid (y (1 - y)), tanh
// (1 - y^2), leaky ReLU (alpha >= 0) and ELU (y + alpha for y <= 0, alpha > 0). With these the
// backward pass need not keep the pre-activation.
bool has_output_derivative(Activation act);

// y = act(x), n elements. alpha: leaky ReLU's slope, ELU's scale; ignored by the others.
void activation_forward(Activation act, float alpha, int64_t n, const float* x, float* y);

// dx = dy * act'(x), x the pre-activation.
void activation_backward(Activation act, float alpha, int64_t n, const float* x, const float* dy,
                         float* dx);

// dx = dy * act'(x) computed from y = act(x); throws unless has_output_derivative(act).
void activation_backward_from_output(Activation act, float alpha, int64_t n, const float* y,
                                     const float* dy, float* dx);

// The backward step of a layer and its bias gradient in one pass over a rows x cols block:
//   dz(i, j) = da(i, j) * act'(s(i, j))     s = the pre-activation, or the output when
//                                           from_output (requires has_output_derivative)
//   db[j] += dz(0, j) + dz(1, j) + ...      rows in order; db may be nullptr
// Row strides lds, ldda, lddz >= cols. dz may alias da or s (same stride).
void activation_backward_bias(Activation act, float alpha, bool from_output, int64_t rows,
                              int64_t cols, const float* s, int64_t lds, const float* da,
                              int64_t ldda, float* dz, int64_t lddz, float* db);

// Row-wise softmax y(i, :) = exp(x(i, :) - max) / sum exp(x(i, :) - max), and log-softmax
// y = x - max - log(sum exp(x - max)); any cols >= 1, row strides ldx, ldy >= cols, y may alias
// x. A row holding NaN or +inf gives NaN in that row.
void softmax(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* y, int64_t ldy);
void log_softmax(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* y, int64_t ldy);

}  // namespace propel
