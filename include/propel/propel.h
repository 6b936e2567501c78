/* propel's C API: a C11-compatible interface to models, training, checkpoints and the kernels,
 * with status codes instead of exceptions. Nothing is thrown across it and nothing aborts the
 * host on bad input. docs/embedding.md.
 *
 * Example (row-major C = A * B, A: 2x3, B: 3x2):
 *
 *   float a[6] = {1, 2, 3, 4, 5, 6};
 *   float b[6] = {1, 0, 0, 1, 1, 1};
 *   float c[4];
 *   if (propel_sgemm(0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2) != PROPEL_OK) {
 *     fprintf(stderr, "%s\n", propel_last_error());
 *   }
 *   // c == {4, 5, 10, 11}
 *
 * Errors: every function returns PROPEL_OK (0) or a PROPEL_ERROR_* code; the message of the
 * most recent failure on the calling thread is returned by propel_last_error().
 */
#ifndef PROPEL_PROPEL_H_
#define PROPEL_PROPEL_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(PROPEL_SHARED) && defined(PROPEL_BUILDING)
#define PROPEL_API __declspec(dllexport)
#elif defined(_WIN32) && defined(PROPEL_SHARED)
#define PROPEL_API __declspec(dllimport)
#elif defined(__GNUC__)
#define PROPEL_API __attribute__((visibility("default")))
#else
#define PROPEL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum {
  PROPEL_OK = 0,
  PROPEL_ERROR_INVALID_ARGUMENT = 1,
  PROPEL_ERROR_UNSUPPORTED = 2,
  PROPEL_ERROR_NUMERICAL = 3,
  PROPEL_ERROR_IO = 4,
  PROPEL_ERROR_OUT_OF_MEMORY = 5,
  PROPEL_ERROR_INTERNAL = 6
};

/* Activations (propel::Activation in <propel/activation.h>). alpha is leaky ReLU's slope
 * (typically 0.01) and ELU's scale (typically 1); the others ignore it. */
enum {
  PROPEL_ACT_IDENTITY = 0,
  PROPEL_ACT_RELU = 1,
  PROPEL_ACT_SIGMOID = 2,
  PROPEL_ACT_TANH = 3,
  PROPEL_ACT_LEAKY_RELU = 4,
  PROPEL_ACT_ELU = 5,
  PROPEL_ACT_GELU_TANH = 6,
  PROPEL_ACT_GELU_ERF = 7,
  PROPEL_ACT_SILU = 8,
  PROPEL_ACT_SOFTPLUS = 9
};

/* Executors (see propel_set_executor). */
enum { PROPEL_EXECUTOR_TBB = 0, PROPEL_EXECUTOR_OPENMP = 1, PROPEL_EXECUTOR_SERIAL = 2 };

/* The library's version, e.g. "0.1.0". */
PROPEL_API const char* propel_version(void);

/* Message of the last failed call on this thread ("" if none). Valid until the next failing
 * call on the same thread. */
PROPEL_API const char* propel_last_error(void);

/* C = alpha * op(A) * op(B) + beta * C, row-major; trans_* is 0 (none) or 1 (transpose).
 * Same contract as propel::sgemm in <propel/gemm.h>. */
PROPEL_API int propel_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                            const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                            float* c, int64_t ldc);

/* Precisions of a run's GEMMs (<propel/precision.h>): fp32, or bf16 operands with fp32 sums. */
/* AUTO: bf16 where the CPU multiplies bf16 natively (AMX, AVX512_BF16), fp32 elsewhere; resolved
   when a trainer is made or a model's precision is set, which then hold fp32 or bf16. */
enum { PROPEL_PRECISION_FP32 = 0, PROPEL_PRECISION_BF16 = 1, PROPEL_PRECISION_AUTO = 2 };

/* C = alpha * op(A) * op(B) + beta * C with bf16 products: A and B rounded to bf16 (nearest,
 * ties to even) as they are packed, products summed in fp32. Same contract as propel::gemm_bf16
 * in <propel/gemm.h>. */
