//===- TileAndVectorize.cpp - register tiles for matmul-like linalg ops ---===//
//
// The matmuls carry nearly all of an MoE layer's flops; scalar loops from
// convert-linalg-to-loops leave most of the machine idle. Each matmul is tiled
// to a fixed register tile, the loops over dynamic dimensions (the token count)
// are peeled so that every tile but the last is static, the static tiles are
// vectorized into vector.contract (lowered to outer products later), and the
// accumulator is hoisted out of the reduction loop into registers. A partial
// row tile is tiled again by rows, each vectorized like a full tile.
//
// Plain [K, N] right-hand sides (weights after moe-pack-parameters) are
// blocked for the cache as well: long reductions are split into blocks, and
// the column loop runs outside the row loop, so that one column slice of a
// block (32 KiB) stays in L1 for every row tile; with H = 1024, I = 2816 this
// took the grouped matmul at 128 rows per expert from 38 to ~110 GFLOP/s,
// and a 4 x 64 x 4 register tile with blocks of 64 to 108-130 GFLOP/s
// (bench/cpu/results/2026-11-29-register-tile.md); software prefetches of
// the next block and blocks of 128 then to 164-173 on panels
// (bench/cpu/results/2026-11-29-prefetch.md).
// Groups of fewer than 8 rows (decode, many experts with a few tokens each)
// are told apart at run time and read such a weight row by row
// instead, K steps outermost (bench/cpu/results/2026-11-28-few-rows.md).
//
//===----------------------------------------------------------------------===//

#include "WeightPrefetch.h"
#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"

#include <numeric>

