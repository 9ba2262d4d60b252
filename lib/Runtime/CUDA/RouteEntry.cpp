//===- RouteEntry.cpp - moe_route and moe_dispatch of moe-c/GPU.h ---------===//
//
// The routing and dispatch counterpart of GPUEntry.cpp: moe-gpu-entry-points
// generates moe_gpu_route_dispatch / _lookup and moe_gpu_dispatch_launch /
// _lookup (one branch per compiled op); this file checks the arguments,
// sizes the workspaces and turns what the mgpu* functions recorded into
// return codes.
//
//===----------------------------------------------------------------------===//

#include "moe-c/GPU.h"

#include "Driver.h"

using namespace moe::cuda;

#define MOE_GPU_EXPORT __attribute__((visibility("default")))

extern "C" {

int32_t moe_gpu_route_dispatch(int32_t dtype, int64_t experts, int64_t hidden,
                               int64_t k, const void *input, const void *router,
                               const void *router_bias,
                               const void *selection_bias, void *weights,
                               void *ids, int64_t tokens, void *workspace,
                               void *stream) __attribute__((weak));
int32_t moe_gpu_route_lookup(int32_t dtype, int64_t experts, int64_t hidden,
                             int64_t k) __attribute__((weak));
int32_t moe_gpu_dispatch_launch(int32_t dtype, int64_t experts, int64_t hidden,
                                int64_t k, const void *input, const void *ids,
                                void *rows, void *offsets, void *row_map,
                                int64_t tokens, void *workspace, void *stream)
    __attribute__((weak));
int32_t moe_gpu_dispatch_lookup(int32_t dtype, int64_t experts, int64_t hidden,
                                int64_t k) __attribute__((weak));

MOE_GPU_EXPORT int moe_route_compiled(int dtype, int64_t experts,
                                      int64_t hidden, int64_t k) {
  return moe_gpu_route_lookup &&
         moe_gpu_route_lookup(dtype, experts, hidden, k) > 0;
}

MOE_GPU_EXPORT int64_t moe_route_workspace_size(int dtype, int64_t experts,
                                                int64_t hidden, int64_t k,
                                                int64_t tokens) {
  if (!moe_route_compiled(dtype, experts, hidden, k) || tokens < 0)
    return -1;
  if (moe_gpu_route_lookup(dtype, experts, hidden, k) == 1)
    return 0;
  // Logits [tokens, E rounded up to 32] f32, then 256-byte aligned one i32
  // counter per tile of 8 tokens (the layout moe_gpu_route_dispatch uses).
  int64_t logits = tokens * ((experts + 31) / 32 * 32) * 4;
  return (logits + 255) / 256 * 256 + (tokens + 7) / 8 * 4;
}

MOE_GPU_EXPORT int moe_route(int dtype, int64_t experts, int64_t hidden,
                             int64_t k, const void *input, const void *router,
                             const void *router_bias,
                             const void *selection_bias, float *weights,
                             int64_t *ids, int64_t tokens, void *workspace,
                             void *stream) {
  clearError();
  if (!moe_route_compiled(dtype, experts, hidden, k)) {
    setError("moe_route: no routing for dtype %d, experts %lld, hidden %lld, "
             "k %lld in this library",
             dtype, (long long)experts, (long long)hidden, (long long)k);
    return MOE_GPU_NOT_COMPILED;
  }
  bool needsWorkspace = moe_route_workspace_size(dtype, experts, hidden, k,
                                                 tokens > 0 ? tokens : 1) > 0;
  if (tokens < 0 || !router ||
      (tokens > 0 &&
       (!input || !weights || !ids || (needsWorkspace && !workspace)))) {
    setError("moe_route: invalid arguments (tokens %lld, input %p, router %p, "
             "weights %p, ids %p, workspace %p)",
             (long long)tokens, input, router, (void *)weights, (void *)ids,
             workspace);
    return MOE_GPU_INVALID_ARGUMENT;
  }
  if (tokens == 0)
    return MOE_GPU_OK;
  if (!driver())
    return MOE_GPU_CUDA_ERROR;
  moe_gpu_route_dispatch(dtype, experts, hidden, k, input, router, router_bias,
                         selection_bias, weights, ids, tokens, workspace,
                         stream);
  return hasError() ? MOE_GPU_CUDA_ERROR : MOE_GPU_OK;
}

MOE_GPU_EXPORT int moe_dispatch_compiled(int dtype, int64_t experts,
                                         int64_t hidden, int64_t k) {
  return moe_gpu_dispatch_lookup &&
         moe_gpu_dispatch_lookup(dtype, experts, hidden, k) == 1;
}

MOE_GPU_EXPORT int64_t moe_dispatch_workspace_size(int dtype, int64_t experts,
                                                   int64_t hidden, int64_t k,
                                                   int64_t tokens) {
  if (!moe_dispatch_compiled(dtype, experts, hidden, k) || tokens < 0)
    return -1;
  // Per-chunk counts (256 slots a chunk), then 256-byte aligned the token of
  // each row (the layout moe_gpu_dispatch_launch uses).
  int64_t slots = tokens * k, chunks = (slots + 255) / 256;
  return (chunks * experts * 4 + 255) / 256 * 256 + slots * 4;
}

MOE_GPU_EXPORT int moe_dispatch(int dtype, int64_t experts, int64_t hidden,
                                int64_t k, const void *input,
                                const int64_t *ids, void *rows,
                                int64_t *offsets, int64_t *row_map,
                                int64_t tokens, void *workspace, void *stream) {
  clearError();
  if (!moe_dispatch_compiled(dtype, experts, hidden, k)) {
    setError("moe_dispatch: no dispatch for dtype %d, experts %lld, hidden "
             "%lld, k %lld in this library",
             dtype, (long long)experts, (long long)hidden, (long long)k);
    return MOE_GPU_NOT_COMPILED;
  }
  if (tokens < 0 || !offsets ||
      (tokens > 0 && (!input || !ids || !rows || !row_map || !workspace))) {
    setError("moe_dispatch: invalid arguments (tokens %lld, input %p, ids %p, "
             "rows %p, offsets %p, row_map %p, workspace %p)",
             (long long)tokens, input, (const void *)ids, rows, (void *)offsets,
             (void *)row_map, workspace);
    return MOE_GPU_INVALID_ARGUMENT;
  }
  // No tokens: nothing to launch (a grid of 0 blocks is an error), and the
  // offsets, all 0, are the caller's to set.
  if (tokens == 0)
    return MOE_GPU_OK;
  if (!driver())
    return MOE_GPU_CUDA_ERROR;
  moe_gpu_dispatch_launch(dtype, experts, hidden, k, input, ids, rows, offsets,
                          row_map, tokens, workspace, stream);
  return hasError() ? MOE_GPU_CUDA_ERROR : MOE_GPU_OK;
}

} // extern "C"