PROPEL_API int propel_gemm_bf16(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                float alpha, const float* a, int64_t lda, const float* b,
                                int64_t ldb, float beta, float* c, int64_t ldc);
/* The same on operands stored as bf16 (the upper 16 bits of their binary32 values). */
PROPEL_API int propel_gemm_bf16_stored(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                       float alpha, const uint16_t* a, int64_t lda,
                                       const uint16_t* b, int64_t ldb, float beta, float* c,
                                       int64_t ldc);
/* n values converted to bf16 (rounded as above) and back (exact). */
PROPEL_API int propel_to_bf16(int64_t n, const float* src, uint16_t* dst);
PROPEL_API int propel_bf16_to_float(int64_t n, const uint16_t* src, float* dst);

/* Z = act(X * W^T + bias): X batch x in, W out x in, bias out values or NULL, Z batch x out.
 * act: PROPEL_ACT_*, applied in the GEMM epilogue. */
PROPEL_API int propel_linear_forward(int64_t batch, int64_t in, int64_t out, const float* x,
                                     int64_t ldx, const float* w, int64_t ldw, const float* bias,
                                     int act, float alpha, float* z, int64_t ldz);

/* Element-wise kernels (<propel/activation.h>, <propel/loss.h>, <propel/optim.h> for the full
 * contracts). Arrays are contiguous; outputs may be the input array itself (y == x, dx == dy,
 * dz == z) but must not overlap it partially. */

/* y = act(x), n elements. */
PROPEL_API int propel_activation_forward(int act, float alpha, int64_t n, const float* x, float* y);
/* dx = dy * act'(x), x the pre-activation. */
PROPEL_API int propel_activation_backward(int act, float alpha, int64_t n, const float* x,
                                          const float* dy, float* dx);
/* dx = dy * act'(x) from the output y = act(x): identity, ReLU, sigmoid, tanh, leaky ReLU and
 * ELU only (PROPEL_ERROR_INVALID_ARGUMENT for the others). */
PROPEL_API int propel_activation_backward_from_output(int act, float alpha, int64_t n,
                                                      const float* y, const float* dy, float* dx);
/* Row-wise softmax and log-softmax of a rows x cols array (cols >= 1). */
PROPEL_API int propel_softmax(int64_t rows, int64_t cols, const float* x, float* y);
PROPEL_API int propel_log_softmax(int64_t rows, int64_t cols, const float* x, float* y);

/* Losses over rows x cols (one sample per row). *loss receives the mean over rows of the
 * per-sample loss; dz (may be NULL) receives grad_scale * the per-sample gradient with respect
 * to the input (grad_scale = 1 / rows: the gradient of the mean). Labels outside [0, classes)
 * give PROPEL_ERROR_INVALID_ARGUMENT, non-finite inputs PROPEL_ERROR_NUMERICAL. */
PROPEL_API int propel_loss_bce_with_logits(int64_t rows, int64_t cols, const float* z,
                                           const float* y, float grad_scale, float* dz,
                                           float* loss);
PROPEL_API int propel_loss_bce(int64_t rows, int64_t cols, const float* a, const float* y,
                               float eps, float grad_scale, float* dz, float* loss);
PROPEL_API int propel_loss_mse(int64_t rows, int64_t cols, const float* a, const float* y,
                               float grad_scale, float* dz, float* loss);
PROPEL_API int propel_loss_softmax_ce(int64_t rows, int64_t classes, const float* z,
                                      const int32_t* labels, float grad_scale, float* dz,
                                      float* loss);
PROPEL_API int propel_loss_softmax_ce_soft(int64_t rows, int64_t classes, const float* z,
                                           const float* targets, float grad_scale, float* dz,
                                           float* loss);

/* Reductions: column sums (accumulate != 0 adds to out), sum of squares, and
 * out = scale * (bufs[0] + ... + bufs[k-1]) in a fixed pairwise order. */
PROPEL_API int propel_column_sums(int64_t rows, int64_t cols, const float* x, float* out,
                                  int accumulate);
