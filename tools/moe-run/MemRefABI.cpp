//===- MemRefABI.cpp - call a lowered entry point on npy arrays -----------===//

#include "MemRefABI.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"

#include "llvm/ADT/SmallPtrSet.h"

#include <chrono>
#include <cstring>
#include <ctime>

using namespace llvm;
using namespace moe::run;

/// {allocated, aligned, offset, sizes[rank], strides[rank]}, in 8-byte words.
static size_t descriptorWords(int64_t rank) { return 3 + 2 * rank; }

/// Row-major descriptor of a contiguous argument buffer.
static void describeInput(const ArgBuffer &array, int64_t *words) {
  int64_t rank = array.shape.size();
  void *data = const_cast<void *>(array.data);
  std::memcpy(&words[0], &data, sizeof(void *));
  std::memcpy(&words[1], &data, sizeof(void *));
  words[2] = 0;
  int64_t stride = 1;
  for (int64_t d = rank - 1; d >= 0; --d) {
    words[3 + d] = array.shape[d];
    words[3 + rank + d] = stride;
    stride *= array.shape[d];
  }
}

/// Copies a strided memref into `dst`, row-major.
static void copyStrided(const char *base, ArrayRef<int64_t> sizes,
                        ArrayRef<int64_t> strides, size_t elementBytes,
                        char *&dst) {
  if (sizes.empty()) {
    std::memcpy(dst, base, elementBytes);
    dst += elementBytes;
    return;
  }
  if (sizes.size() == 1 && strides[0] == 1) {
    std::memcpy(dst, base, sizes[0] * elementBytes);
    dst += sizes[0] * elementBytes;
    return;
  }
  for (int64_t i = 0; i < sizes[0]; ++i)
    copyStrided(base + i * strides[0] * int64_t(elementBytes),
                sizes.drop_front(), strides.drop_front(), elementBytes, dst);
}

/// CPU time of the calling thread; 0 where the clock is not available.
static double threadCPUSeconds() {
  timespec now;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) != 0)
    return 0;
  return double(now.tv_sec) + 1e-9 * double(now.tv_nsec);
}

Error moe::run::invoke(mlir::ExecutionEngine &engine, const EntryPoint &entry,
                       ArrayRef<ArgBuffer> inputs,
                       SmallVectorImpl<npy::Array> *results, CallTime *time) {
  size_t argWords = 0;
  for (const ArgBuffer &input : inputs)
    argWords += descriptorWords(input.shape.size());
  SmallVector<int64_t> argStorage(argWords);
  SmallVector<void *> argDescriptors;
  SmallPtrSet<const void *, 8> inputBuffers;
  for (size_t i = 0, offset = 0; i < inputs.size(); ++i) {
    describeInput(inputs[i], &argStorage[offset]);
    argDescriptors.push_back(&argStorage[offset]);
    inputBuffers.insert(inputs[i].data);
    offset += descriptorWords(inputs[i].shape.size());
  }

  size_t resultWords = 0;
  for (const TensorSpec &spec : entry.results)
    resultWords += descriptorWords(spec.type.getRank());
  SmallVector<int64_t> resultStorage(resultWords);
  void *resultStruct = resultStorage.data();

  SmallVector<void *> packed;
  if (!entry.results.empty())
    packed.push_back(&resultStruct);
  for (void *&descriptor : argDescriptors)
    packed.push_back(&descriptor);

  auto start = std::chrono::steady_clock::now();
  double cpuStart = threadCPUSeconds();
  if (Error err = engine.invokePacked("_mlir_ciface_" + entry.name, packed))
    return err;
  if (time) {
    time->cpu = threadCPUSeconds() - cpuStart;
    time->wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }

  SmallPtrSet<void *, 8> freed;
  for (size_t j = 0, offset = 0; j < entry.results.size(); ++j) {
    const TensorSpec &spec = entry.results[j];
    int64_t rank = spec.type.getRank();
    const int64_t *words = &resultStorage[offset];
    offset += descriptorWords(rank);
    void *allocated, *aligned;
    std::memcpy(&allocated, &words[0], sizeof(void *));
    std::memcpy(&aligned, &words[1], sizeof(void *));
    ArrayRef<int64_t> sizes(&words[3], rank), strides(&words[3 + rank], rank);

    if (results) {
      npy::Array out;
      out.descr = spec.descr;
      out.shape.assign(sizes.begin(), sizes.end());
      out.data = npy::AlignedBuffer(out.numElements() * spec.elementBytes);
      if (out.numElements() > 0) {
        char *dst = out.data.data();
        copyStrided(static_cast<const char *>(aligned) +
                        words[2] * int64_t(spec.elementBytes),
                    sizes, strides, spec.elementBytes, dst);
      }
      results->push_back(std::move(out));
    }

    // The pipeline guarantees fresh allocations; the checks only keep a
    // module lowered some other way from freeing an input or a global
    // (whose descriptors the memref lowering marks with 0xdeadbeef) or
    // freeing twice.
    if (!allocated || inputBuffers.contains(allocated) ||
        allocated == reinterpret_cast<void *>(0xdeadbeef) ||
        !freed.insert(allocated).second)
      continue;
    std::free(allocated);
  }
  return Error::success();
}
