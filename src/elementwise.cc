// The element-wise API (propel/activation.h, loss.h, optim.h): validation at the boundary, then
// the kernels of the active target.
#include "src/elementwise.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "kernels/elementwise.h"
#include "propel/activation.h"
#include "propel/loss.h"
#include "propel/optim.h"
#include "src/check.h"
#include "src/target.h"

namespace propel {
namespace {

using detail::Check;
using kernels::Act;

constexpr const char* kActNames[kernels::kNumActs] = {
    "identity", "relu",      "sigmoid",  "tanh", "leaky_relu",
    "elu",      "gelu_tanh", "gelu_erf", "silu", "softplus",
};

bool ValidAct(Activation act) {
  const int a = static_cast<int>(act);
  return a >= 0 && a < kernels::kNumActs;
}

void CheckAct(const char* where, Activation act, float alpha) {
  Check(ValidAct(act), where, "activation code ", static_cast<int>(act), " is not one of 0..",
        kernels::kNumActs - 1);
  Check(std::isfinite(alpha), where, "alpha = ", alpha, " is not finite");
}

// No array propel accepts holds more than 2^60 elements: sizes in bytes and block extents are
// then computed without overflow.
constexpr int64_t kMaxElements = int64_t{1} << 60;

void CheckCount(const char* where, const char* name, int64_t n) {
  Check(n >= 0, where, name, " = ", n, " is negative");
  Check(n <= kMaxElements, where, name, " = ", n, " exceeds the largest array size (2^60)");
}

// rows x cols elements (both already checked by CheckCount).
void CheckProduct(const char* where, int64_t rows, int64_t cols) {
  Check(cols == 0 || rows <= kMaxElements / cols, where, rows, " x ", cols,
        " elements exceed the largest array size (2^60)");
}

void CheckPtr(const char* where, const char* name, const void* p, int64_t n) {
  Check(n == 0 || p != nullptr, where, name, " is null with ", n, " elements");
}

// An output may be the input itself, or disjoint from it; a partial overlap is refused.
// out_bytes, in_bytes: the extents of the two arrays.
void CheckAlias(const char* where, const char* out_name, const void* out, int64_t out_bytes,
                const char* in_name, const void* in, int64_t in_bytes) {
  if (out == in || out_bytes <= 0 || in_bytes <= 0 || out == nullptr || in == nullptr) return;
  const auto o = reinterpret_cast<uintptr_t>(out);
  const auto i = reinterpret_cast<uintptr_t>(in);
  Check(o + static_cast<uintptr_t>(out_bytes) <= i || i + static_cast<uintptr_t>(in_bytes) <= o,
        where, out_name, " overlaps ", in_name, " partially (it may only be the same array)");
}

int64_t Bytes(int64_t n) { return n * static_cast<int64_t>(sizeof(float)); }

// The extent in bytes of a rows x cols block with row stride ld.
int64_t BlockBytes(int64_t rows, int64_t cols, int64_t ld) {
  return rows == 0 || cols == 0 ? 0 : Bytes((rows - 1) * ld + cols);
}

void CheckBlock(const char* where, const char* name, const void* p, int64_t rows, int64_t cols,
                int64_t ld, const char* ld_name) {
  Check(ld >= 1 && ld >= cols, where, ld_name, " = ", ld, " is smaller than cols = ", cols);
  Check(rows <= 1 || cols == 0 || ld <= (kMaxElements - cols) / (rows - 1), where, name, ": ", rows,
        " rows of stride ", ld, " exceed the largest array size (2^60)");
  Check(rows == 0 || cols == 0 || p != nullptr, where, name, " is null with ", rows, " x ", cols,
        " elements");
}

const kernels::ElementwiseKernels& K() { return detail::ActiveElementwiseKernels(); }

Act ToAct(Activation act) { return static_cast<Act>(static_cast<int>(act)); }

}  // namespace

namespace detail {

kernels::AdamArgs AdamArgsFor(const AdamOptions& opt, int64_t step, float grad_scale) {
  const double t = static_cast<double>(step);
  kernels::AdamArgs a;
  a.lr = opt.lr;
  a.beta1 = opt.beta1;
  a.beta2 = opt.beta2;
  a.eps = opt.eps;
  a.weight_decay = opt.weight_decay;
  a.grad_scale = grad_scale;
  a.decoupled = opt.decoupled;
  a.bias_correction1 = static_cast<float>(1.0 - std::pow(static_cast<double>(opt.beta1), t));
  a.bias_correction2 = static_cast<float>(1.0 - std::pow(static_cast<double>(opt.beta2), t));
  return a;
}

kernels::ActParams CheckedActivation(const char* where, Activation act, float alpha) {
  CheckAct(where, act, alpha);
  kernels::ActParams p;
  p.act = ToAct(act);
  p.alpha = alpha;
  p.fn = K().act_forward;
  return p;
}

}  // namespace detail

// ------------------------------------------------------------------------------- activations

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
  if (n > 0) K().act_forward(ToAct(act), alpha, n, x, y);
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
  if (n > 0) K().act_backward(ToAct(act), alpha, n, x, dy, dx);
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
  if (n > 0) K().act_backward_out(ToAct(act), alpha, n, y, dy, dx);
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
    K().act_backward_bias(ToAct(act), alpha, from_output, rows, cols, s, lds, da, ldda, dz, lddz,
                          db);
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
  if (rows > 0) K().softmax(log, rows, cols, x, ldx, y, ldy);
}
}  // namespace