PROPEL_API int propel_sum_squares(int64_t n, const float* x, double* out);
PROPEL_API int propel_reduce_sum(int64_t k, const float* const* bufs, int64_t n, float scale,
                                 float* out);

/* Optimizer updates in place on w, with g_eff = grad_scale * g (+ weight_decay * w for L2).
 * SGD with momentum > 0 needs velocity (n floats, zero at start); nesterov is 0 or 1.
 * Adam: step counts from 1; m and v are n floats each, zero at start; decoupled = 1 is AdamW. */
PROPEL_API int propel_sgd_update(int64_t n, float lr, float momentum, float weight_decay,
                                 int nesterov, float grad_scale, float* w, const float* g,
                                 float* velocity);
PROPEL_API int propel_adam_update(int64_t n, int64_t step, float lr, float beta1, float beta2,
                                  float eps, float weight_decay, int decoupled, float grad_scale,
                                  float* w, const float* g, float* m, float* v);

/* Thread budget (>= 1) and executor for propel's parallel work. */
PROPEL_API int propel_set_num_threads(int n);
PROPEL_API int propel_get_num_threads(void);
PROPEL_API int propel_set_executor(int executor);

/* SIMD target: pin by name ("AVX3_AMX", "AVX3_BF16", "AVX3", "AVX2", "SSE4", "SSSE3",
 * "SCALAR"; "best" or NULL unpins) and query the active one. */
PROPEL_API int propel_set_target(const char* name);
PROPEL_API const char* propel_get_target(void);

/* ---------------------------------------------------------------------------------------------
 * Models, training and checkpoints (<propel/model.h>, <propel/train.h>, <propel/checkpoint.h>).
 *
 * Handles are opaque and owned by the caller: every *_create / propel_load_model is paired with
 * its *_destroy (NULL is accepted there). A trainer refers to its model: destroy the trainer
 * first. Buffers are the caller's, with explicit sizes; nothing is kept after a call returns
 * except where stated. A model or trainer is used by one thread at a time.
 *
 * Parameter and gradient layout: parameter_count floats, per layer l = 0..L-1 (hidden layers,
 * then the output layer) its weights W_l (out_l x in_l, row-major: W_l[o][i] at o * in_l + i)
 * followed by its bias b_l (out_l floats), layers one after another with no padding.
 * ------------------------------------------------------------------------------------------- */

typedef struct propel_model propel_model;
typedef struct propel_trainer propel_trainer;

/* Heads: sigmoid + binary cross-entropy, softmax + cross-entropy, identity + mean squared error. */
enum { PROPEL_HEAD_BINARY = 0, PROPEL_HEAD_MULTICLASS = 1, PROPEL_HEAD_REGRESSION = 2 };
/* Weight initializers (biases start at zero). */
enum {
  PROPEL_INIT_GLOROT_UNIFORM = 0,
  PROPEL_INIT_GLOROT_NORMAL = 1,
  PROPEL_INIT_HE_UNIFORM = 2,
  PROPEL_INIT_HE_NORMAL = 3
};
enum {
  PROPEL_OPTIMIZER_SGD = 0,
  PROPEL_OPTIMIZER_MOMENTUM = 1,
  PROPEL_OPTIMIZER_NESTEROV = 2,
  PROPEL_OPTIMIZER_ADAM = 3,
  PROPEL_OPTIMIZER_ADAMW = 4
};

/* A hidden layer: width, PROPEL_ACT_* and alpha (NaN: the activation's default). */
typedef struct propel_layer {
  int64_t units;
  int activation;
  float alpha;
} propel_layer;

/* A new model of `inputs` inputs, n_hidden hidden layers and an output layer of `outputs` units
 * (classes for PROPEL_HEAD_MULTICLASS, >= 2), weights drawn by `init` from `seed` (the same
 * values on every machine). */
PROPEL_API int propel_model_create(int64_t inputs, const propel_layer* hidden, int64_t n_hidden,
                                   int64_t outputs, int head, int init, uint64_t seed,
                                   propel_model** out);
