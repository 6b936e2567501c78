// The C API: each function validates through the C++ API, catches everything, keeps the message
// in a per-thread buffer and returns a status code. Nothing is thrown across the boundary.
#include "propel/propel.h"

#include <exception>
#include <new>
#include <string>

#include <cmath>
#include <cstring>
#include <memory>

#include "propel/activation.h"
#include "propel/checkpoint.h"
#include "propel/error.h"
#include "propel/gemm.h"
#include "propel/loss.h"
#include "propel/model.h"
#include "propel/optim.h"
#include "propel/target.h"
#include "propel/threading.h"
#include "propel/train.h"
#include "propel/version.h"

struct propel_model {
  propel::Model model;
};

struct propel_trainer {
  propel::Trainer trainer;
  propel_model* model;
};

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

// Loss wrappers: the C++ call, its mean stored through `loss` (checked non-null first).
template <class F>
int LossCall(const char* where, float* loss, F&& f) {
  if (loss == nullptr) {
    t_last_error = std::string(where) + ": loss is null";
    return PROPEL_ERROR_INVALID_ARGUMENT;
  }
  return Wrap([&] { *loss = f(); });
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
                          const float* w, int64_t ldw, const float* bias, int act, float alpha,
                          float* z, int64_t ldz) {
  return Wrap([&] {
    propel::linear_forward(batch, in, out, x, ldx, w, ldw, bias,
                           static_cast<propel::Activation>(act), z, ldz, alpha);
  });
}

int propel_activation_forward(int act, float alpha, int64_t n, const float* x, float* y) {
  return Wrap(
      [&] { propel::activation_forward(static_cast<propel::Activation>(act), alpha, n, x, y); });
}

int propel_activation_backward(int act, float alpha, int64_t n, const float* x, const float* dy,
                               float* dx) {
  return Wrap([&] {
    propel::activation_backward(static_cast<propel::Activation>(act), alpha, n, x, dy, dx);
  });
}

int propel_activation_backward_from_output(int act, float alpha, int64_t n, const float* y,
                                           const float* dy, float* dx) {
  return Wrap([&] {
    propel::activation_backward_from_output(static_cast<propel::Activation>(act), alpha, n, y, dy,
                                            dx);
  });
}

int propel_softmax(int64_t rows, int64_t cols, const float* x, float* y) {
  return Wrap([&] { propel::softmax(rows, cols, x, cols, y, cols); });
}

int propel_log_softmax(int64_t rows, int64_t cols, const float* x, float* y) {
  return Wrap([&] { propel::log_softmax(rows, cols, x, cols, y, cols); });
}

int propel_loss_bce_with_logits(int64_t rows, int64_t cols, const float* z, const float* y,
                                float grad_scale, float* dz, float* loss) {
  return LossCall("propel_loss_bce_with_logits", loss,
                  [&] { return propel::bce_with_logits(rows, cols, z, y, dz, grad_scale); });
}

int propel_loss_bce(int64_t rows, int64_t cols, const float* a, const float* y, float eps,
                    float grad_scale, float* dz, float* loss) {
  return LossCall("propel_loss_bce", loss, [&] {
    return propel::binary_cross_entropy(rows, cols, a, y, dz, grad_scale, eps);
  });
}

int propel_loss_mse(int64_t rows, int64_t cols, const float* a, const float* y, float grad_scale,
                    float* dz, float* loss) {
  return LossCall("propel_loss_mse", loss,
                  [&] { return propel::mean_squared_error(rows, cols, a, y, dz, grad_scale); });
}

int propel_loss_softmax_ce(int64_t rows, int64_t classes, const float* z, const int32_t* labels,
                           float grad_scale, float* dz, float* loss) {
  return LossCall("propel_loss_softmax_ce", loss, [&] {
    return propel::softmax_cross_entropy(rows, classes, z, labels, dz, grad_scale);
  });
}

int propel_loss_softmax_ce_soft(int64_t rows, int64_t classes, const float* z, const float* targets,
                                float grad_scale, float* dz, float* loss) {
  return LossCall("propel_loss_softmax_ce_soft", loss, [&] {
    return propel::softmax_cross_entropy(rows, classes, z, targets, dz, grad_scale);
  });
}

int propel_column_sums(int64_t rows, int64_t cols, const float* x, float* out, int accumulate) {
  return Wrap(
      [&] { propel::column_sums(rows, cols, x, cols > 0 ? cols : 1, out, accumulate != 0); });
}

int propel_sum_squares(int64_t n, const float* x, double* out) {
  if (out == nullptr) {
    t_last_error = "propel_sum_squares: out is null";
    return PROPEL_ERROR_INVALID_ARGUMENT;
  }
  return Wrap([&] { *out = propel::sum_squares(n, x); });
}

