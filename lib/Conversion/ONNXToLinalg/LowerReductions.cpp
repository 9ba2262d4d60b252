//===- LowerReductions.cpp - Reduce*, ArgMax, Softmax, TopK ---------------===//
//
// Reductions compute into a tensor without the reduced dims and reshape to
// the keepdims type afterwards, so every generic has projected-permutation
// maps. TopK ranks each element against its row (O(n^2) per row, fine for
// router widths) and scatters the first K ranks to their slots: ties go to
// the lower index and the output is sorted, as onnxruntime does.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace moe;
using namespace moe::onnx_to_linalg;

static void yieldValue(OpBuilder &b, Location loc, Value v) {
  linalg::YieldOp::create(b, loc, v);
}

namespace {
/// A reduction over `reduced` dims of `input`: the type without them, the
/// map that drops them, and their dynamic sizes.
struct Reduction {
  RankedTensorType type;
  AffineMap map;
  SmallVector<Value> dynamicSizes;
  /// Sizes of all kept dims (for reshaping to keepdims).
  SmallVector<Value> keptSizes;
};
} // namespace

static Reduction planReduction(OpBuilder &b, Location loc, Value input,
                               ArrayRef<int64_t> reduced, Type element) {
  auto type = cast<RankedTensorType>(input.getType());
  Reduction r;
  SmallVector<int64_t> shape;
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (llvm::is_contained(reduced, d))
      continue;
    shape.push_back(type.getDimSize(d));
    exprs.push_back(b.getAffineDimExpr(d));
    Value size = getDimValue(b, loc, input, d);
    r.keptSizes.push_back(size);
    if (type.isDynamicDim(d))
      r.dynamicSizes.push_back(size);
  }
  r.type = RankedTensorType::get(shape, element);
  r.map = AffineMap::get(type.getRank(), 0, exprs, b.getContext());
  return r;
}

static SmallVector<utils::IteratorType>
iteratorsFor(int64_t rank, ArrayRef<int64_t> reduced) {
  SmallVector<utils::IteratorType> its(rank, utils::IteratorType::parallel);
  for (int64_t d : reduced)
    its[d] = utils::IteratorType::reduction;
  return its;
}

/// `reduced` (no reduced dims) reshaped to the node's keepdims result.
static Value toResult(OpBuilder &b, Location loc, Value reduced,
                      RankedTensorType resultType, const Reduction &r,
                      ArrayRef<int64_t> axes, int64_t inRank) {
  if (reduced.getType() == resultType)
    return reduced;
  SmallVector<Value> sizes;
  for (int64_t d = 0, j = 0; d < inRank; ++d)
    sizes.push_back(llvm::is_contained(axes, d)
                        ? arith::ConstantIndexOp::create(b, loc, 1)
                        : r.keptSizes[j++]);
  return reshapeTo(b, loc, reduced, resultType, sizes);
}

static TypedAttr lowest(OpBuilder &b, Type t, bool largest = true) {
  if (auto f = dyn_cast<FloatType>(t))
    return b.getFloatAttr(
        t, APFloat::getInf(f.getFloatSemantics(), /*Negative=*/largest));
  unsigned w = t.getIntOrFloatBitWidth();
  return b.getIntegerAttr(t, largest ? APInt::getSignedMinValue(w)
                                     : APInt::getSignedMaxValue(w));
}

