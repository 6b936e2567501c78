// The kernels of a run (src/train/net_kernels.h).
#include "src/train/net_kernels.h"

#include "src/runtime/target.h"

namespace propel::detail {

NetKernels ActiveNetKernels(Precision precision, bool portable) {
  const GemmSetup& setup = ActiveEngine(precision, portable);
  NetKernels k;
  k.gemm = setup.engine;
  k.ew = &ActiveElementwiseKernels(portable);
  k.blocking = setup.blocking;
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
