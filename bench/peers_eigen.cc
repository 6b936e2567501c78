// Eigen 3.4 peers for bench_elementwise: the same math as propel's kernels written as Eigen array
// expressions, the way an Eigen user would.
#include <cmath>

#include "bench/peers.h"

#ifdef PROPEL_BENCH_EIGEN
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
#endif

namespace propel::bench {

#ifdef PROPEL_BENCH_EIGEN
namespace {
using Arr = Eigen::Map<Eigen::ArrayXf>;
using CArr = Eigen::Map<const Eigen::ArrayXf>;
constexpr float kK = 0.7978845608f;  // sqrt(2/pi)
constexpr float kC = 0.044715f;
}  // namespace

bool EigenAvailable() { return true; }

bool EigenForward(int act, int64_t n, const float* xp, float* yp) {
  CArr x(xp, n);
  Arr y(yp, n);
  switch (act) {
    case 0:
      y = x;
      return true;
    case 1:
      y = x.max(0.0f);
      return true;
    case 2:
      y = x.logistic();
      return true;
    case 3:
      y = x.tanh();
      return true;
    case 4:
      y = (x > 0.0f).select(x, 0.01f * x);
      return true;
    case 5:
      y = (x > 0.0f).select(x, x.expm1());
      return true;
    case 6:
      y = 0.5f * x * (1.0f + (kK * (x + kC * x.cube())).tanh());
      return true;
    case 7:
      y = 0.5f * x * (1.0f + (x * 0.70710678f).erf());
      return true;
    case 8:
      y = x * x.logistic();
      return true;
    case 9:
      y = x.max(0.0f) + (-x.abs()).exp().log1p();
      return true;
    default:
      return false;
  }
}

bool EigenBackward(int act, int64_t n, const float* xp, const float* dyp, float* dxp, float* tmpp) {
  CArr x(xp, n), dy(dyp, n);
  Arr dx(dxp, n), t(tmpp, n);
  switch (act) {
    case 0:
      dx = dy;
      return true;
    case 1:
      dx = (x > 0.0f).select(dy, 0.0f);
      return true;
    case 2:
      t = x.logistic();
      dx = dy * t * (1.0f - t);
      return true;
    case 3:
      t = x.tanh();
      dx = dy * (1.0f - t * t);
      return true;
    case 4:
      dx = (x > 0.0f).select(dy, 0.01f * dy);
      return true;
    case 5:
      dx = (x > 0.0f).select(dy, dy * x.exp());
      return true;
    case 6:
      t = (kK * (x + kC * x.cube())).tanh();
      dx = dy *
           (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kK * (1.0f + 3.0f * kC * x.square()));
      return true;
    case 7:
      dx = dy *
           (0.5f * (1.0f + (x * 0.70710678f).erf()) + 0.39894228f * x * (-0.5f * x.square()).exp());
      return true;
    case 8:
      t = x.logistic();
      dx = dy * t * (1.0f + x * (1.0f - t));
      return true;
    case 9:
      dx = dy * x.logistic();
      return true;
    default:
      return false;
  }
}

double EigenSoftmaxCe(int64_t rows, int64_t cols, const float* zp, const int32_t* labels,
                      float* dzp) {
  using Mat = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Mat> z(zp, rows, cols);
  Eigen::Map<Mat> dz(dzp, rows, cols);
  const Eigen::ArrayXf m = z.rowwise().maxCoeff();
  dz = (z.colwise() - m).exp();
  const Eigen::ArrayXf s = dz.rowwise().sum();
  dz.colwise() /= s;
  double loss = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    loss += std::log(s(i)) + m(i) - z(i, labels[i]);
    dz(i, labels[i]) -= 1.0f;
  }
  return loss;
}

void EigenAdam(int64_t n, float step, float inv_sqrt_c2, float* wp, const float* gp, float* mp,
               float* vp) {
  Arr w(wp, n), m(mp, n), v(vp, n);
  CArr g(gp, n);
  m = 0.9f * m + 0.1f * g;
  v = 0.999f * v + 0.001f * g.square();
  w -= step * m / (v.sqrt() * inv_sqrt_c2 + 1e-8f);
}

#else
bool EigenAvailable() { return false; }
bool EigenForward(int, int64_t, const float*, float*) { return false; }
bool EigenBackward(int, int64_t, const float*, const float*, float*, float*) { return false; }
double EigenSoftmaxCe(int64_t, int64_t, const float*, const int32_t*, float*) { return 0.0; }
void EigenAdam(int64_t, float, float, float*, const float*, float*, float*) {}
#endif

}  // namespace propel::bench
