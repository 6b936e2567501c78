// The C API of models, trainers, evaluation and checkpoints (propel/propel.h): handles over the
// C++ objects, every argument checked, every failure a status code with its message.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "propel/checkpoint.h"
#include "propel/model.h"
#include "propel/onnx.h"
#include "propel/propel.h"
#include "propel/train.h"
#include "src/c_api/status.h"

using propel::capi::LastError;
using propel::capi::Wrap;

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

// *out = get(*handle), both checked non-null.
template <class Handle, class T, class Get>
int Query(const char* where, const Handle* handle, T* out, Get get) {
  return Wrap([&] {
    Require(handle != nullptr && out != nullptr, where, "null argument");
    *out = get(*handle);
  });
}

// An exported accessor: int FUNCTION(const HANDLE* h, TYPE* out) stores h's EXPR through out.
#define PROPEL_C_QUERY(FUNCTION, HANDLE, TYPE, EXPR)                         \
  int FUNCTION(const HANDLE* h, TYPE* out) {                                 \
    return Query(#FUNCTION, h, out, [](const HANDLE& x) { return x.EXPR; }); \
  }

// out[0, count) = the model's array (parameters or gradients), all of it.
template <class Array>
int CopyOut(const char* where, const propel_model* m, float* out, int64_t count, Array array) {
  return Wrap([&] {
    RequireCount(where, m, count);
    Require(out != nullptr, where, "out is null");
    std::memcpy(out, array(m->model), static_cast<size_t>(count) * sizeof(float));
  });
}

// The model's array = in[0, count); with `finite`, only if every value is finite (else nothing
// changes).
template <class Array>
int CopyIn(const char* where, propel_model* m, const float* in, int64_t count, bool finite,
           Array array) {
  return Wrap([&] {
    RequireCount(where, m, count);
    Require(in != nullptr, where, "in is null");
    for (int64_t j = 0; finite && j < count; ++j) {
      if (!std::isfinite(in[j])) {
        throw propel::Error(propel::ErrorCode::kNumerical,
                            std::string(where) + ": parameter [" + std::to_string(j) + "] = " +
                                std::to_string(in[j]) + " is not finite; nothing was changed");
      }
    }
    std::memcpy(array(m->model), in, static_cast<size_t>(count) * sizeof(float));
  });
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

PROPEL_C_QUERY(propel_model_parameter_count, propel_model, int64_t, model.parameter_count())

PROPEL_C_QUERY(propel_model_inputs, propel_model, int64_t, model.inputs())

PROPEL_C_QUERY(propel_model_outputs, propel_model, int64_t, model.outputs())

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
  return CopyOut("propel_model_get_parameters", m, out, count,
                 [](const propel::Model& model) { return model.parameters(); });
}

int propel_model_set_parameters(propel_model* m, const float* in, int64_t count) {
  return CopyIn("propel_model_set_parameters", m, in, count, true,
                [](propel::Model& model) { return model.parameters(); });
}

int propel_model_get_gradients(const propel_model* m, float* out, int64_t count) {
  return CopyOut("propel_model_get_gradients", m, out, count,
                 [](const propel::Model& model) { return model.gradients(); });
}

int propel_model_set_gradients(propel_model* m, const float* in, int64_t count) {
  return CopyIn("propel_model_set_gradients", m, in, count, false,
                [](propel::Model& model) { return model.gradients(); });
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

int propel_model_get_precision(const propel_model* m, int* precision) {
  return Wrap([&] {
    Require(m != nullptr, "propel_model_get_precision", "model is null");
    Require(precision != nullptr, "propel_model_get_precision", "precision is null");
    *precision = static_cast<int>(m->model.precision());
  });
}

int propel_model_set_precision(propel_model* m, int precision) {
  return Wrap([&] {
    Require(m != nullptr, "propel_model_set_precision", "model is null");
    m->model.set_precision(static_cast<propel::Precision>(precision));
  });
}

int propel_model_get_portable(const propel_model* m, int* portable) {
  return Wrap([&] {
    Require(m != nullptr, "propel_model_get_portable", "model is null");
    Require(portable != nullptr, "propel_model_get_portable", "portable is null");
    *portable = m->model.portable() ? 1 : 0;
  });
}

int propel_model_set_portable(propel_model* m, int portable) {
  return Wrap([&] {
    Require(m != nullptr, "propel_model_set_portable", "model is null");
    Require(portable == 0 || portable == 1, "propel_model_set_portable",
            ("portable = " + std::to_string(portable) + " is neither 0 nor 1").c_str());
    m->model.set_portable(portable == 1);
  });
}

int propel_model_checksum(const propel_model* m, uint64_t* checksum) {
  return Wrap([&] {
    Require(m != nullptr, "propel_model_checksum", "model is null");
    Require(checksum != nullptr, "propel_model_checksum", "checksum is null");
    *checksum = propel::parameter_checksum(m->model);
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
  options->precision = static_cast<int>(o.precision);
  options->portable = o.portable ? 1 : 0;
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
      so.precision = static_cast<propel::Precision>(options->precision);
      Require(options->portable == 0 || options->portable == 1, where,
              ("options->portable = " + std::to_string(options->portable) + " is neither 0 nor 1")
                  .c_str());
      so.portable = options->portable == 1;
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

PROPEL_C_QUERY(propel_trainer_get_learning_rate, propel_trainer, float, trainer.learning_rate())

PROPEL_C_QUERY(propel_trainer_steps, propel_trainer, int64_t, trainer.steps())

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

int propel_save_onnx(const char* path, const propel_model* m) {
  const char* where = "propel_save_onnx";
  return Wrap([&] {
    Require(path != nullptr, where, "path is null");
    Require(m != nullptr, where, "model is null");
    propel::save_onnx(path, m->model);
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
