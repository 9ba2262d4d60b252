// Calls moe_route (or, with the argument "dispatch", moe_dispatch) of a
// library made by moe-gpu-aot from aot-routing.mlir with fake device
// pointers, printing return codes and errors, so that lit can check,
// against the fake driver, the launches (grids, memref descriptors built
// from the pointers) and the argument checks.
#include "moe-c/GPU.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void report(const char *what, long long value) {
  printf("%s -> %lld: %s\n", what, value, moe_gpu_last_error());
}

static int dispatch(void) {
  report("moe_gpu_init", moe_gpu_init());
  printf("compiled bf16 E64 H1024 k4: %d, f32: %d\n",
         moe_dispatch_compiled(MOE_GPU_BF16, 64, 1024, 4),
         moe_dispatch_compiled(MOE_GPU_F32, 64, 1024, 4));
  // 300 tokens: 1200 slots, 5 chunks of 256, counts 5 * 64 i32 = 1280 bytes
  // (already 256-aligned), then 1200 i32.
  printf(
      "workspace bytes for 300 tokens: %lld\n",
      (long long)moe_dispatch_workspace_size(MOE_GPU_BF16, 64, 1024, 4, 300));
  report("moe_dispatch(300 tokens)",
         moe_dispatch(MOE_GPU_BF16, 64, 1024, 4, (void *)0x1000,
                      (const int64_t *)0x2000, (void *)0x3000,
                      (int64_t *)0x4000, (int64_t *)0x5000, 300, (void *)0x6000,
                      (void *)0x7000));
  // 600 tokens: 2400 slots, 10 chunks, past one block's 8: the count, scan
  // and scatter kernels instead of the one-block rank kernel.
  report("moe_dispatch(600 tokens)",
         moe_dispatch(MOE_GPU_BF16, 64, 1024, 4, (void *)0x1000,
                      (const int64_t *)0x2000, (void *)0x3000,
                      (int64_t *)0x4000, (int64_t *)0x5000, 600, (void *)0x6000,
                      (void *)0x7000));
  report("moe_dispatch(no workspace)",
         moe_dispatch(MOE_GPU_BF16, 64, 1024, 4, (void *)0x1000,
                      (const int64_t *)0x2000, (void *)0x3000,
                      (int64_t *)0x4000, (int64_t *)0x5000, 300, 0, 0));
  report("moe_dispatch(0 tokens)",
         moe_dispatch(MOE_GPU_BF16, 64, 1024, 4, 0, 0, 0, (int64_t *)0x4000, 0,
                      0, 0, 0));
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "dispatch"))
    return dispatch();
  report("moe_gpu_init", moe_gpu_init());
  printf("compiled bf16 E64 H1024 k4: %d, f16: %d, bf16 E64 H1024 k2: %d\n",
         moe_route_compiled(MOE_GPU_BF16, 64, 1024, 4),
         moe_route_compiled(MOE_GPU_F16, 64, 1024, 4),
         moe_route_compiled(MOE_GPU_BF16, 64, 1024, 2));
  printf("workspace bytes for 20 tokens: %lld, for 0: %lld, unknown: %lld\n",
         (long long)moe_route_workspace_size(MOE_GPU_BF16, 64, 1024, 4, 20),
         (long long)moe_route_workspace_size(MOE_GPU_BF16, 64, 1024, 4, 0),
         (long long)moe_route_workspace_size(MOE_GPU_BF16, 64, 1024, 2, 20));
  report("moe_route(20 tokens)",
         moe_route(MOE_GPU_BF16, 64, 1024, 4, (void *)0x1000, (void *)0x2000, 0,
                   (void *)0x3000, (float *)0x4000, (int64_t *)0x5000, 20,
                   (void *)0x6000, (void *)0x7000));
  report("moe_route(no workspace)",
         moe_route(MOE_GPU_BF16, 64, 1024, 4, (void *)0x1000, (void *)0x2000, 0,
                   (void *)0x3000, (float *)0x4000, (int64_t *)0x5000, 20, 0,
                   0));
  report("moe_route(0 tokens)", moe_route(MOE_GPU_BF16, 64, 1024, 4, 0,
                                          (void *)0x2000, 0, 0, 0, 0, 0, 0, 0));
  report("moe_route(k 2)",
         moe_route(MOE_GPU_BF16, 64, 1024, 2, (void *)0x1000, (void *)0x2000, 0,
                   0, (float *)0x4000, (int64_t *)0x5000, 20, 0, 0));
  return 0;
}
