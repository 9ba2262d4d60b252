//===- LowerIndexing.cpp - gathers, scatters, one-hot, nonzero, scans -----===//
//
// Data-dependent indexing reads positions with tensor.extract: gathers are a
// linalg.generic over the result whose body extracts from the data, scatters
// an scf.for nest over the updates carrying the result tensor through
// tensor.extract/tensor.insert (so duplicate indices accumulate in order, as
// onnxruntime does), and NonZero counts first, then fills a [rank, count]
// tensor. Negative indices count from the end of their dim throughout.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace moe;
using namespace moe::onnx_to_linalg;

/// An integer (or float) index scalar as an index, made non-negative by
/// adding `size` when it is negative.
static Value normalizeIndex(OpBuilder &b, Location loc, Value v, Value size) {
  if (isa<FloatType>(v.getType()))
    v = arith::FPToSIOp::create(b, loc, b.getI64Type(), v);
  Value idx = arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  Value zero = cIndex(b, loc, 0);
  Value isNeg =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, idx, zero);
  return arith::SelectOp::create(b, loc, isNeg,
                                 arith::AddIOp::create(b, loc, idx, size), idx);
}

/// The first element of a scalar or 1-element tensor.
static Value extractFirst(OpBuilder &b, Location loc, Value tensor) {
  int64_t rank = cast<RankedTensorType>(tensor.getType()).getRank();
  SmallVector<Value> pos(rank, cIndex(b, loc, 0));
  return tensor::ExtractOp::create(b, loc, tensor, pos);
}

/// Element `i` of a 1-D tensor (or the scalar of a rank-0 one).
static Value extractAt(OpBuilder &b, Location loc, Value tensor, int64_t i) {
  if (cast<RankedTensorType>(tensor.getType()).getRank() == 0)
    return tensor::ExtractOp::create(b, loc, tensor, ValueRange{});
  return tensor::ExtractOp::create(b, loc, tensor,
                                   ValueRange{cIndex(b, loc, i)});
}

static Value toIndex(OpBuilder &b, Location loc, Value v) {
  if (isa<FloatType>(v.getType()))
    v = arith::FPToSIOp::create(b, loc, b.getI64Type(), v);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

static SmallVector<Value> allDims(OpBuilder &b, Location loc, Value v) {
  SmallVector<Value> dims;
  for (int64_t d = 0, e = cast<RankedTensorType>(v.getType()).getRank(); d < e;
       ++d)
    dims.push_back(getDimValue(b, loc, v, d));
  return dims;
}

/// A tensor.cast to `type` when the types differ.
static Value castTo(OpBuilder &b, Location loc, Value v, Type type) {
  if (v.getType() == type)
    return v;
  return tensor::CastOp::create(b, loc, type, v);
}

//===--- ConstantOfShape, OneHot, NonZero ---------------------------------===//

static LogicalResult lowerConstantOfShape(onnx::NodeOp node,
                                          ValueRange operands,
                                          ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Type element = type.getElementType();
  TypedAttr value = rewriter.getZeroAttr(element);
  if (Attribute attr = node.getONNXAttr("value")) {
    auto dense = dyn_cast<DenseElementsAttr>(attr);
    if (!dense || dense.getNumElements() != 1)
      return emitNodeError(node) << "value must be a dense one-element tensor";
    value = cast<TypedAttr>(*dense.value_begin<Attribute>());
  }
  SmallVector<Value> dims;
  for (int64_t d = 0; d < type.getRank(); ++d)
    dims.push_back(
        toIndex(rewriter, loc, extractAt(rewriter, loc, operands[0], d)));
  checkShapeAtRunTime(rewriter, loc, node, type, dims, "the shape's dims");
  rewriter.replaceOp(
      node, createFilled(rewriter, loc, type, dynamicOf(type, dims), value));
  return success();
}

/// OneHot(indices, depth, values = [off, on]): the depth dim is inserted at
/// `axis`; an index in [-depth, depth) marks one slot, others none.
static LogicalResult lowerOneHot(onnx::NodeOp node, ValueRange operands,
                                 ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  MLIRContext *ctx = rewriter.getContext();
  RankedTensorType type = getResultType(node);
  int64_t rank = type.getRank();
  int64_t axis = normalizeAxis(getIntAttr(node, "axis", -1), rank);
  Value indices = operands[0];
  Value depth =
      toIndex(rewriter, loc, extractFirst(rewriter, loc, operands[1]));
  Value off = extractAt(rewriter, loc, operands[2], 0);
  Value on = extractAt(rewriter, loc, operands[2], 1);
  SmallVector<Value> dims;
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0, j = 0; d < rank; ++d) {
    if (d == axis) {
      dims.push_back(depth);
      continue;
    }
    dims.push_back(getDimValue(rewriter, loc, indices, j++));
    exprs.push_back(getAffineDimExpr(d, ctx));
  }
  checkShapeAtRunTime(rewriter, loc, node, type, dims,
                      "the depth and the indices' dims");
  Value init = createEmpty(rewriter, loc, type, dynamicOf(type, dims));
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, exprs, ctx),
                                 rewriter.getMultiDimIdentityMap(rank)};
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, indices, init, maps,
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value idx = normalizeIndex(b, loc, args[0], depth);
        Value j = linalg::IndexOp::create(b, loc, axis);
        Value hit =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, idx, j);
        linalg::YieldOp::create(
            b, loc, arith::SelectOp::create(b, loc, hit, on, off).getResult());
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

