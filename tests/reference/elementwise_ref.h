// Double-precision scalar references for the element-wise kernels (kernels/elementwise.h):
// activations and derivatives, softmax, losses, reductions and optimizer updates. Written for
// clarity and accuracy (no cancellation in double), not speed.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "propel/activation.h"

namespace propel::ref {

inline double Sigmoid(double x) {
  const double e = std::exp(-std::fabs(x));
  return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}
// sigmoid(x) (1 - sigmoid(x)) without cancellation.
inline double SigmoidDeriv(double x) {
  const double e = std::exp(-std::fabs(x));
  return e / ((1.0 + e) * (1.0 + e));
}

constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluC = 0.044715;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

inline double Forward(Activation act, double alpha, double x) {
  switch (act) {
    case Activation::kIdentity:
      return x;
    case Activation::kRelu:
      return x < 0 ? 0.0 : x;
    case Activation::kSigmoid:
      return Sigmoid(x);
    case Activation::kTanh:
      return std::tanh(x);
    case Activation::kLeakyRelu:
      return x > 0 ? x : alpha * x;
    case Activation::kElu:
      return x > 0 ? x : alpha * std::expm1(x);
    case Activation::kGeluTanh: {  // x (1 + tanh(u)) / 2 == x sigmoid(2u)
      if (std::isinf(x)) return x > 0 ? x : 0.0;
      return x * Sigmoid(2.0 * kSqrt2OverPi * (x + kGeluC * x * x * x));
    }
    case Activation::kGeluErf:
      if (std::isinf(x)) return x > 0 ? x : 0.0;
      return x * 0.5 * std::erfc(-x / std::sqrt(2.0));
    case Activation::kSilu:
      if (std::isinf(x)) return x > 0 ? x : 0.0;
      return x * Sigmoid(x);
    case Activation::kSoftplus:
      return std::fmax(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
  }
  return NAN;
}

// act'(x); *scale receives the magnitude the error is judged against: |act'(x)| for most, the
// sum of the magnitudes of the terms for the derivatives that are sums crossing zero (GELU,
// SiLU), whose cancellation no float evaluation avoids.
inline double Derivative(Activation act, double alpha, double x, double* scale = nullptr) {
  double d = NAN, s = NAN;
  switch (act) {
    case Activation::kIdentity:
      d = 1.0;
      break;
    case Activation::kRelu:
      d = std::isnan(x) ? x : (x > 0 ? 1.0 : 0.0);
      break;
    case Activation::kSigmoid:
      d = SigmoidDeriv(x);
      break;
    case Activation::kTanh: {
      const double e = std::exp(-2.0 * std::fabs(x));
      d = 4.0 * e / ((1.0 + e) * (1.0 + e));
      break;
    }
    case Activation::kLeakyRelu:
      d = std::isnan(x) ? x : (x > 0 ? 1.0 : alpha);
      break;
    case Activation::kElu:
      d = std::isnan(x) ? x : (x > 0 ? 1.0 : alpha * std::exp(x));
      break;
    case Activation::kGeluTanh: {
      if (std::isinf(x)) {
        d = x > 0 ? 1.0 : 0.0;
        s = std::fabs(d);
        break;
      }
      const double u2 = 2.0 * kSqrt2OverPi * (x + kGeluC * x * x * x);
      const double du2 = 2.0 * kSqrt2OverPi * (1.0 + 3.0 * kGeluC * x * x);
      const double t1 = Sigmoid(u2), t2 = x * SigmoidDeriv(u2) * du2;
      d = t1 + t2;
      s = std::fabs(t1) + std::fabs(t2);
      break;
    }
    case Activation::kGeluErf: {
      if (std::isinf(x)) {
        d = x > 0 ? 1.0 : 0.0;
        s = std::fabs(d);
        break;
      }
      const double t1 = 0.5 * std::erfc(-x / std::sqrt(2.0));
      const double t2 = x * kInvSqrt2Pi * std::exp(-0.5 * x * x);
      d = t1 + t2;
      s = std::fabs(t1) + std::fabs(t2);
      break;
    }
    case Activation::kSilu: {
      if (std::isinf(x)) {
        d = x > 0 ? 1.0 : 0.0;
        s = std::fabs(d);
        break;
      }
      const double t1 = Sigmoid(x), t2 = x * SigmoidDeriv(x);
      d = t1 + t2;
      s = std::fabs(t1) + std::fabs(t2);
      break;
    }
    case Activation::kSoftplus:
      d = Sigmoid(x);
      break;
  }
  if (scale != nullptr) *scale = std::isnan(s) ? std::fabs(d) : s;
  return d;
}

// act'(x) from y = act(x), the formula the output form uses, evaluated in double on y.
inline double DerivativeFromOutput(Activation act, double alpha, double y) {
  switch (act) {
    case Activation::kIdentity:
      return 1.0;
    case Activation::kRelu:
      return std::isnan(y) ? y : (y > 0 ? 1.0 : 0.0);
    case Activation::kSigmoid:
      return y * (1.0 - y);
    case Activation::kTanh:
      return 1.0 - y * y;
    case Activation::kLeakyRelu:
      return std::isnan(y) ? y : (y > 0 ? 1.0 : alpha);
    case Activation::kElu:
      return std::isnan(y) ? y : (y > 0 ? 1.0 : y + alpha);
    default:
      return NAN;
  }
}

// Row-wise softmax / log-softmax of one row.
inline std::vector<double> SoftmaxRow(const float* x, int64_t cols, bool log) {
  double m = -INFINITY;
  for (int64_t j = 0; j < cols; ++j) m = std::fmax(m, static_cast<double>(x[j]));
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) sum += std::exp(x[j] - m);
  std::vector<double> y(static_cast<size_t>(cols));
  for (int64_t j = 0; j < cols; ++j) {
    y[static_cast<size_t>(j)] = log ? x[j] - m - std::log(sum) : std::exp(x[j] - m) / sum;
  }
  return y;
}

// Per-element losses and gradients (of the per-sample loss).
inline double BceLogits(double z, double y, double* dz) {
  *dz = Sigmoid(z) - y;
  return std::fmax(z, 0.0) - z * y + std::log1p(std::exp(-std::fabs(z)));
}
inline double BceProb(double a, double y, double eps, double* dz) {
  *dz = a - y;
  // The clamp is applied in float by the kernel: 1 - eps rounds there.
  const double lo = static_cast<float>(eps),
               hi = static_cast<float>(1.0f - static_cast<float>(eps));
  const double p = std::fmin(std::fmax(a, lo), hi);
  return -(y * std::log(p) + (1.0 - y) * std::log1p(-p));
}
inline double Mse(double a, double y, double* dz) {
  *dz = a - y;
  return 0.5 * (a - y) * (a - y);
}

// Softmax cross-entropy of one row with label or soft targets; writes the gradient.
inline double SoftmaxCe(const float* z, int64_t cols, const float* targets, int32_t label,
                        double* dz) {
  double m = -INFINITY;
  for (int64_t j = 0; j < cols; ++j) m = std::fmax(m, static_cast<double>(z[j]));
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) sum += std::exp(z[j] - m);
  const double lse = m + std::log(sum);
  double loss = 0.0, tsum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double t = targets != nullptr ? targets[j] : (j == label ? 1.0 : 0.0);
    tsum += t;
    loss += t * (lse - z[j]);
  }
  for (int64_t j = 0; j < cols; ++j) {
    const double t = targets != nullptr ? targets[j] : (j == label ? 1.0 : 0.0);
    dz[j] = std::exp(z[j] - m) / sum * tsum - t;
  }
  return loss;
}

// The shard reduction's tree (kernels/reduce-inl.h) in scalar float: a binary counter over the
// buffers, folded from the top at the end. Bitwise what every target must produce.
inline std::vector<float> ReduceSumTree(const std::vector<std::vector<float>>& bufs, float scale) {
  std::vector<std::vector<float>> stack;
  std::vector<int64_t> count;
  for (const auto& b : bufs) {
    stack.push_back(b);
    count.push_back(1);
    while (stack.size() >= 2 && count[count.size() - 2] == count.back()) {
      auto top = stack.back();
      stack.pop_back();
      count.pop_back();
      for (size_t i = 0; i < top.size(); ++i) stack.back()[i] = stack.back()[i] + top[i];
      count.back() *= 2;
    }
  }
  while (stack.size() >= 2) {
    auto top = stack.back();
    stack.pop_back();
    for (size_t i = 0; i < top.size(); ++i) stack.back()[i] = stack.back()[i] + top[i];
  }
  std::vector<float> out = stack[0];
  for (float& v : out) v = v * scale;
  return out;
}

}  // namespace propel::ref
