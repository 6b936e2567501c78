// The optimizers of the training step: their names, the validation of a configuration, the state
// each keeps and one update of a range of parameters (the kernels of kernels/optim-inl.h).
#pragma once

#include <cstdint>

#include "kernels/elementwise.h"
#include "propel/train.h"

namespace propel::detail {

// The most updates a trainer counts: Adam's bias corrections take beta^t in double, exact for
// every t up to here, and the counter can never overflow.
constexpr int64_t kMaxSteps = int64_t{1} << 53;

// Validates an optimizer configuration (kind, finite and in-range hyper-parameters) as the
// Trainer does; throws Error(kInvalidArgument) naming `where` and the field.
void CheckOptimizer(const char* where, const OptimizerConfig& optimizer);

bool IsMomentum(Optimizer o);  // momentum, Nesterov
bool IsAdam(Optimizer o);      // Adam, AdamW
// Arrays of `parameter_count` floats of state: 2 (Adam's m and v), 1 (the velocity), 0 (SGD).
int64_t StateArrays(Optimizer o);

// Update number `step` (from 1) with learning rate lr, from g_eff = grad_scale * g: the kernel
// arguments, shared by every range of parameters the update is split into.
class OptimizerUpdate {
 public:
  OptimizerUpdate(const OptimizerConfig& opt, float lr, int64_t step, float grad_scale);

  // Parameters [j0, j0 + n) of w (g: their gradient); state holds StateArrays() arrays of
  // `count` floats each, in the order m, v.
  void Apply(const kernels::ElementwiseKernels& ew, int64_t j0, int64_t n, float* w, const float* g,
             float* state, int64_t count) const;

 private:
  bool adam_;
  kernels::SgdArgs sgd_;
  kernels::AdamArgs adam_args_;
};

}  // namespace propel::detail
