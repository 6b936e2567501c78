// A double-precision reference MLP: the loss of a propel::Model's architecture at any parameter
// vector, and the gradient of that loss by central finite differences, with kinks handled
// explicitly. Written for clarity, not speed; for networks of a few hundred parameters.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "propel/model.h"
#include "propel/train.h"
#include "tests/reference/elementwise_ref.h"

namespace propel::ref {

// True for the activations whose derivative jumps at 0 (ReLU, leaky ReLU, ELU with alpha != 1).
inline bool HasKink(Activation act, double alpha) {
  return act == Activation::kRelu || act == Activation::kLeakyRelu ||
         (act == Activation::kElu && alpha != 1.0);
}

class MlpRef {
 public:
  explicit MlpRef(const Model& model) : head_(model.head()), inputs_(model.inputs()) {
    for (int64_t l = 0; l < model.num_layers(); ++l) layers_.push_back(model.layer(l));
  }

  // Mean loss over the data's rows at `params` (the arena layout). `kinks` (may be null)
  // receives, for every pre-activation of a layer whose activation has a kink, whether it lies
  // right of it: two parameter vectors with equal kink patterns lie on one smooth piece.
  double Loss(const std::vector<double>& params, const DataView& d,
              std::vector<bool>* kinks = nullptr) const {
    if (kinks != nullptr) kinks->clear();
    const int64_t ldx = d.ldx == 0 ? inputs_ : d.ldx;
    const int64_t out = layers_.back().out;
    const int64_t ldt = d.ldt == 0 ? out : d.ldt;
    double total = 0.0;
    for (int64_t i = 0; i < d.rows; ++i) {
      std::vector<double> a(d.x + i * ldx, d.x + i * ldx + inputs_);
      for (size_t l = 0; l < layers_.size(); ++l) {
        const LayerLayout& L = layers_[l];
        std::vector<double> z(static_cast<size_t>(L.out));
        for (int64_t o = 0; o < L.out; ++o) {
          double s = params[static_cast<size_t>(L.bias_offset + o)];
          for (int64_t j = 0; j < L.in; ++j) {
            s += params[static_cast<size_t>(L.weight_offset + o * L.in + j)] *
                 a[static_cast<size_t>(j)];
          }
          z[static_cast<size_t>(o)] = s;
        }
        if (l + 1 < layers_.size()) {
          for (double& v : z) {
            if (kinks != nullptr && HasKink(L.activation, L.alpha)) kinks->push_back(v > 0.0);
            v = Forward(L.activation, L.alpha, v);
          }
        }
        a = std::move(z);
      }
      // a holds the logits.
      switch (head_) {
        case Head::kMulticlass: {
          const double mx = *std::max_element(a.begin(), a.end());
          double sum = 0.0;
          for (double v : a) sum += std::exp(v - mx);
          total += mx + std::log(sum) - a[static_cast<size_t>(d.labels[i])];
          break;
        }
        case Head::kBinary:
          for (int64_t j = 0; j < out; ++j) {
            const double z = a[static_cast<size_t>(j)], y = d.targets[i * ldt + j];
            total += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::fabs(z)));
          }
          break;
        case Head::kRegression:
          for (int64_t j = 0; j < out; ++j) {
            const double e = a[static_cast<size_t>(j)] - d.targets[i * ldt + j];
            total += 0.5 * e * e;
          }
          break;
      }
    }
    return total / static_cast<double>(d.rows);
  }

  // d Loss / d params[j] at `params` by finite differences. Central with step h where the kink
  // pattern is the same at p - h, p and p + h; otherwise one-sided (Richardson-extrapolated from
  // steps h and h/2 to second order) on a side whose pattern matches p's, which is the piece the
  // analytical derivative is taken on. *one_sided (may be null) is set when that happened.
  double Gradient(const std::vector<double>& params, const DataView& d, size_t j, double h,
                  bool* one_sided = nullptr) const {
    std::vector<double> p = params;
    std::vector<bool> k0, kp, km, kp2, km2;
    Loss(p, d, &k0);
    const double f0 = Loss(p, d);
    auto at = [&](double delta, std::vector<bool>* k) {
      p[j] = params[j] + delta;
      const double f = Loss(p, d, k);
      p[j] = params[j];
      return f;
    };
    const double fp = at(h, &kp), fm = at(-h, &km);
    if (one_sided != nullptr) *one_sided = false;
    if (kp == k0 && km == k0) return (fp - fm) / (2.0 * h);
    if (one_sided != nullptr) *one_sided = true;
    const double fp2 = at(h / 2, &kp2), fm2 = at(-h / 2, &km2);
    if (kp == k0 && kp2 == k0) {
      return 2.0 * (fp2 - f0) / (h / 2) - (fp - f0) / h;
    }
    if (km == k0 && km2 == k0) {
      return 2.0 * (f0 - fm2) / (h / 2) - (f0 - fm) / h;
    }
    return NAN;  // a kink within h on both sides: choose a smaller h
  }

 private:
  Head head_;
  int64_t inputs_;
  std::vector<LayerLayout> layers_;
};

}  // namespace propel::ref
