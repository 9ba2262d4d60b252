// Calls an sm_90a library's moe_grouped_matmul the way a framework does in
// a loop (same buffers again, then a different row count, the same with
// dependent launches off, then no rows), so
// that lit can check, against the fake driver, what each call asks of the
// driver. With an argument N, makes N calls with row counts 1..N and prints
// how many failed.
#include "moe-c/GPU.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void call(int64_t rows) {
  int rc = moe_grouped_matmul(MOE_GPU_BF16, 8, 256, 512, (void *)0x1000,
                              (void *)0x2000, (int64_t *)0x3000, (void *)0x4000,
                              rows, (void *)0x5000);
  printf("moe_grouped_matmul(%lld rows) -> %d: %s\n", (long long)rows, rc,
         moe_gpu_last_error());
}

int main(int argc, char **argv) {
  if (argc > 1) {
    int calls = atoi(argv[1]), failed = 0;
    for (int rows = 1; rows <= calls; ++rows)
      failed += moe_grouped_matmul(MOE_GPU_BF16, 8, 256, 512, (void *)0x1000,
                                   (void *)0x2000, (int64_t *)0x3000,
                                   (void *)0x4000, rows, (void *)0x5000) != 0;
    printf("churn: %d calls, %d failed\n", calls, failed);
    return 0;
  }
  printf("kernel bf16 8x256x512: '%s', f16 8x256x512: '%s'\n",
         moe_grouped_matmul_kernel(MOE_GPU_BF16, 8, 256, 512),
         moe_grouped_matmul_kernel(MOE_GPU_F16, 8, 256, 512));
  int rc = moe_grouped_matmul(MOE_GPU_BF16, 8, 256, 512, (void *)0x1008,
                              (void *)0x2000, (int64_t *)0x3000, (void *)0x4000,
                              100, (void *)0x5000);
  printf("moe_grouped_matmul(lhs 0x1008) -> %d: %s\n", rc,
         moe_gpu_last_error());
  call(100);
  call(100);
  call(50);
  // Every kernel launched after the one before it has finished.
  moe_gpu_set_dependent_launch(0);
  call(50);
  moe_gpu_set_dependent_launch(1);
  call(0);
  return 0;
}
