/* propel's C API: a C11-compatible interface to the kernels, with status codes instead of
 * exceptions. Nothing is thrown across it and nothing aborts the host on bad input.
 *
 * Example (row-major C = A * B, A: 2x3, B: 3x2):
 *
 *   float a[6] = {1, 2, 3, 4, 5, 6};
 *   float b[6] = {1, 0, 0, 1, 1, 1};
 *   float c[4];
 *   if (propel_sgemm(0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2) != PROPEL_OK) {
 *     fprintf(stderr, "%s\n", propel_last_error());
 *   }
 *   // c == {4, 5, 10, 11}
 *
 * Errors: every function returns PROPEL_OK (0) or a PROPEL_ERROR_* code; the message of the
 * most recent failure on the calling thread is returned by propel_last_error().
 */
#ifndef PROPEL_PROPEL_H_
#define PROPEL_PROPEL_H_

#include <stdint.h>

#if defined(_WIN32) && defined(PROPEL_SHARED) && defined(PROPEL_BUILDING)
#define PROPEL_API __declspec(dllexport)
#elif defined(_WIN32) && defined(PROPEL_SHARED)
#define PROPEL_API __declspec(dllimport)
#elif defined(__GNUC__)
#define PROPEL_API __attribute__((visibility("default")))
#else
#define PROPEL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum {
  PROPEL_OK = 0,
  PROPEL_ERROR_INVALID_ARGUMENT = 1,
  PROPEL_ERROR_UNSUPPORTED = 2,
  PROPEL_ERROR_NUMERICAL = 3,
  PROPEL_ERROR_IO = 4,
  PROPEL_ERROR_OUT_OF_MEMORY = 5,
  PROPEL_ERROR_INTERNAL = 6
};

/* Activations (propel::Activation in <propel/activation.h>). alpha is leaky ReLU's slope
 * (typically 0.01) and ELU's scale (typically 1); the others ignore it. */
enum {
  PROPEL_ACT_IDENTITY = 0,
  PROPEL_ACT_RELU = 1,
  PROPEL_ACT_SIGMOID = 2,
  PROPEL_ACT_TANH = 3,
  PROPEL_ACT_LEAKY_RELU = 4,
  PROPEL_ACT_ELU = 5,
  PROPEL_ACT_GELU_TANH = 6,
  PROPEL_ACT_GELU_ERF = 7,
  PROPEL_ACT_SILU = 8,
  PROPEL_ACT_SOFTPLUS = 9
};

/* Executors (see propel_set_executor). */
enum { PROPEL_EXECUTOR_TBB = 0, PROPEL_EXECUTOR_OPENMP = 1, PROPEL_EXECUTOR_SERIAL = 2 };

/* The library's version, e.g. "0.1.0". */
PROPEL_API const char* propel_version(void);

/* Message of the last failed call on this thread ("" if none). Valid until the next failing
 * call on the same thread. */
PROPEL_API const char* propel_last_error(void);

/* C = alpha * op(A) * op(B) + beta * C, row-major; trans_* is 0 (none) or 1 (transpose).
 * Same contract as propel::sgemm in <propel/gemm.h>. */
PROPEL_API int propel_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                            const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                            float* c, int64_t ldc);

/* Z = act(X * W^T + bias): X batch x in, W out x in, bias out values or NULL, Z batch x out.
 * act: PROPEL_ACT_*, applied in the GEMM epilogue. */
PROPEL_API int propel_linear_forward(int64_t batch, int64_t in, int64_t out, const float* x,
                                     int64_t ldx, const float* w, int64_t ldw, const float* bias,
                                     int act, float alpha, float* z, int64_t ldz);

/* Element-wise kernels (<propel/activation.h>, <propel/loss.h>, <propel/optim.h> for the full
 * contracts). Arrays are contiguous; outputs may be the input array itself (y == x, dx == dy,
 * dz == z) but must not overlap it partially. */