/// NonZero: a reduction counts the non-zeros, then a loop nest in row-major
/// order writes the coordinates of each into column `count so far`.
static LogicalResult lowerNonZero(onnx::NodeOp node, ValueRange operands,
                                  ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  auto dataType = cast<RankedTensorType>(data.getType());
  int64_t rank = dataType.getRank();
  if (rank == 0)
    return emitNodeError(node) << "NonZero of a scalar has no CPU lowering";
  Type i64 = rewriter.getI64Type();

  // Count pass.
  auto countType = RankedTensorType::get({}, i64);
  Value zeroCount =
      createFilled(rewriter, loc, countType, {}, rewriter.getZeroAttr(i64));
  SmallVector<AffineMap> maps = {
      rewriter.getMultiDimIdentityMap(rank),
      AffineMap::get(rank, 0, {}, rewriter.getContext())};
  Value counted =
      linalg::GenericOp::create(
          rewriter, loc, countType, data, zeroCount, maps,
          SmallVector<utils::IteratorType>(rank,
                                           utils::IteratorType::reduction),
          [&](OpBuilder &b, Location loc, ValueRange args) {
            Value nz = castScalar(b, loc, args[0], b.getI1Type());
            Value one = arith::ExtUIOp::create(b, loc, i64, nz);
            linalg::YieldOp::create(
                b, loc,
                arith::AddIOp::create(b, loc, args[1], one).getResult());
          })
          .getResult(0);
  Value count = arith::IndexCastOp::create(
      rewriter, loc, rewriter.getIndexType(),
      tensor::ExtractOp::create(rewriter, loc, counted, ValueRange{}));

  // Fill pass.
  auto fullType = RankedTensorType::get({rank, ShapedType::kDynamic}, i64);
  Value init = createEmpty(rewriter, loc, fullType, count);
  SmallVector<Value> lbs(rank, cIndex(rewriter, loc, 0)),
      steps(rank, cIndex(rewriter, loc, 1));
  SmallVector<Value> ubs = allDims(rewriter, loc, data);
  Value start = cIndex(rewriter, loc, 0);
  scf::LoopNest nest = scf::buildLoopNest(
      rewriter, loc, lbs, ubs, steps, ValueRange{init, start},
      [&](OpBuilder &b, Location loc, ValueRange ivs, ValueRange iter) {
        Value v = tensor::ExtractOp::create(b, loc, data, ivs);
        Value nz = castScalar(b, loc, v, b.getI1Type());
        auto ifOp = scf::IfOp::create(
            b, loc, nz,
            [&](OpBuilder &b, Location loc) {
              Value result = iter[0];
              for (int64_t d = 0; d < rank; ++d) {
                Value coord = arith::IndexCastOp::create(b, loc, i64, ivs[d]);
                result = tensor::InsertOp::create(
                    b, loc, coord, result,
                    ValueRange{cIndex(b, loc, d), iter[1]});
              }
              Value next =
                  arith::AddIOp::create(b, loc, iter[1], cIndex(b, loc, 1));
              scf::YieldOp::create(b, loc, ValueRange{result, next});
            },
            [&](OpBuilder &b, Location loc) {
              scf::YieldOp::create(b, loc, iter);
            });
        return scf::ValueVector(ifOp.getResults().begin(),
                                ifOp.getResults().end());
      });
  rewriter.replaceOp(node, castTo(rewriter, loc, nest.results[0], type));
  return success();
}

