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

#include <cstring>

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
int32_t moe_gpu_layer_forward(int32_t layer, void *const *buffers,
                              const int64_t *dims, void *workspace,
                              void *stream) __attribute__((weak));
int64_t moe_gpu_layer_workspace(int32_t layer, const int64_t *dims)
    __attribute__((weak));
int32_t moe_gpu_layer_info(int32_t layer, int32_t what) __attribute__((weak));
extern const char moe_gpu_layer_names[] __attribute__((weak));

/// Whether moe_gpu_grouped_matmul_kind's `kind` is a wgmma kernel (the
/// 128x128 tile, 3, or the warp-specialized 128x256 one, 5).
static bool isWgmmaKind(int32_t kind) { return kind == 3 || kind == 5; }

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
      isWgmmaKind(moe_gpu_grouped_matmul_kind(dtype, experts, k, n)) &&
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

MOE_GPU_EXPORT int moe_layer_count(void) {
  int count = 0;
  if (moe_gpu_layer_names)
    for (const char *name = moe_gpu_layer_names; *name;
         name += strlen(name) + 1)
      ++count;
  return count;
}

MOE_GPU_EXPORT const char *moe_layer_name(int layer) {
  if (layer < 0 || layer >= moe_layer_count())
    return "";
  const char *name = moe_gpu_layer_names;
  for (int i = 0; i < layer; ++i)
    name += strlen(name) + 1;
  return name;
}

MOE_GPU_EXPORT int moe_layer_find(const char *name) {
  for (int i = 0, n = moe_layer_count(); name && i < n; ++i)
    if (strcmp(moe_layer_name(i), name) == 0)
      return i;
  return -1;
}

MOE_GPU_EXPORT int moe_layer_num_buffers(int layer) {
  return moe_gpu_layer_info ? moe_gpu_layer_info(layer, 0) : -1;
}

MOE_GPU_EXPORT int moe_layer_num_dims(int layer) {
  return moe_gpu_layer_info ? moe_gpu_layer_info(layer, 1) : -1;
}

/// True if the layer exists and its `dims` are present and non-negative.
static bool validDims(int layer, const int64_t *dims) {
  int numDims = moe_layer_num_dims(layer);
  if (numDims < 0 || (numDims > 0 && !dims))
    return false;
  for (int i = 0; i < numDims; ++i)
    if (dims[i] < 0)
      return false;
  return true;
}

MOE_GPU_EXPORT int64_t moe_layer_workspace_size(int layer,
                                                const int64_t *dims) {
  if (!moe_gpu_layer_workspace || !validDims(layer, dims))
    return -1;
  return moe_gpu_layer_workspace(layer, dims);
}

MOE_GPU_EXPORT int moe_layer_forward(int layer, void *const *buffers,
                                     const int64_t *dims, void *workspace,
                                     void *stream) {
  clearError();
  int numBuffers = moe_layer_num_buffers(layer);
  if (numBuffers < 0 || !moe_gpu_layer_forward) {
    setError("moe_layer_forward: no layer %d in this library", layer);
    return MOE_GPU_NOT_COMPILED;
  }
  bool ok = buffers && validDims(layer, dims);
  for (int i = 0; ok && i < numBuffers; ++i)
    ok = buffers[i] != nullptr;
  if (ok && !workspace && moe_layer_workspace_size(layer, dims) > 0)
    ok = false;
  if (!ok) {
    setError("moe_layer_forward: invalid arguments for layer %d '%s' (null "
             "buffer, negative size or no workspace)",
             layer, moe_layer_name(layer));
    return MOE_GPU_INVALID_ARGUMENT;
  }
  if (!driver())
    return MOE_GPU_CUDA_ERROR;
  moe_gpu_layer_forward(layer, buffers, dims, workspace, stream);
  return hasError() ? MOE_GPU_CUDA_ERROR : MOE_GPU_OK;
}

MOE_GPU_EXPORT const char *moe_grouped_matmul_kernel(int dtype, int64_t experts,
                                                     int64_t k, int64_t n) {
  int32_t kind = moe_gpu_grouped_matmul_kind
                     ? moe_gpu_grouped_matmul_kind(dtype, experts, k, n)
                     : 1;
  return kind == 5   ? "wgmma-ws"
         : kind == 4 ? "decode"
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
