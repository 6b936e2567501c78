// propel::sgemm and propel::linear_forward: validation, then the driver on the active target.
#include "propel/gemm.h"

#include "src/gemm/blocking.h"
#include "src/gemm/gemm_driver.h"
#include "src/ops/checks.h"
#include "src/runtime/check.h"
#include "src/runtime/executor.h"
#include "src/runtime/target.h"

namespace propel {
namespace {

const char* TransName(bool t) { return t ? "transposed" : "not transposed"; }

// The sgemm argument check (BLAS's xerbla rules, as exceptions naming the argument).
void CheckGemm(const char* where, const detail::GemmProblem& p) {
  using detail::Check;
  Check(p.m >= 0, where, "m = ", p.m, " is negative");
  Check(p.n >= 0, where, "n = ", p.n, " is negative");
  Check(p.k >= 0, where, "k = ", p.k, " is negative");
  const int64_t a_row = p.trans_a ? p.m : p.k;
  const int64_t b_row = p.trans_b ? p.k : p.n;
  Check(p.lda >= 1 && p.lda >= a_row, where, "lda = ", p.lda,
        " is smaller than the stored row length of A (", TransName(p.trans_a),
        "): ", a_row > 1 ? a_row : 1);
  Check(p.ldb >= 1 && p.ldb >= b_row, where, "ldb = ", p.ldb,
        " is smaller than the stored row length of B (", TransName(p.trans_b),
        "): ", b_row > 1 ? b_row : 1);
  Check(p.ldc >= 1 && p.ldc >= p.n, where, "ldc = ", p.ldc,
        " is smaller than the row length of C: n = ", p.n);
  // The stored extents (rows - 1) * ld + row length must be addressable: no more than 2^60
  // elements, so that the driver's index arithmetic cannot overflow.
  const int64_t a_rows = p.trans_a ? p.k : p.m, b_rows = p.trans_b ? p.n : p.k;
  detail::CheckExtent(where, "A", a_rows, a_row, p.lda);
  detail::CheckExtent(where, "B", b_rows, b_row, p.ldb);
  detail::CheckExtent(where, "C", p.m, p.n, p.ldc);
  const bool reads_ab = p.m > 0 && p.n > 0 && p.k > 0 && p.alpha != 0.0f;
  Check(!reads_ab || p.a != nullptr, where, "a is null with m = ", p.m, ", k = ", p.k);
  Check(!reads_ab || p.b != nullptr, where, "b is null with k = ", p.k, ", n = ", p.n);
  Check(p.m == 0 || p.n == 0 || p.c != nullptr, where, "c is null with m = ", p.m, ", n = ", p.n);
}

void Run(const detail::GemmProblem& p) {
  const kernels::GemmKernels& kern = detail::ActiveGemmKernels();
  const detail::Blocking blk = detail::BlockingFor(kern, detail::HostCacheSizes());
  detail::RunGemm(kern, blk, p, detail::AvailableThreads());
}

}  // namespace

void sgemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc) {
  const char* where = "propel::sgemm";
  detail::Check(trans_a == Trans::kNo || trans_a == Trans::kYes, where,
                "trans_a = ", static_cast<int>(trans_a), " is neither kNo (0) nor kYes (1)");
  detail::Check(trans_b == Trans::kNo || trans_b == Trans::kYes, where,
                "trans_b = ", static_cast<int>(trans_b), " is neither kNo (0) nor kYes (1)");
  detail::GemmProblem p;
  p.trans_a = trans_a == Trans::kYes;
  p.trans_b = trans_b == Trans::kYes;
  p.m = m, p.n = n, p.k = k;
  p.alpha = alpha, p.beta = beta;
  p.a = a, p.lda = lda, p.b = b, p.ldb = ldb, p.c = c, p.ldc = ldc;
  CheckGemm(where, p);
  Run(p);
}

void linear_forward(int64_t batch, int64_t in, int64_t out, const float* x, int64_t ldx,
                    const float* w, int64_t ldw, const float* bias, Activation act, float* z,
                    int64_t ldz, float alpha) {
  const char* where = "propel::linear_forward";
  const kernels::ActParams ap = detail::CheckedActivation(where, act, alpha);
  detail::Check(batch >= 0, where, "batch = ", batch, " is negative");
  detail::Check(in >= 0, where, "in = ", in, " is negative");
  detail::Check(out >= 0, where, "out = ", out, " is negative");
  detail::Check(ldx >= 1 && ldx >= in, where, "ldx = ", ldx, " is smaller than in = ", in);
  detail::Check(ldw >= 1 && ldw >= in, where, "ldw = ", ldw, " is smaller than in = ", in);
  detail::Check(ldz >= 1 && ldz >= out, where, "ldz = ", ldz, " is smaller than out = ", out);
  detail::CheckExtent(where, "X", batch, in, ldx);
  detail::CheckExtent(where, "W", out, in, ldw);
  detail::CheckExtent(where, "Z", batch, out, ldz);
  const bool reads = batch > 0 && out > 0 && in > 0;
  detail::Check(!reads || x != nullptr, where, "x is null with batch = ", batch, ", in = ", in);
  detail::Check(!reads || w != nullptr, where, "w is null with out = ", out, ", in = ", in);
  detail::Check(batch == 0 || out == 0 || z != nullptr, where, "z is null with batch = ", batch,
                ", out = ", out);
  detail::GemmProblem p;
  p.trans_a = false;
  p.trans_b = true;
  p.m = batch, p.n = out, p.k = in;
  p.alpha = 1.0f, p.beta = 0.0f;
  p.a = x, p.lda = ldx, p.b = w, p.ldb = ldw, p.c = z, p.ldc = ldz;
  p.bias = bias;
  p.act = ap;
  Run(p);
}

}  // namespace propel