/// Reduce{Sum,Mean,Max,Min,Prod}.
static LogicalResult lowerReduce(onnx::NodeOp node, ValueRange operands,
                                 ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  auto dataType = cast<RankedTensorType>(data.getType());
  Type element = type.getElementType();
  int64_t rank = dataType.getRank();
  StringRef op = node.getOpType();
  SmallVector<int64_t> axes;
  if (auto attr =
          dyn_cast_or_null<DenseI64ArrayAttr>(node.getONNXAttr("axes"))) {
    axes = SmallVector<int64_t>(attr.asArrayRef());
  } else if (node.getInputs().size() > 1 &&
             !isa<NoneType>(node.getInputs()[1].getType())) {
    auto values = onnx::getConstantInts(node.getInputs()[1]);
    if (!values)
      return emitNodeError(node) << "axes must be constant";
    axes = *values;
  }
  if (axes.empty() && !getIntAttr(node, "noop_with_empty_axes", 0))
    axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  for (int64_t &a : axes)
    a = normalizeAxis(a, rank);
  bool isFloat = isa<FloatType>(element);
  if (!isFloat && op == "ReduceMean")
    return emitNodeError(node) << "ReduceMean on integers has no CPU lowering";
  Reduction r = planReduction(rewriter, loc, data, axes, element);
  TypedAttr initValue = op == "ReduceMax"   ? lowest(rewriter, element, true)
                        : op == "ReduceMin" ? lowest(rewriter, element, false)
                        : op == "ReduceProd"
                            ? TypedAttr(rewriter.getOneAttr(element))
                            : TypedAttr(rewriter.getZeroAttr(element));
  Value init = createFilled(rewriter, loc, r.type, r.dynamicSizes, initValue);
  SmallVector<AffineMap> maps = {rewriter.getMultiDimIdentityMap(rank), r.map};
  Value reduced =
      linalg::GenericOp::create(
          rewriter, loc, r.type, data, init, maps, iteratorsFor(rank, axes),
          [&](OpBuilder &b, Location loc, ValueRange args) {
            Value x = args[0], acc = args[1], v;
            if (op == "ReduceMax")
              v = isFloat ? Value(arith::MaximumFOp::create(b, loc, acc, x))
                          : Value(arith::MaxSIOp::create(b, loc, acc, x));
            else if (op == "ReduceMin")
              v = isFloat ? Value(arith::MinimumFOp::create(b, loc, acc, x))
                          : Value(arith::MinSIOp::create(b, loc, acc, x));
            else if (op == "ReduceProd")
              v = isFloat ? Value(arith::MulFOp::create(b, loc, acc, x))
                          : Value(arith::MulIOp::create(b, loc, acc, x));
            else
              v = isFloat ? Value(arith::AddFOp::create(b, loc, acc, x))
                          : Value(arith::AddIOp::create(b, loc, acc, x));
            linalg::YieldOp::create(b, loc, v);
          })
          .getResult(0);
  if (op == "ReduceMean") {
    Value count = arith::ConstantIndexOp::create(rewriter, loc, 1);
    for (int64_t a : axes)
      count = arith::MulIOp::create(rewriter, loc, count,
                                    getDimValue(rewriter, loc, data, a));
    Value countF = arith::UIToFPOp::create(
        rewriter, loc, element,
        arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(),
                                   count));
    int64_t rr = r.type.getRank();
    reduced =
        linalg::GenericOp::create(
            rewriter, loc, r.type, ValueRange{}, reduced,
            {rewriter.getMultiDimIdentityMap(rr)},
            SmallVector<utils::IteratorType>(rr, utils::IteratorType::parallel),
            [&](OpBuilder &b, Location loc, ValueRange args) {
              yieldValue(b, loc,
                         arith::DivFOp::create(b, loc, args[0], countF));
            })
            .getResult(0);
  }
  rewriter.replaceOp(node,
                     toResult(rewriter, loc, reduced, type, r, axes, rank));
  return success();
}

/// ArgMax/ArgMin: the first index of the extreme value (or the last one
/// with select_last_index).
static LogicalResult lowerArgReduce(onnx::NodeOp node, ValueRange operands,
                                    ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  auto dataType = cast<RankedTensorType>(data.getType());
  Type element = dataType.getElementType();
  int64_t rank = dataType.getRank();
  int64_t axis = normalizeAxis(getIntAttr(node, "axis", 0), rank);
  bool isMax = node.getOpType() == "ArgMax";
  bool last = getIntAttr(node, "select_last_index", 0);
  bool isFloat = isa<FloatType>(element);
  Reduction rv = planReduction(rewriter, loc, data, {axis}, element);
  Reduction ri =
      planReduction(rewriter, loc, data, {axis}, rewriter.getI64Type());
  Value initV = createFilled(rewriter, loc, rv.type, rv.dynamicSizes,
                             lowest(rewriter, element, isMax));
  Value initI = createFilled(rewriter, loc, ri.type, ri.dynamicSizes,
                             rewriter.getI64IntegerAttr(0));
  SmallVector<AffineMap> maps = {rewriter.getMultiDimIdentityMap(rank), rv.map,
                                 rv.map};
  auto generic = linalg::GenericOp::create(
      rewriter, loc, TypeRange{rv.type, ri.type}, data,
      ValueRange{initV, initI}, maps, iteratorsFor(rank, {axis}),
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value x = args[0], best = args[1], bestI = args[2];
        Value i = arith::IndexCastOp::create(
            b, loc, b.getI64Type(), linalg::IndexOp::create(b, loc, axis));
        Value better;
        if (isFloat)
          better =
              arith::CmpFOp::create(b, loc,
                                    isMax ? (last ? arith::CmpFPredicate::OGE
                                                  : arith::CmpFPredicate::OGT)
                                          : (last ? arith::CmpFPredicate::OLE
                                                  : arith::CmpFPredicate::OLT),
                                    x, best);
        else
          better =
              arith::CmpIOp::create(b, loc,
                                    isMax ? (last ? arith::CmpIPredicate::sge
                                                  : arith::CmpIPredicate::sgt)
                                          : (last ? arith::CmpIPredicate::sle
                                                  : arith::CmpIPredicate::slt),
                                    x, best);
        // The first element always wins, whatever the initial value.
        Value zero = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 0);
        Value first =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, i, zero);
        better = arith::OrIOp::create(b, loc, better, first);
        linalg::YieldOp::create(
            b, loc,
            ValueRange{arith::SelectOp::create(b, loc, better, x, best),
                       arith::SelectOp::create(b, loc, better, i, bestI)});
      });
  rewriter.replaceOp(node, toResult(rewriter, loc, generic.getResult(1), type,
                                    ri, {axis}, rank));
  return success();
}

