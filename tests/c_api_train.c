/* The C API from C11 (-std=c11 -Wall -Wextra -Werror -pedantic): a model trained on three
 * Gaussian blobs to > 95% accuracy, parameters and gradients through caller buffers, gradients
 * computed and applied separately, a gradient reducer, checkpoints, targets, and the errors a
 * host gets for bad input instead of a crash. Exit status 0 when every check passes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "propel/propel.h"

static int failures = 0;

#define CHECK(cond)                                                      \
  do {                                                                   \
    if (!(cond)) {                                                       \
      fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                        \
    }                                                                    \
  } while (0)

#define CHECK_OK(call)                                                                   \
  do {                                                                                   \
    int status_ = (call);                                                                \
    if (status_ != PROPEL_OK) {                                                          \
      fprintf(stderr, "%s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #call, status_, \
              propel_last_error());                                                      \
      ++failures;                                                                        \
    }                                                                                    \
  } while (0)

/* Deterministic pseudo-random numbers in [0, 1). */
static unsigned long long rng_state = 12345;
static float uniform(void) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((rng_state >> 40) & 0xFFFFFF) / 16777216.0f;
}

enum { ROWS = 600, IN = 2, CLASSES = 3 };
static float xs[ROWS * IN];
static int32_t labels[ROWS];

static void make_blobs(void) {
  const float cx[CLASSES] = {-2.0f, 2.0f, 0.0f}, cy[CLASSES] = {-1.0f, -1.0f, 2.0f};
  for (int i = 0; i < ROWS; ++i) {
    const int c = i % CLASSES;
    labels[i] = c;
    xs[i * IN] = cx[c] + (uniform() + uniform() + uniform() - 1.5f);
    xs[i * IN + 1] = cy[c] + (uniform() + uniform() + uniform() - 1.5f);
  }
}

static int64_t doubling_reducer(float* sums, int64_t count, int64_t rows, void* user) {
  int64_t i;
  ++*(int*)user;
  for (i = 0; i < count; ++i) sums[i] *= 2.0f;
  return 2 * rows;
}

static int64_t failing_reducer(float* sums, int64_t count, int64_t rows, void* user) {
  (void)sums;
  (void)count;
  (void)rows;
  (void)user;
  return -1;
}

