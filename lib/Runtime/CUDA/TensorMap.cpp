//===- TensorMap.cpp - TMA descriptors for nvgpu.tma.create.descriptor ----===//
//
// nvgpu.tma.create.descriptor lowers to mgpuTensorMapEncodeTiledMemref on
// a ranked memref descriptor; the kernel reads the resulting CUtensorMap
// from device memory. The driver wants the dimensions innermost first and
// the strides (of all but the innermost dimension) in bytes.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include <stdint.h>

#define MOE_GPU_EXPORT __attribute__((visibility("default")))

using namespace moe::cuda;

namespace {

/// Bytes per element of each CUtensorMapDataType (UINT8 ... TFLOAT32_FTZ).
constexpr int kElementBytes[] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
constexpr int kMaxRank = 5;

/// The leading fields of a ranked memref descriptor; sizes[rank] and
/// strides[rank] follow.
struct MemRefHeader {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t shape[];
};

} // namespace

extern "C" MOE_GPU_EXPORT void *
mgpuTensorMapEncodeTiledMemref(int64_t rank, void *rankedDescriptor,
                               int dataType, int interleave, int swizzle,
                               int l2Promotion, int oobFill, int64_t *boxDims) {
  if (rank < 1 || rank > kMaxRank || dataType < 0 ||
      dataType >= int(sizeof(kElementBytes) / sizeof(kElementBytes[0]))) {
    setError("mgpuTensorMapEncodeTiledMemref: unsupported rank %lld or data "
             "type %d",
             (long long)rank, dataType);
    return nullptr;
  }
  const Driver *d = driver();
  if (!d)
    return nullptr;
  if (!d->cuTensorMapEncodeTiled) {
    setError("mgpuTensorMapEncodeTiledMemref: the driver has no "
             "cuTensorMapEncodeTiled (CUDA 12.0 or later needed)");
    return nullptr;
  }
  auto *memref = static_cast<MemRefHeader *>(rankedDescriptor);
  const int64_t *sizes = memref->shape, *strides = memref->shape + rank;
  int64_t elementBytes = kElementBytes[dataType];
  unsigned long long globalDim[kMaxRank], globalStrides[kMaxRank];
  unsigned box[kMaxRank], elementStrides[kMaxRank];
  for (int64_t i = 0; i < rank; ++i) {
    int64_t dim = rank - 1 - i; // innermost first
    globalDim[i] = sizes[dim];
    box[i] = static_cast<unsigned>(boxDims[dim]);
    elementStrides[i] = 1;
    if (i + 1 < rank)
      globalStrides[i] = strides[dim - 1] * elementBytes;
  }
  CUtensorMap map;
  void *address = memref->aligned + memref->offset * elementBytes;
  if (!check(d->cuTensorMapEncodeTiled(
                 &map, dataType, rank, address, globalDim, globalStrides, box,
                 elementStrides, interleave, swizzle, l2Promotion, oobFill),
             "cuTensorMapEncodeTiled"))
    return nullptr;
  CUdeviceptr deviceMap = 0;
  if (!check(d->cuMemAlloc(&deviceMap, sizeof(map)), "cuMemAlloc"))
    return nullptr;
  if (!check(d->cuMemcpyHtoD(deviceMap, &map, sizeof(map)), "cuMemcpyHtoD")) {
    d->cuMemFree(deviceMap);
    return nullptr;
  }
  return reinterpret_cast<void *>(deviceMap);
}