//===--- Gathers ----------------------------------------------------------===//

/// GatherElements: out[i] = data[i with i[axis] = indices[i]].
static LogicalResult lowerGatherElements(onnx::NodeOp node, ValueRange operands,
                                         ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0], indices = operands[1];
  int64_t rank = type.getRank();
  int64_t axis = normalizeAxis(getIntAttr(node, "axis", 0), rank);
  Value init = createEmpty(rewriter, loc, type,
                           dynamicOf(type, allDims(rewriter, loc, indices)));
  Value axisSize = getDimValue(rewriter, loc, data, axis);
  checkIndicesAtRunTime(rewriter, loc, node, indices, axisSize, axis);
  SmallVector<AffineMap> maps(2, rewriter.getMultiDimIdentityMap(rank));
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, indices, init, maps,
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location loc, ValueRange args) {
        SmallVector<Value> pos;
        for (int64_t d = 0; d < rank; ++d)
          pos.push_back(d == axis ? normalizeIndex(b, loc, args[0], axisSize)
                                  : linalg::IndexOp::create(b, loc, d));
        linalg::YieldOp::create(
            b, loc, tensor::ExtractOp::create(b, loc, data, pos).getResult());
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

/// GatherND(data, indices [..., k], batch_dims b): out[i, j] =
/// data[i[:b], indices[i], j] over i = indices.shape[:-1], j =
/// data.shape[b + k:].
static LogicalResult lowerGatherND(onnx::NodeOp node, ValueRange operands,
                                   ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0], indices = operands[1];
  auto indType = cast<RankedTensorType>(indices.getType());
  int64_t q = indType.getRank(), rank = type.getRank();
  int64_t batch = getIntAttr(node, "batch_dims", 0);
  int64_t k = indType.getShape().back();
  if (ShapedType::isDynamic(k))
    return emitNodeError(node) << "the last dim of indices must be static";
  SmallVector<Value> dims;
  for (int64_t d = 0; d < rank; ++d)
    dims.push_back(
        d < q - 1 ? getDimValue(rewriter, loc, indices, d)
                  : getDimValue(rewriter, loc, data, batch + k + d - (q - 1)));
  SmallVector<Value> dataSizes;
  for (int64_t t = 0; t < k; ++t)
    dataSizes.push_back(getDimValue(rewriter, loc, data, batch + t));
  checkIndicesAtRunTime(rewriter, loc, node, indices, dataSizes, batch);
  Value init = createEmpty(rewriter, loc, type, dynamicOf(type, dims));
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, ValueRange{}, init,
      SmallVector<AffineMap>{rewriter.getMultiDimIdentityMap(rank)},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> outer, pos;
        for (int64_t d = 0; d < q - 1; ++d)
          outer.push_back(linalg::IndexOp::create(b, loc, d));
        for (int64_t d = 0; d < batch; ++d)
          pos.push_back(outer[d]);
        for (int64_t t = 0; t < k; ++t) {
          SmallVector<Value> at(outer);
          at.push_back(cIndex(b, loc, t));
          Value v = tensor::ExtractOp::create(b, loc, indices, at);
          pos.push_back(normalizeIndex(b, loc, v, dataSizes[t]));
        }
        for (int64_t d = q - 1; d < rank; ++d)
          pos.push_back(linalg::IndexOp::create(b, loc, d));
        linalg::YieldOp::create(
            b, loc, tensor::ExtractOp::create(b, loc, data, pos).getResult());
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

//===--- Scatters ---------------------------------------------------------===//

/// `old` combined with `update` by the scatter's reduction.
static Value combine(OpBuilder &b, Location loc, StringRef reduction, Value old,
                     Value update) {
  bool isFloat = isa<FloatType>(old.getType());
  if (reduction == "add")
    return isFloat ? Value(arith::AddFOp::create(b, loc, old, update))
                   : Value(arith::AddIOp::create(b, loc, old, update));
  if (reduction == "mul")
    return isFloat ? Value(arith::MulFOp::create(b, loc, old, update))
                   : Value(arith::MulIOp::create(b, loc, old, update));
  if (reduction == "max")
    return isFloat ? Value(arith::MaximumFOp::create(b, loc, old, update))
                   : Value(arith::MaxSIOp::create(b, loc, old, update));
  if (reduction == "min")
    return isFloat ? Value(arith::MinimumFOp::create(b, loc, old, update))
                   : Value(arith::MinSIOp::create(b, loc, old, update));
  return update;
}

static FailureOr<std::string> getReduction(onnx::NodeOp node) {
  std::string reduction = "none";
  if (auto attr = dyn_cast_or_null<StringAttr>(node.getONNXAttr("reduction")))
    reduction = attr.getValue().str();
  if (!llvm::is_contained({"none", "add", "mul", "max", "min"}, reduction)) {
    emitNodeError(node) << "unknown reduction '" << reduction << "'";
    return failure();
  }
  return reduction;
}

/// A loop nest over the dims of `over` carrying the result (initially
/// `data`); `body` returns the position to update for the loop indices.
static Value
scatterLoop(OpBuilder &rewriter, Location loc, Value data, Value updates,
            StringRef reduction,
            function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)>
                position) {
  int64_t rank = cast<RankedTensorType>(updates.getType()).getRank();
  SmallVector<Value> lbs(rank, cIndex(rewriter, loc, 0)),
      steps(rank, cIndex(rewriter, loc, 1));
  SmallVector<Value> ubs = allDims(rewriter, loc, updates);
  scf::LoopNest nest = scf::buildLoopNest(
      rewriter, loc, lbs, ubs, steps, ValueRange{data},
      [&](OpBuilder &b, Location loc, ValueRange ivs, ValueRange iter) {
        Value update = tensor::ExtractOp::create(b, loc, updates, ivs);
        SmallVector<Value> pos = position(b, loc, ivs);
        Value value = update;
        if (reduction != "none")
          value =
              combine(b, loc, reduction,
                      tensor::ExtractOp::create(b, loc, iter[0], pos), update);
        return scf::ValueVector{
            tensor::InsertOp::create(b, loc, value, iter[0], pos)};
      });
  return nest.results[0];
}

