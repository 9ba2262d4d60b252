//===- Driver.cpp - open libcuda, record errors ---------------------------===//
//
// No C++ runtime is used here (no exceptions, no magic statics, no
// iostreams), so that the libraries built with this runtime need only libc
// and libdl.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

using namespace moe::cuda;

namespace {

constexpr size_t kMessageSize = 1024;
thread_local char threadError[kMessageSize];
thread_local bool threadContextSet = false;

Driver table;
bool loaded = false;
CUcontext primaryContext = nullptr;
int defaultDevice = 0;
int multiprocessors = 0;
// Why loading failed, for the threads that did not see it happen.
char loadError[kMessageSize];
pthread_once_t loadOnce = PTHREAD_ONCE_INIT;

const char *driverName() {
  const char *name = getenv("MOE_CUDA_DRIVER");
  return name && *name ? name : "libcuda.so.1";
}

template <typename Fn> bool bind(void *library, Fn &fn, const char *name) {
  fn = reinterpret_cast<Fn>(dlsym(library, name));
  if (!fn)
    setError("CUDA driver: %s has no symbol %s (driver too old?)", driverName(),
             name);
  return fn != nullptr;
}

bool bindAll(void *lib) {
  Driver &d = table;
  return bind(lib, d.cuInit, "cuInit") &&
         bind(lib, d.cuGetErrorName, "cuGetErrorName") &&
         bind(lib, d.cuGetErrorString, "cuGetErrorString") &&
         bind(lib, d.cuDeviceGet, "cuDeviceGet") &&
         bind(lib, d.cuDeviceGetAttribute, "cuDeviceGetAttribute") &&
         bind(lib, d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
         bind(lib, d.cuCtxSetCurrent, "cuCtxSetCurrent") &&
         bind(lib, d.cuModuleLoadData, "cuModuleLoadData") &&
         bind(lib, d.cuModuleUnload, "cuModuleUnload") &&
         bind(lib, d.cuModuleGetFunction, "cuModuleGetFunction") &&
         bind(lib, d.cuModuleGetGlobal, "cuModuleGetGlobal_v2") &&
         bind(lib, d.cuFuncSetAttribute, "cuFuncSetAttribute") &&
         bind(lib, d.cuLaunchKernel, "cuLaunchKernel") &&
         bind(lib, d.cuStreamCreate, "cuStreamCreate") &&
         bind(lib, d.cuStreamDestroy, "cuStreamDestroy_v2") &&
         bind(lib, d.cuStreamSynchronize, "cuStreamSynchronize") &&
         bind(lib, d.cuCtxSynchronize, "cuCtxSynchronize") &&
         bind(lib, d.cuStreamWaitEvent, "cuStreamWaitEvent") &&
         bind(lib, d.cuEventCreate, "cuEventCreate") &&
         bind(lib, d.cuEventDestroy, "cuEventDestroy_v2") &&
         bind(lib, d.cuEventSynchronize, "cuEventSynchronize") &&
         bind(lib, d.cuEventRecord, "cuEventRecord") &&
         bind(lib, d.cuMemAlloc, "cuMemAlloc_v2") &&
         bind(lib, d.cuMemFree, "cuMemFree_v2") &&
         bind(lib, d.cuMemcpyAsync, "cuMemcpyAsync") &&
         bind(lib, d.cuMemsetD32Async, "cuMemsetD32Async") &&
         bind(lib, d.cuMemsetD16Async, "cuMemsetD16Async") &&
         bind(lib, d.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
}

void load() {
  const char *name = driverName();
  void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    setError("CUDA driver not found: dlopen(%s) failed: %s", name,
             why ? why : "unknown error");
  } else if (bindAll(lib) && check(table.cuInit(0), "cuInit")) {
    table.cuTensorMapEncodeTiled =
        reinterpret_cast<decltype(table.cuTensorMapEncodeTiled)>(
            dlsym(lib, "cuTensorMapEncodeTiled"));
    table.cuLaunchKernelEx = reinterpret_cast<decltype(table.cuLaunchKernelEx)>(
        dlsym(lib, "cuLaunchKernelEx"));
    CUdevice device;
    loaded = check(table.cuDeviceGet(&device, defaultDevice), "cuDeviceGet") &&
             check(table.cuDeviceGetAttribute(
                       &multiprocessors,
                       CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                   "cuDeviceGetAttribute(MULTIPROCESSOR_COUNT)") &&
             check(table.cuDevicePrimaryCtxRetain(&primaryContext, device),
                   "cuDevicePrimaryCtxRetain");
  }
  if (!loaded)
    snprintf(loadError, sizeof(loadError), "%s", threadError);
}

} // namespace

const Driver *moe::cuda::driver() {
  pthread_once(&loadOnce, load);
  if (!loaded) {
    setError("%s", loadError);
    return nullptr;
  }
  if (!threadContextSet) {
    if (!check(table.cuCtxSetCurrent(primaryContext), "cuCtxSetCurrent"))
      return nullptr;
    threadContextSet = true;
  }
  return &table;
}

void moe::cuda::setDefaultDevice(int device) { defaultDevice = device; }

int moe::cuda::multiprocessorCount() { return driver() ? multiprocessors : 0; }

bool moe::cuda::check(CUresult result, const char *call) {
  if (result == CUDA_SUCCESS)
    return true;
  const char *name = nullptr, *text = nullptr;
  if (table.cuGetErrorName)
    table.cuGetErrorName(result, &name);
  if (table.cuGetErrorString)
    table.cuGetErrorString(result, &text);
  if (name)
    setError("%s: %s (%s)", call, name, text ? text : "no description");
  else
    setError("%s: CUDA error %d", call, result);
  return false;
}

void moe::cuda::setError(const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(threadError, kMessageSize, format, args);
  va_end(args);
  if (getenv("MOE_GPU_VERBOSE"))
    fprintf(stderr, "moe-gpu: %s\n", threadError);
}

const char *moe::cuda::lastError() { return threadError; }
bool moe::cuda::hasError() { return threadError[0] != 0; }
void moe::cuda::clearError() { threadError[0] = 0; }
