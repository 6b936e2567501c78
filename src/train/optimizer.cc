// The optimizers of the training step (src/train/optimizer.h) and their names (propel/train.h).
#include "src/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "src/runtime/check.h"
#include "src/runtime/names.h"

namespace propel {
namespace {

const char* const kOptimizerNames[] = {"sgd", "momentum", "nesterov", "adam", "adamw"};

}  // namespace

const char* optimizer_name(Optimizer optimizer) {
  return detail::NameOf(kOptimizerNames, static_cast<int>(optimizer));
}

Optimizer parse_optimizer(const std::string& name) {
  return detail::ParseName<Optimizer>("propel::parse_optimizer", "optimizer", kOptimizerNames,
                                      name);
}

namespace detail {

bool IsMomentum(Optimizer o) { return o == Optimizer::kMomentum || o == Optimizer::kNesterov; }
bool IsAdam(Optimizer o) { return o == Optimizer::kAdam || o == Optimizer::kAdamW; }
int64_t StateArrays(Optimizer o) { return IsAdam(o) ? 2 : IsMomentum(o) ? 1 : 0; }

void CheckOptimizer(const char* where, const OptimizerConfig& o) {
  const int kind = static_cast<int>(o.kind);
  Check(kind >= 0 && kind <= 4, where, "unknown optimizer ", kind);
  Check(std::isfinite(o.lr) && o.lr >= 0.0f, where, "lr = ", o.lr,
        " must be finite and non-negative");
  Check(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0f, where,
        "weight_decay = ", o.weight_decay, " must be finite and non-negative");
  Check(std::isfinite(o.clip_norm) && o.clip_norm >= 0.0f, where, "clip_norm = ", o.clip_norm,
        " must be finite and non-negative (0: off)");
  if (IsMomentum(o.kind)) {
    Check(o.momentum > 0.0f && o.momentum < 1.0f, where, "momentum = ", o.momentum,
          " must be in (0, 1)");
  }
  if (IsAdam(o.kind)) {
    Check(o.beta1 >= 0.0f && o.beta1 < 1.0f, where, "beta1 = ", o.beta1, " must be in [0, 1)");
    Check(o.beta2 >= 0.0f && o.beta2 < 1.0f, where, "beta2 = ", o.beta2, " must be in [0, 1)");
    Check(std::isfinite(o.eps) && o.eps > 0.0f, where, "eps = ", o.eps, " must be positive");
  }
}

OptimizerUpdate::OptimizerUpdate(const OptimizerConfig& opt, float lr, int64_t step,
                                 float grad_scale)
    : adam_(IsAdam(opt.kind)),
      decay_bias_(opt.decay_bias || opt.weight_decay == 0.0f),
      sgd_{lr, IsMomentum(opt.kind) ? opt.momentum : 0.0f, opt.weight_decay, grad_scale,
           opt.kind == Optimizer::kNesterov},
      adam_args_{lr,
                 opt.beta1,
                 opt.beta2,
                 opt.eps,
                 opt.weight_decay,
                 grad_scale,
                 opt.kind == Optimizer::kAdamW,
                 kernels::BiasCorrection(opt.beta1, step),
                 kernels::BiasCorrection(opt.beta2, step)},
      sgd_bias_(sgd_),
      adam_bias_(adam_args_) {
  sgd_bias_.weight_decay = 0.0f;
  adam_bias_.weight_decay = 0.0f;
}

void OptimizerUpdate::Apply(const kernels::ElementwiseKernels& ew, int64_t j0, int64_t n, float* w,
                            const float* g, float* state, int64_t count, bool bias) const {
  const bool decay = !bias || decay_bias_;
  if (adam_) {
    ew.adam(n, decay ? adam_args_ : adam_bias_, w + j0, g + j0, state + j0, state + count + j0);
  } else {
    ew.sgd(n, decay ? sgd_ : sgd_bias_, w + j0, g + j0, state != nullptr ? state + j0 : nullptr);
  }
}

void OptimizerUpdate::ApplyToArena(const kernels::ElementwiseKernels& ew, const Model& model,
                                   int64_t j0, int64_t n, float* w, const float* g, float* state,
                                   int64_t count) const {
  if (decay_bias_) {
    Apply(ew, j0, n, w, g, state, count);
    return;
  }
  const int64_t end = j0 + n;
  for (int64_t l = 0; l < model.num_layers() && j0 < end; ++l) {
    const LayerLayout& layer = model.layer(l);
    const int64_t bias_end = layer.bias_offset + layer.out;
    if (bias_end <= j0) continue;
    const int64_t w_end = std::min(end, layer.bias_offset);
    if (j0 < w_end) Apply(ew, j0, w_end - j0, w, g, state, count, false);
    const int64_t b0 = std::max(j0, layer.bias_offset), b1 = std::min(end, bias_end);
    if (b0 < b1) Apply(ew, b0, b1 - b0, w, g, state, count, true);
    j0 = b1;
  }
}

}  // namespace detail
}  // namespace propel
