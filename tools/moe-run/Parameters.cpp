//===- Parameters.cpp - the data moe-run passes for parameters ------------===//

#include "Parameters.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include "llvm/Support/FormatVariadic.h"

#include <cstring>
#include <numeric>

using namespace mlir;
using namespace moe::run;
using llvm::Error;
using llvm::Expected;
using llvm::formatv;

static Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// The bytes of a constant in its own row-major layout.
static Expected<ArrayRef<char>> bytesOf(ElementsAttr value) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return makeError("dense_resource<" + resource.getRawHandle().getKey() +
                       "> has no data (was it elided when printed?)");
    return blob->getData();
  }
  if (auto dense = dyn_cast<DenseElementsAttr>(value))
    if (!dense.isSplat())
      return dense.getRawData();
  return makeError("its value is neither a dense_resource nor a non-splat "
                   "dense constant");
}

/// Copies `batch` matrices of `rows` x `cols` elements into `cols` x `rows`,
/// in square blocks so that both sides are read and written a few cache lines
/// at a time.
static void transposeLastTwo(const char *src, char *dst, int64_t batch,
                             int64_t rows, int64_t cols, size_t elementBytes) {
  constexpr int64_t kBlock = 32;
  size_t matrix = rows * cols * elementBytes;
  for (int64_t b = 0; b < batch; ++b, src += matrix, dst += matrix)
    for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
      for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
        for (int64_t r = r0, re = std::min(rows, r0 + kBlock); r < re; ++r)
          for (int64_t c = c0, ce = std::min(cols, c0 + kBlock); c < ce; ++c)
            std::memcpy(dst + (c * rows + r) * elementBytes,
                        src + (r * cols + c) * elementBytes, elementBytes);
}

/// Whether `permutation` keeps every dimension but the last two in place and
/// swaps those (the only one moe-pack-parameters makes).
static bool swapsLastTwo(ArrayRef<int64_t> permutation) {
  int64_t rank = permutation.size();
  if (rank < 2 || permutation[rank - 2] != rank - 1 ||
      permutation[rank - 1] != rank - 2)
    return false;
  for (int64_t d = 0; d < rank - 2; ++d)
    if (permutation[d] != d)
      return false;
  return true;
}

/// Copies `src`, a row-major tensor of the shape that `permutation` maps to
/// `shape` (source dimension permutation[d] becomes dimension d), into
/// `dst` of `shape`. The dimensions that the permutation keeps at the end
/// are copied as one contiguous run (64-element panels of a weight).
static void permute(const char *src, char *dst, ArrayRef<int64_t> shape,
                    ArrayRef<int64_t> permutation, size_t elementBytes) {
  int64_t rank = shape.size();
  SmallVector<int64_t> sourceShape(rank), sourceStride(rank);
  for (int64_t d = 0; d < rank; ++d)
    sourceShape[permutation[d]] = shape[d];
  for (int64_t d = rank - 1, stride = 1; d >= 0; --d) {
    sourceStride[d] = stride;
    stride *= sourceShape[d];
  }
  int64_t kept = rank;
  while (kept > 0 && permutation[kept - 1] == kept - 1)
    --kept;
  size_t run = elementBytes;
  for (int64_t d = kept; d < rank; ++d)
    run *= shape[d];
  // An odometer over the destination's leading dimensions.
  SmallVector<int64_t> index(kept, 0);
  int64_t count = 1;
  for (int64_t d = 0; d < kept; ++d)
    count *= shape[d];
  for (int64_t i = 0; i < count; ++i, dst += run) {
    int64_t offset = 0;
    for (int64_t d = 0; d < kept; ++d)
      offset += index[d] * sourceStride[permutation[d]];
    std::memcpy(dst, src + offset * elementBytes, run);
    for (int64_t d = kept - 1; d >= 0 && ++index[d] == shape[d]; --d)
      index[d] = 0;
  }
}

/// Whether `permutation` orders 0 .. rank-1.
static bool isPermutation(ArrayRef<int64_t> permutation) {
  SmallVector<bool> seen(permutation.size(), false);
  for (int64_t d : permutation) {
    if (d < 0 || d >= static_cast<int64_t>(permutation.size()) || seen[d])
      return false;
    seen[d] = true;
  }
  return true;
}

Expected<BoundParameters> moe::run::bindParameters(const EntryPoint &entry) {
  BoundParameters bound;
  for (auto [i, parameter] : llvm::enumerate(entry.parameters)) {
    auto fail = [&, i = i](const llvm::Twine &why) {
      return makeError(formatv("parameter {0} of @{1}: ", i, entry.name) + why);
    };
    Expected<ArrayRef<char>> bytes = bytesOf(parameter.value);
    if (!bytes)
      return fail(toString(bytes.takeError()));
    const TensorSpec &spec = parameter.spec;
    RankedTensorType type = spec.type;
    if (!type.hasStaticShape())
      return fail("its argument type is not static");
    size_t numBytes = type.getNumElements() * spec.elementBytes;
    if (bytes->size() != numBytes)
      return fail(formatv("its value has {0} bytes but {1} needs {2}",
                          bytes->size(), spec.type, numBytes));

    const char *data = bytes->data();
    bool aligned = reinterpret_cast<uintptr_t>(data) % spec.elementBytes == 0;
    if (!parameter.permutation.empty()) {
      ArrayRef<int64_t> shape = type.getShape();
      int64_t rank = shape.size();
      if (static_cast<int64_t>(parameter.permutation.size()) != rank ||
          !isPermutation(parameter.permutation))
        return fail(formatv("its permutation is not one of the {0} "
                            "dimensions of {1}",
                            rank, spec.type));
      npy::AlignedBuffer packed(numBytes);
      if (swapsLastTwo(parameter.permutation)) {
        // The argument is [..., K, N]; the value is [..., N, K].
        int64_t batch = std::accumulate(shape.begin(), shape.end() - 2,
                                        int64_t(1), std::multiplies<int64_t>());
        transposeLastTwo(data, packed.data(), batch, shape[rank - 1],
                         shape[rank - 2], spec.elementBytes);
      } else {
        permute(data, packed.data(), shape, parameter.permutation,
                spec.elementBytes);
      }
      data = packed.data();
      bound.copies.push_back(std::move(packed));
    } else if (!aligned) {
      npy::AlignedBuffer copy(numBytes);
      std::memcpy(copy.data(), data, numBytes);
      data = copy.data();
      bound.copies.push_back(std::move(copy));
    }
    bound.args.push_back(ArgBuffer{data, type.getShape()});
  }
  return bound;
}
