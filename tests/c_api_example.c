/* The example at the top of <propel/propel.h>, compiled as strict C11 and checked. */
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
  printf("propel %s on %s: ok (%s)\n", propel_version(), propel_get_target(), propel_last_error());
  return 0;
}