int main(void) {
  propel_model* model = NULL;
  propel_model* loaded = NULL;
  propel_model* twin = NULL;
  propel_trainer* trainer = NULL;
  propel_layer hidden[1];
  propel_optimizer_config opt;
  propel_step_options so;
  propel_batch all, batch;
  propel_step_result r;
  int64_t count = 0, steps = 0, epochs = 0, i;
  float *params, *grads, *probs;
  double loss = 0.0, accuracy = 0.0;
  char text[128];
  int calls = 0, epoch;

  CHECK(strlen(propel_version()) >= 5);
  make_blobs();
  hidden[0].units = 16;
  hidden[0].activation = PROPEL_ACT_TANH;
  hidden[0].alpha = NAN;
  CHECK_OK(propel_model_create(IN, hidden, 1, CLASSES, PROPEL_HEAD_MULTICLASS,
                               PROPEL_INIT_GLOROT_UNIFORM, 7, &model));
  CHECK_OK(propel_model_parameter_count(model, &count));
  CHECK(count == 16 * 2 + 16 + 3 * 16 + 3);
  CHECK_OK(propel_model_describe(model, text, sizeof text));
  CHECK(strcmp(text, "2-16(tanh)-3 multiclass, 99 parameters") == 0);

  propel_optimizer_config_default(&opt);
  opt.kind = PROPEL_OPTIMIZER_ADAM;
  opt.lr = 0.02f;
  propel_step_options_default(&so);
  CHECK(so.shard_rows == 256 && so.executor == PROPEL_EXECUTOR_TBB);
  so.shard_rows = 16;
  so.track_grad_norm = 1;
  CHECK_OK(propel_trainer_create(model, &opt, 32, &so, &trainer));

  memset(&all, 0, sizeof all);
  all.rows = ROWS;
  all.x = xs;
  all.labels = labels;
  for (epoch = 0; epoch < 10; ++epoch) {
    for (i = 0; i + 32 <= ROWS; i += 32) {
      batch = all;
      batch.rows = 32;
      batch.x = xs + i * IN;
      batch.labels = labels + i;
      CHECK_OK(propel_trainer_step(trainer, &batch, &r));
    }
  }
  CHECK(r.rows == 32 && isfinite(r.grad_norm));
  CHECK_OK(propel_trainer_steps(trainer, &steps));
  CHECK(steps == 10 * (ROWS / 32));
  CHECK_OK(propel_evaluate(model, &all, &loss, &accuracy));
  printf("blobs: loss %.4f, accuracy %.2f%% after %lld steps\n", loss, 100.0 * accuracy,
         (long long)steps);
  CHECK(accuracy > 0.95);

  /* Probabilities sum to 1 per row. */
  probs = malloc(sizeof(float) * ROWS * CLASSES);
  CHECK_OK(propel_model_predict(model, ROWS, xs, IN, probs, CLASSES));
  CHECK(fabsf(probs[0] + probs[1] + probs[2] - 1.0f) < 1e-5f);

  /* A parameter write between steps is seen by the next step (the trainer's packed weights are
   * made again from the new values): its step equals a new trainer's on a model with the same
   * parameters (plain SGD keeps no state). */
  {
    propel_model *m1 = NULL, *m2 = NULL;
    propel_trainer *t1 = NULL, *t2 = NULL;
    propel_optimizer_config sgd;
    float *p1, *p2;
    int64_t j;
    propel_optimizer_config_default(&sgd);
    sgd.kind = PROPEL_OPTIMIZER_SGD;
    sgd.lr = 0.1f;
    CHECK_OK(propel_model_create(IN, hidden, 1, CLASSES, PROPEL_HEAD_MULTICLASS,
                                 PROPEL_INIT_HE_UNIFORM, 5, &m1));
    CHECK_OK(propel_model_create(IN, hidden, 1, CLASSES, PROPEL_HEAD_MULTICLASS,
                                 PROPEL_INIT_HE_UNIFORM, 6, &m2));
    CHECK_OK(propel_trainer_create(m1, &sgd, 32, &so, &t1));
    batch = all;
    batch.rows = 32;
    CHECK_OK(propel_trainer_step(t1, &batch, NULL));
    p1 = malloc(sizeof(float) * (size_t)count);
    p2 = malloc(sizeof(float) * (size_t)count);
    CHECK_OK(propel_model_get_parameters(m1, p1, count));
    for (j = 0; j < count; ++j) p1[j] *= 0.5f;
    CHECK_OK(propel_model_set_parameters(m1, p1, count));
    CHECK_OK(propel_model_set_parameters(m2, p1, count));
    CHECK_OK(propel_trainer_create(m2, &sgd, 32, &so, &t2));
    CHECK_OK(propel_trainer_step(t1, &batch, NULL));
    CHECK_OK(propel_trainer_step(t2, &batch, NULL));
    CHECK_OK(propel_model_get_parameters(m1, p1, count));
    CHECK_OK(propel_model_get_parameters(m2, p2, count));
    CHECK(memcmp(p1, p2, sizeof(float) * (size_t)count) == 0);
    free(p1);
    free(p2);
    propel_trainer_destroy(t1);
    propel_trainer_destroy(t2);
    propel_model_destroy(m1);
    propel_model_destroy(m2);
  }

  /* Portable mode: the model takes the trainer's, two runs give one checksum, and the checksum
   * is that of the parameters (docs/reproducibility.md; across targets: tests/src/portable_test.cc
   * and the cli_portable test). */
  {
    propel_model *m1 = NULL, *m2 = NULL;
    propel_trainer *t1 = NULL, *t2 = NULL;
    propel_step_options po = so;
    uint64_t c1 = 0, c2 = 0;
    int portable = 0;
    po.portable = 1;
    CHECK_OK(propel_model_create(IN, hidden, 1, CLASSES, PROPEL_HEAD_MULTICLASS,
                                 PROPEL_INIT_HE_UNIFORM, 5, &m1));
    CHECK_OK(propel_model_create(IN, hidden, 1, CLASSES, PROPEL_HEAD_MULTICLASS,
                                 PROPEL_INIT_HE_UNIFORM, 5, &m2));
    CHECK_OK(propel_model_get_portable(m1, &portable));
    CHECK(portable == 0);
    CHECK_OK(propel_trainer_create(m1, &opt, 32, &po, &t1));
    CHECK_OK(propel_trainer_create(m2, &opt, 32, &po, &t2));
    CHECK_OK(propel_model_get_portable(m1, &portable));
    CHECK(portable == 1);
    batch = all;
    batch.rows = 32;
    CHECK_OK(propel_trainer_step(t1, &batch, NULL));
    CHECK_OK(propel_trainer_step(t2, &batch, NULL));
    CHECK_OK(propel_model_checksum(m1, &c1));
    CHECK_OK(propel_model_checksum(m2, &c2));
    CHECK(c1 == c2 && c1 != 0);
    CHECK(propel_model_set_portable(m1, 2) == PROPEL_ERROR_INVALID_ARGUMENT);
    CHECK_OK(propel_model_set_portable(m1, 0)); /* a step now fails: make a new trainer */
    CHECK(propel_trainer_step(t1, &batch, NULL) == PROPEL_ERROR_INVALID_ARGUMENT);
    propel_trainer_destroy(t1);
    t1 = NULL;
    po.portable = 3;
    CHECK(propel_trainer_create(m2, &opt, 32, &po, &t1) == PROPEL_ERROR_INVALID_ARGUMENT);
    CHECK(t1 == NULL);
    propel_trainer_destroy(t2);
    propel_model_destroy(m1);
    propel_model_destroy(m2);
  }

  /* Parameters out and in again, and the separated step: compute, read, write back, apply. */
  params = malloc(sizeof(float) * (size_t)count);
  grads = malloc(sizeof(float) * (size_t)count);
  CHECK_OK(propel_model_get_parameters(model, params, count));
  CHECK_OK(propel_model_set_parameters(model, params, count));
  batch = all;
  batch.rows = 32;
  CHECK_OK(propel_trainer_compute_gradients(trainer, &batch, &r));
  CHECK_OK(propel_model_get_gradients(model, grads, count));
  for (i = 0; i < count; ++i) grads[i] = 0.0f;
  CHECK_OK(propel_model_set_gradients(model, grads, count));
  opt.kind = PROPEL_OPTIMIZER_SGD;
  CHECK_OK(propel_trainer_set_learning_rate(trainer, 0.5f));
  CHECK_OK(propel_trainer_apply_gradients(trainer)); /* Adam on zero gradients still moves */

  /* A reducer standing for a second, identical process: same update as without it. */
  CHECK_OK(propel_model_create(IN, hidden, 1, CLASSES, PROPEL_HEAD_MULTICLASS,
                               PROPEL_INIT_GLOROT_UNIFORM, 7, &twin));
  propel_model_destroy(loaded);
  CHECK_OK(propel_model_create(IN, hidden, 1, CLASSES, PROPEL_HEAD_MULTICLASS,
                               PROPEL_INIT_GLOROT_UNIFORM, 7, &loaded));
  {
    propel_trainer *a = NULL, *b = NULL;
    float *pa = malloc(sizeof(float) * (size_t)count), *pb = malloc(sizeof(float) * (size_t)count);
    CHECK_OK(propel_trainer_create(twin, &opt, 32, &so, &a));
    CHECK_OK(propel_trainer_create(loaded, &opt, 32, &so, &b));
    CHECK_OK(propel_trainer_set_gradient_reducer(b, doubling_reducer, &calls));
    CHECK_OK(propel_trainer_step(a, &batch, NULL));
    CHECK_OK(propel_trainer_step(b, &batch, NULL));
    CHECK(calls == 1);
    CHECK_OK(propel_model_get_parameters(twin, pa, count));
    CHECK_OK(propel_model_get_parameters(loaded, pb, count));
    CHECK(memcmp(pa, pb, sizeof(float) * (size_t)count) == 0);
    /* A failing reducer fails the step and changes nothing. */
    CHECK_OK(propel_trainer_set_gradient_reducer(b, failing_reducer, NULL));
    CHECK(propel_trainer_step(b, &batch, NULL) == PROPEL_ERROR_IO);
    CHECK(strstr(propel_last_error(), "gradient reducer failed") != NULL);
    CHECK_OK(propel_model_get_parameters(loaded, pa, count));
    CHECK(memcmp(pa, pb, sizeof(float) * (size_t)count) == 0);
    CHECK_OK(propel_trainer_set_gradient_reducer(b, NULL, NULL));
    CHECK_OK(propel_trainer_step(b, &batch, NULL));
    propel_trainer_destroy(a);
    propel_trainer_destroy(b);
    free(pa);
    free(pb);
  }
  propel_model_destroy(loaded);
  loaded = NULL;

  /* Checkpoints: the model and trainer back, predictions bitwise the same. */
  CHECK_OK(propel_save_checkpoint("c_api_train.ckpt", model, trainer, 10));
  CHECK_OK(propel_load_model("c_api_train.ckpt", &loaded));
  {
    float* again = malloc(sizeof(float) * ROWS * CLASSES);
    CHECK_OK(propel_model_predict(model, ROWS, xs, IN, probs, CLASSES));
    CHECK_OK(propel_model_predict(loaded, ROWS, xs, IN, again, CLASSES));
    CHECK(memcmp(probs, again, sizeof(float) * ROWS * CLASSES) == 0);
    free(again);
  }
  CHECK_OK(propel_load_checkpoint("c_api_train.ckpt", twin, NULL, &epochs));
  CHECK(epochs == 10);
  remove("c_api_train.ckpt");

  /* ONNX: a ModelProto (field 1, ir_version, first); a bad path is an I/O error. */
  CHECK_OK(propel_save_onnx("c_api_train.onnx", model));
  {
    FILE* f = fopen("c_api_train.onnx", "rb");
    CHECK(f != NULL && fgetc(f) == 0x08);
    fclose(f);
  }
  remove("c_api_train.onnx");
  CHECK(propel_save_onnx("/nonexistent/x.onnx", model) == PROPEL_ERROR_IO);
  CHECK(propel_save_onnx("x.onnx", NULL) == PROPEL_ERROR_INVALID_ARGUMENT);

  /* Targets: pin each, query, unpin. */
  CHECK_OK(propel_set_target("SCALAR"));
  CHECK(strcmp(propel_get_target(), "SCALAR") == 0);
  CHECK_OK(propel_set_target(NULL));

  /* Bad input: a status and a message, never a crash. */
  CHECK(propel_model_get_parameters(model, params, count - 1) == PROPEL_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(propel_last_error(), "count = 98, the model has 99 parameters") != NULL);
  propel_model_destroy(twin); /* out-parameters are NULL after a failed create */
  CHECK(propel_model_create(IN, hidden, 1, 1, PROPEL_HEAD_MULTICLASS, 0, 1, &twin) ==
        PROPEL_ERROR_INVALID_ARGUMENT);
  CHECK(twin == NULL);
  CHECK(propel_model_create(IN, hidden, 1, CLASSES, 7, 0, 1, &twin) ==
        PROPEL_ERROR_INVALID_ARGUMENT);
  CHECK(propel_trainer_step(NULL, &batch, NULL) == PROPEL_ERROR_INVALID_ARGUMENT);
  CHECK(propel_trainer_step(trainer, NULL, NULL) == PROPEL_ERROR_INVALID_ARGUMENT);
  batch.rows = 33; /* above max_batch */
  CHECK(propel_trainer_step(trainer, &batch, NULL) == PROPEL_ERROR_INVALID_ARGUMENT);
  CHECK(strstr(propel_last_error(), "max_batch") != NULL);
  batch.rows = 32;
  xs[3] = NAN;
  CHECK(propel_trainer_step(trainer, &batch, NULL) == PROPEL_ERROR_NUMERICAL);
  CHECK(strstr(propel_last_error(), "the loss is nan") != NULL);
  params[0] = INFINITY;
  CHECK(propel_model_set_parameters(model, params, count) == PROPEL_ERROR_NUMERICAL);
  propel_model_destroy(loaded);
  CHECK(propel_load_model("/nonexistent/x.ckpt", &loaded) == PROPEL_ERROR_IO);
  CHECK(loaded == NULL);
  CHECK(propel_model_describe(model, text, 4) == PROPEL_ERROR_INVALID_ARGUMENT);
  CHECK(propel_set_target("NO_SUCH_TARGET") != PROPEL_OK);

  propel_trainer_destroy(trainer);
  propel_model_destroy(model);
  propel_model_destroy(NULL);
  propel_trainer_destroy(NULL);
  free(params);
  free(grads);
  free(probs);
  if (failures == 0) printf("c_api_train: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
