// The kernels one run uses (inference in src/train/model.cc, the training step in
// src/train/trainer.cc, the layer in src/train/dense_layer.h): one SIMD target's tables and its
// GEMM blocking, captured once so that every step of a run uses the same target.
#pragma once

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "propel/model.h"
#include "src/gemm/blocking.h"

namespace propel::detail {

struct NetKernels {
  const kernels::GemmEngine* gemm = nullptr;
  const kernels::ElementwiseKernels* ew = nullptr;
  Blocking blocking{};
};

// The active target's kernels (src/runtime/target.h) of the precision (for kBf16 the GEMM
// kernels round their operands to bf16) and their blocking for this host's caches; portable:
// portable mode's (docs/reproducibility.md).
NetKernels ActiveNetKernels(Precision precision = Precision::kFp32, bool portable = false);

// The fused-epilogue parameters of an activation, with the run's element-wise kernel.
kernels::ActParams ActParamsFor(const NetKernels& k, Activation act, float alpha);

}  // namespace propel::detail
