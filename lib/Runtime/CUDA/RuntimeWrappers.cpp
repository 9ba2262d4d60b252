//===- RuntimeWrappers.cpp - the mgpu* functions of MLIR's GPU lowering ---===//
//
// gpu-to-llvm lowers gpu.launch_func, gpu.alloc, gpu.wait, ... to calls of
// these functions (MLIR's runtime ABI), and gpu.binary to a global
// constructor calling mgpuModuleLoad (cubin) or mgpuModuleLoadJIT (PTX).
// Each one checks its driver call; on failure it records the error
// (moe_gpu_last_error) and returns null / does nothing, so that a missing
// driver or a bad launch never aborts the caller.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include <atomic>
#include <stdint.h>
#include <stdio.h>

using namespace moe::cuda;

namespace {

// What the global constructor's mgpuModuleLoad saw, for the threads that
// ask for a function of a module that never loaded.
char moduleLoadError[512];
constexpr int kDefaultSharedMemoryLimit = 48 * 1024;
// moe_gpu_set_multiprocessor_count's count (0: the device's).
std::atomic<int> multiprocessorOverride{0};

CUstream asStream(void *stream) { return static_cast<CUstream>(stream); }

} // namespace

#define MOE_GPU_EXPORT __attribute__((visibility("default")))

extern "C" {

MOE_GPU_EXPORT void *mgpuModuleLoad(void *data, size_t /*size*/) {
  const Driver *d = driver();
  CUmodule module = nullptr;
  if (!d || !check(d->cuModuleLoadData(&module, data), "cuModuleLoadData")) {
    snprintf(moduleLoadError, sizeof(moduleLoadError), "%s", lastError());
    return nullptr;
  }
  return module;
}

MOE_GPU_EXPORT void *mgpuModuleLoadJIT(void *data, int optLevel) {
  // cuModuleLoadData JIT-compiles PTX at the driver's default level (the
  // highest); MLIR's optLevel only tunes that.
  (void)optLevel;
  return mgpuModuleLoad(data, 0);
}

MOE_GPU_EXPORT void mgpuModuleUnload(void *module) {
  if (!module)
    return;
  if (const Driver *d = driver())
    check(d->cuModuleUnload(static_cast<CUmodule>(module)), "cuModuleUnload");
}

MOE_GPU_EXPORT void *mgpuModuleGetFunction(void *module, const char *name) {
  if (!module) {
    setError("kernel %s: its module was not loaded (%s)", name,
             moduleLoadError[0] ? moduleLoadError : "no error recorded");
    return nullptr;
  }
  const Driver *d = driver();
  CUfunction function = nullptr;
  if (!d || !check(d->cuModuleGetFunction(&function,
                                          static_cast<CUmodule>(module), name),
                   "cuModuleGetFunction"))
    return nullptr;
  return function;
}

MOE_GPU_EXPORT void mgpuLaunchKernel(void *function, intptr_t gridX,
                                     intptr_t gridY, intptr_t gridZ,
                                     intptr_t blockX, intptr_t blockY,
                                     intptr_t blockZ, int32_t smem,
                                     void *stream, void **params, void **extra,
                                     size_t /*paramsCount*/) {
  if (!function)
    return; // mgpuModuleGetFunction recorded why.
  const Driver *d = driver();
  if (!d)
    return;
  auto f = static_cast<CUfunction>(function);
  if (smem > kDefaultSharedMemoryLimit &&
      !check(d->cuFuncSetAttribute(
                 f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem),
             "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)"))
    return;
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return; // Nothing to do (e.g. zero rows); the driver rejects empty grids.
  check(d->cuLaunchKernel(f, gridX, gridY, gridZ, blockX, blockY, blockZ, smem,
                          asStream(stream), params, extra),
        "cuLaunchKernel");
}

MOE_GPU_EXPORT void *mgpuStreamCreate() {
  const Driver *d = driver();
  CUstream stream = nullptr;
  if (!d || !check(d->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING),
                   "cuStreamCreate"))
    return nullptr;
  return stream;
}

MOE_GPU_EXPORT void mgpuStreamDestroy(void *stream) {
  if (const Driver *d = driver(); d && stream)
    check(d->cuStreamDestroy(asStream(stream)), "cuStreamDestroy");
}