void softmax(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* y, int64_t ldy) {
  SoftmaxImpl("propel::softmax", false, rows, cols, x, ldx, y, ldy);
}

void log_softmax(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* y, int64_t ldy) {
  SoftmaxImpl("propel::log_softmax", true, rows, cols, x, ldx, y, ldy);
}

// ------------------------------------------------------------------------------------ losses

namespace {

void CheckLossShape(const char* where, int64_t rows, int64_t cols, const float* in,
                    const char* in_name, const void* target, const char* target_name, float* dz,
                    float grad_scale) {
  CheckCount(where, "rows", rows);
  CheckCount(where, "cols", cols);
  CheckProduct(where, rows, cols);
  CheckPtr(where, in_name, in, rows * cols);
  CheckPtr(where, target_name, target, rows * cols);
  CheckAlias(where, "dz", dz, Bytes(rows * cols), in_name, in, Bytes(rows * cols));
  Check(std::isfinite(grad_scale), where, "grad_scale = ", grad_scale, " is not finite");
}

// The first non-finite value of a rows x cols array, as "name[row][col] = value".
bool FindNonFinite(const float* p, int64_t rows, int64_t cols, const char* name,
                   std::string* what) {
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(p[i])) {
      *what = std::string(name) + "[" + std::to_string(i / cols) + "][" + std::to_string(i % cols) +
              "] = " + (std::isnan(p[i]) ? "nan" : (p[i] > 0 ? "inf" : "-inf"));
      return true;
    }
  }
  return false;
}

// A non-finite loss: name the first non-finite input (or report the overflow).
[[noreturn]] void NumericalFailure(const char* where, int64_t rows, int64_t cols, const float* in,
                                   const char* in_name, const float* target,
                                   const char* target_name) {
  std::string what;
  if (FindNonFinite(in, rows, cols, in_name, &what) ||
      (target != nullptr && FindNonFinite(target, rows, cols, target_name, &what))) {
    detail::Fail(ErrorCode::kNumerical, where, "non-finite input: ", what);
  }
  detail::Fail(ErrorCode::kNumerical, where, "the loss overflowed with finite inputs");
}

float Mean(double total, int64_t rows) {
  return rows > 0 ? static_cast<float>(total / static_cast<double>(rows)) : 0.0f;
}

}  // namespace

namespace {
// The element-wise losses: checks, the kernel (a call returning the summed loss), the non-finite
// report, the mean.
template <class Kernel>
float ElementLoss(const char* where, int64_t rows, int64_t cols, const float* in,
                  const char* in_name, const float* y, float* dz, float grad_scale,
                  const Kernel& kernel) {
  CheckLossShape(where, rows, cols, in, in_name, y, "y", dz, grad_scale);
  if (rows * cols == 0) return 0.0f;
  const double total = kernel(rows * cols);
  if (!std::isfinite(total)) NumericalFailure(where, rows, cols, in, in_name, y, "y");
  return Mean(total, rows);
}
}  // namespace

