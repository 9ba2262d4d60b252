// Calls moe_route of a library made by moe-gpu-aot from aot-routing.mlir
// with fake device pointers, printing return codes and errors, so that lit
// can check, against the fake driver, the routing launch (grid, memref
// descriptors built from the pointers) and the argument checks.
#include "moe-c/GPU.h"

#include <stdint.h>
#include <stdio.h>

static void report(const char *what, long long value) {
  printf("%s -> %lld: %s\n", what, value, moe_gpu_last_error());
}

int main(void) {
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
         moe_route(MOE_GPU_BF16, 64, 1024, 4, (void *)0x1000, (void *)0x2000,
                   0, (void *)0x3000, (float *)0x4000, (int64_t *)0x5000, 20,
                   (void *)0x6000, (void *)0x7000));
  report("moe_route(no workspace)",
         moe_route(MOE_GPU_BF16, 64, 1024, 4, (void *)0x1000, (void *)0x2000,
                   0, (void *)0x3000, (float *)0x4000, (int64_t *)0x5000, 20,
                   0, 0));
  report("moe_route(0 tokens)",
         moe_route(MOE_GPU_BF16, 64, 1024, 4, 0, (void *)0x2000, 0, 0, 0, 0,
                   0, 0, 0));
  report("moe_route(k 2)",
         moe_route(MOE_GPU_BF16, 64, 1024, 2, (void *)0x1000, (void *)0x2000,
                   0, 0, (float *)0x4000, (int64_t *)0x5000, 20, 0, 0));
  return 0;
}
