//===- WeightPrefetch.cpp - prefetch the next weight block of a tile ------===//
//
// A grouped matmul streams its weights from memory: each expert's [K, N]
// matrix (23 MB at 1024 x 5632) is read once per call, block by block, and
// every block is then used by all the expert's row tiles. The hardware
// prefetchers do not run ahead of that pattern (a reduction block of a
// plain weight is 128 pieces of 256 bytes, each a whole matrix row apart;
// a panel's block is 8 pages), so the first row tiles of every block wait
// for memory. Fetching the next block into L2 while the current one is in
// use took the grouped matmul on panels from 145-148 to 162-168 GFLOP/s at
// E = 8, 128 rows per expert, and from 66-68 to 105-112 at E = 64, 16 rows
// (bench/cpu/results/2026-11-29-prefetch.md). How the fetches are spread
// mattered as much as making them: all of a step's fetches to one 256-byte
// row gave 83-86 at 16 rows; every tile fetching the whole next block, or
// one burst per block, was no faster than no prefetch (in a C model).
//
//===----------------------------------------------------------------------===//

#include "WeightPrefetch.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace {

/// Where a tile of an operand lies in the tensor it was sliced from.
struct Placement {
  /// The first value of the slice chain that is not itself a slice.
  Value root;
  /// The tile's offsets, one per dimension of `root`.
  SmallVector<OpFoldResult> offsets;
  /// The dimension of `root` that each dimension of the tile is.
  SmallVector<int64_t> rootDims;
  /// With `splitFirst`, the offsets of the tile's own slice, one per
  /// dimension of the tile, which `offsets` then leaves out.
  SmallVector<OpFoldResult> inner;
};

} // namespace

/// Follows `tile` (isPlaceable) through tensor.extract_slice ops (rank-reducing
/// ones included) to its root and adds up the offsets there; with
/// `splitFirst`, those of all slices but the tile's own (which must keep the
/// rank), given apart in `inner`.
static Placement place(OpBuilder &b, Location loc, Value tile,
                       bool splitFirst) {
  SmallVector<tensor::ExtractSliceOp> chain;
  Value value = tile;
  while (auto slice = value.getDefiningOp<tensor::ExtractSliceOp>()) {
    chain.push_back(slice);
    value = slice.getSource();
  }
  auto rootType = cast<RankedTensorType>(value.getType());
  SmallVector<OpFoldResult> inner;
  if (splitFirst) {
    inner = chain.front().getMixedOffsets();
    chain.erase(chain.begin());
  }

  Placement placement{
      value, SmallVector<OpFoldResult>(rootType.getRank(), b.getIndexAttr(0)),
      llvm::to_vector(llvm::seq<int64_t>(rootType.getRank())), inner};
  AffineExpr s0, s1;
  bindSymbols(b.getContext(), s0, s1);
  for (tensor::ExtractSliceOp slice : llvm::reverse(chain)) {
    llvm::SmallBitVector dropped = slice.getDroppedDims();
    SmallVector<int64_t> kept;
    for (auto [d, offset] : llvm::enumerate(slice.getMixedOffsets())) {
      int64_t rootDim = placement.rootDims[d];
      OpFoldResult &total = placement.offsets[rootDim];
      total = affine::makeComposedFoldedAffineApply(b, loc, s0 + s1,
                                                    {total, offset});
      if (!dropped.test(d))
        kept.push_back(rootDim);
    }
    placement.rootDims = std::move(kept);
  }
  return placement;
}

/// Whether `tile` is a unit-stride slice (through extract_slice ops) of a
/// ranked tensor (with a static shape if `staticRoot`; through a first slice
/// that keeps the rank if `splitFirst`).
static bool isPlaceable(Value tile, bool staticRoot, bool splitFirst) {
  Value value = tile;
  bool sliced = false;
  while (auto slice = value.getDefiningOp<tensor::ExtractSliceOp>()) {
    if (!slice.hasUnitStride() ||
        (splitFirst && !sliced &&
         slice.getSourceType().getRank() != slice.getType().getRank()))
      return false;
    sliced = true;
    value = slice.getSource();
  }
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return sliced && type && (!staticRoot || type.hasStaticShape());
}

/// The number of row tiles of the matmul that `lhsTile` is a row tile of:
/// the trip count of the loop whose variable is the row offset of a slice
/// on the way to the left-hand side; null if there is none.
static Value rowTileCount(OpBuilder &b, Location loc, Value lhsTile) {
  for (auto slice = lhsTile.getDefiningOp<tensor::ExtractSliceOp>(); slice;
       slice = slice.getSource().getDefiningOp<tensor::ExtractSliceOp>()) {
    auto offset = dyn_cast<Value>(slice.getMixedOffsets()[0]);
    auto iv = dyn_cast_or_null<BlockArgument>(offset);
    auto loop =
        iv ? dyn_cast<scf::ForOp>(iv.getOwner()->getParentOp()) : nullptr;
    if (!loop || loop.getInductionVar() != iv)
      continue;
    Value span = arith::SubIOp::create(b, loc, loop.getUpperBound(),
                                       loop.getLowerBound());
    return arith::CeilDivUIOp::create(b, loc, span, loop.getStep());
  }
  return {};
}

