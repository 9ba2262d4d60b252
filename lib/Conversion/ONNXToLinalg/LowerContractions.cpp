//===- LowerContractions.cpp - MatMul and Gemm ----------------------------===//
//
// Both become one linalg.generic contraction: loops over the result dims
// plus K, operands read through maps that also express numpy batch
// broadcasting (MatMul) or transposition (Gemm), so no operand is copied
// into another layout first.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace moe;
using namespace moe::onnx_to_linalg;

/// acc + a * b in the element type.
static Value multiplyAdd(OpBuilder &b, Location loc, Value x, Value y,
                         Value acc) {
  if (isa<FloatType>(acc.getType()))
    return arith::AddFOp::create(b, loc, acc,
                                 arith::MulFOp::create(b, loc, x, y));
  return arith::AddIOp::create(b, loc, acc,
                               arith::MulIOp::create(b, loc, x, y));
}

/// numpy matmul over ranks >= 1.
static LogicalResult lowerMatMul(onnx::NodeOp node, ValueRange operands,
                                 ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  MLIRContext *ctx = rewriter.getContext();
  Value a = operands[0], b = operands[1];
  auto aType = cast<RankedTensorType>(a.getType());
  auto bType = cast<RankedTensorType>(b.getType());
  RankedTensorType type = getResultType(node);
  bool vecA = aType.getRank() == 1, vecB = bType.getRank() == 1;
  int64_t outRank = type.getRank();
  int64_t batch = outRank - (vecA ? 0 : 1) - (vecB ? 0 : 1);
  // Loops: batch..., [m], [n], k.
  int64_t numLoops = outRank + 1;
  AffineExpr k = getAffineDimExpr(outRank, ctx);
  AffineExpr m = getAffineDimExpr(batch, ctx);
  AffineExpr n = getAffineDimExpr(vecA ? batch : batch + 1, ctx);
  auto batchExprs = [&](RankedTensorType t, int64_t matrixDims) {
    SmallVector<AffineExpr> exprs;
    int64_t tBatch = t.getRank() - matrixDims;
    for (int64_t d = 0; d < tBatch; ++d) {
      int64_t od = batch - tBatch + d;
      bool broadcast = t.getDimSize(d) == 1 && type.getDimSize(od) != 1;
      exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                : getAffineDimExpr(od, ctx));
    }
    return exprs;
  };
  SmallVector<AffineExpr> aExprs = batchExprs(aType, vecA ? 1 : 2);
  if (!vecA)
    aExprs.push_back(m);
  aExprs.push_back(k);
  SmallVector<AffineExpr> bExprs = batchExprs(bType, vecB ? 1 : 2);
  bExprs.push_back(k);
  if (!vecB)
    bExprs.push_back(n);
  SmallVector<AffineExpr> outExprs;
  for (int64_t d = 0; d < outRank; ++d)
    outExprs.push_back(getAffineDimExpr(d, ctx));
  SmallVector<AffineMap> maps = {AffineMap::get(numLoops, 0, aExprs, ctx),
                                 AffineMap::get(numLoops, 0, bExprs, ctx),
                                 AffineMap::get(numLoops, 0, outExprs, ctx)};

  // Dynamic result sizes: batch dims from a broadcast-aware operand, M from
  // A, N from B.
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < outRank; ++d) {
    if (!type.isDynamicDim(d))
      continue;
    if (d < batch) {
      Value size;
      for (auto [v, t, md] : {std::tuple(a, aType, vecA ? 1 : 2),
                              std::tuple(b, bType, vecB ? 1 : 2)}) {
        int64_t id = d - (batch - (t.getRank() - md));
        if (!size && id >= 0 && t.getDimSize(id) != 1)
          size = getDimValue(rewriter, loc, v, id);
      }
      sizes.push_back(size ? size
                           : arith::ConstantIndexOp::create(rewriter, loc, 1));
    } else if (d == batch && !vecA) {
      sizes.push_back(getDimValue(rewriter, loc, a, aType.getRank() - 2));
    } else {
      sizes.push_back(getDimValue(rewriter, loc, b, bType.getRank() - 1));
    }
  }
  // The contracted dims must agree, and the batch dims read without
  // broadcasting must be the result's.
  SmallVector<Value> dims = resultDims(rewriter, loc, type, sizes);
  Value kA = getDimValue(rewriter, loc, a, aType.getRank() - 1);
  Value kB = getDimValue(rewriter, loc, b, bType.getRank() - (vecB ? 1 : 2));
  SmallVector<Value> fits = {
      compareIndex(rewriter, loc, arith::CmpIPredicate::eq, kA, kB)};
  for (auto [v, t, md] : {std::tuple(a, aType, vecA ? 1 : 2),
                          std::tuple(b, bType, vecB ? 1 : 2)}) {
    int64_t tBatch = t.getRank() - md;
    for (int64_t id = 0; id < tBatch; ++id)
      if (t.getDimSize(id) != 1)
        fits.push_back(compareIndex(rewriter, loc, arith::CmpIPredicate::eq,
                                    getDimValue(rewriter, loc, v, id),
                                    dims[batch - tBatch + id]));
  }
  checkAtRunTime(rewriter, loc, node, fits,
                 "the operands' shapes do not agree: A's columns must equal "
                 "B's rows, and batch dimensions known only at run time must "
                 "equal the result's (only dimensions that are 1 in the model "
                 "broadcast)");
  Value init = createFilled(rewriter, loc, type, sizes,
                            rewriter.getZeroAttr(type.getElementType()));
  SmallVector<utils::IteratorType> iterators(outRank,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, ValueRange{a, b}, init, maps, iterators,
      [](OpBuilder &b, Location loc, ValueRange args) {
        linalg::YieldOp::create(b, loc,
                                multiplyAdd(b, loc, args[0], args[1], args[2]));
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

/// Gemm: Y = alpha * A' B' + beta * C. The accumulator starts as beta * C
/// (broadcast) or zero, and the contraction adds alpha * a * b.
static LogicalResult lowerGemm(onnx::NodeOp node, ValueRange operands,
                               ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  MLIRContext *ctx = rewriter.getContext();
  RankedTensorType type = getResultType(node);
  Type element = type.getElementType();
  if (!isa<FloatType>(element))
    return emitNodeError(node)
           << "Gemm on " << element << " has no CPU lowering";
  Value a = operands[0], b = operands[1];
  bool transA = getIntAttr(node, "transA", 0);
  bool transB = getIntAttr(node, "transB", 0);
  auto floatAttr = [&](StringRef name) {
    if (auto attr = dyn_cast_or_null<FloatAttr>(node.getONNXAttr(name)))
      return attr.getValueAsDouble();
    return 1.0;
  };
  double alpha = floatAttr("alpha"), beta = floatAttr("beta");
  SmallVector<Value> sizes;
  if (type.isDynamicDim(0))
    sizes.push_back(getDimValue(rewriter, loc, a, transA ? 1 : 0));
  if (type.isDynamicDim(1))
    sizes.push_back(getDimValue(rewriter, loc, b, transB ? 0 : 1));

  Value init;
  bool hasC = operands.size() > 2 && !isa<NoneType>(operands[2].getType());
  if (hasC && beta != 0.0) {
    Value c = operands[2];
    auto cType = cast<RankedTensorType>(c.getType());
    checkBroadcastAtRunTime(rewriter, loc, node,
                            resultDims(rewriter, loc, type, sizes), c);
    Value empty = createEmpty(rewriter, loc, type, sizes);
    SmallVector<AffineMap> maps = {broadcastMap(ctx, cType, type),
                                   rewriter.getMultiDimIdentityMap(2)};
    init =
        linalg::GenericOp::create(
            rewriter, loc, type, c, empty, maps,
            SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
            [&](OpBuilder &b, Location loc, ValueRange args) {
              Value scaled = args[0];
              if (beta != 1.0)
                scaled = arith::MulFOp::create(
                    b, loc, scaled,
                    arith::ConstantOp::create(b, loc,
                                              b.getFloatAttr(element, beta)));
              linalg::YieldOp::create(b, loc, scaled);
            })
            .getResult(0);
  } else {
    init =
        createFilled(rewriter, loc, type, sizes, rewriter.getZeroAttr(element));
  }
  AffineExpr m = getAffineDimExpr(0, ctx), n = getAffineDimExpr(1, ctx),
             k = getAffineDimExpr(2, ctx);
  SmallVector<AffineMap> maps = {
      AffineMap::get(3, 0, transA ? ArrayRef{k, m} : ArrayRef{m, k}, ctx),
      AffineMap::get(3, 0, transB ? ArrayRef{n, k} : ArrayRef{k, n}, ctx),
      AffineMap::get(3, 0, {m, n}, ctx)};
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, ValueRange{a, b}, init, maps,
      {utils::IteratorType::parallel, utils::IteratorType::parallel,
       utils::IteratorType::reduction},
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value x = args[0];
        if (alpha != 1.0)
          x = arith::MulFOp::create(
              b, loc, x,
              arith::ConstantOp::create(b, loc,
                                        b.getFloatAttr(element, alpha)));
        linalg::YieldOp::create(b, loc,
                                multiplyAdd(b, loc, x, args[1], args[2]));
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

void moe::onnx_to_linalg::registerContractionLowerings(LoweringTable &t) {
  t["MatMul"] = lowerMatMul;
  t["Gemm"] = lowerGemm;
}