/* y = act(x), n elements. */
PROPEL_API int propel_activation_forward(int act, float alpha, int64_t n, const float* x, float* y);
/* dx = dy * act'(x), x the pre-activation. */
PROPEL_API int propel_activation_backward(int act, float alpha, int64_t n, const float* x,
                                          const float* dy, float* dx);
/* dx = dy * act'(x) from the output y = act(x): identity, ReLU, sigmoid, tanh, leaky ReLU and
 * ELU only (PROPEL_ERROR_INVALID_ARGUMENT for the others). */
PROPEL_API int propel_activation_backward_from_output(int act, float alpha, int64_t n,
                                                      const float* y, const float* dy, float* dx);
/* Row-wise softmax and log-softmax of a rows x cols array (cols >= 1). */
PROPEL_API int propel_softmax(int64_t rows, int64_t cols, const float* x, float* y);
PROPEL_API int propel_log_softmax(int64_t rows, int64_t cols, const float* x, float* y);

/* Losses over rows x cols (one sample per row). *loss receives the mean over rows of the
 * per-sample loss; dz (may be NULL) receives grad_scale * the per-sample gradient with respect
 * to the input (grad_scale = 1 / rows: the gradient of the mean). Labels outside [0, classes)
 * give PROPEL_ERROR_INVALID_ARGUMENT, non-finite inputs PROPEL_ERROR_NUMERICAL. */
PROPEL_API int propel_loss_bce_with_logits(int64_t rows, int64_t cols, const float* z,
                                           const float* y, float grad_scale, float* dz,
                                           float* loss);
PROPEL_API int propel_loss_bce(int64_t rows, int64_t cols, const float* a, const float* y,
                               float eps, float grad_scale, float* dz, float* loss);
PROPEL_API int propel_loss_mse(int64_t rows, int64_t cols, const float* a, const float* y,
                               float grad_scale, float* dz, float* loss);
PROPEL_API int propel_loss_softmax_ce(int64_t rows, int64_t classes, const float* z,
                                      const int32_t* labels, float grad_scale, float* dz,
                                      float* loss);
PROPEL_API int propel_loss_softmax_ce_soft(int64_t rows, int64_t classes, const float* z,
                                           const float* targets, float grad_scale, float* dz,
                                           float* loss);

/* Reductions: column sums (accumulate != 0 adds to out), sum of squares, and
 * out = scale * (bufs[0] + ... + bufs[k-1]) in a fixed pairwise order. */
PROPEL_API int propel_column_sums(int64_t rows, int64_t cols, const float* x, float* out,
                                  int accumulate);
PROPEL_API int propel_sum_squares(int64_t n, const float* x, double* out);
PROPEL_API int propel_reduce_sum(int64_t k, const float* const* bufs, int64_t n, float scale,
                                 float* out);

/* Optimizer updates in place on w, with g_eff = grad_scale * g (+ weight_decay * w for L2).
 * SGD with momentum > 0 needs velocity (n floats, zero at start); nesterov is 0 or 1.
 * Adam: step counts from 1; m and v are n floats each, zero at start; decoupled = 1 is AdamW. */
PROPEL_API int propel_sgd_update(int64_t n, float lr, float momentum, float weight_decay,
                                 int nesterov, float grad_scale, float* w, const float* g,
                                 float* velocity);
PROPEL_API int propel_adam_update(int64_t n, int64_t step, float lr, float beta1, float beta2,
                                  float eps, float weight_decay, int decoupled, float grad_scale,
                                  float* w, const float* g, float* m, float* v);

/* Thread budget (>= 1) and executor for propel's parallel work. */
PROPEL_API int propel_set_num_threads(int n);
PROPEL_API int propel_get_num_threads(void);
PROPEL_API int propel_set_executor(int executor);

/* SIMD target: pin by name ("AVX3", "AVX2", "SSE4", "SSSE3", "SCALAR"; "best" or NULL unpins)
 * and query the active one. */
PROPEL_API int propel_set_target(const char* name);
PROPEL_API const char* propel_get_target(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PROPEL_PROPEL_H_ */
