// ONNX export: a model as an ONNX graph of standard operators (default domain, opset 17), for
// inference runtimes such as ONNX Runtime.
//
//   input "input": float [N, inputs]
//   per layer l:   z_l = Gemm(h_{l-1}, W_l, b_l, transB = 1)      (W_l as stored: out x in)
//                  h_l = act_l(z_l)
//   output:        "probabilities" = Softmax(z_L, axis = 1)       Head::kMulticlass
//                  "probabilities" = Sigmoid(z_L)                 Head::kBinary
//                  "predictions"   = z_L                          Head::kRegression
//
// Activations: identity (no node), Relu, Sigmoid, Tanh, LeakyRelu(alpha), Elu(alpha), Softplus;
// gelu_erf as x/2 (1 + Erf(x / sqrt 2)), gelu_tanh as x/2 (1 + Tanh(sqrt(2/pi) (x + 0.044715
// x^3))) and silu as x Sigmoid(x), from Mul, Add, Div, Erf, Tanh, Sigmoid. The graph computes
// what Model::predict does, up to each runtime's rounding of exp, tanh and erf. The parameters
// are the model's own: a model trained on standardized CSV features (`propel train`) takes raw
// features, the standardization folded into its first layer.
#pragma once

#include <string>

#include "propel/model.h"

namespace propel {

inline constexpr int kOnnxOpset = 17;

// The serialized ModelProto.
std::string onnx_bytes(const Model& model);

// Writes onnx_bytes(model) to `path` (a temporary file renamed over it: a failed write leaves a
// previous file intact). Throws propel::Error (kIo) naming the file.
void save_onnx(const std::string& path, const Model& model);

}  // namespace propel
