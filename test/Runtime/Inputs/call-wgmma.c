// Calls an sm_90a library's moe_grouped_matmul the way a framework does in
// a loop (same buffers again, then a different row count, then no rows), so
// that lit can check, against the fake driver, which calls encode and copy
// TMA descriptors and which only launch.
#include "moe-c/GPU.h"

#include <stdint.h>
#include <stdio.h>

static void call(int64_t rows) {
  int rc = moe_grouped_matmul(MOE_GPU_BF16, 8, 256, 512, (void *)0x1000,
                              (void *)0x2000, (int64_t *)0x3000,
                              (void *)0x4000, rows, (void *)0x5000);
  printf("moe_grouped_matmul(%lld rows) -> %d: %s\n", (long long)rows, rc,
         moe_gpu_last_error());
}

int main(void) {
  printf("kernel bf16 8x256x512: '%s', f16 8x256x512: '%s'\n",
         moe_grouped_matmul_kernel(MOE_GPU_BF16, 8, 256, 512),
         moe_grouped_matmul_kernel(MOE_GPU_F16, 8, 256, 512));
  call(100);
  call(100);
  call(50);
  call(0);
  return 0;
}