/// ScatterElements: result[i with i[axis] = indices[i]] (op)= updates[i].
static LogicalResult lowerScatterElements(onnx::NodeOp node,
                                          ValueRange operands,
                                          ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0], indices = operands[1], updates = operands[2];
  int64_t rank = cast<RankedTensorType>(data.getType()).getRank();
  int64_t axis = normalizeAxis(getIntAttr(node, "axis", 0), rank);
  FailureOr<std::string> reduction = getReduction(node);
  if (failed(reduction))
    return failure();
  Value axisSize = getDimValue(rewriter, loc, data, axis);
  checkIndicesAtRunTime(rewriter, loc, node, indices, axisSize, axis);
  Value result = scatterLoop(
      rewriter, loc, data, updates, *reduction,
      [&](OpBuilder &b, Location loc, ValueRange ivs) {
        SmallVector<Value> pos(ivs);
        pos[axis] = normalizeIndex(
            b, loc, tensor::ExtractOp::create(b, loc, indices, ivs), axisSize);
        return pos;
      });
  rewriter.replaceOp(node, castTo(rewriter, loc, result, type));
  return success();
}

/// ScatterND(data, indices [..., k], updates): result[indices[i], j] (op)=
/// updates[i, j].
static LogicalResult lowerScatterND(onnx::NodeOp node, ValueRange operands,
                                    ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0], indices = operands[1], updates = operands[2];
  auto indType = cast<RankedTensorType>(indices.getType());
  int64_t q = indType.getRank();
  int64_t k = indType.getShape().back();
  if (ShapedType::isDynamic(k))
    return emitNodeError(node) << "the last dim of indices must be static";
  FailureOr<std::string> reduction = getReduction(node);
  if (failed(reduction))
    return failure();
  SmallVector<Value> dataSizes;
  for (int64_t t = 0; t < k; ++t)
    dataSizes.push_back(getDimValue(rewriter, loc, data, t));
  checkIndicesAtRunTime(rewriter, loc, node, indices, dataSizes, 0);
  Value result =
      scatterLoop(rewriter, loc, data, updates, *reduction,
                  [&](OpBuilder &b, Location loc, ValueRange ivs) {
                    SmallVector<Value> pos;
                    SmallVector<Value> at(ivs.take_front(q - 1));
                    at.push_back(Value());
                    for (int64_t t = 0; t < k; ++t) {
                      at.back() = cIndex(b, loc, t);
                      Value v = tensor::ExtractOp::create(b, loc, indices, at);
                      pos.push_back(normalizeIndex(b, loc, v, dataSizes[t]));
                    }
                    llvm::append_range(pos, ivs.drop_front(q - 1));
                    return pos;
                  });
  rewriter.replaceOp(node, castTo(rewriter, loc, result, type));
  return success();
}

