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

/* Activations of the fused linear layer. */
enum { PROPEL_ACT_IDENTITY = 0, PROPEL_ACT_RELU = 1 };

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

/* Z = act(X * W^T + bias): X batch x in, W out x in, bias out values or NULL, Z batch x out. */
PROPEL_API int propel_linear_forward(int64_t batch, int64_t in, int64_t out, const float* x,
                                     int64_t ldx, const float* w, int64_t ldw, const float* bias,
                                     int act, float* z, int64_t ldz);

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
