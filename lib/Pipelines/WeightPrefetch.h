//===- WeightPrefetch.h - prefetch the next weight block of a tile -*- C++ -*-//
//
// Part of moe-tile-and-vectorize: software prefetches that bring the next
// cache block of a matmul's right-hand side (a weight streamed from memory)
// into L2 while the current block is being multiplied.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_PIPELINES_WEIGHTPREFETCH_H
#define MOE_LIB_PIPELINES_WEIGHTPREFETCH_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

#include "llvm/ADT/DenseMap.h"

namespace moe {

/// Inserts prefetches for register tiles of matmuls that moe-tile-and-
/// vectorize blocked for the cache: for each reduction block of
/// `reductionBlock` rows of the [K, N] right-hand side, for each column
/// tile, every row tile; the right-hand side of a tile is a unit-stride
/// slice (through any number of tensor.extract_slice ops) of a weight.
class WeightPrefetcher {
public:
  explicit WeightPrefetcher(int64_t reductionBlock)
      : reductionBlock(reductionBlock) {}

  /// Inserts, before `tile` (a static M x N x K register tile inside the
  /// reduction loop), prefetches of lines of the block that comes after the
  /// current one: the next column tile of the same reduction block, else the
  /// first column tile of the next reduction block, else the first block of
  /// the weight's next matrix. Fetches are spread over the steps of the row
  /// tiles, never sent in a burst (see WeightPrefetch.cpp). Returns false,
  /// and inserts nothing, for a tile whose weight it cannot locate.
  bool prefetchNextBlock(mlir::RewriterBase &rewriter,
                         mlir::linalg::MatmulOp tile);

private:
  int64_t reductionBlock;
  /// Each weight as a buffer (bufferization.to_buffer, read only).
  llvm::DenseMap<mlir::Value, mlir::Value> buffers;
};

} // namespace moe

#endif // MOE_LIB_PIPELINES_WEIGHTPREFETCH_H
