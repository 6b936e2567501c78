// GEMM on float32 matrices, in fp32 (sgemm) or with operands rounded to bf16 and fp32 sums
// (gemm_bf16), and the fused linear layer (GEMM + bias + activation).
//
// Convention, stated once and never deviated from: matrices are row-major and
//   C = alpha * op(A) * op(B) + beta * C,   op(X) = X or X^T,
// with op(A) of shape m x k, op(B) of shape k x n and C of shape m x n, exactly as BLAS's
// cblas_sgemm(CblasRowMajor, ...). Leading dimensions are in elements: the distance between the
// starts of two consecutive stored rows.
//
// Example:
//   std::vector<float> a(m * k), b(k * n), c(m * n);
//   propel::sgemm(propel::Trans::kNo, propel::Trans::kNo, m, n, k,
//                 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
#pragma once

#include <cstdint>

#include "propel/activation.h"
#include "propel/precision.h"

namespace propel {

enum class Trans : int { kNo = 0, kYes = 1 };

// C = alpha * op(A) * op(B) + beta * C.
//  - Any m, n, k >= 0. k == 0 or alpha == 0 scales C by beta without reading A or B.
//  - beta == 0: C is write-only (NaN/Inf already in C do not propagate).
//  - lda >= (trans_a == kNo ? k : m), ldb >= (trans_b == kNo ? n : k), ldc >= n (each >= 1).
//  - A and B must not overlap C.
//  - Threads: a large product may run on the thread budget set by propel::set_num_threads; work is
//    split over m and n only, never k, so the result is bitwise identical for every thread count.
//    Called from inside a propel parallel region, it runs on the calling thread.
// Throws propel::Error naming the argument on invalid input.
void sgemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc);

// C = alpha * op(A) * op(B) + beta * C with bf16 products: A and B are fp32, rounded to bf16
// (propel/precision.h) as they are packed; the products accumulate in fp32, C is fp32. Each
// element of C is within (2^-7 + 2^-16 + (k + 2) 2^-24) sum_p |a_ip b_pj| of the exact product
// of the fp32 operands (the rounding of both operands, then fp32 accumulation), and within
// (k + 2) 2^-24 sum_p |a'_ip b'_pj| of the exact product of the rounded operands a', b'.
// Arguments, threads and determinism as sgemm.
void gemm_bf16(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc);
// The same on operands already in bf16 (e.g. weights converted once by propel::to_bf16): the
// result is the one gemm_bf16 gives on their fp32 values.
void gemm_bf16(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const bf16* a, int64_t lda, const bf16* b, int64_t ldb, float beta, float* c,
               int64_t ldc);

// The forward pass of a dense layer in one GEMM call, with the bias add and the activation
// applied to each tile of Z while it is still in registers (identity, ReLU) or in L1 (the other
// activations of propel/activation.h, alpha as there):
//   Z = act(X * W^T + bias)
// X: batch x in (row stride ldx >= in), W: out x in (row stride ldw >= in, the layout of
// PyTorch's Linear.weight), bias: out values or nullptr, Z: batch x out (row stride ldz >= out).
// Threads and determinism as sgemm. Throws propel::Error on invalid input.
void linear_forward(int64_t batch, int64_t in, int64_t out, const float* x, int64_t ldx,
                    const float* w, int64_t ldw, const float* bias, Activation act, float* z,
                    int64_t ldz, float alpha = 0.0f);

}  // namespace propel
