/*===- GPU.h - C API of the ahead-of-time GPU libraries -----------*- C -*-===*\
|*                                                                            *|
|* A library made by `moe-gpu-aot` (docs/GPU.md) holds the grouped-matmul     *|
|* kernels of the signatures it was built for and the layers of its module's  *|
|* functions (cubins for one chip), the host                                  *|
|* code that launches them and the CUDA runtime of lib/Runtime/CUDA, which    *|
|* loads the driver (libcuda.so.1) with dlopen at run time: the library links *|
|* against libc and libdl only, and loads on machines without CUDA, where     *|
|* every call fails with MOE_GPU_CUDA_ERROR and a message saying so.          *|
|*                                                                            *|
|* All pointers are device pointers; the work is queued on `stream` (a        *|
|* CUstream / cudaStream_t, NULL for the legacy default stream) in the        *|
|* device's primary context, the one the CUDA runtime (and PyTorch) uses.     *|
|* Nothing is allocated and nothing waits.                                    *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOE_C_GPU_H
#define MOE_C_GPU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types of rows, weights and results. */
enum { MOE_GPU_BF16 = 0, MOE_GPU_F16 = 1, MOE_GPU_F32 = 2 };

/* Return codes. */
enum {
  MOE_GPU_OK = 0,
  /* The library holds no kernel for this (dtype, experts, k, n). */
  MOE_GPU_NOT_COMPILED = 1,
  /* The driver is missing or a driver call failed: see moe_gpu_last_error. */
  MOE_GPU_CUDA_ERROR = 2,
  /* Bad arguments (negative rows, null pointers). */
  MOE_GPU_INVALID_ARGUMENT = 3
};

/* out[r, :] = lhs[r, :] @ rhs[g] for offsets[g] <= r < offsets[g + 1];
 * rows at or past offsets[experts] are set to zero. Dense row-major arrays:
 * lhs [rows, k], rhs [experts, k, n], offsets [experts + 1] (int64,
 * non-decreasing, offsets[0] = 0, offsets[experts] <= rows, on the device;
 * rows past `rows` are never read or written whatever the offsets hold),
 * out [rows, n]; all of
 * `dtype` but the offsets. Returns a MOE_GPU_* code; MOE_GPU_OK means the
 * kernel was queued on `stream`. */
int moe_grouped_matmul(int dtype, int64_t experts, int64_t k, int64_t n,
                       const void *lhs, const void *rhs, const int64_t *offsets,
                       void *out, int64_t rows, void *stream);

/* 1 if the library holds a kernel for (dtype, experts, k, n), else 0. Does
 * not touch the device. */
int moe_grouped_matmul_compiled(int dtype, int64_t experts, int64_t k,
                                int64_t n);

/* Layers: each function of the module the library was built from that is
 * marked moe.gpu_layer is a layer (index i for the i-th one) that runs all of
 * its moe ops' kernels (grouped matmuls with their fused activation,
 * activation, combine) in order on `stream`. `buffers` holds a device pointer
 * per tensor argument, then per result (dense, row-major, 16-byte aligned);
 * `dims`, in argument order, the leading size of each tensor argument whose
 * leading dimension is dynamic and the value of each index argument (such
 * as the sequence length of a capacity counted per sequence):
 * moe_layer_num_dims of them. Intermediates
 * live in `workspace`, a device buffer of moe_layer_workspace_size bytes
 * (256-byte aligned) that must not be used by anything else while the
 * layer's kernels run. Nothing is allocated and nothing waits, so a call
 * can be captured in a CUDA graph. */

/* Number of layers, and the name (the function's) of layer `layer` ("" if
 * there is no such layer). */
int moe_layer_count(void);
const char *moe_layer_name(int layer);
/* The index of the layer named `name`, or -1. */
int moe_layer_find(const char *name);
/* Pointers in `buffers` and sizes in `dims` the layer takes; -1 if there is
 * no such layer. */
int moe_layer_num_buffers(int layer);
int moe_layer_num_dims(int layer);
/* Bytes of workspace the layer needs for `dims`; -1 if there is no such
 * layer or a size is negative. Does not touch the device. */
int64_t moe_layer_workspace_size(int layer, const int64_t *dims);
/* Queues the layer on `stream`: MOE_GPU_OK, MOE_GPU_NOT_COMPILED (no such
 * layer), MOE_GPU_INVALID_ARGUMENT (null or negative arguments, no
 * workspace when one is needed) or MOE_GPU_CUDA_ERROR. */
int moe_layer_forward(int layer, void *const *buffers, const int64_t *dims,
                      void *workspace, void *stream);

/* Alignment: the "wgmma" and "wgmma-ws" kernels (see below) need lhs and
 * rhs 16-byte aligned and out 4-byte aligned (MOE_GPU_INVALID_ARGUMENT
 * otherwise), as every PyTorch allocation is. */

