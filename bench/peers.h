// Peer implementations of the element-wise benchmarks (bench/bench_elementwise.cc): Eigen 3.4's
// array expressions and oneDNN's eltwise primitive, each compiled only when found. Activation
// codes are propel::Activation's.
#pragma once

#include <cstdint>

namespace propel::bench {

// Eigen (bench/peers_eigen.cc, built with the host's full instruction set so that Eigen
// vectorizes with the widest vectors it knows). Return false for an activation Eigen has no
// expression for. tmp: n floats of scratch (derivatives that reuse a transcendental).
bool EigenAvailable();
bool EigenForward(int act, int64_t n, const float* x, float* y);
bool EigenBackward(int act, int64_t n, const float* x, const float* dy, float* dx, float* tmp);
// Softmax cross-entropy with labels over rows x cols, returns the summed loss, writes dz.
double EigenSoftmaxCe(int64_t rows, int64_t cols, const float* z, const int32_t* labels, float* dz);
void EigenAdam(int64_t n, float step, float inv_sqrt_c2, float* w, const float* g, float* m,
               float* v);

// oneDNN (bench/peers_dnnl.cc): eltwise forward (inference) and backward primitives over n
// floats, created once per (activation, n) and cached.
bool DnnlAvailable();
bool DnnlForward(int act, int64_t n, const float* x, float* y);
bool DnnlBackward(int act, int64_t n, const float* x, const float* dy, float* dx);

}  // namespace propel::bench