PROPEL_API void propel_model_destroy(propel_model* model);
PROPEL_API int propel_model_parameter_count(const propel_model* model, int64_t* count);
PROPEL_API int propel_model_inputs(const propel_model* model, int64_t* inputs);
PROPEL_API int propel_model_outputs(const propel_model* model, int64_t* outputs);
/* "784-128(relu)-10 multiclass, 101770 parameters" into buf (size bytes, NUL-terminated;
 * PROPEL_ERROR_INVALID_ARGUMENT when it does not fit). */
PROPEL_API int propel_model_describe(const propel_model* model, char* buf, size_t size);
/* All parameters or gradients as one buffer of exactly `count` floats (the layout above). Setting
 * the parameters gives the model a new version: its trainers' packed weights and predict's are
 * made again from the new values. */
PROPEL_API int propel_model_get_parameters(const propel_model* model, float* out, int64_t count);
PROPEL_API int propel_model_set_parameters(propel_model* model, const float* in, int64_t count);
PROPEL_API int propel_model_get_gradients(const propel_model* model, float* out, int64_t count);
PROPEL_API int propel_model_set_gradients(propel_model* model, const float* in, int64_t count);
/* The head's output (probabilities; values for regression), or the logits, of `rows` rows of x
 * (row stride ldx >= inputs) into out (row stride ldout >= outputs). */
PROPEL_API int propel_model_predict(const propel_model* model, int64_t rows, const float* x,
                                    int64_t ldx, float* out, int64_t ldout);
PROPEL_API int propel_model_predict_logits(const propel_model* model, int64_t rows, const float* x,
                                           int64_t ldx, float* out, int64_t ldout);
/* The precision (PROPEL_PRECISION_*) the model computes in (predictions, evaluations and its
 * trainer's steps; the model owns it): fp32 for a new model, the trainer's once one is created
 * for it, the file's for a loaded one. A trainer's step after propel_model_set_precision changed
 * it fails with PROPEL_ERROR_INVALID_ARGUMENT (create a new trainer). */
PROPEL_API int propel_model_get_precision(const propel_model* model, int* precision);
PROPEL_API int propel_model_set_precision(propel_model* model, int precision);
/* Portable mode (1) or not (0) for the model's predictions and evaluations, owned like the
 * precision: the trainer's once one is created for the model, the file's for a loaded one
 * (docs/reproducibility.md). */
PROPEL_API int propel_model_get_portable(const propel_model* model, int* portable);
PROPEL_API int propel_model_set_portable(propel_model* model, int portable);
/* FNV-1a (64 bits) of the parameters' bytes: `propel train`'s parameter checksum. */
PROPEL_API int propel_model_checksum(const propel_model* model, uint64_t* checksum);

/* Rows of data: x is rows x inputs (row stride ldx, 0: inputs); labels (one class per row) for
 * PROPEL_HEAD_MULTICLASS, else targets (rows x outputs, row stride ldt, 0: outputs). */
typedef struct propel_batch {
  int64_t rows;
  const float* x;
  int64_t ldx;
  const int32_t* labels;
  const float* targets;
  int64_t ldt;
} propel_batch;

typedef struct propel_optimizer_config {
  int kind; /* PROPEL_OPTIMIZER_* */
  float lr;
  float momentum; /* momentum, nesterov */
  float beta1;    /* adam, adamw */
  float beta2;
  float eps;
  float weight_decay; /* L2 (decoupled for adamw) */
  float clip_norm;    /* > 0: gradient norm clipping */
} propel_optimizer_config;

typedef struct propel_step_options {
  int64_t shard_rows;  /* rows per shard: the result depends on it, never on threads */
  int executor;        /* PROPEL_EXECUTOR_* */
  int threads;         /* 0: propel_get_num_threads() */
  int track_grad_norm; /* 1: report grad_norm in every step result */
  int precision;       /* PROPEL_PRECISION_*: the GEMMs' arithmetic (the model takes it too) */
  int portable;        /* 1: portable mode, bitwise the same results on every SIMD target with
                          FMA and every x86-64 CPU (docs/reproducibility.md; the model takes it) */
} propel_step_options;