/* Which kernel serves (dtype, experts, k, n): "wgmma-ws" (sm_90a: the
 * warp-specialized 128x256 tile, a producer warpgroup feeding two
 * consumers, on a persistent grid of at most one block per SM; 16-bit
 * weights, n >= 256),
 * "wgmma" (sm_90a: TMA + warpgroup tensor cores, 128x128; any k),
 * "mma.sync" (sm_80 and sm_90), "decode" (a library built with --kernel
 * decode), or "" if the library has none.
 * Unless built with --kernel tile, calls with rows <= 16 * experts run the
 * weight-streaming decode kernel instead of the one named. Does not touch
 * the device. */
const char *moe_grouped_matmul_kernel(int dtype, int64_t experts, int64_t k,
                                      int64_t n);
/* Routing (moe.fused_route, one kernel): router logits of `tokens` rows of
 * input [tokens, hidden] (of `dtype`) with the router (of `dtype`, in the
 * op's layout: [experts, hidden], or [hidden, experts] for
 * weight_transposed), scores, selection and weights exactly as the
 * moe.fused_route the library was built from says (its attributes are
 * compiled in; the key below picks it). router_bias and selection_bias are
 * f32 [experts], or NULL when the op has none. Results: weights [tokens, k]
 * f32 and ids [tokens, k] int64. Large routers are split over blocks that
 * need `workspace`: moe_route_workspace_size bytes (256-byte aligned, its
 * counters zeroed once, e.g. cudaMemset, before the first call; every call
 * leaves them zero; one call at a time per workspace). Input and router
 * rows are read with 16-byte loads: 16-byte aligned pointers. */
int moe_route(int dtype, int64_t experts, int64_t hidden, int64_t k,
              const void *input, const void *router, const void *router_bias,
              const void *selection_bias, float *weights, int64_t *ids,
              int64_t tokens, void *workspace, void *stream);

/* Bytes of workspace moe_route needs for `tokens` tokens: 0 when the router
 * is not split, -1 when the library has no such routing. */
int64_t moe_route_workspace_size(int dtype, int64_t experts, int64_t hidden,
                                 int64_t k, int64_t tokens);

/* 1 if the library holds a routing for (dtype, experts, hidden, k). */
int moe_route_compiled(int dtype, int64_t experts, int64_t hidden, int64_t k);

/* Dispatch (token-choice moe.dispatch, four kernels on `stream`, no host
 * wait): rows [tokens * k, hidden] (of `dtype`) = the rows of input
 * [tokens, hidden] grouped by expert (experts ascending, then tokens, then
 * slots; rows past offsets[experts] zeroed), offsets [experts + 1] int64,
 * row_map [tokens, k] int64 (row of each slot, -1 for ids outside
 * [0, experts) and slots over a compiled capacity), from ids [tokens, k]
 * int64. `workspace`: moe_dispatch_workspace_size bytes, 256-byte aligned,
 * no initialization needed. With 0 tokens nothing is launched. */
int moe_dispatch(int dtype, int64_t experts, int64_t hidden, int64_t k,
                 const void *input, const int64_t *ids, void *rows,
                 int64_t *offsets, int64_t *row_map, int64_t tokens,
                 void *workspace, void *stream);

/* Bytes of workspace moe_dispatch needs for `tokens` tokens; -1 when the
 * library has no such dispatch. */
int64_t moe_dispatch_workspace_size(int dtype, int64_t experts, int64_t hidden,
                                    int64_t k, int64_t tokens);

/* 1 if the library holds a dispatch for (dtype, experts, hidden, k). */
int moe_dispatch_compiled(int dtype, int64_t experts, int64_t hidden,
                          int64_t k);

/* The chip the library's kernels were compiled for, e.g. "sm_90a". */
const char *moe_gpu_chip(void);

/* The SM count the launches plan for: count > 0 replaces the device's, 0
 * restores it. It decides when the decode kernel's 8-warp form runs (grids of
 * at most that many blocks) and bounds the persistent kernels' grids; for
 * measurements (bench/gpu times the decode kernel's two forms with it). */
void moe_gpu_set_multiprocessor_count(int count);

/* enabled != 0 (the default) launches the kernels of modules compiled with
 * moe-gpu-dependent-launch (sm_90 and later; the pipeline's default) as
 * programmatic dependent launches: each may be launched while the kernel
 * before it on the stream drains, and waits for it before it reads anything.
 * 0 launches every kernel after the one before it has finished, for
 * comparisons (bench/gpu times layers both ways). */
void moe_gpu_set_dependent_launch(int enabled);

/* Loads the driver and creates the context if not done yet: MOE_GPU_OK, or
 * MOE_GPU_CUDA_ERROR with the reason in moe_gpu_last_error. */
int moe_gpu_init(void);

/* The last error of this thread ("" if none): the driver call and its error
 * name and string, e.g. "cuModuleLoadData: CUDA_ERROR_NO_BINARY_FOR_GPU (no
 * kernel image is available for execution on the device)". The pointer is
 * valid until the next call on this thread. */
const char *moe_gpu_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* MOE_C_GPU_H */
