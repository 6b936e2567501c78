// The C API of the kernels and the run-time settings (propel/propel.h): GEMM, activations,
// losses, reductions, optimizer updates, threads, executor and SIMD target.
#include <cstring>
#include <string>

#include "propel/activation.h"
#include "propel/gemm.h"
#include "propel/loss.h"
#include "propel/optim.h"
#include "propel/precision.h"
#include "propel/propel.h"
#include "propel/target.h"
#include "propel/threading.h"
#include "propel/version.h"
#include "src/c_api/status.h"

using propel::capi::LastError;
using propel::capi::Wrap;

namespace {

thread_local std::string t_target_name;

int InvalidTrans(const char* where, const char* name, int value) {
  return propel::capi::Refuse(std::string(where) + ": " + name + " = " + std::to_string(value) +
                              " must be 0 (none) or 1 (transpose)");
}

// uint16_t bf16 storage as propel::bf16 (a struct of one uint16_t: same size and alignment).
static_assert(sizeof(propel::bf16) == sizeof(uint16_t) &&
              alignof(propel::bf16) == alignof(uint16_t));
const propel::bf16* AsBf16(const uint16_t* p) { return reinterpret_cast<const propel::bf16*>(p); }

// Loss wrappers: the C++ call, its mean stored through `loss` (checked non-null first).
template <class F>
int LossCall(const char* where, float* loss, F&& f) {
  if (loss == nullptr) return propel::capi::Refuse(std::string(where) + ": loss is null");
  return Wrap([&] { *loss = f(); });
}

}  // namespace

extern "C" {

const char* propel_version(void) { return PROPEL_VERSION_STRING; }

const char* propel_last_error(void) { return LastError().c_str(); }

int propel_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  if (trans_a != 0 && trans_a != 1) return InvalidTrans("propel_sgemm", "trans_a", trans_a);
  if (trans_b != 0 && trans_b != 1) return InvalidTrans("propel_sgemm", "trans_b", trans_b);
  return Wrap([&] {
    propel::sgemm(static_cast<propel::Trans>(trans_a), static_cast<propel::Trans>(trans_b), m, n, k,
                  alpha, a, lda, b, ldb, beta, c, ldc);
  });
}