float bce_with_logits(int64_t rows, int64_t cols, const float* z, const float* y, float* dz,
                      float grad_scale) {
  return ElementLoss("propel::bce_with_logits", rows, cols, z, "z", y, dz, grad_scale,
                     [&](int64_t n) { return K().bce_logits(n, z, y, grad_scale, dz); });
}

float binary_cross_entropy(int64_t rows, int64_t cols, const float* a, const float* y, float* dz,
                           float grad_scale, float eps) {
  const char* where = "propel::binary_cross_entropy";
  Check(eps > 0.0f && eps < 0.5f, where, "eps = ", eps, " is not in (0, 0.5)");
  return ElementLoss(where, rows, cols, a, "a", y, dz, grad_scale,
                     [&](int64_t n) { return K().bce_prob(n, a, y, eps, grad_scale, dz); });
}

float mean_squared_error(int64_t rows, int64_t cols, const float* a, const float* y, float* dz,
                         float grad_scale) {
  return ElementLoss("propel::mean_squared_error", rows, cols, a, "a", y, dz, grad_scale,
                     [&](int64_t n) { return K().mse(n, a, y, grad_scale, dz); });
}

float softmax_cross_entropy(int64_t rows, int64_t classes, const float* z, const int32_t* labels,
                            float* dz, float grad_scale) {
  const char* where = "propel::softmax_cross_entropy";
  CheckCount(where, "rows", rows);
  Check(classes >= 1, where, "classes = ", classes, " must be at least 1");
  CheckCount(where, "classes", classes);
  CheckProduct(where, rows, classes);
  CheckPtr(where, "z", z, rows * classes);
  CheckPtr(where, "labels", labels, rows);
  CheckAlias(where, "dz", dz, Bytes(rows * classes), "z", z, Bytes(rows * classes));
  Check(std::isfinite(grad_scale), where, "grad_scale = ", grad_scale, " is not finite");
  for (int64_t i = 0; i < rows; ++i) {
    Check(labels[i] >= 0 && labels[i] < classes, where, "labels[", i, "] = ", labels[i],
          " is outside [0, ", classes, ")");
  }
  if (rows == 0) return 0.0f;
  const double total = K().softmax_ce_labels(rows, classes, z, labels, grad_scale, dz);
  if (!std::isfinite(total)) NumericalFailure(where, rows, classes, z, "z", nullptr, nullptr);
  return Mean(total, rows);
}

float softmax_cross_entropy(int64_t rows, int64_t classes, const float* z, const float* targets,
                            float* dz, float grad_scale) {
  const char* where = "propel::softmax_cross_entropy";
  Check(classes >= 1, where, "classes = ", classes, " must be at least 1");
  CheckLossShape(where, rows, classes, z, "z", targets, "targets", dz, grad_scale);
  if (rows == 0) return 0.0f;
  const double total = K().softmax_ce_soft(rows, classes, z, targets, grad_scale, dz);
  if (!std::isfinite(total)) NumericalFailure(where, rows, classes, z, "z", targets, "targets");
  return Mean(total, rows);
}

// ------------------------------------------------------------------ reductions and optimizers

void column_sums(int64_t rows, int64_t cols, const float* x, int64_t ldx, float* out,
                 bool accumulate) {
  const char* where = "propel::column_sums";
  CheckCount(where, "rows", rows);
  CheckCount(where, "cols", cols);
  CheckBlock(where, "x", x, rows, cols, ldx, "ldx");
  CheckPtr(where, "out", out, cols);
  CheckAlias(where, "out", out, Bytes(cols), "x", x, BlockBytes(rows, cols, ldx));
  Check(out != x || rows == 0 || cols == 0, where, "out must not be x");
  if (cols > 0) K().column_sums(rows, cols, x, ldx, out, accumulate);
}

double sum_squares(int64_t n, const float* x) {
  const char* where = "propel::sum_squares";
  CheckCount(where, "n", n);
  CheckPtr(where, "x", x, n);
  return n > 0 ? K().sum_squares(n, x) : 0.0;
}

double l2_norm(int64_t n, const float* x) {
  const char* where = "propel::l2_norm";
  CheckCount(where, "n", n);
  CheckPtr(where, "x", x, n);
  return n > 0 ? std::sqrt(K().sum_squares(n, x)) : 0.0;
}

