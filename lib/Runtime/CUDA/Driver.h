//===- Driver.h - the CUDA driver API, loaded at run time -------*- C++ -*-===//
//
// The few driver types and entry points the runtime uses, declared here so
// that it builds without CUDA headers and links without libcuda: the driver
// is opened with dlopen on first use. Errors are recorded per thread (the
// call's name plus cuGetErrorName/cuGetErrorString) instead of aborting.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_RUNTIME_CUDA_DRIVER_H
#define MOE_LIB_RUNTIME_CUDA_DRIVER_H

#include <cstddef>

namespace moe::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;

/// Opaque 128-byte, 64-byte aligned tensor map (TMA descriptor).
struct alignas(64) CUtensorMap {
  unsigned long long opaque[16];
};

/// cuLaunchKernelEx's launch attribute: an id, then a 64-byte value.
struct CUlaunchAttribute {
  unsigned id;
  char pad[4];
  union {
    char bytes[64];
    int programmaticStreamSerializationAllowed;
  } value;
};

/// cuLaunchKernelEx's launch configuration.
struct CUlaunchConfig {
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  CUstream hStream;
  CUlaunchAttribute *attrs;
  unsigned numAttrs;
};

// The layouts cuda.h gives them on x86-64 (the driver reads them).
static_assert(sizeof(CUlaunchAttribute) == 72, "CUlaunchAttribute layout");
static_assert(sizeof(CUlaunchConfig) == 56, "CUlaunchConfig layout");

constexpr CUresult CUDA_SUCCESS = 0;
constexpr unsigned CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
constexpr unsigned CU_EVENT_DEFAULT = 0;

/// Driver entry points, under the names (with their _v2 suffixes) that
/// libcuda.so.1 exports.
struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuStreamWaitEvent)(CUstream, CUevent, unsigned);
  CUresult (*cuEventCreate)(CUevent *, unsigned);
  CUresult (*cuEventDestroy)(CUevent);
  CUresult (*cuEventSynchronize)(CUevent);
  CUresult (*cuEventRecord)(CUevent, CUstream);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
  CUresult (*cuMemsetD16Async)(CUdeviceptr, unsigned short, size_t, CUstream);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuModuleGetGlobal)(CUdeviceptr *, size_t *, CUmodule,
                                const char *);
  /// Optional (drivers since CUDA 12.0): null if the driver lacks it.
  CUresult (*cuLaunchKernelEx)(const CUlaunchConfig *, CUfunction, void **,
                               void **);
  /// Optional (drivers since CUDA 12.0): null if the driver lacks it.
  CUresult (*cuTensorMapEncodeTiled)(CUtensorMap *, int, unsigned, void *,
                                     const unsigned long long *,
                                     const unsigned long long *,
                                     const unsigned *, const unsigned *, int,
                                     int, int, int);
};

/// The driver with the primary context of the default device current on
/// this thread; null (and an error recorded) if the driver cannot be loaded
/// or initialized. The driver is opened once per process; its library name
/// comes from MOE_CUDA_DRIVER if set (tests), else libcuda.so.1.
const Driver *driver();

/// The device `driver()` will use (before its first call; default 0).
void setDefaultDevice(int device);

/// The SM count of the device `driver()` uses; 0 (and an error recorded)
/// without a driver.
int multiprocessorCount();

/// True if `result` is CUDA_SUCCESS; else records "<call>: <error name>
/// (<error string>)" as this thread's error and returns false.
bool check(CUresult result, const char *call);

/// Records a printf-style message as this thread's last error (and prints
/// it to stderr if MOE_GPU_VERBOSE is set).
void setError(const char *format, ...) __attribute__((format(printf, 1, 2)));

/// This thread's last error, "" if none since clearError().
const char *lastError();
bool hasError();
void clearError();

} // namespace moe::cuda

#endif // MOE_LIB_RUNTIME_CUDA_DRIVER_H
