// The kernels of a run and the aligned arrays of the network code (src/network.h).
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

}  // namespace propel::detail
