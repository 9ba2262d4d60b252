// Calls the runtime's C functions the way lowered host code and C callers
// do, printing each return code and moe_gpu_last_error(), so that lit can
// check the error paths (no driver, no device) and, with a library made by
// moe-gpu-aot and the fake driver, the launches. With -DMGPU it also calls
// the mgpu* functions, which only libmoe_cuda_runtime.so exports.
#include "moe-c/GPU.h"

#include <stdint.h>
#include <stdio.h>

#ifdef MGPU
void *mgpuModuleLoad(void *data, size_t size);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gx, intptr_t gy, intptr_t gz,
                      intptr_t bx, intptr_t by, intptr_t bz, int32_t smem,
                      void *stream, void **params, void **extra, size_t n);
void *mgpuStreamCreate(void);
void *mgpuMemAlloc(uint64_t size, void *stream, _Bool hostShared);
void *mgpuTensorMapEncodeTiledMemref(int64_t rank, void *descriptor,
                                     int dataType, int interleave, int swizzle,
                                     int l2Promotion, int oobFill,
                                     int64_t *boxDims);
#endif

static void report(const char *what, long long value) {
  printf("%s -> %lld: %s\n", what, value, moe_gpu_last_error());
}

int main(int argc, char **argv) {
#ifdef MGPU
  static const char image[] = "not a cubin";
  report("mgpuModuleLoad", mgpuModuleLoad((void *)image, sizeof(image)) != 0);
  report("mgpuModuleGetFunction",
         mgpuModuleGetFunction(0, "grouped_matmul") != 0);
  mgpuLaunchKernel(0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0);
  report("mgpuStreamCreate", mgpuStreamCreate() != 0);
  report("mgpuMemAlloc(host shared)", mgpuMemAlloc(16, 0, 1) != 0);
  // A bf16 memref<256x64xbf16, strided<[64, 1], offset: 2>>, 64x64 boxes,
  // 128-byte swizzle (3), 256-byte L2 promotion (2).
  struct {
    void *allocated, *aligned;
    int64_t offset, sizes[2], strides[2];
  } memref = {(void *)0x1000, (void *)0x1000, 2, {256, 64}, {64, 1}};
  int64_t box[2] = {64, 64};
  uint64_t *map =
      mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 3, 2, 0, box);
  if (!map) {
    printf("mgpuTensorMapEncodeTiledMemref -> (nil)\n");
  } else {
    printf("mgpuTensorMapEncodeTiledMemref -> host map, 64-byte aligned: %d, "
           "words %llx %llu %llu\n",
           (int)((uintptr_t)map % 64 == 0), (unsigned long long)map[0],
           (unsigned long long)map[1], (unsigned long long)map[2]);
    // Each thread has a ring of 16 maps: the next 15 are other slots, the
    // 16th after it reuses its slot.
    int distinct = 1;
    for (int i = 1; i < 16; ++i)
      distinct &=
          mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 3, 2, 0, box) != map;
    printf("next 15 maps elsewhere: %d, the 16th reuses it: %d\n", distinct,
           mgpuTensorMapEncodeTiledMemref(2, &memref, 9, 0, 3, 2, 0, box) ==
               map);
  }
  report("mgpuTensorMapEncodeTiledMemref(rank 6)",
         mgpuTensorMapEncodeTiledMemref(6, &memref, 9, 0, 3, 2, 0, box) != 0);
#endif
  report("moe_gpu_init", moe_gpu_init());
  printf("chip: '%s'\n", moe_gpu_chip());
  printf("compiled bf16 8x256x512: %d, f16 4x512x256: %d, bf16 8x256x520: "
         "%d\n",
         moe_grouped_matmul_compiled(MOE_GPU_BF16, 8, 256, 512),
         moe_grouped_matmul_compiled(MOE_GPU_F16, 4, 512, 256),
         moe_grouped_matmul_compiled(MOE_GPU_BF16, 8, 256, 520));
  report("moe_grouped_matmul(bf16 8x256x512, 100 rows)",
         moe_grouped_matmul(MOE_GPU_BF16, 8, 256, 512, (void *)0x1000,
                            (void *)0x2000, (int64_t *)0x3000, (void *)0x4000,
                            100, (void *)0x5000));
  /* Past 16 rows per expert: the tile kernel instead of the decode one. */
  report("moe_grouped_matmul(bf16 8x256x512, 1000 rows)",
         moe_grouped_matmul(MOE_GPU_BF16, 8, 256, 512, (void *)0x1000,
                            (void *)0x2000, (int64_t *)0x3000, (void *)0x4000,
                            1000, (void *)0x5000));
  report("moe_grouped_matmul(f16 4x512x256, 1 row)",
         moe_grouped_matmul(MOE_GPU_F16, 4, 512, 256, (void *)0x1000,
                            (void *)0x2000, (int64_t *)0x3000, (void *)0x4000,
                            1, 0));
  /* Planned for one SM: the same row on the 4-warp decode form. */
  moe_gpu_set_multiprocessor_count(1);
  report("moe_grouped_matmul(f16 4x512x256, 1 row, 1 SM)",
         moe_grouped_matmul(MOE_GPU_F16, 4, 512, 256, (void *)0x1000,
                            (void *)0x2000, (int64_t *)0x3000, (void *)0x4000,
                            1, 0));
  moe_gpu_set_multiprocessor_count(0);
  report("moe_grouped_matmul(bf16 8x256x520)",
         moe_grouped_matmul(MOE_GPU_BF16, 8, 256, 520, (void *)0x1000,
                            (void *)0x2000, (int64_t *)0x3000, (void *)0x4000,
                            1, 0));
  report("moe_grouped_matmul(rows -1)",
         moe_grouped_matmul(MOE_GPU_BF16, 8, 256, 512, (void *)0x1000,
                            (void *)0x2000, (int64_t *)0x3000, (void *)0x4000,
                            -1, 0));
  return 0;
}
