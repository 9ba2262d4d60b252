// A stand-in for libcuda.so.1 so that the runtime's driver calls can be
// checked on machines without a GPU: it prints what the runtime asks for
// (the module image's ELF header, kernel names, launch geometry and every
// kernel parameter) and, with FAKE_CUDA_INIT_ERROR set, fails cuInit the
// way a machine with a driver but no device does; FAKE_CUDA_ALLOC_LOG
// prints allocations too. FAKE_CUDA_DUMP names a
// file that receives the loaded module image (a cubin) for cuobjdump.
// cuLaunchKernelEx prints its launches as cuLaunchKernel does, marked
// "dependent" when they carry programmatic stream serialization;
// FAKE_CUDA_LAUNCH_EX_ERROR makes it fail as a driver refusing it would.
// As the driver does, a launch asking for more than 48 KB of dynamic shared
// memory fails unless cuFuncSetAttribute raised the function's limit.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;

CUresult cuGetErrorName(CUresult r, const char **s) {
  *s = r == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN";
  return 0;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
  *s = r == 100 ? "no CUDA-capable device is detected" : "unknown error";
  return 0;
}
CUresult cuInit(unsigned flags) {
  return getenv("FAKE_CUDA_INIT_ERROR") ? 100 : 0;
}
CUresult cuDeviceGet(int *d, int ordinal) {
  *d = ordinal;
  return 0;
}
// An H200's 132 SMs, or FAKE_CUDA_SMS.
CUresult cuDeviceGetAttribute(int *value, int attribute, int d) {
  const char *sms = getenv("FAKE_CUDA_SMS");
  *value = attribute == 16 ? (sms ? atoi(sms) : 132) : 0;
  return 0;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int d) {
  *ctx = (void *)0xc0;
  return 0;
}
CUresult cuCtxSetCurrent(void *ctx) { return 0; }

static const unsigned char *loadedImage;
static uint64_t loadedSize;