int propel_gemm_bf16(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                     int64_t ldc) {
  const char* where = "propel_gemm_bf16";
  if (trans_a != 0 && trans_a != 1) return InvalidTrans(where, "trans_a", trans_a);
  if (trans_b != 0 && trans_b != 1) return InvalidTrans(where, "trans_b", trans_b);
  return Wrap([&] {
    propel::gemm_bf16(static_cast<propel::Trans>(trans_a), static_cast<propel::Trans>(trans_b), m,
                      n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  });
}

int propel_gemm_bf16_stored(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                            const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb,
                            float beta, float* c, int64_t ldc) {
  const char* where = "propel_gemm_bf16_stored";
  if (trans_a != 0 && trans_a != 1) return InvalidTrans(where, "trans_a", trans_a);
  if (trans_b != 0 && trans_b != 1) return InvalidTrans(where, "trans_b", trans_b);
  return Wrap([&] {
    propel::gemm_bf16(static_cast<propel::Trans>(trans_a), static_cast<propel::Trans>(trans_b), m,
                      n, k, alpha, AsBf16(a), lda, AsBf16(b), ldb, beta, c, ldc);
  });
}

int propel_to_bf16(int64_t n, const float* src, uint16_t* dst) {
  return Wrap([&] { propel::to_bf16(n, src, reinterpret_cast<propel::bf16*>(dst)); });
}

int propel_bf16_to_float(int64_t n, const uint16_t* src, float* dst) {
  return Wrap([&] { propel::to_float(n, AsBf16(src), dst); });
}

int propel_linear_forward(int64_t batch, int64_t in, int64_t out, const float* x, int64_t ldx,
                          const float* w, int64_t ldw, const float* bias, int act, float alpha,
                          float* z, int64_t ldz) {
  return Wrap([&] {
    propel::linear_forward(batch, in, out, x, ldx, w, ldw, bias,
                           static_cast<propel::Activation>(act), z, ldz, alpha);
  });
}

int propel_activation_forward(int act, float alpha, int64_t n, const float* x, float* y) {
  return Wrap(
      [&] { propel::activation_forward(static_cast<propel::Activation>(act), alpha, n, x, y); });
}

int propel_activation_backward(int act, float alpha, int64_t n, const float* x, const float* dy,
                               float* dx) {
  return Wrap([&] {
    propel::activation_backward(static_cast<propel::Activation>(act), alpha, n, x, dy, dx);
  });
}

int propel_activation_backward_from_output(int act, float alpha, int64_t n, const float* y,
                                           const float* dy, float* dx) {
  return Wrap([&] {
    propel::activation_backward_from_output(static_cast<propel::Activation>(act), alpha, n, y, dy,
                                            dx);
  });
}

int propel_softmax(int64_t rows, int64_t cols, const float* x, float* y) {
  return Wrap([&] { propel::softmax(rows, cols, x, cols, y, cols); });
}

int propel_log_softmax(int64_t rows, int64_t cols, const float* x, float* y) {
  return Wrap([&] { propel::log_softmax(rows, cols, x, cols, y, cols); });
}

int propel_loss_bce_with_logits(int64_t rows, int64_t cols, const float* z, const float* y,
                                float grad_scale, float* dz, float* loss) {
  return LossCall("propel_loss_bce_with_logits", loss,
                  [&] { return propel::bce_with_logits(rows, cols, z, y, dz, grad_scale); });
}

int propel_loss_bce(int64_t rows, int64_t cols, const float* a, const float* y, float eps,
                    float grad_scale, float* dz, float* loss) {
  return LossCall("propel_loss_bce", loss, [&] {
    return propel::binary_cross_entropy(rows, cols, a, y, dz, grad_scale, eps);
  });
}

int propel_loss_mse(int64_t rows, int64_t cols, const float* a, const float* y, float grad_scale,
                    float* dz, float* loss) {
  return LossCall("propel_loss_mse", loss,
                  [&] { return propel::mean_squared_error(rows, cols, a, y, dz, grad_scale); });
}

int propel_loss_softmax_ce(int64_t rows, int64_t classes, const float* z, const int32_t* labels,
                           float grad_scale, float* dz, float* loss) {
  return LossCall("propel_loss_softmax_ce", loss, [&] {
    return propel::softmax_cross_entropy(rows, classes, z, labels, dz, grad_scale);
  });
}

int propel_loss_softmax_ce_soft(int64_t rows, int64_t classes, const float* z, const float* targets,
                                float grad_scale, float* dz, float* loss) {
  return LossCall("propel_loss_softmax_ce_soft", loss, [&] {
    return propel::softmax_cross_entropy(rows, classes, z, targets, dz, grad_scale);
  });
}

int propel_column_sums(int64_t rows, int64_t cols, const float* x, float* out, int accumulate) {
  return Wrap(
      [&] { propel::column_sums(rows, cols, x, cols > 0 ? cols : 1, out, accumulate != 0); });
}

int propel_sum_squares(int64_t n, const float* x, double* out) {
  if (out == nullptr) {
    LastError() = "propel_sum_squares: out is null";
    return PROPEL_ERROR_INVALID_ARGUMENT;
  }
  return Wrap([&] { *out = propel::sum_squares(n, x); });
}

int propel_reduce_sum(int64_t k, const float* const* bufs, int64_t n, float scale, float* out) {
  return Wrap([&] { propel::reduce_sum(k, bufs, n, scale, out); });
}

int propel_sgd_update(int64_t n, float lr, float momentum, float weight_decay, int nesterov,
                      float grad_scale, float* w, const float* g, float* velocity) {
  return Wrap([&] {
    propel::SgdOptions opt;
    opt.lr = lr;
    opt.momentum = momentum;
    opt.weight_decay = weight_decay;
    opt.nesterov = nesterov != 0;
    propel::sgd_update(opt, n, w, g, velocity, grad_scale);
  });
}

int propel_adam_update(int64_t n, int64_t step, float lr, float beta1, float beta2, float eps,
                       float weight_decay, int decoupled, float grad_scale, float* w,
                       const float* g, float* m, float* v) {
  return Wrap([&] {
    propel::AdamOptions opt;
    opt.lr = lr;
    opt.beta1 = beta1;
    opt.beta2 = beta2;
    opt.eps = eps;
    opt.weight_decay = weight_decay;
    opt.decoupled = decoupled != 0;
    propel::adam_update(opt, step, n, w, g, m, v, grad_scale);
  });
}

int propel_set_num_threads(int n) {
  return Wrap([&] { propel::set_num_threads(n); });
}

int propel_get_num_threads(void) { return propel::num_threads(); }

int propel_set_executor(int executor) {
  return Wrap([&] { propel::set_executor(static_cast<propel::Executor>(executor)); });
}

int propel_set_target(const char* name) {
  return Wrap([&] { propel::pin_target(name == nullptr ? std::string() : std::string(name)); });
}

const char* propel_get_target(void) {
  // Wrap keeps a bad PROPEL_TARGET from escaping as an exception.
  t_target_name.clear();
  if (Wrap([&] { t_target_name = propel::active_target().name; }) != PROPEL_OK) return "";
  return t_target_name.c_str();
}

}  // extern "C"