/* What a step saw: mean loss, rows, rows classified right, gradient norm (NaN unless tracked or
 * clipping). */
typedef struct propel_step_result {
  double loss;
  int64_t rows;
  int64_t correct;
  double grad_norm;
} propel_step_result;

/* The C++ defaults (SGD, lr 0.01, momentum 0.9, beta1 0.9, beta2 0.999, eps 1e-8; shards of 256
 * rows on TBB with every thread, fp32, not portable). */
PROPEL_API void propel_optimizer_config_default(propel_optimizer_config* config);
PROPEL_API void propel_step_options_default(propel_step_options* options);

/* A trainer for `model` and batches of up to max_batch rows; options may be NULL (defaults).
 * Allocates its whole workspace here: steps allocate nothing. */
PROPEL_API int propel_trainer_create(propel_model* model, const propel_optimizer_config* config,
                                     int64_t max_batch, const propel_step_options* options,
                                     propel_trainer** out);
PROPEL_API void propel_trainer_destroy(propel_trainer* trainer);
/* Forward, loss, backward, update. result may be NULL. On PROPEL_ERROR_NUMERICAL (NaN/Inf) the
 * parameters and optimizer state are as they were before the call. */
PROPEL_API int propel_trainer_step(propel_trainer* trainer, const propel_batch* batch,
                                   propel_step_result* result);
/* Gradients of the batch's mean loss into the model's gradient buffer, no update. */
PROPEL_API int propel_trainer_compute_gradients(propel_trainer* trainer, const propel_batch* batch,
                                                propel_step_result* result);
/* One update from the model's gradient buffer (e.g. after propel_model_set_gradients). */
PROPEL_API int propel_trainer_apply_gradients(propel_trainer* trainer);
PROPEL_API int propel_trainer_set_learning_rate(propel_trainer* trainer, float lr);
PROPEL_API int propel_trainer_get_learning_rate(const propel_trainer* trainer, float* lr);
PROPEL_API int propel_trainer_steps(const propel_trainer* trainer, int64_t* steps);

/* Data parallelism: called by propel_trainer_step between the backward pass and the update with
 * the gradient summed over this process's `rows` rows (`count` floats, the layout above); it
 * replaces them with the sums over every process and returns the total rows, or a negative
 * value to fail the step (nothing changes; the message is "the gradient reducer failed").
 * NULL removes it. */
typedef int64_t (*propel_gradient_reducer)(float* sums, int64_t count, int64_t rows, void* user);
PROPEL_API int propel_trainer_set_gradient_reducer(propel_trainer* trainer,
                                                   propel_gradient_reducer reducer, void* user);

/* Mean loss and accuracy (NaN for regression) of a model on rows of data. */
PROPEL_API int propel_evaluate(const propel_model* model, const propel_batch* data, double* loss,
                               double* accuracy);

/* Checkpoints: written to a temporary file and renamed, so a failed save keeps the previous file;
 * with a trainer (may be NULL) also its optimizer state, update count and epochs_done. */
PROPEL_API int propel_save_checkpoint(const char* path, const propel_model* model,
                                      const propel_trainer* trainer, int64_t epochs_done);
/* A new model from a checkpoint. */
PROPEL_API int propel_load_model(const char* path, propel_model** out);
/* Parameters into an existing model (same shape) and, when the file has it and trainer is not
 * NULL, the optimizer state; nothing changes on error. epochs_done may be NULL. */
PROPEL_API int propel_load_checkpoint(const char* path, propel_model* model,
                                      propel_trainer* trainer, int64_t* epochs_done);
/* The model as ONNX (standard operators, opset 17; <propel/onnx.h>), written like a checkpoint. */
PROPEL_API int propel_save_onnx(const char* path, const propel_model* model);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PROPEL_PROPEL_H_ */