CUresult cuModuleLoadData(void **module, const void *image) {
  const unsigned char *elf = image;
  if (memcmp(elf,
             "\x7f"
             "ELF",
             4) != 0) {
    printf("cuModuleLoadData: not an ELF image\n");
    return 200; // CUDA_ERROR_INVALID_IMAGE
  }
  // The image's size: where the section or program header table ends,
  // whichever is last.
  uint16_t machine, phentsize, phnum, shentsize, shnum;
  uint64_t phoff, shoff;
  memcpy(&machine, elf + 18, 2);
  memcpy(&phoff, elf + 32, 8);
  memcpy(&shoff, elf + 40, 8);
  memcpy(&phentsize, elf + 54, 2);
  memcpy(&phnum, elf + 56, 2);
  memcpy(&shentsize, elf + 58, 2);
  memcpy(&shnum, elf + 60, 2);
  uint64_t size = shoff + (uint64_t)shentsize * shnum;
  if (phoff + (uint64_t)phentsize * phnum > size)
    size = phoff + (uint64_t)phentsize * phnum;
  printf("cuModuleLoadData: ELF e_machine=%u\n", machine);
  const char *dump = getenv("FAKE_CUDA_DUMP");
  if (dump) {
    FILE *f = fopen(dump, "wb");
    fwrite(image, 1, size, f);
    fclose(f);
  }
  loadedImage = image;
  loadedSize = size;
  *module = (void *)0xd0;
  return 0;
}
// A global of the loaded module is found if its image names it (a cubin's
// symbol strings are NUL-terminated).
CUresult cuModuleGetGlobal_v2(uint64_t *ptr, size_t *bytes, void *module,
                              const char *name) {
  size_t n = strlen(name) + 1;
  for (uint64_t i = 0; loadedImage && i + n <= loadedSize; ++i)
    if (memcmp(loadedImage + i, name, n) == 0) {
      *ptr = 0x9000;
      *bytes = 1;
      return 0;
    }
  return 500; // CUDA_ERROR_NOT_FOUND
}
CUresult cuModuleUnload(void *module) { return 0; }
CUresult cuModuleGetFunction(void **f, void *module, const char *name) {
  *f = strdup(name);
  return 0;
}
// Each function's CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, by name
// (a function handle here is a copy of its name, one per lookup).
static struct {
  const char *f;
  int bytes;
} sharedLimits[256];
static int sharedLimitCount;
// The entry of function `f`, or sharedLimitCount if it has none.
static int sharedLimitIndex(void *f) {
  int i = 0;
  while (i < sharedLimitCount &&
         strcmp(sharedLimits[i].f, (const char *)f) != 0)
    ++i;
  return i;
}
static int sharedLimit(void *f) {
  int i = sharedLimitIndex(f);
  return i < sharedLimitCount ? sharedLimits[i].bytes : 48 * 1024;
}
CUresult cuFuncSetAttribute(void *f, int attr, int value) {
  if (attr != 8)
    return 0;
  int i = sharedLimitIndex(f);
  if (i == sharedLimitCount) {
    if (sharedLimitCount == 256)
      return 2; // CUDA_ERROR_OUT_OF_MEMORY
    ++sharedLimitCount;
  }
  sharedLimits[i].f = (const char *)f;
  sharedLimits[i].bytes = value;
  return 0;
}
// The "_q<bits>_" suffix of a grouped matmul on quantized weights, or null.
static const char *quantizedSuffix(const char *name) {
  if (strncmp(name, "grouped_matmul_", 15) != 0)
    return 0;
  const char *q = strstr(name, "_q");
  return q && (q[2] == '2' || q[2] == '4' || q[2] == '8') ? q : 0;
}
// Kernel parameters by kernel name (see lib/Conversion/MoEToGPU): the
// plain grouped matmul is lhs (2-D), rhs (3-D), offsets (1-D), out (2-D).
static int paramCount(const char *name) {
  int matmul = strncmp(name, "grouped_matmul_", 15) == 0;
  if (matmul && strstr(name, "_combine"))
    // + row slots (1-D), weights (2-D) unless the combine is unweighted
    return 7 + 9 + 5 + 7 + 5 + (strstr(name, "_unweighted") ? 0 : 7);
  // Quantized weights ("_q<bits>_[b<block>_]<scale type>[_zp]"): packed
  // bytes (3-D), scales (3-D with blocks, else 2-D), zero points (as the
  // scales) in place of rhs, twice with separate gate and up weights.
  const char *quantized = quantizedSuffix(name);
  if (quantized) {
    int scales = quantized[3] == '_' && quantized[4] == 'b' ? 9 : 7;
    int weight = 9 + scales + (strstr(quantized, "_zp") ? scales : 0);
    return 7 + weight * (strstr(name, "_separate") ? 2 : 1) + 5 + 7;
  }
  if (matmul && strstr(name, "_separate"))
    return 7 + 9 + 9 + 5 + 7; // gate and up weights
  if (strncmp(name, "combine_", 8) == 0 && strstr(name, "_unweighted_"))
    return 21; // rows, row map, result
  if (matmul || strncmp(name, "combine_", 8) == 0)
    return 28;
  if (strncmp(name, "row_slots_", 10) == 0)
    return 7 + 5;
  if (strncmp(name, "activation_", 11) == 0)
    return strstr(name, "_separate") ? 21 : 14;
  // Expert choice: the scoring kernel writes the scores ([E, T], 1-D)
  // instead of weights and ids; the selection takes scores, gate, ids (1-D)
  // and keys (1-D); the dispatch's clear takes the row map, its map ids,
  // offsets, row map and source.
  if (strstr(name, "_choice_") && strncmp(name, "fused_route_", 12) == 0)
    return 7 + 7 + (strstr(name, "_rb_") ? 5 : 0) + 5;
  if (strstr(name, "_choice_") && strncmp(name, "route_", 6) == 0)
    return 7 + 5;
  if (strncmp(name, "expert_choice_select_", 21) == 0)
    return 5 + 7 + 5 + 5;
  if (strncmp(name, "dispatch_choice_clear_", 22) == 0)
    return 7;
  if (strncmp(name, "dispatch_choice_map_", 20) == 0)
    return 5 + 5 + 7 + 5;
  // Dispatch (LowerDispatch.cpp): ids, counts, offsets, row map, source,
  // input and rows memrefs of ranks 2, 1, 1, 2, 1, 2, 2; with group_size
  // the scan and the scatter also take the kept counts (1-D), and the three
  // the group size (an index) last.
  int grouped = strstr(name, "_grouped") != 0;
  // by_weight: the scores take ids, weights (2-D), scores and keep (1-D);
  // the mark the chosen slots (1-D), ids and keep (1-D); count and scatter
  // the keep flags last.
  int byWeight = strstr(name, "_byweight_") != 0;
  if (strncmp(name, "dispatch_weight_scores_", 23) == 0)
    return 7 + 7 + 5 + 5;
  if (strncmp(name, "dispatch_weight_mark_", 21) == 0)
    return 5 + 7 + 5;
  if (byWeight && strncmp(name, "dispatch_count_", 15) == 0)
    return 7 + 5 + 5;
  if (byWeight && strncmp(name, "dispatch_scatter_", 17) == 0)
    return 7 + 5 + 5 + 7 + 5 + 5;
  if (grouped && strncmp(name, "dispatch_count_", 15) == 0)
    return 7 + 5 + 1;
  if (grouped && strncmp(name, "dispatch_scan_", 14) == 0)
    return 7 + 5 + 5 + 5 + 1;
  if (grouped && strncmp(name, "dispatch_scatter_", 17) == 0)
    return 7 + 5 + 5 + 7 + 5 + 5 + 1;
  if (strncmp(name, "dispatch_count_", 15) == 0)
    return 7 + 5;
  if (strncmp(name, "dispatch_scan_", 14) == 0)
    return 7 + 5 + 5;
  if (strncmp(name, "dispatch_scatter_", 17) == 0)
    return 7 + 5 + 5 + 7 + 5;
  if (strncmp(name, "dispatch_rank_", 14) == 0)
    return 7 + 5 + 7 + 5;
  if (strncmp(name, "dispatch_gather_", 16) == 0)
    return 7 + 5 + 5 + 7 + (strstr(name, "_scaled_") ? 7 : 0); // + weights
  return 28;
}