namespace moe {
#define GEN_PASS_DEF_MOETILEANDVECTORIZE
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// M x N x K tile: an 8 x 32 f32 accumulator is 16 AVX-512 (or 32 AVX2)
/// registers, and K = 8 keeps the operand tiles in registers too. Used for
/// transposed right-hand sides, batch matmuls, and as the schedule (and
/// row-count threshold) of groups with few rows.
constexpr int64_t kDefaultTile[] = {8, 32, 8};

/// The register tile of a plain [K, N] right-hand side with many rows: the
/// outer-product lowering keeps the K x N operand tile in registers next to
/// the M x N accumulator, so 4 x 64 x 4 fills the 32 AVX-512 registers (16
/// accumulators, 16 operand rows) and reads each loaded weight vector for
/// 4 rows. At H = 1024, I = 2816 (128 rows per expert) it ran the grouped
/// matmul at 109-132 GFLOP/s against 80-100 for 8 x 32 x 8
/// (bench/cpu/results/2026-11-29-register-tile.md).
constexpr int64_t kPlainRhsTile[] = {4, 64, 4};

bool isTarget(linalg::LinalgOp op) {
  return isa<linalg::MatmulOp, linalg::BatchMatmulOp>(op) &&
         op.hasPureTensorSemantics();
}

/// Whether `op` reads its right-hand side [N, K] (transposed). Such tiles are
/// transposed in registers once per K step and shared by every row of a
/// partial tile, so their loops keep the order M, N, K with row tiles inside
/// the K loop; the blocking below only pays off for plain [K, N] operands.
bool readsRhsTransposed(linalg::LinalgOp op) {
  auto matmul = dyn_cast<linalg::MatmulOp>(op.getOperation());
  if (!matmul)
    return false;
  MLIRContext *ctx = op.getContext();
  return matmul.getIndexingMapsArray()[1] ==
         AffineMap::get(
             3, 0, {getAffineDimExpr(1, ctx), getAffineDimExpr(2, ctx)}, ctx);
}

/// Groups of fewer rows than this read a plain widening weight row by row
/// (see fewRowsThreshold).
constexpr int64_t kWideFewRows = 32;

/// Matmuls with a static reduction longer than this are first split into
/// reduction blocks of this size: a 64-column slice of such a block of the
/// right-hand side (32 KiB in f32) stays in L1 while every row tile of the
/// left-hand side goes past it. Without weight prefetches, blocks of 64 were
/// best (108-130 GFLOP/s at H = 1024, I = 2816, 128 rows per expert, against
/// 101-116 for 128); with them (WeightPrefetch.h) the next block is in L2
/// when its turn comes, and blocks of 128 halve the accumulator tiles'
/// loads and stores: 164-173 GFLOP/s against 152-160 for 64 on panels at
/// 128 rows per expert, 108-110 for both at 16 rows, and 146-147 for both
/// on the plain 2816 -> 1024 down projection; 256 was no better.
constexpr int64_t kDefaultReductionBlock = 128;

struct TileAndVectorizePass
    : moe::impl::MoETileAndVectorizeBase<TileAndVectorizePass> {
  using MoETileAndVectorizeBase::MoETileAndVectorizeBase;

  /// The matmul-like ops of the function, in order.
  SmallVector<linalg::LinalgOp> collectTargets() {
    SmallVector<linalg::LinalgOp> targets;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (isTarget(op))
        targets.push_back(op);
    });
    return targets;
  }

  /// Folds the peeled loops' bounds into the slices, so that full tiles get
  /// static types.
  LogicalResult simplifyTiles() {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns =
        linalg::getLinalgTilingCanonicalizationPatterns(ctx);
    scf::ForOp::getCanonicalizationPatterns(patterns, ctx);
    return applyPatternsGreedily(getOperation(), std::move(patterns));
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    IRRewriter rewriter(ctx);
    for (linalg::LinalgOp op : collectTargets()) {
      SmallVector<int64_t> sizes = tileSizesFor(op);
      if (sizes.empty()) {
        op.emitError("moe-tile-and-vectorize: expected ")
            << op.getNumLoops() << " tile sizes, got " << tileSizes.size();
        return signalPassFailure();
      }
      SmallVector<int64_t> fewSizes = tileSizesFor(op, /*fewRows=*/true);
      if (isa<linalg::MatmulOp>(op) && !readsRhsTransposed(op) &&
          ShapedType::isDynamic(op.getStaticLoopRanges()[0]) &&
          fewSizes[0] > 1) {
        // Row counts are known at run time only: groups with fewer rows than
        // the few-rows tile (decode; many experts with a few tokens each) get
        // a schedule of their own, chosen by an scf.if.
        auto [few, many] =
            splitOnRowCount(rewriter, op, fewRowsThreshold(op, fewSizes[0]));
        if (failed(tileFewRows(rewriter, few, fewSizes)) ||
            failed(tileForCache(rewriter, many, sizes)))
          return signalPassFailure();
        continue;
      }
      if (failed(tileForCache(rewriter, op, sizes)))
        return signalPassFailure();
    }
    if (failed(simplifyTiles()))
      return signalPassFailure();

    // A partial tile along M (fewer rows than the tile: small groups of a
    // grouped matmul, decode-sized batches) is tiled again by one row, so
    // that its rows are vectorized too instead of becoming scalar loops.
    // This happens outside the reduction loop, so that each row's
    // accumulator stays in registers for the whole reduction.
    SmallVector<linalg::LinalgOp> partialRows;
    for (linalg::LinalgOp op : collectTargets())
      if (op->getParentOfType<scf::ForOp>() && op.hasDynamicShape() &&
          isa<linalg::MatmulOp>(op) &&
          llvm::count_if(op.getStaticLoopRanges(), ShapedType::isDynamic) ==
              1 &&
          ShapedType::isDynamic(op.getStaticLoopRanges()[0]))
        partialRows.push_back(op);
    for (linalg::LinalgOp op : partialRows) {
      rewriter.setInsertionPoint(op);
      scf::SCFTilingOptions byRow;
      byRow.setTileSizes(getAsIndexOpFoldResult(ctx, {1, 0, 0}));
      FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
          rewriter, cast<TilingInterface>(op.getOperation()), byRow);
      if (succeeded(tiled))
        rewriter.replaceOp(op, tiled->replacements);
    }
    if (!partialRows.empty() && failed(simplifyTiles()))
      return signalPassFailure();

    // The reduction loop of every register tile (not yet tiled: the
    // transposed ones and the K steps of the few-rows schedule are).
    for (linalg::LinalgOp op : collectTargets()) {
      SmallVector<int64_t> sizes = tileSizesFor(op);
      int64_t k = op.getStaticLoopRanges().back();
      int64_t done =
          std::max(sizes.back(), tileSizesFor(op, /*fewRows=*/true).back());
      if (!op->getParentOfType<scf::ForOp>() ||
          (!ShapedType::isDynamic(k) && k <= done))
        continue;
      SmallVector<int64_t> reduction(sizes.size(), 0);
      reduction.back() = sizes.back();
      if (failed(tileAndPeel(rewriter, op, reduction, /*columnsFirst=*/false)))
        return signalPassFailure();
    }
    if (failed(simplifyTiles()))
      return signalPassFailure();

    SmallVector<linalg::LinalgOp> tiles;
    for (linalg::LinalgOp op : collectTargets())
      if (op->getParentOfType<scf::ForOp>() && !op.hasDynamicShape())
        tiles.push_back(op);
    moe::WeightPrefetcher prefetcher(kDefaultReductionBlock);
    for (linalg::LinalgOp tile : tiles) {
      if (prefetchWeights && isFullPlainRhsTile(tile))
        prefetcher.prefetchNextBlock(
            rewriter, cast<linalg::MatmulOp>(tile.getOperation()));
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

  /// Whether `tile` is a register tile of a blocked plain [K, N] right-hand
  /// side with all the rows of the many-rows tile (not a partial row tile,
  /// nor the one-row tiles of the few-rows schedule).
  bool isFullPlainRhsTile(linalg::LinalgOp tile) const {
    if (!isa<linalg::MatmulOp>(tile) || readsRhsTransposed(tile))
      return false;
    int64_t rowTile = tileSizes.empty() ? kPlainRhsTile[0] : tileSizes[0];
    return tile.getStaticLoopRanges()[0] == rowTile;
  }

  /// The row count below which `op` takes the few-rows schedule: the
  /// few-rows tile's, except for a plain weight that widens (N > K, a gate
  /// or up projection not in panels), whose blocks are 64-column slices of
  /// long rows: read row by row it was faster up to 32 rows (16 rows per
  /// group at 1024 -> 2816: 87 GFLOP/s against 58 for the blocked
  /// schedule; 32 rows: 106 against 99; 64 rows: 111 against 123).
  int64_t fewRowsThreshold(linalg::LinalgOp op, int64_t fewTileRows) const {
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (!tileSizes.empty() || ShapedType::isDynamic(ranges[1]) ||
        ShapedType::isDynamic(ranges[2]) || ranges[1] <= ranges[2])
      return fewTileRows;
    return std::max(fewTileRows, kWideFewRows);
  }

  /// Replaces `op` by `scf.if (rows < rowTile) {op} else {op}` and returns
  /// the two copies (then, else).
  std::pair<linalg::LinalgOp, linalg::LinalgOp>
  splitOnRowCount(IRRewriter &rewriter, linalg::LinalgOp op, int64_t rowTile) {
    Location loc = op.getLoc();
    rewriter.setInsertionPoint(op);
    Value rows = linalg::createOrFoldDimOp(rewriter, loc,
                                           op.getDpsInputOperand(0)->get(), 0);
    Value few = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::ult, rows,
        arith::ConstantIndexOp::create(rewriter, loc, rowTile));
    linalg::LinalgOp copies[2];
    auto clone = [&](int i) {
      return [&, i](OpBuilder &builder, Location loc) {
        copies[i] = cast<linalg::LinalgOp>(builder.clone(*op.getOperation()));
        scf::YieldOp::create(builder, loc, copies[i]->getResults());
      };
    };
    auto ifOp = scf::IfOp::create(rewriter, loc, few, clone(0), clone(1));
    rewriter.replaceOp(op, ifOp.getResults());
    return {copies[0], copies[1]};
  }

  /// Plain [K, N] right-hand sides are tiled in three steps, from the outside
  /// in: reduction blocks (cache), then row x column register tiles with the
  /// column loop outside (one column slice of the right-hand side serves
  /// every row tile while it is in cache), then (later) the reduction loop of
  /// each register tile. Transposed ones are tiled M, N, K at once.
  LogicalResult tileForCache(IRRewriter &rewriter, linalg::LinalgOp op,
                             ArrayRef<int64_t> sizes) {
    if (readsRhsTransposed(op))
      return tileAndPeel(rewriter, op, sizes, /*columnsFirst=*/false);
    int64_t numLoops = sizes.size();
    int64_t k = op.getStaticLoopRanges().back();
    SmallVector<linalg::LinalgOp> blocks = {op};
    if (!ShapedType::isDynamic(k) && k > kDefaultReductionBlock) {
      SmallVector<int64_t> block(numLoops, 0);
      block.back() = kDefaultReductionBlock;
      FailureOr<SmallVector<linalg::LinalgOp>> tiled =
          tileAndPeel(rewriter, op, block, /*columnsFirst=*/false);
      if (failed(tiled))
        return failure();
      blocks = *tiled;
    }
    SmallVector<int64_t> registerTile(sizes);
    registerTile.back() = 0;
    for (linalg::LinalgOp block : blocks)
      if (failed(tileAndPeel(rewriter, block, registerTile,
                             /*columnsFirst=*/true)))
        return failure();
    return success();
  }

  /// Fewer rows than a register tile: every element of the right-hand side
  /// is used by a few rows only, so the schedule is about reading it well.
  /// A plain [K, N] one is read as it is stored: the reduction loop is
  /// outermost, then columns, then rows, each step a 1 x N x K register tile
  /// (an accumulator row of C, in L1, is read and written per step). The
  /// K-blocked schedule reads it in 128-byte pieces a whole row apart (11
  /// KiB at N = 2816): 1.1-1.9x slower for 1 to 7 rows at H = 1024,
  /// I = 2816, and T = 16 layers went from 1.13x to 1.72x of onnxruntime's.
  LogicalResult tileFewRows(IRRewriter &rewriter, linalg::LinalgOp op,
                            ArrayRef<int64_t> sizes) {
    SmallVector<int64_t> reduction(sizes.size(), 0);
    reduction.back() = sizes.back();
    FailureOr<SmallVector<linalg::LinalgOp>> steps =
        tileAndPeel(rewriter, op, reduction, /*columnsFirst=*/false);
    if (failed(steps))
      return failure();
    SmallVector<int64_t> rowTile(sizes);
    rowTile[0] = 1;
    rowTile.back() = 0;
    for (linalg::LinalgOp step : *steps)
      if (failed(tileAndPeel(rewriter, step, rowTile, /*columnsFirst=*/true)))
        return failure();
    return success();
  }

  /// The batch dimension of a batch_matmul is tiled by one; a loop that is
  /// statically shorter than its tile (N = 16 with a tile of 32) is tiled at
  /// its own size. Explicit `tile-sizes` serve every schedule; by default a
  /// plain [K, N] right-hand side gets kPlainRhsTile unless `fewRows` asks
  /// for the tile whose row count splits off (and schedules) small groups.
  SmallVector<int64_t> tileSizesFor(linalg::LinalgOp op,
                                    bool fewRows = false) const {
    SmallVector<int64_t> sizes(tileSizes.begin(), tileSizes.end());
    if (sizes.empty() && !fewRows && isa<linalg::MatmulOp>(op) &&
        !readsRhsTransposed(op))
      sizes.assign(std::begin(kPlainRhsTile), std::end(kPlainRhsTile));
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

  /// Tiles `op` by `sizes` (0: not tiled) and peels every loop whose trip
  /// count does not divide by its tile, so that the main loop runs full
  /// tiles only. With `columnsFirst`, the N loop is outside the M loop.
  /// Returns the tiled ops: the main one and those of the peeled loops.
  FailureOr<SmallVector<linalg::LinalgOp>> tileAndPeel(IRRewriter &rewriter,
                                                       linalg::LinalgOp op,
                                                       ArrayRef<int64_t> sizes,
                                                       bool columnsFirst) {
    rewriter.setInsertionPoint(op);
    scf::SCFTilingOptions tiling;
    tiling.setTileSizes(getAsIndexOpFoldResult(&getContext(), sizes));
    int64_t m = sizes.size() - 3;
    if (columnsFirst && sizes[m] && sizes[m + 1]) {
      SmallVector<int64_t> order(sizes.size());
      std::iota(order.begin(), order.end(), 0);
      std::swap(order[m], order[m + 1]);
      tiling.setInterchange(order);
    }
    FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
        rewriter, cast<TilingInterface>(op.getOperation()), tiling);
    if (failed(tiled))
      return op.emitError("moe-tile-and-vectorize: tiling failed");
    rewriter.replaceOp(op, tiled->replacements);

    // Peeling fails harmlessly when there is no partial tile.
    SmallVector<scf::ForOp> loops;
    for (LoopLikeOpInterface loop : tiled->loops)
      if (auto forOp = dyn_cast<scf::ForOp>(loop.getOperation()))
        loops.push_back(forOp);
    for (scf::ForOp forOp : loops) {
      scf::ForOp partial;
      rewriter.setInsertionPoint(forOp);
      (void)scf::peelForLoopAndSimplifyBounds(rewriter, forOp, partial);
    }
    SmallVector<linalg::LinalgOp> result;
    if (loops.empty()) {
      for (Operation *tiledOp : tiled->tiledOps)
        if (auto linalgOp = dyn_cast<linalg::LinalgOp>(tiledOp))
          result.push_back(linalgOp);
      return result;
    }
    // The outermost loop and the partial loops peeling put after it.
    for (Operation *at = loops.front(); isa_and_nonnull<scf::ForOp>(at);
         at = at->getNextNode())
      at->walk([&](linalg::LinalgOp inner) {
        if (isTarget(inner))
          result.push_back(inner);
      });
    return result;
  }
};

} // namespace