int propel_reduce_sum(int64_t k, const float* const* bufs, int64_t n, float scale, float* out) {
  return Wrap([&] { propel::reduce_sum(k, bufs, n, scale, out); });
}

int propel_sgd_update(int64_t n, float lr, float momentum, float weight_decay, int nesterov,
                      float grad_scale, float* w, const float* g, float* velocity) {
  return Wrap([&] {
    propel::SgdOptions opt;
    opt.lr = lr;
    opt.momentum = momentum;
    opt.weight_decay = weight_decay;
    opt.nesterov = nesterov != 0;
    propel::sgd_update(opt, n, w, g, velocity, grad_scale);
  });
}

int propel_adam_update(int64_t n, int64_t step, float lr, float beta1, float beta2, float eps,
                       float weight_decay, int decoupled, float grad_scale, float* w,
                       const float* g, float* m, float* v) {
  return Wrap([&] {
    propel::AdamOptions opt;
    opt.lr = lr;
    opt.beta1 = beta1;
    opt.beta2 = beta2;
    opt.eps = eps;
    opt.weight_decay = weight_decay;
    opt.decoupled = decoupled != 0;
    propel::adam_update(opt, step, n, w, g, m, v, grad_scale);
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

// ------------------------------------------------------------------ models, training, checkpoints

}  // extern "C"

namespace {

void Require(bool ok, const char* where, const char* what) {
  if (!ok)
    throw propel::Error(propel::ErrorCode::kInvalidArgument, std::string(where) + ": " + what);
}

void RequireCount(const char* where, const propel_model* m, int64_t count) {
  Require(m != nullptr, where, "model is null");
  const int64_t n = m->model.parameter_count();
  if (count != n) {
    throw propel::Error(propel::ErrorCode::kInvalidArgument,
                        std::string(where) + ": count = " + std::to_string(count) +
                            ", the model has " + std::to_string(n) + " parameters");
  }
}

propel::DataView ViewOf(const char* where, const propel_batch* b) {
  Require(b != nullptr, where, "batch is null");
  propel::DataView v;
  v.rows = b->rows;
  v.x = b->x;
  v.ldx = b->ldx;
  v.labels = b->labels;
  v.targets = b->targets;
  v.ldt = b->ldt;
  return v;
}

propel::OptimizerConfig ConfigOf(const propel_optimizer_config* c) {
  propel::OptimizerConfig o;
  o.kind = static_cast<propel::Optimizer>(c->kind);
  o.lr = c->lr;
  o.momentum = c->momentum;
  o.beta1 = c->beta1;
  o.beta2 = c->beta2;
  o.eps = c->eps;
  o.weight_decay = c->weight_decay;
  o.clip_norm = c->clip_norm;
  return o;
}

void Store(const propel::StepResult& r, propel_step_result* out) {
  if (out == nullptr) return;
  out->loss = r.loss;
  out->rows = r.rows;
  out->correct = r.correct;
  out->grad_norm = r.grad_norm;
}

template <class T>
void RequireOut(const char* where, T** out) {
  Require(out != nullptr, where, "out is null");
  *out = nullptr;
}

}  // namespace

extern "C" {

int propel_model_create(int64_t inputs, const propel_layer* hidden, int64_t n_hidden,
                        int64_t outputs, int head, int init, uint64_t seed, propel_model** out) {
  const char* where = "propel_model_create";
  return Wrap([&] {
    RequireOut(where, out);
    Require(n_hidden >= 0, where, "n_hidden is negative");
    Require(n_hidden == 0 || hidden != nullptr, where, "hidden is null with n_hidden > 0");
    Require(head >= 0 && head <= 2, where, "head must be a PROPEL_HEAD_* value");
    Require(init >= 0 && init <= 3, where, "init must be a PROPEL_INIT_* value");
    propel::ModelSpec spec;
    spec.inputs = inputs;
    spec.outputs = outputs;
    spec.head = static_cast<propel::Head>(head);
    for (int64_t l = 0; l < n_hidden; ++l) {
      spec.hidden.push_back({hidden[l].units, static_cast<propel::Activation>(hidden[l].activation),
                             hidden[l].alpha});
    }
    *out = new propel_model{propel::Model(spec, seed, static_cast<propel::Init>(init))};
  });
}

void propel_model_destroy(propel_model* model) { delete model; }

int propel_model_parameter_count(const propel_model* m, int64_t* count) {
  return Wrap([&] {
    Require(m != nullptr && count != nullptr, "propel_model_parameter_count", "null argument");
    *count = m->model.parameter_count();
  });
}

int propel_model_inputs(const propel_model* m, int64_t* inputs) {
  return Wrap([&] {
    Require(m != nullptr && inputs != nullptr, "propel_model_inputs", "null argument");
    *inputs = m->model.inputs();
  });
}

int propel_model_outputs(const propel_model* m, int64_t* outputs) {
  return Wrap([&] {
    Require(m != nullptr && outputs != nullptr, "propel_model_outputs", "null argument");
    *outputs = m->model.outputs();
  });
}

int propel_model_describe(const propel_model* m, char* buf, size_t size) {
  const char* where = "propel_model_describe";
  return Wrap([&] {
    Require(m != nullptr && buf != nullptr, where, "null argument");
    const std::string d = m->model.describe();
    if (d.size() + 1 > size) {
      throw propel::Error(propel::ErrorCode::kInvalidArgument,
                          std::string(where) + ": the description needs " +
                              std::to_string(d.size() + 1) +
                              " bytes, size = " + std::to_string(size));
    }
    std::memcpy(buf, d.c_str(), d.size() + 1);
  });
}

int propel_model_get_parameters(const propel_model* m, float* out, int64_t count) {
  const char* where = "propel_model_get_parameters";
  return Wrap([&] {
    RequireCount(where, m, count);
    Require(out != nullptr, where, "out is null");
    std::memcpy(out, m->model.parameters(), static_cast<size_t>(count) * sizeof(float));
  });
}

int propel_model_set_parameters(propel_model* m, const float* in, int64_t count) {
  const char* where = "propel_model_set_parameters";
  return Wrap([&] {
    RequireCount(where, m, count);
    Require(in != nullptr, where, "in is null");
    for (int64_t j = 0; j < count; ++j) {
      if (!std::isfinite(in[j])) {
        throw propel::Error(propel::ErrorCode::kNumerical,
                            std::string(where) + ": parameter [" + std::to_string(j) + "] = " +
                                std::to_string(in[j]) + " is not finite; nothing was changed");
      }
    }
    std::memcpy(m->model.parameters(), in, static_cast<size_t>(count) * sizeof(float));
  });
}

int propel_model_get_gradients(const propel_model* m, float* out, int64_t count) {
  const char* where = "propel_model_get_gradients";
  return Wrap([&] {
    RequireCount(where, m, count);
    Require(out != nullptr, where, "out is null");
    std::memcpy(out, m->model.gradients(), static_cast<size_t>(count) * sizeof(float));
  });
}

int propel_model_set_gradients(propel_model* m, const float* in, int64_t count) {
  const char* where = "propel_model_set_gradients";
  return Wrap([&] {
    RequireCount(where, m, count);
    Require(in != nullptr, where, "in is null");
    std::memcpy(m->model.gradients(), in, static_cast<size_t>(count) * sizeof(float));
  });
}

int propel_model_predict(const propel_model* m, int64_t rows, const float* x, int64_t ldx,
                         float* out, int64_t ldout) {
  return Wrap([&] {
    Require(m != nullptr, "propel_model_predict", "model is null");
    m->model.predict(rows, x, ldx, out, ldout);
  });
}

int propel_model_predict_logits(const propel_model* m, int64_t rows, const float* x, int64_t ldx,
                                float* out, int64_t ldout) {
  return Wrap([&] {
    Require(m != nullptr, "propel_model_predict_logits", "model is null");
    m->model.predict_logits(rows, x, ldx, out, ldout);
  });
}

void propel_optimizer_config_default(propel_optimizer_config* c) {
  if (c == nullptr) return;
  const propel::OptimizerConfig o;
  c->kind = static_cast<int>(o.kind);
  c->lr = o.lr;
  c->momentum = o.momentum;
  c->beta1 = o.beta1;
  c->beta2 = o.beta2;
  c->eps = o.eps;
  c->weight_decay = o.weight_decay;
  c->clip_norm = o.clip_norm;
}

void propel_step_options_default(propel_step_options* options) {
  if (options == nullptr) return;
  const propel::StepOptions o;
  options->shard_rows = o.shard_rows;
  options->executor = static_cast<int>(o.executor);
  options->threads = o.threads;
  options->track_grad_norm = o.track_grad_norm ? 1 : 0;
}

int propel_trainer_create(propel_model* model, const propel_optimizer_config* config,
                          int64_t max_batch, const propel_step_options* options,
                          propel_trainer** out) {
  const char* where = "propel_trainer_create";
  return Wrap([&] {
    RequireOut(where, out);
    Require(model != nullptr, where, "model is null");
    Require(config != nullptr, where, "config is null");
    propel::StepOptions so;
    if (options != nullptr) {
      so.shard_rows = options->shard_rows;
      so.executor = static_cast<propel::Executor>(options->executor);
      so.threads = options->threads;
      so.track_grad_norm = options->track_grad_norm != 0;
    }
    *out =
        new propel_trainer{propel::Trainer(model->model, ConfigOf(config), max_batch, so), model};
  });
}

void propel_trainer_destroy(propel_trainer* trainer) { delete trainer; }

int propel_trainer_step(propel_trainer* t, const propel_batch* batch, propel_step_result* result) {
  const char* where = "propel_trainer_step";
  return Wrap([&] {
    Require(t != nullptr, where, "trainer is null");
    Store(t->trainer.step(ViewOf(where, batch)), result);
  });
}

int propel_trainer_compute_gradients(propel_trainer* t, const propel_batch* batch,
                                     propel_step_result* result) {
  const char* where = "propel_trainer_compute_gradients";
  return Wrap([&] {
    Require(t != nullptr, where, "trainer is null");
    Store(t->trainer.compute_gradients(ViewOf(where, batch)), result);
  });
}

int propel_trainer_apply_gradients(propel_trainer* t) {
  return Wrap([&] {
    Require(t != nullptr, "propel_trainer_apply_gradients", "trainer is null");
    t->trainer.apply_gradients();
  });
}

int propel_trainer_set_learning_rate(propel_trainer* t, float lr) {
  return Wrap([&] {
    Require(t != nullptr, "propel_trainer_set_learning_rate", "trainer is null");
    t->trainer.set_learning_rate(lr);
  });
}

int propel_trainer_get_learning_rate(const propel_trainer* t, float* lr) {
  return Wrap([&] {
    Require(t != nullptr && lr != nullptr, "propel_trainer_get_learning_rate", "null argument");
    *lr = t->trainer.learning_rate();
  });
}

int propel_trainer_steps(const propel_trainer* t, int64_t* steps) {
  return Wrap([&] {
    Require(t != nullptr && steps != nullptr, "propel_trainer_steps", "null argument");
    *steps = t->trainer.steps();
  });
}

int propel_trainer_set_gradient_reducer(propel_trainer* t, propel_gradient_reducer reducer,
                                        void* user) {
  return Wrap([&] {
    Require(t != nullptr, "propel_trainer_set_gradient_reducer", "trainer is null");
    if (reducer == nullptr) {
      t->trainer.set_gradient_reducer({});
      return;
    }
    t->trainer.set_gradient_reducer([reducer, user](float* sums, int64_t count, int64_t rows) {
      const int64_t total = reducer(sums, count, rows, user);
      if (total < 0) {
        throw propel::Error(propel::ErrorCode::kIo,
                            "propel_trainer_step: the gradient reducer failed (returned " +
                                std::to_string(total) + "); the parameters are unchanged");
      }
      return total;
    });
  });
}

int propel_evaluate(const propel_model* m, const propel_batch* data, double* loss,
                    double* accuracy) {
  const char* where = "propel_evaluate";
  return Wrap([&] {
    Require(m != nullptr, where, "model is null");
    const propel::Evaluation e = propel::evaluate(m->model, ViewOf(where, data));
    if (loss != nullptr) *loss = e.loss;
    if (accuracy != nullptr) *accuracy = e.accuracy;
  });
}

int propel_save_checkpoint(const char* path, const propel_model* m, const propel_trainer* t,
                           int64_t epochs_done) {
  const char* where = "propel_save_checkpoint";
  return Wrap([&] {
    Require(path != nullptr, where, "path is null");
    Require(m != nullptr, where, "model is null");
    Require(t == nullptr || t->model == m, where, "the trainer belongs to another model");
    propel::save_checkpoint(path, m->model, t != nullptr ? &t->trainer : nullptr, epochs_done);
  });
}

int propel_load_model(const char* path, propel_model** out) {
  const char* where = "propel_load_model";
  return Wrap([&] {
    RequireOut(where, out);
    Require(path != nullptr, where, "path is null");
    *out = new propel_model{propel::load_model(path)};
  });
}

int propel_load_checkpoint(const char* path, propel_model* m, propel_trainer* t,
                           int64_t* epochs_done) {
  const char* where = "propel_load_checkpoint";
  return Wrap([&] {
    Require(path != nullptr, where, "path is null");
    Require(m != nullptr, where, "model is null");
    Require(t == nullptr || t->model == m, where, "the trainer belongs to another model");
    const propel::CheckpointInfo info =
        propel::load_checkpoint(path, m->model, t != nullptr ? &t->trainer : nullptr);
    if (epochs_done != nullptr) *epochs_done = info.epochs_done;
  });
}

}  // extern "C"