//===--- CumSum -----------------------------------------------------------===//

/// CumSum(x, axis): a loop nest over the other dims, and inside it a
/// sequential loop along the axis carrying the running sum (forward or
/// reverse, inclusive or exclusive), in onnxruntime's summation order.
static LogicalResult lowerCumSum(onnx::NodeOp node, ValueRange operands,
                                 ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value x = operands[0];
  int64_t rank = type.getRank();
  if (rank == 0)
    return emitNodeError(node) << "CumSum of a scalar has no CPU lowering";
  auto axes = onnx::getConstantInts(node.getInputs()[1]);
  if (!axes || axes->size() != 1)
    return emitNodeError(node) << "axis must be a constant scalar";
  int64_t axis = normalizeAxis((*axes)[0], rank);
  bool exclusive = getIntAttr(node, "exclusive", 0);
  bool reverse = getIntAttr(node, "reverse", 0);
  Type element = type.getElementType();
  SmallVector<Value> dims = allDims(rewriter, loc, x);
  Value init = createEmpty(rewriter, loc, type, dynamicOf(type, dims));
  SmallVector<Value> lbs, ubs, steps;
  for (int64_t d = 0; d < rank; ++d) {
    if (d == axis)
      continue;
    lbs.push_back(cIndex(rewriter, loc, 0));
    ubs.push_back(dims[d]);
    steps.push_back(cIndex(rewriter, loc, 1));
  }
  Value n = dims[axis];
  scf::LoopNest nest = scf::buildLoopNest(
      rewriter, loc, lbs, ubs, steps, ValueRange{init},
      [&](OpBuilder &b, Location loc, ValueRange ivs, ValueRange iter) {
        Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(element));
        Value c0 = cIndex(b, loc, 0), c1 = cIndex(b, loc, 1);
        auto inner = scf::ForOp::create(
            b, loc, c0, n, c1, ValueRange{iter[0], zero},
            [&](OpBuilder &b, Location loc, Value i, ValueRange acc) {
              Value j = i;
              if (reverse)
                j = arith::SubIOp::create(
                    b, loc, arith::SubIOp::create(b, loc, n, c1), i);
              SmallVector<Value> pos(ivs);
              pos.insert(pos.begin() + axis, j);
              Value v = tensor::ExtractOp::create(b, loc, x, pos);
              Value sum = isa<FloatType>(element)
                              ? Value(arith::AddFOp::create(b, loc, acc[1], v))
                              : Value(arith::AddIOp::create(b, loc, acc[1], v));
              Value out = exclusive ? acc[1] : sum;
              Value result = tensor::InsertOp::create(b, loc, out, acc[0], pos);
              scf::YieldOp::create(b, loc, ValueRange{result, sum});
            });
        return scf::ValueVector{inner.getResult(0)};
      });
  rewriter.replaceOp(node, nest.results[0]);
  return success();
}

//===--- Split, Tile ------------------------------------------------------===//

