// The activation API (propel/activation.h): names, the element-wise forward and backward passes and
// softmax, validated at the boundary and run by the active target's kernels.
#include "propel/activation.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "src/ops/checks.h"
#include "src/runtime/check.h"

namespace propel {

using detail::BlockBytes;
using detail::Bytes;
using detail::Check;
using detail::CheckAct;
using detail::CheckAlias;
using detail::CheckBlock;
using detail::CheckCount;
using detail::CheckPtr;
using detail::Kernels;
using detail::ToAct;
using detail::ValidAct;

namespace {

constexpr const char* kActNames[kernels::kNumActs] = {
    "identity", "relu",      "sigmoid",  "tanh", "leaky_relu",
    "elu",      "gelu_tanh", "gelu_erf", "silu", "softplus",
};

}  // namespace

const char* activation_name(Activation act) {
  return ValidAct(act) ? kActNames[static_cast<int>(act)] : "unknown";
}

Activation parse_activation(std::string_view name) {
  std::string known;
  for (int a = 0; a < kernels::kNumActs; ++a) {
    if (name == kActNames[a]) return static_cast<Activation>(a);
    known += a == 0 ? "" : ", ";
    known += kActNames[a];
  }
  detail::Fail(ErrorCode::kInvalidArgument, "propel::parse_activation", "unknown activation '",
               std::string(name), "' (known: ", known, ")");
}

float default_alpha(Activation act) {
  if (act == Activation::kLeakyRelu) return 0.01f;
  if (act == Activation::kElu) return 1.0f;
  return 0.0f;
}

bool has_output_derivative(Activation act) {
  return ValidAct(act) && kernels::HasOutputDerivative(ToAct(act));
}

void activation_forward(Activation act, float alpha, int64_t n, const float* x, float* y) {
  const char* where = "propel::activation_forward";
  CheckAct(where, act, alpha);
  CheckCount(where, "n", n);
  CheckPtr(where, "x", x, n);
  CheckPtr(where, "y", y, n);
  CheckAlias(where, "y", y, Bytes(n), "x", x, Bytes(n));
  if (n > 0) Kernels().act_forward(ToAct(act), alpha, n, x, y);
}

namespace {
// The arrays of a backward call: s (x or y, named s_name), dy and dx, n elements each.
void CheckBackwardArrays(const char* where, int64_t n, const char* s_name, const float* s,
                         const float* dy, const float* dx) {
  CheckCount(where, "n", n);
  CheckPtr(where, s_name, s, n);
  CheckPtr(where, "dy", dy, n);
  CheckPtr(where, "dx", dx, n);
  CheckAlias(where, "dx", dx, Bytes(n), s_name, s, Bytes(n));
  CheckAlias(where, "dx", dx, Bytes(n), "dy", dy, Bytes(n));
}
}  // namespace

void activation_backward(Activation act, float alpha, int64_t n, const float* x, const float* dy,
                         float* dx) {
  const char* where = "propel::activation_backward";
  CheckAct(where, act, alpha);
  CheckBackwardArrays(where, n, "x", x, dy, dx);
  if (n > 0) Kernels().act_backward(ToAct(act), alpha, n, x, dy, dx);
}

namespace {
void CheckOutputForm(const char* where, Activation act, float alpha) {
  Check(has_output_derivative(act), where, "activation ", activation_name(act),
        " has no derivative in terms of its output; pass the pre-activation instead");
  Check(act != Activation::kLeakyRelu || alpha >= 0.0f, where, "leaky_relu alpha = ", alpha,
        " is negative: the output no longer tells the sign of the input");
  Check(act != Activation::kElu || alpha > 0.0f, where, "elu alpha = ", alpha,
        " is not positive: the output no longer tells the sign of the input");
}
}  // namespace

void activation_backward_from_output(Activation act, float alpha, int64_t n, const float* y,
                                     const float* dy, float* dx) {
  const char* where = "propel::activation_backward_from_output";
  CheckAct(where, act, alpha);
  CheckOutputForm(where, act, alpha);
  CheckBackwardArrays(where, n, "y", y, dy, dx);
  if (n > 0) Kernels().act_backward_out(ToAct(act), alpha, n, y, dy, dx);
}

void activation_backward_bias(Activation act, float alpha, bool from_output, int64_t rows,
                              int64_t cols, const float* s, int64_t lds, const float* da,
                              int64_t ldda, float* dz, int64_t lddz, float* db) {
  const char* where = "propel::activation_backward_bias";
  CheckAct(where, act, alpha);
  if (from_output) CheckOutputForm(where, act, alpha);
  CheckCount(where, "rows", rows);
  CheckCount(where, "cols", cols);
  CheckBlock(where, "s", s, rows, cols, lds, "lds");
  CheckBlock(where, "da", da, rows, cols, ldda, "ldda");
  CheckBlock(where, "dz", dz, rows, cols, lddz, "lddz");
  const int64_t zb = BlockBytes(rows, cols, lddz);
  Check(dz != s || lds == lddz, where, "dz aliases s with a different row stride");
  Check(dz != da || ldda == lddz, where, "dz aliases da with a different row stride");
  CheckAlias(where, "dz", dz, zb, "s", s, BlockBytes(rows, cols, lds));
  CheckAlias(where, "dz", dz, zb, "da", da, BlockBytes(rows, cols, ldda));
  CheckAlias(where, "db", db, Bytes(cols), "dz", dz, zb);
  if (rows > 0 && cols > 0) {
    Kernels().act_backward_bias(ToAct(act), alpha, from_output, rows, cols, s, lds, da, ldda, dz,
                                lddz, db);
  }
}

namespace {
void SoftmaxImpl(const char* where, bool log, int64_t rows, int64_t cols, const float* x,
                 int64_t ldx, float* y, int64_t ldy) {
  CheckCount(where, "rows", rows);
  Check(cols >= 1, where, "cols = ", cols, " must be at least 1");
  CheckCount(where, "cols", cols);
  CheckBlock(where, "x", x, rows, cols, ldx, "ldx");
  CheckBlock(where, "y", y, rows, cols, ldy, "ldy");
  Check(y != x || ldx == ldy, where, "y aliases x with a different row stride");
  CheckAlias(where, "y", y, BlockBytes(rows, cols, ldy), "x", x, BlockBytes(rows, cols, ldx));
  if (rows > 0) Kernels().softmax(log, rows, cols, x, ldx, y, ldy);
}
}  // namespace

void softmax(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* y, int64_t ldy) {
  SoftmaxImpl("propel::softmax", false, rows, cols, x, ldx, y, ldy);
}

void log_softmax(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* y, int64_t ldy) {
  SoftmaxImpl("propel::log_softmax", true, rows, cols, x, ldx, y, ldy);
}

}  // namespace propel
