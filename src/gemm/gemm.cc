// propel::sgemm, propel::gemm_bf16 and propel::linear_forward: validation, then the driver on
// the active target's kernels of the precision.
#include "propel/gemm.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "src/gemm/blocking.h"
#include "src/gemm/gemm_driver.h"
#include "src/ops/checks.h"
#include "src/runtime/aligned.h"
#include "src/runtime/check.h"
#include "src/runtime/executor.h"
#include "src/runtime/memory.h"
#include "src/runtime/names.h"
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

void Run(const detail::GemmProblem& p, Precision precision = Precision::kFp32) {
  const detail::GemmSetup& setup = detail::ActiveEngine(precision);
  const kernels::GemmEngine& kern = *setup.engine;
  const detail::Blocking& blk = setup.blocking;
  detail::RunGemm(kern, blk, p, detail::AvailableThreads());
}

detail::GemmProblem CheckedProblem(const char* where, Trans trans_a, Trans trans_b, int64_t m,
                                   int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
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
  return p;
}

// The rows x cols bf16 matrix at src (row stride ld) widened into a contiguous fp32 copy.
detail::AlignedFloats Widened(int64_t rows, int64_t cols, const bf16* src, int64_t ld) {
  detail::AlignedFloats out;
  if (rows == 0 || cols == 0) return out;
  out.Resize(rows * cols);
  for (int64_t i = 0; i < rows; ++i) to_float(cols, src + i * ld, out.data() + i * cols);
  return out;
}

}  // namespace

void sgemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc) {
  Run(CheckedProblem("propel::sgemm", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                     ldc));
}

void gemm_bf16(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  Run(CheckedProblem("propel::gemm_bf16", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                     ldc),
      Precision::kBf16);
}

void gemm_bf16(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const bf16* a, int64_t lda, const bf16* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  const char* where = "propel::gemm_bf16";
  // The checks see the bf16 arrays as what they are: only their addresses and strides matter.
  detail::GemmProblem p =
      CheckedProblem(where, trans_a, trans_b, m, n, k, alpha, reinterpret_cast<const float*>(a),
                     lda, reinterpret_cast<const float*>(b), ldb, beta, c, ldc);
  if (p.m == 0 || p.n == 0) return;
  const bool reads = p.k > 0 && p.alpha != 0.0f;
  // The stored operands widened to fp32 (exact), then the fp32-operand GEMM: rounding a bf16
  // value again changes nothing, so the result is gemm_bf16's on the widened values.
  const int64_t a_rows = p.trans_a ? p.k : p.m, a_cols = p.trans_a ? p.m : p.k;
  const int64_t b_rows = p.trans_b ? p.n : p.k, b_cols = p.trans_b ? p.k : p.n;
  if (reads) {
    detail::CheckMemory(where, "the fp32 copies of A and B",
                        4.0 * (static_cast<double>(a_rows) * static_cast<double>(a_cols) +
                               static_cast<double>(b_rows) * static_cast<double>(b_cols)));
  }
  const detail::AlignedFloats wa =
      reads ? Widened(a_rows, a_cols, a, lda) : detail::AlignedFloats();
  const detail::AlignedFloats wb =
      reads ? Widened(b_rows, b_cols, b, ldb) : detail::AlignedFloats();
  p.a = reads ? wa.data() : nullptr;
  p.lda = std::max<int64_t>(a_cols, 1);
  p.b = reads ? wb.data() : nullptr;
  p.ldb = std::max<int64_t>(b_cols, 1);
  Run(p, Precision::kBf16);
}

namespace {

const char* const kPrecisionNames[] = {"fp32", "bf16", "auto"};

}  // namespace

const char* precision_name(Precision precision) {
  return detail::NameOf(kPrecisionNames, static_cast<int>(precision));
}

Precision parse_precision(const std::string& name) {
  if (name == "float32") return Precision::kFp32;
  if (name == "bfloat16") return Precision::kBf16;
  return detail::ParseName<Precision>("propel::parse_precision", "precision", kPrecisionNames,
                                      name);
}

bf16 to_bf16(float x) {
  float r;
  detail::ActiveEngine(Precision::kBf16).engine->round_bf16(1, &x, &r);
  return bf16{static_cast<uint16_t>(std::bit_cast<uint32_t>(r) >> 16)};
}

float to_float(bf16 x) { return std::bit_cast<float>(static_cast<uint32_t>(x.bits) << 16); }

void to_bf16(int64_t n, const float* src, bf16* dst) {
  detail::Check(n >= 0, "propel::to_bf16", "n = ", n, " is negative");
  if (n == 0) return;
  detail::Check(src != nullptr && dst != nullptr, "propel::to_bf16",
                "src or dst is null with n = ", n);
  const kernels::RoundBf16Fn round = detail::ActiveEngine(Precision::kBf16).engine->round_bf16;
  constexpr int64_t kChunk = 1024;
  alignas(64) float buf[kChunk];
  for (int64_t i = 0; i < n; i += kChunk) {
    const int64_t len = std::min(kChunk, n - i);
    round(len, src + i, buf);
    for (int64_t j = 0; j < len; ++j) {
      dst[i + j].bits = static_cast<uint16_t>(std::bit_cast<uint32_t>(buf[j]) >> 16);
    }
  }
}

void to_float(int64_t n, const bf16* src, float* dst) {
  detail::Check(n >= 0, "propel::to_float", "n = ", n, " is negative");
  if (n == 0) return;
  detail::Check(src != nullptr && dst != nullptr, "propel::to_float",
                "src or dst is null with n = ", n);
  for (int64_t i = 0; i < n; ++i) dst[i] = to_float(src[i]);
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
