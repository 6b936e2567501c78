/* The example at the top of <propel/propel.h>, compiled as strict C11 and checked. */
#include <stdint.h>
#include <stdio.h>

#include "propel/propel.h"

int main(void) {
  float a[6] = {1, 2, 3, 4, 5, 6};
  float b[6] = {1, 0, 0, 1, 1, 1};
  float c[4];
  const float want[4] = {4, 5, 10, 11};
  int i;
  if (propel_sgemm(0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2) != PROPEL_OK) {
    fprintf(stderr, "%s\n", propel_last_error());
    return 1;
  }
  for (i = 0; i < 4; ++i) {
    if (c[i] != want[i]) {
      fprintf(stderr, "c[%d] = %g, want %g\n", i, (double)c[i], (double)want[i]);
      return 1;
    }
  }
  if (propel_sgemm(0, 0, 2, 2, 3, 1.0f, a, 2, b, 2, 0.0f, c, 2) != PROPEL_ERROR_INVALID_ARGUMENT) {
    fprintf(stderr, "expected an error for lda = 2\n");
    return 1;
  }
  {
    /* Element-wise kernels from C: a sigmoid output with binary cross-entropy, and one SGD step. */
    float z[4] = {-2.0f, -0.5f, 0.5f, 2.0f}, y[4] = {0, 0, 1, 1}, p[4], dz[4], loss = 0.0f;
    float w[4] = {1, 1, 1, 1};
    int32_t bad_labels[2] = {0, 7};
    if (propel_activation_forward(PROPEL_ACT_SIGMOID, 0.0f, 4, z, p) != PROPEL_OK ||
        propel_loss_bce_with_logits(4, 1, z, y, 0.25f, dz, &loss) != PROPEL_OK ||
        propel_sgd_update(4, 0.1f, 0.0f, 0.0f, 0, 1.0f, w, dz, NULL) != PROPEL_OK) {
      fprintf(stderr, "%s\n", propel_last_error());
      return 1;
    }
    for (i = 0; i < 4; ++i) {
      if (dz[i] != 0.25f * (p[i] - y[i]) || w[i] != 1.0f - 0.1f * dz[i]) {
        fprintf(stderr, "element %d: dz = %g, w = %g\n", i, (double)dz[i], (double)w[i]);
        return 1;
      }
    }
    if (propel_loss_softmax_ce(2, 2, z, bad_labels, 1.0f, dz, &loss) !=
        PROPEL_ERROR_INVALID_ARGUMENT) {
      fprintf(stderr, "expected an error for label 7\n");
      return 1;
    }
  }
  printf("propel %s on %s: ok (%s)\n", propel_version(), propel_get_target(), propel_last_error());
  return 0;
}