void reduce_sum(int64_t k, const float* const* bufs, int64_t n, float scale, float* out) {
  const char* where = "propel::reduce_sum";
  Check(k >= 1, where, "k = ", k, " must be at least 1");
  Check(k <= (int64_t{1} << 32), where, "k = ", k, " buffers are more than 2^32");
  CheckCount(where, "n", n);
  Check(bufs != nullptr, where, "bufs is null");
  Check(std::isfinite(scale), where, "scale = ", scale, " is not finite");
  CheckPtr(where, "out", out, n);
  for (int64_t b = 0; b < k; ++b) {
    Check(n == 0 || bufs[b] != nullptr, where, "bufs[", b, "] is null");
    CheckAlias(where, "out", out, Bytes(n), "a buffer", bufs[b], Bytes(n));
  }
  if (n > 0) K().reduce_sum(k, bufs, n, scale, out);
}

float clip_scale(double norm, float max_norm) {
  if (!(max_norm > 0.0f) || !(norm > max_norm)) return 1.0f;
  return static_cast<float>(max_norm / norm);
}

void sgd_update(const SgdOptions& opt, int64_t n, float* w, const float* g, float* velocity,
                float grad_scale) {
  const char* where = "propel::sgd_update";
  Check(std::isfinite(opt.lr) && opt.lr >= 0.0f, where, "lr = ", opt.lr,
        " is not a finite non-negative number");
  Check(std::isfinite(opt.momentum) && opt.momentum >= 0.0f && opt.momentum < 1.0f, where,
        "momentum = ", opt.momentum, " is not in [0, 1)");
  Check(std::isfinite(opt.weight_decay) && opt.weight_decay >= 0.0f, where,
        "weight_decay = ", opt.weight_decay, " is not a finite non-negative number");
  Check(!opt.nesterov || opt.momentum > 0.0f, where, "nesterov requires momentum > 0");
  Check(std::isfinite(grad_scale), where, "grad_scale = ", grad_scale, " is not finite");
  CheckCount(where, "n", n);
  CheckPtr(where, "w", w, n);
  CheckPtr(where, "g", g, n);
  if (opt.momentum > 0.0f) CheckPtr(where, "velocity", velocity, n);
  CheckAlias(where, "w", w, Bytes(n), "g", g, Bytes(n));
  Check(w != g || n == 0, where, "w and g are the same array");
  kernels::SgdArgs a{opt.lr, opt.momentum, opt.weight_decay, grad_scale, opt.nesterov};
  if (n > 0) K().sgd(n, a, w, g, opt.momentum > 0.0f ? velocity : nullptr);
}

void adam_update(const AdamOptions& opt, int64_t step, int64_t n, float* w, const float* g,
                 float* m, float* v, float grad_scale) {
  const char* where = "propel::adam_update";
  Check(std::isfinite(opt.lr) && opt.lr >= 0.0f, where, "lr = ", opt.lr,
        " is not a finite non-negative number");
  Check(opt.beta1 >= 0.0f && opt.beta1 < 1.0f, where, "beta1 = ", opt.beta1, " is not in [0, 1)");
  Check(opt.beta2 >= 0.0f && opt.beta2 < 1.0f, where, "beta2 = ", opt.beta2, " is not in [0, 1)");
  Check(std::isfinite(opt.eps) && opt.eps > 0.0f, where, "eps = ", opt.eps,
        " is not a finite positive number");
  Check(std::isfinite(opt.weight_decay) && opt.weight_decay >= 0.0f, where,
        "weight_decay = ", opt.weight_decay, " is not a finite non-negative number");
  Check(step >= 1, where, "step = ", step, " must be at least 1 (the first update is step 1)");
  Check(std::isfinite(grad_scale), where, "grad_scale = ", grad_scale, " is not finite");
  CheckCount(where, "n", n);
  CheckPtr(where, "w", w, n);
  CheckPtr(where, "g", g, n);
  CheckPtr(where, "m", m, n);
  CheckPtr(where, "v", v, n);
  Check(n == 0 || (w != g && m != v && w != m && w != v), where,
        "w, g, m and v must be distinct arrays");
  const kernels::AdamArgs a = detail::AdamArgsFor(opt, step, grad_scale);
  Check(a.bias_correction1 > 0.0f && a.bias_correction2 > 0.0f, where,
        "the bias correction 1 - beta^step rounds to 0 at step ", step);
  if (n > 0) K().adam(n, a, w, g, m, v);
}

}  // namespace propel