/// Split: consecutive extract_slices along the axis; sizes from the split
/// input or attribute, else equal parts (the last one may be smaller).
static LogicalResult lowerSplit(onnx::NodeOp node, ValueRange operands,
                                ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  Value data = operands[0];
  int64_t rank = cast<RankedTensorType>(data.getType()).getRank();
  int64_t axis = normalizeAxis(getIntAttr(node, "axis", 0), rank);
  unsigned n = node->getNumResults();
  SmallVector<Value> dims = allDims(rewriter, loc, data);
  SmallVector<Value> sizes;
  auto attr = dyn_cast_or_null<DenseI64ArrayAttr>(node.getONNXAttr("split"));
  bool givenSizes =
      attr || (operands.size() > 1 && !isa<NoneType>(operands[1].getType()));
  if (attr) {
    for (int64_t s : attr.asArrayRef())
      sizes.push_back(cIndex(rewriter, loc, s));
  } else if (givenSizes) {
    for (unsigned i = 0; i < n; ++i)
      sizes.push_back(
          toIndex(rewriter, loc, extractAt(rewriter, loc, operands[1], i)));
  } else {
    Value cn = cIndex(rewriter, loc, n);
    Value part = arith::CeilDivUIOp::create(rewriter, loc, dims[axis], cn);
    for (unsigned i = 0; i < n; ++i) {
      Value rest = arith::SubIOp::create(
          rewriter, loc, dims[axis],
          arith::MulIOp::create(rewriter, loc, part, cIndex(rewriter, loc, i)));
      rest =
          arith::MaxSIOp::create(rewriter, loc, rest, cIndex(rewriter, loc, 0));
      sizes.push_back(arith::MinSIOp::create(rewriter, loc, part, rest));
    }
  }
  if (sizes.size() != n)
    return emitNodeError(node)
           << "split has " << sizes.size() << " sizes for " << n << " outputs";
  if (givenSizes) {
    // The sizes are data: an export may have fixed them for its sample's
    // shape. Slices past the axis would read past the tensor.
    Value zero = cIndex(rewriter, loc, 0), total = zero;
    SmallVector<Value> fits;
    for (Value size : sizes) {
      total = arith::AddIOp::create(rewriter, loc, total, size);
      fits.push_back(
          compareIndex(rewriter, loc, arith::CmpIPredicate::sge, size, zero));
    }
    fits.push_back(compareIndex(rewriter, loc, arith::CmpIPredicate::eq, total,
                                dims[axis]));
    checkAtRunTime(rewriter, loc, node, fits,
                   "the split sizes must be non-negative and add up to the "
                   "size of axis " +
                       Twine(axis) + " of the input");
  }
  SmallVector<Value> results;
  Value offset = cIndex(rewriter, loc, 0);
  for (unsigned i = 0; i < n; ++i) {
    SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
    SmallVector<OpFoldResult> shape = getAsOpFoldResult(dims);
    offsets[axis] = getAsOpFoldResult(offset);
    shape[axis] = getAsOpFoldResult(sizes[i]);
    Value slice = tensor::ExtractSliceOp::create(rewriter, loc, data, offsets,
                                                 shape, strides);
    results.push_back(castTo(rewriter, loc, slice, getResultType(node, i)));
    offset = arith::AddIOp::create(rewriter, loc, offset, sizes[i]);
  }
  rewriter.replaceOp(node, results);
  return success();
}

/// Tile: out[i] = data[i mod dims].
static LogicalResult lowerTile(onnx::NodeOp node, ValueRange operands,
                               ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  int64_t rank = type.getRank();
  SmallVector<Value> dims = allDims(rewriter, loc, data), outDims;
  for (int64_t d = 0; d < rank; ++d)
    outDims.push_back(arith::MulIOp::create(
        rewriter, loc, dims[d],
        toIndex(rewriter, loc, extractAt(rewriter, loc, operands[1], d))));
  checkShapeAtRunTime(rewriter, loc, node, type, outDims,
                      "the input's dims times the repeats");
  Value init = createEmpty(rewriter, loc, type, dynamicOf(type, outDims));
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, ValueRange{}, init,
      SmallVector<AffineMap>{rewriter.getMultiDimIdentityMap(rank)},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location loc, ValueRange) {
        SmallVector<Value> pos;
        for (int64_t d = 0; d < rank; ++d)
          pos.push_back(arith::RemUIOp::create(
              b, loc, linalg::IndexOp::create(b, loc, d), dims[d]));
        linalg::YieldOp::create(
            b, loc, tensor::ExtractOp::create(b, loc, data, pos).getResult());
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

void moe::onnx_to_linalg::registerIndexingLowerings(LoweringTable &t) {
  t["ConstantOfShape"] = lowerConstantOfShape;
  t["OneHot"] = lowerOneHot;
  t["NonZero"] = lowerNonZero;
  t["GatherElements"] = lowerGatherElements;
  t["GatherND"] = lowerGatherND;
  t["ScatterElements"] = lowerScatterElements;
  t["ScatterND"] = lowerScatterND;
  t["CumSum"] = lowerCumSum;
  t["Split"] = lowerSplit;
  t["Tile"] = lowerTile;
}
