// The arithmetic precision of a run's GEMMs, and bf16 storage.
//
// Precision::kFp32: every GEMM in binary32 (the default).
// Precision::kAuto: a request, resolved where a run starts (resolve_precision): kBf16 where the
// active target multiplies bf16 natively (AVX3_AMX, AVX3_BF16: propel/target.h), kFp32 elsewhere,
// where bf16 would be emulated with the fp32 FMA and run slower than fp32. A model or a trainer
// always holds the resolved precision.
// Precision::kBf16: mixed precision. The operands of every GEMM (activations, weights, the
// backward pass's dZ) are rounded to bf16 — round to nearest, ties to even; NaN stays NaN;
// binary32 denormals become zero — where they are packed, and their products accumulate in
// binary32. Everything else stays binary32: the master weights, gradient sums, optimizer state,
// biases, the activations' element-wise math and the loss. docs/precision.md has the accuracy to
// expect and when to use which.
//
// bf16 (brain floating point) is the upper half of an IEEE binary32: the same sign and 8
// exponent bits, 7 fraction bits (8 significant), so it has binary32's range at 2^-8 relative
// precision.
#pragma once

#include <cstdint>
#include <string>

namespace propel {

enum class Precision : int {
  kFp32 = 0,
  kBf16 = 1,
  kAuto = 2,
};

const char* precision_name(Precision precision);  // "fp32", "bf16", "auto"
// "fp32" (also "float32"), "bf16" (also "bfloat16"), "auto"; throws propel::Error on other names.
Precision parse_precision(const std::string& name);

// kAuto as the active target resolves it (kBf16 where its bf16 GEMM is native, else kFp32); kFp32
// and kBf16 as they are. Throws propel::Error on a value outside the enum.
Precision resolve_precision(Precision precision);

// One bf16 value: the upper 16 bits of the binary32 it stands for.
struct bf16 {
  uint16_t bits = 0;
};

// The bf16 nearest to x (the rounding above: ties to even, NaN quieted, denormals to zero,
// values that round past the largest bf16 to infinity).
bf16 to_bf16(float x);
// The binary32 a bf16 stands for (exact).
float to_float(bf16 x);

// dst[i] = to_bf16(src[i]) / to_float(src[i]) for i < n, vectorized on the active target.
void to_bf16(int64_t n, const float* src, bf16* dst);
void to_float(int64_t n, const bf16* src, float* dst);

}  // namespace propel