bool moe::WeightPrefetcher::prefetchNextBlock(RewriterBase &rewriter,
                                              linalg::MatmulOp tile) {
  Value lhsTile = tile.getInputs()[0], rhsTile = tile.getInputs()[1];
  auto rhsTileType = cast<RankedTensorType>(rhsTile.getType());
  auto lhsTileType = cast<RankedTensorType>(lhsTile.getType());
  if (!rhsTileType.hasStaticShape() || !lhsTileType.hasStaticShape() ||
      !isPlaceable(lhsTile, /*staticRoot=*/false, /*splitFirst=*/false) ||
      !isPlaceable(rhsTile, /*staticRoot=*/true, /*splitFirst=*/true))
    return false;
  int64_t elementBytes = rhsTileType.getElementTypeBitWidth() / 8;
  if (elementBytes == 0)
    return false;
  int64_t tileRows = lhsTileType.getDimSize(0);
  int64_t tileK = rhsTileType.getDimSize(0), tileN = rhsTileType.getDimSize(1);

  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(tile);
  Location loc = tile.getLoc();
  Placement rhs = place(rewriter, loc, rhsTile, /*splitFirst=*/true);
  Placement lhs = place(rewriter, loc, lhsTile, /*splitFirst=*/false);
  ArrayRef<int64_t> rootShape =
      cast<RankedTensorType>(rhs.root.getType()).getShape();
  int64_t rowDim = rhs.rootDims[0], colDim = rhs.rootDims[1];
  int64_t k = rootShape[rowDim], n = rootShape[colDim];
  int64_t block = std::min(reductionBlock, k);
  if (block % tileK != 0)
    return false;
  int64_t steps = block / tileK;

  // The block's lines (block rows of lineCount lines each) are numbered
  // row-major. Row tile t fetches, at step j with j mod every = 0, the lines
  // q + m * blockLines / perStep for m < perStep, where q = t * steps /
  // every + j / every (mod the block's lines): with every = 1,
  // kTilesPerBlock row tiles fetch the whole block, and a step's perStep
  // fetches go to lines a 1/perStep of the block apart (to one 256-byte row
  // instead, 16 rows per group ran at 83-86 GFLOP/s, not 105-112). `every`
  // (a power of two) grows with the number of row tiles, so that all of
  // them share one block instead of fetching it again and again (each fetch
  // takes a load slot: 32 tiles each fetching a quarter of the block made
  // 128 rows no faster). All but j is the same for every step of a tile and
  // moves out of the reduction loop: the tile's own slice walks the steps of
  // one block (its row offset is the loop's variable).
  auto constant = [&](int64_t v) {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  auto value = [&](OpFoldResult v) {
    return getValueOrCreateConstantIndexOp(rewriter, loc, v);
  };
  constexpr int64_t kLineBytes = 64, kTilesPerBlock = 4;
  int64_t lineElements = std::max<int64_t>(1, kLineBytes / elementBytes);
  int64_t lineCount = llvm::divideCeil(tileN, lineElements);
  int64_t blockLines = block * lineCount;
  int64_t perStep = llvm::divideCeil(blockLines, kTilesPerBlock * steps);
  Value blockOrigin = value(rhs.offsets[rowDim]);
  Value inBlock =
      arith::RemUIOp::create(rewriter, loc, blockOrigin, constant(block));
  Value kb = arith::SubIOp::create(rewriter, loc, blockOrigin, inBlock);
  Value step = arith::DivUIOp::create(
      rewriter, loc,
      arith::AddIOp::create(rewriter, loc, inBlock, value(rhs.inner[0])),
      constant(tileK));
  Value rowTile = arith::DivUIOp::create(
      rewriter, loc, value(lhs.offsets[lhs.rootDims[0]]), constant(tileRows));
  // log2(every): 0 up to 2 * kTilesPerBlock row tiles, then one more for
  // each doubling, up to steps.
  Value tiles = rowTileCount(rewriter, loc, lhsTile);
  Value shift = constant(0);
  if (tiles)
    for (int64_t log = 1; (int64_t(1) << log) <= steps; ++log)
      shift = arith::SelectOp::create(
          rewriter, loc,
          arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::uge, tiles,
                                constant(kTilesPerBlock << log)),
          constant(log), shift);
  Value everyMask = arith::SubIOp::create(
      rewriter, loc, arith::ShLIOp::create(rewriter, loc, constant(1), shift),
      constant(1));
  Value fetches = arith::ShRUIOp::create(rewriter, loc, step, shift);
  Value tileLines = arith::MulIOp::create(
      rewriter, loc, rowTile,
      arith::ShRUIOp::create(rewriter, loc, constant(steps), shift));
  Value firstLine = arith::AddIOp::create(rewriter, loc, tileLines, fetches);
  Value fetchNow = arith::CmpIOp::create(
      rewriter, loc, arith::CmpIPredicate::eq,
      arith::AndIOp::create(rewriter, loc, step, everyMask), constant(0));
  Value col = arith::AddIOp::create(rewriter, loc, value(rhs.offsets[colDim]),
                                    value(rhs.inner[1]));

  // The next block: the next column tile of this reduction block, else the
  // first column tile of the next reduction block, else (the matmul's last
  // block) the first block of the next matrix in the weight, in the order of
  // its other dimensions (the next panel, or the next group's matrix), else
  // (the weight's last block) this one again.
  Value nextCol = arith::AddIOp::create(rewriter, loc, col, constant(tileN));
  Value nextKb = arith::AddIOp::create(rewriter, loc, kb, constant(block));
  Value hasNextCol = arith::CmpIOp::create(
      rewriter, loc, arith::CmpIPredicate::ult, nextCol, constant(n));
  Value hasNextKb = arith::CmpIOp::create(
      rewriter, loc, arith::CmpIPredicate::ult, nextKb, constant(k));
  Value falseValue = arith::ConstantIntOp::create(rewriter, loc, 0, 1);
  Value trueValue = arith::ConstantIntOp::create(rewriter, loc, 1, 1);
  Value carry = arith::SelectOp::create(
      rewriter, loc, hasNextCol, falseValue,
      arith::SelectOp::create(rewriter, loc, hasNextKb, falseValue, trueValue));
  SmallVector<Value> fetchAt(rootShape.size());
  for (int64_t d = rootShape.size() - 1; d >= 0; --d) {
    if (d == rowDim || d == colDim)
      continue;
    Value at = value(rhs.offsets[d]);
    Value plusOne = arith::AddIOp::create(rewriter, loc, at, constant(1));
    Value wraps = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                        plusOne, constant(rootShape[d]));
    fetchAt[d] = arith::SelectOp::create(
        rewriter, loc, carry,
        arith::SelectOp::create(rewriter, loc, wraps, constant(0), plusOne),
        at);
    carry = arith::AndIOp::create(rewriter, loc, carry, wraps);
  }
  // A carry out of the outermost dimension: past the weight's end.
  for (int64_t d = 0, e = rootShape.size(); d < e; ++d)
    if (fetchAt[d])
      fetchAt[d] = arith::SelectOp::create(rewriter, loc, carry,
                                           value(rhs.offsets[d]), fetchAt[d]);
  Value zero = constant(0);
  Value wrappedKb = arith::SelectOp::create(rewriter, loc, carry, kb, zero);
  Value wrappedCol = arith::SelectOp::create(rewriter, loc, carry, col, zero);
  Value fetchKb = arith::SelectOp::create(
      rewriter, loc, hasNextCol, kb,
      arith::SelectOp::create(rewriter, loc, hasNextKb, nextKb, wrappedKb));
  Value fetchCol = arith::SelectOp::create(
      rewriter, loc, hasNextCol, nextCol,
      arith::SelectOp::create(rewriter, loc, hasNextKb, zero, wrappedCol));
  Value &buffer = buffers[rhs.root];
  if (!buffer) {
    OpBuilder::InsertionGuard atRoot(rewriter);
    rewriter.setInsertionPointAfterValue(rhs.root);
    auto type = bufferization::getMemRefTypeWithFullyDynamicLayout(
        cast<TensorType>(rhs.root.getType()));
    buffer = bufferization::ToBufferOp::create(
        rewriter, rhs.root.getLoc(), type, rhs.root, rewriter.getUnitAttr());
  }

  // prefetcht1 on x86: into L2, where the next block waits for its turn.
  auto fetch = scf::IfOp::create(rewriter, loc, fetchNow);
  rewriter.setInsertionPointToStart(fetch.thenBlock());
  for (int64_t m = 0; m < perStep; ++m) {
    Value line = arith::RemUIOp::create(
        rewriter, loc,
        arith::AddIOp::create(rewriter, loc, firstLine,
                              constant(m * (blockLines / perStep))),
        constant(blockLines));
    Value row = arith::MinUIOp::create(
        rewriter, loc,
        arith::AddIOp::create(
            rewriter, loc, fetchKb,
            arith::DivUIOp::create(rewriter, loc, line, constant(lineCount))),
        constant(k - 1));
    Value column = arith::MinUIOp::create(
        rewriter, loc,
        arith::AddIOp::create(
            rewriter, loc, fetchCol,
            arith::MulIOp::create(rewriter, loc,
                                  arith::RemUIOp::create(rewriter, loc, line,
                                                         constant(lineCount)),
                                  constant(lineElements))),
        constant(n - 1));
    SmallVector<Value> indices;
    for (int64_t d = 0, e = rootShape.size(); d < e; ++d)
      indices.push_back(d == rowDim ? row : d == colDim ? column : fetchAt[d]);
    memref::PrefetchOp::create(rewriter, loc, buffer, indices,
                               /*isWrite=*/false, /*localityHint=*/2,
                               /*isDataCache=*/true);
  }
  return true;
}