static CUresult launch(void *f, unsigned gx, unsigned gy, unsigned gz,
                       unsigned bx, unsigned by, unsigned bz, unsigned smem,
                       void *stream, void **params, const char *how) {
  if ((int)smem > sharedLimit(f)) {
    printf("cuLaunchKernel: %s smem=%u over the function's limit %d\n",
           (const char *)f, smem, sharedLimit(f));
    return 1; // CUDA_ERROR_INVALID_VALUE
  }
  printf("cuLaunchKernel: %s grid=(%u,%u,%u) block=(%u,%u,%u) smem=%u "
         "stream=%p%s\n",
         (const char *)f, gx, gy, gz, bx, by, bz, smem, stream, how);
  // The memref arguments are pointers and i64s, 8 bytes each: a memref of
  // rank r is 3 + 2r of them, counted from the kernel's name
  // (FAKE_CUDA_PARAMS overrides the count); the sm_90a wgmma kernels'
  // 128-byte TMA descriptors (rows and weights, and the up weights of a
  // separate gated layout; the rows' only on quantized weights) come last,
  // printed as map{address dims...} (see cuTensorMapEncodeTiled).
  const char *name = (const char *)f;
  int maps = strncmp(name, "grouped_matmul_wgmma_", 21) != 0 ? 0
             : quantizedSuffix(name)                         ? 1
             : strstr(name, "_separate")                     ? 3
                                                             : 2;
  const char *count = getenv("FAKE_CUDA_PARAMS");
  int params_count = count ? atoi(count) : paramCount(name) + maps;
  int first_map = params_count - maps;
  printf("params:");
  for (int i = 0; i < params_count; ++i) {
    uint64_t v[16];
    memcpy(v, params[i], i < first_map ? 8 : 128);
    if (i < first_map) {
      printf(" %llx", (unsigned long long)v[0]);
      continue;
    }
    printf(" map{%llx", (unsigned long long)v[0]);
    for (int d = 1; d < 16 && v[d]; ++d)
      printf("%s%llu", d == 1 ? " " : ",", (unsigned long long)v[d]);
    printf("}");
  }
  printf("\n");
  return 0;
}
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned smem,
                        void *stream, void **params, void **extra) {
  return launch(f, gx, gy, gz, bx, by, bz, smem, stream, params, "");
}
// CUlaunchConfig and CUlaunchAttribute as cuda.h lays them out.
typedef struct {
  unsigned id;
  char pad[4];
  union {
    char bytes[64];
    int value;
  } value;
} LaunchAttribute;
typedef struct {
  unsigned gx, gy, gz, bx, by, bz, smem;
  void *stream;
  LaunchAttribute *attrs;
  unsigned numAttrs;
} LaunchConfig;
CUresult cuLaunchKernelEx(const LaunchConfig *c, void *f, void **params,
                          void **extra) {
  if (getenv("FAKE_CUDA_LAUNCH_EX_ERROR"))
    return 801; // CUDA_ERROR_NOT_SUPPORTED
  int dependent = 0;
  for (unsigned i = 0; i < c->numAttrs; ++i)
    // CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION
    dependent |= c->attrs[i].id == 6 && c->attrs[i].value.value;
  return launch(f, c->gx, c->gy, c->gz, c->bx, c->by, c->bz, c->smem, c->stream,
                params, dependent ? " dependent" : " (ex)");
}
CUresult cuStreamCreate(void **s, unsigned flags) {
  *s = (void *)0x5e;
  return 0;
}
CUresult cuStreamDestroy_v2(void *s) { return 0; }
CUresult cuStreamSynchronize(void *s) {
  printf("cuStreamSynchronize: stream=%p\n", s);
  return 0;
}
CUresult cuCtxSynchronize(void) {
  printf("cuCtxSynchronize\n");
  return 0;
}
CUresult cuStreamWaitEvent(void *s, void *e, unsigned flags) { return 0; }
CUresult cuEventCreate(void **e, unsigned flags) { return 0; }
CUresult cuEventDestroy_v2(void *e) { return 0; }
CUresult cuEventSynchronize(void *e) {
  printf("cuEventSynchronize\n");
  return 0;
}
CUresult cuEventRecord(void *e, void *s) { return 0; }
CUresult cuMemAlloc_v2(unsigned long long *p, size_t n) {
  if (getenv("FAKE_CUDA_ALLOC_LOG"))
    printf("cuMemAlloc: %zu bytes\n", n);
  *p = 0xa110c;
  return 0;
}
CUresult cuMemFree_v2(unsigned long long p) { return 0; }
CUresult cuMemcpyAsync(unsigned long long d, unsigned long long s, size_t n,
                       void *st) {
  return 0;
}
CUresult cuMemsetD32Async(unsigned long long d, unsigned v, size_t n, void *s) {
  printf("cuMemsetD32Async: %llx = %x x %zu stream=%p\n", d, v, n, s);
  return 0;
}
CUresult cuMemsetD16Async(unsigned long long d, unsigned short v, size_t n,
                          void *s) {
  return 0;
}
CUresult cuMemcpyHtoD_v2(unsigned long long d, const void *s, size_t n) {
  printf("cuMemcpyHtoD: %zu bytes to %llx\n", n, d);
  return 0;
}
CUresult cuTensorMapEncodeTiled(void *map, int type, unsigned rank, void *addr,
                                const unsigned long long *dims,
                                const unsigned long long *strides,
                                const unsigned *box,
                                const unsigned *elementStrides, int interleave,
                                int swizzle, int l2, int oob) {
  printf("cuTensorMapEncodeTiled: type=%d rank=%u addr=%p dims=", type, rank,
         addr);
  for (unsigned i = 0; i < rank; ++i)
    printf("%llu%s", dims[i], i + 1 < rank ? "," : "");
  printf(" strides=");
  for (unsigned i = 0; i + 1 < rank; ++i)
    printf("%llu%s", strides[i], i + 2 < rank ? "," : "");
  printf(" box=");
  for (unsigned i = 0; i < rank; ++i)
    printf("%u%s", box[i], i + 1 < rank ? "," : "");
  printf(" elementStrides=");
  for (unsigned i = 0; i < rank; ++i)
    printf("%u%s", elementStrides[i], i + 1 < rank ? "," : "");
  printf(" interleave=%d swizzle=%d l2=%d oob=%d\n", interleave, swizzle, l2,
         oob);
  // FAKE_CUDA_TMA_ERROR: refuse the map (e.g. a misaligned address).
  if (getenv("FAKE_CUDA_TMA_ERROR"))
    return 1;
  // A map the tests can recognize where it travels (a launch's parameters):
  // the address, then the dimensions.
  uint64_t *words = (uint64_t *)map;
  memset(map, 0, 128);
  words[0] = (uint64_t)addr;
  for (unsigned i = 0; i < rank && i < 15; ++i)
    words[1 + i] = dims[i];
  return 0;
}
