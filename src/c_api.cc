// The C API: each function validates through the C++ API, catches everything, keeps the message
// in a per-thread buffer and returns a status code. Nothing is thrown across the boundary.
#include "propel/propel.h"

#include <exception>
#include <new>
#include <string>

#include "propel/error.h"
#include "propel/gemm.h"
#include "propel/target.h"
#include "propel/threading.h"
#include "propel/version.h"

namespace {

thread_local std::string t_last_error;
thread_local std::string t_target_name;

template <class F>
int Wrap(F&& f) {
  try {
    f();
    return PROPEL_OK;
  } catch (const propel::Error& e) {
    t_last_error = e.what();
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    t_last_error = "propel: out of memory";
    return PROPEL_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    t_last_error = std::string("propel: internal error: ") + e.what();
    return PROPEL_ERROR_INTERNAL;
  } catch (...) {
    t_last_error = "propel: internal error: unknown exception";
    return PROPEL_ERROR_INTERNAL;
  }
}

int InvalidTrans(const char* name, int value) {
  t_last_error = std::string("propel_sgemm: ") + name + " = " + std::to_string(value) +
                 " must be 0 (none) or 1 (transpose)";
  return PROPEL_ERROR_INVALID_ARGUMENT;
}

}  // namespace

extern "C" {

const char* propel_version(void) { return PROPEL_VERSION_STRING; }

const char* propel_last_error(void) { return t_last_error.c_str(); }

int propel_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc) {
  if (trans_a != 0 && trans_a != 1) return InvalidTrans("trans_a", trans_a);
  if (trans_b != 0 && trans_b != 1) return InvalidTrans("trans_b", trans_b);
  return Wrap([&] {
    propel::sgemm(static_cast<propel::Trans>(trans_a), static_cast<propel::Trans>(trans_b), m, n, k,
                  alpha, a, lda, b, ldb, beta, c, ldc);
  });
}

int propel_linear_forward(int64_t batch, int64_t in, int64_t out, const float* x, int64_t ldx,
                          const float* w, int64_t ldw, const float* bias, int act, float* z,
                          int64_t ldz) {
  return Wrap([&] {
    propel::linear_forward(batch, in, out, x, ldx, w, ldw, bias,
                           static_cast<propel::Activation>(act), z, ldz);
  });
}

int propel_set_num_threads(int n) {
  return Wrap([&] { propel::set_num_threads(n); });
}

int propel_get_num_threads(void) { return propel::num_threads(); }

int propel_set_executor(int executor) {
  return Wrap([&] { propel::set_executor(static_cast<propel::Executor>(executor)); });
}

int propel_set_target(const char* name) {
  return Wrap([&] { propel::pin_target(name == nullptr ? std::string() : std::string(name)); });
}

const char* propel_get_target(void) {
  // Wrap keeps a bad PROPEL_TARGET from escaping as an exception.
  t_target_name.clear();
  if (Wrap([&] { t_target_name = propel::active_target().name; }) != PROPEL_OK) return "";
  return t_target_name.c_str();
}

}  // extern "C"