/// Softmax over one axis (opset >= 13) or, before, over the flattened dims
/// from `axis` on: exp(x - max) / sum(exp(x - max)).
static LogicalResult lowerSoftmax(onnx::NodeOp node, ValueRange operands,
                                  ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  Type element = type.getElementType();
  int64_t rank = type.getRank();
  int64_t opset = onnx::getOpsetVersion(node).value_or(onnx::kLatestOpset);
  int64_t axis =
      normalizeAxis(getIntAttr(node, "axis", opset < 13 ? 1 : -1), rank);
  SmallVector<int64_t> axes = {axis};
  if (opset < 13)
    axes = llvm::to_vector(llvm::seq<int64_t>(axis, rank));
  bool logSoftmax = node.getOpType() == "LogSoftmax";
  Reduction r = planReduction(rewriter, loc, data, axes, element);
  auto its = iteratorsFor(rank, axes);
  AffineMap id = rewriter.getMultiDimIdentityMap(rank);
  Value maxInit = createFilled(rewriter, loc, r.type, r.dynamicSizes,
                               lowest(rewriter, element));
  Value max =
      linalg::GenericOp::create(
          rewriter, loc, r.type, data, maxInit, {id, r.map}, its,
          [](OpBuilder &b, Location loc, ValueRange args) {
            yieldValue(b, loc,
                       arith::MaximumFOp::create(b, loc, args[0], args[1]));
          })
          .getResult(0);
  Value sumInit = createFilled(rewriter, loc, r.type, r.dynamicSizes,
                               rewriter.getZeroAttr(element));
  Value sum =
      linalg::GenericOp::create(
          rewriter, loc, r.type, ValueRange{data, max}, sumInit,
          {id, r.map, r.map}, its,
          [](OpBuilder &b, Location loc, ValueRange args) {
            Value e = math::ExpOp::create(
                b, loc, arith::SubFOp::create(b, loc, args[0], args[1]));
            yieldValue(b, loc, arith::AddFOp::create(b, loc, args[2], e));
          })
          .getResult(0);
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < rank; ++d)
    if (type.isDynamicDim(d))
      sizes.push_back(getDimValue(rewriter, loc, data, d));
  Value init = createEmpty(rewriter, loc, type, sizes);
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, ValueRange{data, max, sum}, init,
      {id, r.map, r.map, id},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value shifted = arith::SubFOp::create(b, loc, args[0], args[1]);
        Value v =
            logSoftmax
                ? Value(arith::SubFOp::create(
                      b, loc, shifted, math::LogOp::create(b, loc, args[2])))
                : Value(arith::DivFOp::create(
                      b, loc, math::ExpOp::create(b, loc, shifted), args[2]));
        linalg::YieldOp::create(b, loc, v);
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

/// K (a one-element i64 tensor) as an index.
static Value extractK(OpBuilder &b, Location loc, Value k) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  auto kType = cast<RankedTensorType>(k.getType());
  SmallVector<Value> pos(kType.getRank(), zero);
  Value v = tensor::ExtractOp::create(b, loc, k, pos);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

