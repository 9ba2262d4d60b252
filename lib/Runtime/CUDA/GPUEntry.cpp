//===- GPUEntry.cpp - the C API of include/moe-c/GPU.h --------------------===//
//
// moe-gpu-entry-points generates the dispatcher and the lookup (one branch
// per compiled signature) and the chip name; this file checks the
// arguments, clears and reads the per-thread error around the generated
// code, and turns what the mgpu* functions recorded into return codes. The
// generated symbols are weak so that the runtime also links alone (tests).
//
//===----------------------------------------------------------------------===//

#include "moe-c/GPU.h"

#include "Driver.h"

using namespace moe::cuda;

#define MOE_GPU_EXPORT __attribute__((visibility("default")))

extern "C" {

int32_t moe_gpu_grouped_matmul_dispatch(int32_t dtype, int64_t experts,
                                        int64_t k, int64_t n, const void *lhs,
                                        const void *rhs, const void *offsets,
                                        void *out, int64_t rows, void *stream)
    __attribute__((weak));
int32_t moe_gpu_grouped_matmul_lookup(int32_t dtype, int64_t experts, int64_t k,
                                      int64_t n) __attribute__((weak));
int32_t moe_gpu_grouped_matmul_kind(int32_t dtype, int64_t experts, int64_t k,
                                    int64_t n) __attribute__((weak));
extern const char moe_gpu_target_chip[] __attribute__((weak));

MOE_GPU_EXPORT int moe_grouped_matmul(int dtype, int64_t experts, int64_t k,
                                      int64_t n, const void *lhs,
                                      const void *rhs, const int64_t *offsets,
                                      void *out, int64_t rows, void *stream) {
  clearError();
  if (!moe_grouped_matmul_compiled(dtype, experts, k, n)) {
    setError("moe_grouped_matmul: no kernel for dtype %d, experts %lld, k "
             "%lld, n %lld in this library",
             dtype, (long long)experts, (long long)k, (long long)n);
    return MOE_GPU_NOT_COMPILED;
  }
  if (rows < 0 || (rows > 0 && (!lhs || !out)) || !rhs || !offsets) {
    setError("moe_grouped_matmul: invalid arguments (rows %lld, lhs %p, rhs "
             "%p, offsets %p, out %p)",
             (long long)rows, lhs, rhs, (const void *)offsets, out);
    return MOE_GPU_INVALID_ARGUMENT;
  }
  // The wgmma kernels read rows and weights through TMA (16-byte aligned
  // addresses) and store column pairs as 4-byte words.
  if (moe_gpu_grouped_matmul_kind &&
      moe_gpu_grouped_matmul_kind(dtype, experts, k, n) == 3 &&
      ((uintptr_t)lhs % 16 || (uintptr_t)rhs % 16 || (uintptr_t)out % 4)) {
    setError("moe_grouped_matmul: the sm_90a kernel needs lhs and rhs 16-byte "
             "aligned and out 4-byte aligned (lhs %p, rhs %p, out %p)",
             lhs, rhs, out);
    return MOE_GPU_INVALID_ARGUMENT;
  }
  if (!driver())
    return MOE_GPU_CUDA_ERROR;
  // Nothing to write; the sm_90a kernels could not even encode the TMA
  // descriptor of an empty row set.
  if (rows == 0)
    return MOE_GPU_OK;
  moe_gpu_grouped_matmul_dispatch(dtype, experts, k, n, lhs, rhs, offsets, out,
                                  rows, stream);
  return hasError() ? MOE_GPU_CUDA_ERROR : MOE_GPU_OK;
}

MOE_GPU_EXPORT int moe_grouped_matmul_compiled(int dtype, int64_t experts,
                                               int64_t k, int64_t n) {
  return moe_gpu_grouped_matmul_lookup &&
         moe_gpu_grouped_matmul_lookup(dtype, experts, k, n) == 1;
}

MOE_GPU_EXPORT const char *moe_grouped_matmul_kernel(int dtype, int64_t experts,
                                                     int64_t k, int64_t n) {
  int32_t kind = moe_gpu_grouped_matmul_kind
                     ? moe_gpu_grouped_matmul_kind(dtype, experts, k, n)
                     : 1;
  return kind == 4   ? "decode"
         : kind == 3 ? "wgmma"
         : kind == 2 ? "mma.sync"
                     : "";
}

MOE_GPU_EXPORT const char *moe_gpu_chip(void) {
  return moe_gpu_target_chip ? moe_gpu_target_chip : "";
}

MOE_GPU_EXPORT int moe_gpu_init(void) {
  clearError();
  return driver() ? MOE_GPU_OK : MOE_GPU_CUDA_ERROR;
}

MOE_GPU_EXPORT const char *moe_gpu_last_error(void) { return lastError(); }

} // extern "C"