MOE_GPU_EXPORT void mgpuStreamSynchronize(void *stream) {
  if (const Driver *d = driver())
    check(d->cuStreamSynchronize(asStream(stream)), "cuStreamSynchronize");
}

MOE_GPU_EXPORT void mgpuStreamWaitEvent(void *stream, void *event) {
  if (const Driver *d = driver())
    check(
        d->cuStreamWaitEvent(asStream(stream), static_cast<CUevent>(event), 0),
        "cuStreamWaitEvent");
}

MOE_GPU_EXPORT void *mgpuEventCreate() {
  const Driver *d = driver();
  CUevent event = nullptr;
  if (!d || !check(d->cuEventCreate(&event, CU_EVENT_DEFAULT), "cuEventCreate"))
    return nullptr;
  return event;
}

MOE_GPU_EXPORT void mgpuEventDestroy(void *event) {
  if (const Driver *d = driver(); d && event)
    check(d->cuEventDestroy(static_cast<CUevent>(event)), "cuEventDestroy");
}

MOE_GPU_EXPORT void mgpuEventSynchronize(void *event) {
  if (const Driver *d = driver())
    check(d->cuEventSynchronize(static_cast<CUevent>(event)),
          "cuEventSynchronize");
}

MOE_GPU_EXPORT void mgpuEventRecord(void *event, void *stream) {
  if (const Driver *d = driver())
    check(d->cuEventRecord(static_cast<CUevent>(event), asStream(stream)),
          "cuEventRecord");
}

MOE_GPU_EXPORT void *mgpuMemAlloc(uint64_t sizeBytes, void * /*stream*/,
                                  bool isHostShared) {
  if (isHostShared) {
    // Managed memory can hang a shared GPU when oversubscribed; the moe
    // lowerings never ask for it.
    setError("mgpuMemAlloc: host-shared (managed) allocations are not "
             "supported");
    return nullptr;
  }
  const Driver *d = driver();
  CUdeviceptr ptr = 0;
  if (sizeBytes == 0 || !d)
    return nullptr;
  if (!check(d->cuMemAlloc(&ptr, sizeBytes), "cuMemAlloc"))
    return nullptr;
  return reinterpret_cast<void *>(ptr);
}

MOE_GPU_EXPORT void mgpuMemFree(void *ptr, void * /*stream*/) {
  if (const Driver *d = driver(); d && ptr)
    check(d->cuMemFree(reinterpret_cast<CUdeviceptr>(ptr)), "cuMemFree");
}

MOE_GPU_EXPORT void mgpuMemcpy(void *dst, void *src, size_t sizeBytes,
                               void *stream) {
  if (const Driver *d = driver())
    check(d->cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                           reinterpret_cast<CUdeviceptr>(src), sizeBytes,
                           asStream(stream)),
          "cuMemcpyAsync");
}

MOE_GPU_EXPORT void mgpuMemset32(void *dst, unsigned int value, size_t count,
                                 void *stream) {
  if (const Driver *d = driver())
    check(d->cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value, count,
                              asStream(stream)),
          "cuMemsetD32Async");
}

MOE_GPU_EXPORT void mgpuMemset16(void *dst, unsigned short value, size_t count,
                                 void *stream) {
  if (const Driver *d = driver())
    check(d->cuMemsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value, count,
                              asStream(stream)),
          "cuMemsetD16Async");
}

MOE_GPU_EXPORT void mgpuSetDefaultDevice(int32_t device) {
  setDefaultDevice(device);
}

/// The SM count MoEToGPU's launches plan with (the persistent kernels' grid
/// bound, the decode kernel's wide form): the override, else the device's,
/// at least 1, so that a launch without a driver still reaches
/// mgpuLaunchKernel, which reports why it cannot run.
MOE_GPU_EXPORT int32_t moe_gpu_multiprocessor_count() {
  int count = multiprocessorOverride.load(std::memory_order_relaxed);
  if (count <= 0)
    count = multiprocessorCount();
  return count > 0 ? count : 1;
}

MOE_GPU_EXPORT void moe_gpu_set_multiprocessor_count(int count) {
  multiprocessorOverride.store(count > 0 ? count : 0,
                               std::memory_order_relaxed);
}

} // extern "C"