/// TopK (largest or smallest, always sorted, ties to the lower index).
static LogicalResult lowerTopK(onnx::NodeOp node, ValueRange operands,
                               ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType valuesType = getResultType(node, 0);
  Value data = operands[0];
  auto dataType = cast<RankedTensorType>(data.getType());
  Type element = dataType.getElementType();
  int64_t rank = dataType.getRank();
  int64_t axis = normalizeAxis(getIntAttr(node, "axis", -1), rank);
  bool largest = getIntAttr(node, "largest", 1);
  bool isFloat = isa<FloatType>(element);
  MLIRContext *ctx = rewriter.getContext();
  Type i64 = rewriter.getI64Type();

  // rank[.., i, ..] = #{ j : x_j beats x_i, or ties with j < i }.
  SmallVector<AffineExpr> iExprs, jExprs;
  for (int64_t d = 0; d < rank; ++d) {
    iExprs.push_back(getAffineDimExpr(d, ctx));
    jExprs.push_back(getAffineDimExpr(d == axis ? rank : d, ctx));
  }
  AffineMap iMap = AffineMap::get(rank + 1, 0, iExprs, ctx);
  AffineMap jMap = AffineMap::get(rank + 1, 0, jExprs, ctx);
  SmallVector<Value> dataSizes;
  for (int64_t d = 0; d < rank; ++d)
    if (dataType.isDynamicDim(d))
      dataSizes.push_back(getDimValue(rewriter, loc, data, d));
  auto ranksType = RankedTensorType::get(dataType.getShape(), i64);
  Value ranksInit = createFilled(rewriter, loc, ranksType, dataSizes,
                                 rewriter.getI64IntegerAttr(0));
  SmallVector<utils::IteratorType> its(rank, utils::IteratorType::parallel);
  its.push_back(utils::IteratorType::reduction);
  Value ranks =
      linalg::GenericOp::create(
          rewriter, loc, ranksType, ValueRange{data, data}, ranksInit,
          {iMap, jMap, iMap}, its,
          [&](OpBuilder &b, Location loc, ValueRange args) {
            Value xi = args[0], xj = args[1];
            Value beats, ties;
            if (isFloat) {
              beats = arith::CmpFOp::create(b, loc,
                                            largest ? arith::CmpFPredicate::OGT
                                                    : arith::CmpFPredicate::OLT,
                                            xj, xi);
              ties = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                           xj, xi);
            } else {
              beats = arith::CmpIOp::create(b, loc,
                                            largest ? arith::CmpIPredicate::sgt
                                                    : arith::CmpIPredicate::slt,
                                            xj, xi);
              ties = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, xj,
                                           xi);
            }
            Value i = linalg::IndexOp::create(b, loc, axis);
            Value j = linalg::IndexOp::create(b, loc, rank);
            Value before =
                arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, j, i);
            Value counts = arith::OrIOp::create(
                b, loc, beats, arith::AndIOp::create(b, loc, ties, before));
            Value inc = arith::ExtUIOp::create(b, loc, i64, counts);
            yieldValue(b, loc, arith::AddIOp::create(b, loc, args[2], inc));
          })
          .getResult(0);

  // k is data: more than the axis holds would leave zeros where onnxruntime
  // reports an error.
  Value k = extractK(rewriter, loc, operands[1]);
  Value zero = cIndex(rewriter, loc, 0);
  checkAtRunTime(
      rewriter, loc, node,
      {compareIndex(rewriter, loc, arith::CmpIPredicate::sge, k, zero),
       compareIndex(rewriter, loc, arith::CmpIPredicate::sle, k,
                    getDimValue(rewriter, loc, data, axis))},
      "k must be in [0, n] for the n entries along axis " + Twine(axis));

  // out[.., r, ..] = the x_i whose rank is r.
  SmallVector<Value> outSizes;
  for (int64_t d = 0; d < rank; ++d) {
    if (!valuesType.isDynamicDim(d))
      continue;
    outSizes.push_back(d == axis ? k : getDimValue(rewriter, loc, data, d));
  }
  auto indicesType = RankedTensorType::get(valuesType.getShape(), i64);
  Value valuesInit = createFilled(rewriter, loc, valuesType, outSizes,
                                  rewriter.getZeroAttr(element));
  Value indicesInit = createFilled(rewriter, loc, indicesType, outSizes,
                                   rewriter.getI64IntegerAttr(0));
  SmallVector<AffineExpr> outExprs;
  for (int64_t d = 0; d < rank; ++d)
    outExprs.push_back(getAffineDimExpr(d, ctx));
  AffineMap outMap = AffineMap::get(rank + 1, 0, outExprs, ctx);
  auto select = linalg::GenericOp::create(
      rewriter, loc, TypeRange{valuesType, indicesType},
      ValueRange{data, ranks}, ValueRange{valuesInit, indicesInit},
      {jMap, jMap, outMap, outMap}, its,
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value slot = arith::IndexCastOp::create(
            b, loc, i64, linalg::IndexOp::create(b, loc, axis));
        Value i = arith::IndexCastOp::create(
            b, loc, i64, linalg::IndexOp::create(b, loc, rank));
        Value hit = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                          args[1], slot);
        linalg::YieldOp::create(
            b, loc,
            ValueRange{arith::SelectOp::create(b, loc, hit, args[0], args[2]),
                       arith::SelectOp::create(b, loc, hit, i, args[3])});
      });
  SmallVector<Value> results = {select.getResult(0), select.getResult(1)};
  if (node->getNumResults() > 1 && isa<NoneType>(node->getResult(1).getType()))
    results[1] = Value();
  results.resize(node->getNumResults());
  rewriter.replaceOp(node, results);
  return success();
}

void moe::onnx_to_linalg::registerReductionLowerings(LoweringTable &t) {
  for (StringRef op :
       {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"})
    t[op] = lowerReduce;
  t["ArgMax"] = lowerArgReduce;
  t["ArgMin"] = lowerArgReduce;
  t["Softmax"] = lowerSoftmax;
  t["LogSoftmax"] = lowerSoftmax;
  t["TopK"] = lowerTopK;
}
