//===- TensorMap.cpp - TMA descriptors for nvgpu.tma.create.descriptor ----===//
//
// nvgpu.tma.create.descriptor lowers to mgpuTensorMapEncodeTiledMemref on
// a ranked memref descriptor. The driver wants the dimensions innermost
// first and the strides (of all but the innermost dimension) in bytes.
//
// The map is encoded in host memory and handed to the kernel by value: our
// kernels take their maps as __grid_constant__ parameters
// (moe-gpu-tensor-map-params), and the host code copies the 128 bytes into
// the launch's parameters right after encoding. cuLaunchKernel copies the
// parameters when it is called (and a stream capture records them), so a
// map never has to outlive its launch: no device memory, no copy, no wait,
// and every launch can be captured in a CUDA graph. Encoding is a host
// computation of well under a microsecond, so nothing is cached.
//
// Each thread writes its maps into its own ring of kRingSlots slots; a
// returned map stays valid until the thread encodes kRingSlots more (a
// launch takes at most two).
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
constexpr int kRingSlots = 16;

/// The leading fields of a ranked memref descriptor; sizes[rank] and
/// strides[rank] follow.
struct MemRefHeader {
  char *allocated;
  char *aligned;
  int64_t offset;
  int64_t shape[];
};

thread_local CUtensorMap ring[kRingSlots];
thread_local int ringNext = 0;

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
  int64_t elementBytes = kElementBytes[dataType];
  unsigned long long globalDim[kMaxRank], globalStrides[kMaxRank];
  unsigned box[kMaxRank], elementStrides[kMaxRank];
  for (int64_t i = 0; i < rank; ++i) {
    int64_t dim = rank - 1 - i; // innermost first
    globalDim[i] = memref->shape[dim];
    box[i] = static_cast<unsigned>(boxDims[dim]);
    elementStrides[i] = 1;
    if (i + 1 < rank) // the stride of dimension dim - 1, in bytes
      globalStrides[i] = memref->shape[rank + dim - 1] * elementBytes;
  }
  CUtensorMap *map = &ring[ringNext];
  ringNext = (ringNext + 1) % kRingSlots;
  if (!check(d->cuTensorMapEncodeTiled(
                 map, dataType, rank,
                 memref->aligned + memref->offset * elementBytes, globalDim,
                 globalStrides, box, elementStrides, interleave, swizzle,
                 l2Promotion, oobFill),
             "cuTensorMapEncodeTiled"))
    return nullptr;
  return map;
}
