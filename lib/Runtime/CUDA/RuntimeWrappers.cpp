//===- RuntimeWrappers.cpp - the mgpu* functions of MLIR's GPU lowering ---===//
//
// gpu-to-llvm lowers gpu.launch_func, gpu.alloc, gpu.wait, ... to calls of
// these functions (MLIR's runtime ABI), and gpu.binary to a global
// constructor calling mgpuModuleLoad (cubin) or mgpuModuleLoadJIT (PTX).
// Each one checks its driver call; on failure it records the error
// (moe_gpu_last_error) and returns null / does nothing, so that a missing
// driver or a bad launch never aborts the caller.
//
// The kernels of a module built with moe-gpu-dependent-launch are launched
// with programmatic stream serialization (cuLaunchKernelEx): each may be
// launched while the kernel before it on the stream drains.
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

// The device global moe-gpu-dependent-launch adds to a module whose kernels
// all begin with griddepcontrol.wait (moe::kDependentLaunchMarkerName).
constexpr const char *kDependentLaunchMarker = "moe_griddepcontrol_wait";
// moe_gpu_set_dependent_launch's switch; cleared when the driver refuses a
// dependent launch (that kernel is launched as usual).
std::atomic<bool> dependentLaunches{true};

// The handles mgpuModuleLoad and mgpuModuleGetFunction return for such a
// module and its kernels carry this bit (driver handles are aligned
// pointers), which the launch reads: no table of modules or functions.
constexpr uintptr_t kDependentBit = 1;

bool marked(void *handle) {
  return reinterpret_cast<uintptr_t>(handle) & kDependentBit;
}
template <typename Handle> Handle unmarked(void *handle) {
  return reinterpret_cast<Handle>(reinterpret_cast<uintptr_t>(handle) &
                                  ~kDependentBit);
}
void *mark(void *handle) {
  return reinterpret_cast<void *>(reinterpret_cast<uintptr_t>(handle) |
                                  kDependentBit);
}

/// Launches `f` so that it may start while the kernel before it on the
/// stream drains (its griddepcontrol.wait holds it until that one is done).
/// False if the driver cannot: the caller then launches it as usual.
bool launchDependent(const Driver *d, CUfunction f, intptr_t gridX,
                     intptr_t gridY, intptr_t gridZ, intptr_t blockX,
                     intptr_t blockY, intptr_t blockZ, int32_t smem,
                     CUstream stream, void **params, void **extra) {
  if (!d->cuLaunchKernelEx)
    return false;
  CUlaunchAttribute attribute{};
  attribute.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
  attribute.value.programmaticStreamSerializationAllowed = 1;
  CUlaunchConfig config{};
  config.gridDimX = gridX;
  config.gridDimY = gridY;
  config.gridDimZ = gridZ;
  config.blockDimX = blockX;
  config.blockDimY = blockY;
  config.blockDimZ = blockZ;
  config.sharedMemBytes = smem;
  config.hStream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  if (d->cuLaunchKernelEx(&config, f, params, extra) == CUDA_SUCCESS)
    return true;
  // A driver that refuses the attribute refuses it every time.
  dependentLaunches.store(false, std::memory_order_relaxed);
  return false;
}

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
  CUdeviceptr marker = 0;
  size_t bytes = 0;
  if (!marked(module) &&
      d->cuModuleGetGlobal(&marker, &bytes, module, kDependentLaunchMarker) ==
          CUDA_SUCCESS)
    return mark(module);
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
    check(d->cuModuleUnload(unmarked<CUmodule>(module)), "cuModuleUnload");
}

MOE_GPU_EXPORT void *mgpuModuleGetFunction(void *module, const char *name) {
  if (!module) {
    setError("kernel %s: its module was not loaded (%s)", name,
             moduleLoadError[0] ? moduleLoadError : "no error recorded");
    return nullptr;
  }
  const Driver *d = driver();
  CUfunction function = nullptr;
  if (!d || !check(d->cuModuleGetFunction(&function, unmarked<CUmodule>(module),
                                          name),
                   "cuModuleGetFunction"))
    return nullptr;
  return marked(module) && !marked(function) ? mark(function) : function;
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
  auto f = unmarked<CUfunction>(function);
  if (smem > kDefaultSharedMemoryLimit &&
      !check(d->cuFuncSetAttribute(
                 f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem),
             "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)"))
    return;
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return; // Nothing to do (e.g. zero rows); the driver rejects empty grids.
  if (marked(function) && dependentLaunches.load(std::memory_order_relaxed) &&
      launchDependent(d, f, gridX, gridY, gridZ, blockX, blockY, blockZ, smem,
                      asStream(stream), params, extra))
    return;
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

MOE_GPU_EXPORT void moe_gpu_set_dependent_launch(int enabled) {
  dependentLaunches.store(enabled != 0, std::memory_order_relaxed);
}

} // extern "C"
