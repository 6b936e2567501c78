// oneDNN peers for bench_elementwise: the eltwise primitive, forward (inference) and backward.
#include <map>
#include <memory>
#include <utility>

#include "bench/peers.h"

#ifdef PROPEL_BENCH_DNNL
#include <omp.h>

#include "oneapi/dnnl/dnnl.hpp"
#endif

namespace propel::bench {

#ifdef PROPEL_BENCH_DNNL
namespace {

// propel::Activation code -> oneDNN algorithm and alpha; false where oneDNN has none.
bool Algorithm(int act, dnnl::algorithm* alg, float* alpha) {
  using A = dnnl::algorithm;
  *alpha = 0.0f;
  switch (act) {
    case 1:
      *alg = A::eltwise_relu;
      return true;
    case 2:
      *alg = A::eltwise_logistic;
      return true;
    case 3:
      *alg = A::eltwise_tanh;
      return true;
    case 4:
      *alg = A::eltwise_relu;
      *alpha = 0.01f;
      return true;
    case 5:
      *alg = A::eltwise_elu;
      *alpha = 1.0f;
      return true;
    case 6:
      *alg = A::eltwise_gelu_tanh;
      return true;
    case 7:
      *alg = A::eltwise_gelu_erf;
      return true;
    case 8:
      *alg = A::eltwise_swish;
      *alpha = 1.0f;
      return true;
    case 9:
      *alg = A::eltwise_soft_relu;
      return true;
    default:
      return false;
  }
}

// The primitives of one (activation, n) and memory objects whose data handles are set per call.
struct Prims {
  dnnl::eltwise_forward fwd;
  dnnl::eltwise_backward bwd;
  dnnl::memory a, b, c;
};

struct State {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<std::pair<int, int64_t>, Prims> prims;
  State() { omp_set_num_threads(1); }  // the element-wise comparison is one core
};

State& S() {
  static State s;
  return s;
}

dnnl::memory::desc Desc(int64_t n) {
  return dnnl::memory::desc({n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
}

Prims* Get(int act, int64_t n) {
  dnnl::algorithm alg;
  float alpha;
  if (!Algorithm(act, &alg, &alpha)) return nullptr;
  auto key = std::make_pair(act, n);
  auto it = S().prims.find(key);
  if (it == S().prims.end()) {
    const auto md = Desc(n);
    const dnnl::eltwise_forward::primitive_desc fwd_train(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, alg, md, alpha, 0.0f),
        S().engine);
    const dnnl::eltwise_forward::primitive_desc fwd_inf(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, alg, md, alpha, 0.0f),
        S().engine);
    const dnnl::eltwise_backward::primitive_desc bwd(
        dnnl::eltwise_backward::desc(alg, md, md, alpha, 0.0f), S().engine, fwd_train);
    Prims p{dnnl::eltwise_forward(fwd_inf), dnnl::eltwise_backward(bwd),
            dnnl::memory(md, S().engine, nullptr), dnnl::memory(md, S().engine, nullptr),
            dnnl::memory(md, S().engine, nullptr)};
    it = S().prims.emplace(key, std::move(p)).first;
  }
  return &it->second;
}

}  // namespace

bool DnnlAvailable() { return true; }

bool DnnlForward(int act, int64_t n, const float* x, float* y) {
  Prims* p = Get(act, n);
  if (p == nullptr) return false;
  p->a.set_data_handle(const_cast<float*>(x));
  p->b.set_data_handle(y);
  p->fwd.execute(S().stream, {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_DST, p->b}});
  S().stream.wait();
  return true;
}

bool DnnlBackward(int act, int64_t n, const float* x, const float* dy, float* dx) {
  Prims* p = Get(act, n);
  if (p == nullptr) return false;
  p->a.set_data_handle(const_cast<float*>(x));
  p->b.set_data_handle(const_cast<float*>(dy));
  p->c.set_data_handle(dx);
  p->bwd.execute(S().stream,
                 {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_DIFF_DST, p->b}, {DNNL_ARG_DIFF_SRC, p->c}});
  S().stream.wait();
  return true;
}

#else
bool DnnlAvailable() { return false; }
bool DnnlForward(int, int64_t, const float*, float*) { return false; }
bool DnnlBackward(int, int64_t, const float*, const float*, float*) { return false; }
#endif

}  // namespace propel::bench
