//===- TileAndVectorize.cpp - register tiles for matmul-like linalg ops ---===//
//
// The matmuls carry nearly all of an MoE layer's flops; scalar loops from
// convert-linalg-to-loops leave most of the machine idle. Each matmul is tiled
// to a fixed register tile, the loops over dynamic dimensions (the token count)
// are peeled so that every tile but the last is static, the static tiles are
// vectorized into vector.contract (lowered to outer products later), and the
// accumulator is hoisted out of the reduction loop into registers. The last,
// partial tile stays a linalg op and becomes scalar loops: masked
// vectorization of it lowers to one horizontal reduction per element in LLVM
// 22, which is slower than the loops.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"

namespace moe {
#define GEN_PASS_DEF_MOETILEANDVECTORIZE
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// M x N x K tile: an 8 x 32 f32 accumulator is 16 AVX-512 (or 32 AVX2)
/// registers, and K = 8 keeps the operand tiles in registers too.
constexpr int64_t kDefaultTile[] = {8, 32, 8};

bool isTarget(linalg::LinalgOp op) {
  return isa<linalg::MatmulOp, linalg::BatchMatmulOp>(op) &&
         op.hasPureTensorSemantics();
}

struct TileAndVectorizePass
    : moe::impl::MoETileAndVectorizeBase<TileAndVectorizePass> {
  using MoETileAndVectorizeBase::MoETileAndVectorizeBase;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    SmallVector<linalg::LinalgOp> targets;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (isTarget(op))
        targets.push_back(op);
    });

    IRRewriter rewriter(ctx);
    for (linalg::LinalgOp op : targets) {
      SmallVector<int64_t> sizes = tileSizesFor(op);
      if (sizes.empty()) {
        op.emitError("moe-tile-and-vectorize: expected ")
            << op.getNumLoops() << " tile sizes, got " << tileSizes.size();
        return signalPassFailure();
      }
      if (failed(tileAndPeel(rewriter, op, sizes)))
        return signalPassFailure();
    }

    // Fold the peeled loops' bounds into the slices so that the full tiles
    // get static types.
    RewritePatternSet patterns =
        linalg::getLinalgTilingCanonicalizationPatterns(ctx);
    scf::ForOp::getCanonicalizationPatterns(patterns, ctx);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();

    // A partial tile along M (fewer rows than the tile: small groups of a
    // grouped matmul, decode-sized batches) is tiled again by one row, so
    // that its rows are vectorized too instead of becoming scalar loops.
    SmallVector<linalg::LinalgOp> partialRows;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (isTarget(op) && op->getParentOfType<scf::ForOp>() &&
          op.hasDynamicShape() && isa<linalg::MatmulOp>(op) &&
          llvm::count_if(op.getStaticLoopRanges(), ShapedType::isDynamic) ==
              1 &&
          ShapedType::isDynamic(op.getStaticLoopRanges()[0]))
        partialRows.push_back(op);
    });
    for (linalg::LinalgOp op : partialRows) {
      rewriter.setInsertionPoint(op);
      scf::SCFTilingOptions byRow;
      byRow.setTileSizes(getAsIndexOpFoldResult(ctx, {1, 0, 0}));
      FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
          rewriter, cast<TilingInterface>(op.getOperation()), byRow);
      if (succeeded(tiled))
        rewriter.replaceOp(op, tiled->replacements);
    }
    if (!partialRows.empty()) {
      RewritePatternSet rowPatterns =
          linalg::getLinalgTilingCanonicalizationPatterns(ctx);
      scf::ForOp::getCanonicalizationPatterns(rowPatterns, ctx);
      if (failed(applyPatternsGreedily(getOperation(), std::move(rowPatterns))))
        return signalPassFailure();
    }

    SmallVector<linalg::LinalgOp> tiles;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (isTarget(op) && op->getParentOfType<scf::ForOp>() &&
          !op.hasDynamicShape())
        tiles.push_back(op);
    });
    for (linalg::LinalgOp tile : tiles) {
      rewriter.setInsertionPoint(tile);
      // A tile that cannot be vectorized stays a linalg op and becomes loops
      // later: slower, never wrong.
      FailureOr<linalg::VectorizationResult> vectorized = linalg::vectorize(
          rewriter, tile, /*inputVectorSizes=*/{}, /*inputScalableVecDims=*/{},
          /*vectorizeNDExtract=*/false, /*flatten1DDepthwiseConv=*/false,
          /*assumeDynamicDimsMatchVecSizes=*/false,
          /*createNamedContraction=*/true);
      if (succeeded(vectorized))
        rewriter.replaceOp(tile, vectorized->replacements);
    }

    // The accumulator tile is read and written in every step of the K loop;
    // as a loop-invariant subset of the loop's tensor it becomes a vector
    // iter_arg instead, i.e. it stays in registers for the whole reduction.
    // Innermost loops first, so that a hoisted pair can move out further.
    getOperation().walk([&](scf::ForOp loop) {
      moveLoopInvariantCode(loop);
      hoistLoopInvariantSubsets(rewriter, loop);
    });

    // A transposed operand tile (a [N, K]-stored weight read as K x N) is
    // loaded row by row and transposed in registers, instead of being
    // gathered element by element.
    RewritePatternSet transfers(ctx);
    vector::populateVectorTransferPermutationMapLoweringPatterns(transfers);
    if (failed(applyPatternsGreedily(getOperation(), std::move(transfers))))
      return signalPassFailure();
  }

  /// The batch dimension of a batch_matmul is tiled by one; a loop that is
  /// statically shorter than its tile (N = 16 with a tile of 32) is tiled at
  /// its own size.
  SmallVector<int64_t> tileSizesFor(linalg::LinalgOp op) const {
    SmallVector<int64_t> sizes(tileSizes.begin(), tileSizes.end());
    if (sizes.empty())
      sizes.assign(std::begin(kDefaultTile), std::end(kDefaultTile));
    if (isa<linalg::BatchMatmulOp>(op) && sizes.size() == 3)
      sizes.insert(sizes.begin(), 1);
    if (sizes.size() != op.getNumLoops())
      return {};
    for (auto [size, range] : llvm::zip_equal(sizes, op.getStaticLoopRanges()))
      if (!ShapedType::isDynamic(range))
        size = std::min(size, range);
    return sizes;
  }

  LogicalResult tileAndPeel(IRRewriter &rewriter, linalg::LinalgOp op,
                            ArrayRef<int64_t> sizes) {
    rewriter.setInsertionPoint(op);
    scf::SCFTilingOptions tiling;
    tiling.setTileSizes(getAsIndexOpFoldResult(&getContext(), sizes));
    FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
        rewriter, cast<TilingInterface>(op.getOperation()), tiling);
    if (failed(tiled))
      return op.emitError("moe-tile-and-vectorize: tiling failed");
    rewriter.replaceOp(op, tiled->replacements);

    // Peel every loop whose trip count does not divide by its tile: the main
    // loop then runs full tiles only. Peeling fails harmlessly when there is
    // no partial tile.
    for (LoopLikeOpInterface loop : tiled->loops) {
      auto forOp = dyn_cast<scf::ForOp>(loop.getOperation());
      if (!forOp)
        continue;
      scf::ForOp partial;
      rewriter.setInsertionPoint(forOp);
      (void)scf::peelForLoopAndSimplifyBounds(rewriter, forOp, partial);
    }
    return success();
  }
};

} // namespace
