//===- TensorMap.cpp - TMA descriptors for nvgpu.tma.create.descriptor ----===//
//
// nvgpu.tma.create.descriptor lowers to mgpuTensorMapEncodeTiledMemref on
// a ranked memref descriptor; the kernel reads the resulting CUtensorMap
// from device memory. The driver wants the dimensions innermost first and
// the strides (of all but the innermost dimension) in bytes.
//
// Encoded maps are cached by everything they encode (address, shape,
// strides, box, type and modes): the AOT entry points create the maps of
// the caller's buffers on every call, and only the first call with a given
// buffer and shape pays for the encoding, the device allocation and the
// synchronous copy; later calls only look the map up, queue nothing but the
// kernel, and can be captured in a CUDA graph. When the table is 3/4 full
// (kCacheSlots), the next new map first waits for all queued work
// (cuCtxSynchronize: a queued kernel may still read any map), then empties
// the table and reuses the maps' device memory, so memory stays bounded
// however many buffers a caller cycles through.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

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

/// What a map encodes, zero-padded past the rank.
struct MapKey {
  int64_t address, rank, dataType, interleave, swizzle, l2Promotion, oobFill;
  int64_t sizes[kMaxRank], strides[kMaxRank], box[kMaxRank];
};

struct CachedMap {
  MapKey key;
  CUdeviceptr map; // 0: free slot
};

constexpr int kCacheSlots = 1024;
constexpr int kCacheLimit = kCacheSlots * 3 / 4; // keeps probes short
CachedMap cache[kCacheSlots];
int cacheUsed = 0;
/// Device copies of flushed maps, reused before allocating new ones.
CUdeviceptr spare[kCacheSlots];
int spareCount = 0;
pthread_mutex_t cacheLock = PTHREAD_MUTEX_INITIALIZER;

/// The slot holding `key`, or the free slot where it belongs (the table is
/// never full: see flush).
CachedMap *findSlot(const MapKey &key) {
  uint64_t hash = 1469598103934665603ull; // FNV-1a
  const auto *bytes = reinterpret_cast<const unsigned char *>(&key);
  for (size_t i = 0; i < sizeof(key); ++i)
    hash = (hash ^ bytes[i]) * 1099511628211ull;
  for (int probe = 0; probe < kCacheSlots; ++probe) {
    CachedMap &slot = cache[(hash + probe) % kCacheSlots];
    if (!slot.map || !memcmp(&slot.key, &key, sizeof(key)))
      return &slot;
  }
  return nullptr; // unreachable while cacheUsed <= kCacheLimit
}

/// Empties the table once no queued kernel can read its maps; their device
/// memory goes to `spare`. False (error recorded) if the wait failed.
bool flush(const Driver *d) {
  if (!check(d->cuCtxSynchronize(), "cuCtxSynchronize"))
    return false;
  for (CachedMap &slot : cache) {
    if (slot.map)
      spare[spareCount++] = slot.map;
    slot.map = 0;
  }
  cacheUsed = 0;
  return true;
}

/// Encodes the map of `key` and copies it to device memory; 0 on failure
/// (error recorded).
CUdeviceptr encode(const Driver *d, const MapKey &key, int64_t elementBytes) {
  unsigned long long globalDim[kMaxRank], globalStrides[kMaxRank];
  unsigned box[kMaxRank], elementStrides[kMaxRank];
  int64_t rank = key.rank;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t dim = rank - 1 - i; // innermost first
    globalDim[i] = key.sizes[dim];
    box[i] = static_cast<unsigned>(key.box[dim]);
    elementStrides[i] = 1;
    if (i + 1 < rank)
      globalStrides[i] = key.strides[dim - 1] * elementBytes;
  }
  CUtensorMap map;
  if (!check(d->cuTensorMapEncodeTiled(
                 &map, key.dataType, rank,
                 reinterpret_cast<void *>(key.address), globalDim,
                 globalStrides, box, elementStrides, key.interleave,
                 key.swizzle, key.l2Promotion, key.oobFill),
             "cuTensorMapEncodeTiled"))
    return 0;
  CUdeviceptr deviceMap = 0;
  if (spareCount > 0)
    deviceMap = spare[--spareCount];
  else if (!check(d->cuMemAlloc(&deviceMap, sizeof(map)), "cuMemAlloc"))
    return 0;
  if (!check(d->cuMemcpyHtoD(deviceMap, &map, sizeof(map)), "cuMemcpyHtoD")) {
    spare[spareCount++] = deviceMap;
    return 0;
  }
  return deviceMap;
}

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
  MapKey key;
  memset(&key, 0, sizeof(key));
  key.address = reinterpret_cast<int64_t>(memref->aligned +
                                          memref->offset * elementBytes);
  key.rank = rank;
  key.dataType = dataType;
  key.interleave = interleave;
  key.swizzle = swizzle;
  key.l2Promotion = l2Promotion;
  key.oobFill = oobFill;
  for (int64_t i = 0; i < rank; ++i) {
    key.sizes[i] = memref->shape[i];
    key.strides[i] = memref->shape[rank + i];
    key.box[i] = boxDims[i];
  }
  pthread_mutex_lock(&cacheLock);
  CachedMap *slot = findSlot(key);
  CUdeviceptr map = slot->map;
  if (!map && (cacheUsed < kCacheLimit || flush(d))) {
    slot = findSlot(key); // the flush may have emptied the table
    map = encode(d, key, elementBytes);
    if (map) {
      slot->key = key;
      slot->map = map;
      ++cacheUsed;
    }
  }
  pthread_mutex_unlock(&cacheLock);
  return reinterpret_cast<void *>(map);
}
