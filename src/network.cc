// Per-layer building blocks of the forward pass and the kernels of a run (src/network.h).
#include "src/network.h"

#include <cstring>

#include "src/target.h"

namespace propel::detail {

void AlignedFloats::Resize(int64_t n) {
  std::free(data_);
  data_ = nullptr;
  size_ = 0;
  if (n <= 0) return;
  const size_t bytes = static_cast<size_t>(PadToLine(n)) * sizeof(float);
  data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (data_ == nullptr) throw std::bad_alloc();
  std::memset(data_, 0, bytes);
  size_ = n;
}

NetKernels ActiveNetKernels() {
  NetKernels k;
  k.gemm = &ActiveGemmKernels();
  k.ew = &ActiveElementwiseKernels();
  k.blocking = BlockingFor(*k.gemm, HostCacheSizes());
  return k;
}

kernels::ActParams ActParamsFor(const NetKernels& k, Activation act, float alpha) {
  kernels::ActParams p;
  p.act = static_cast<kernels::Act>(act);
  p.alpha = alpha;
  p.fn = k.ew->act_forward;
  return p;
}

GemmProblem ForwardProblem(const LayerLayout& layer, int64_t rows) {
  GemmProblem p;
  p.trans_a = false;
  p.trans_b = true;
  p.m = rows, p.n = layer.out, p.k = layer.in;
  p.alpha = 1.0f, p.beta = 0.0f;
  p.lda = layer.in, p.ldb = layer.in, p.ldc = layer.out;
  return p;
}

GemmProblem WeightGradProblem(const LayerLayout& layer, int64_t rows) {
  // dW (out x in) = dZ^T (out x rows) * A_prev (rows x in)
  GemmProblem p;
  p.trans_a = true;
  p.trans_b = false;
  p.m = layer.out, p.n = layer.in, p.k = rows;
  p.alpha = 1.0f, p.beta = 0.0f;
  p.lda = layer.out, p.ldb = layer.in, p.ldc = layer.in;
  return p;
}

GemmProblem InputGradProblem(const LayerLayout& layer, int64_t rows) {
  // dA_prev (rows x in) = dZ (rows x out) * W (out x in)
  GemmProblem p;
  p.trans_a = false;
  p.trans_b = false;
  p.m = rows, p.n = layer.in, p.k = layer.out;
  p.alpha = 1.0f, p.beta = 0.0f;
  p.lda = layer.out, p.ldb = layer.in, p.ldc = layer.in;
  return p;
}

void LayerForward(const NetKernels& k, const LayerLayout& layer, const float* params, int64_t rows,
                  const float* a_prev, int64_t lda, float* z, int64_t ldz, bool fuse, int threads,
                  const GemmScratch* scratch) {
  GemmProblem p = ForwardProblem(layer, rows);
  p.a = a_prev, p.lda = lda;
  p.b = params + layer.weight_offset;
  p.c = z, p.ldc = ldz;
  p.bias = params + layer.bias_offset;
  if (fuse) p.act = ActParamsFor(k, layer.activation, layer.alpha);
  RunGemm(*k.gemm, k.blocking, p, threads, scratch);
}

}  // namespace propel::detail
