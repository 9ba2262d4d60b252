//===- LowerShapeOps.cpp - reshapes, transposes, slices, gathers ----------===//
//
// Shapes that are integer tensors in ONNX are read element by element at run
// time (tensor.extract); when they are constants, canonicalization folds the
// arithmetic away and the reshapes become static.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace moe;
using namespace moe::onnx_to_linalg;

/// Element `i` of a 1-D integer tensor as an index.
static Value extractIndex(OpBuilder &b, Location loc, Value tensor, int64_t i) {
  Value pos = arith::ConstantIndexOp::create(b, loc, i);
  Value v = tensor::ExtractOp::create(b, loc, tensor, ValueRange{pos});
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

/// Reshape: 0 copies the input dim (unless allowzero), -1 is the element
/// count divided by the product of the others.
static LogicalResult lowerReshape(onnx::NodeOp node, ValueRange operands,
                                  ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0], shape = operands[1];
  auto dataType = cast<RankedTensorType>(data.getType());
  bool allowZero = getIntAttr(node, "allowzero", 0);
  Value total = cIndex(rewriter, loc, 1);
  for (int64_t d = 0; d < dataType.getRank(); ++d)
    total = arith::MulIOp::create(rewriter, loc, total,
                                  getDimValue(rewriter, loc, data, d));
  Value c0 = cIndex(rewriter, loc, 0), c1 = cIndex(rewriter, loc, 1),
        cm1 = cIndex(rewriter, loc, -1);
  SmallVector<Value> dims;
  Value known = c1;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    Value v = extractIndex(rewriter, loc, shape, d);
    if (!allowZero && d < dataType.getRank()) {
      Value isZero =
          arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, v, c0);
      v = arith::SelectOp::create(rewriter, loc, isZero,
                                  getDimValue(rewriter, loc, data, d), v);
    }
    dims.push_back(v);
    Value isInfer =
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, v, cm1);
    known = arith::MulIOp::create(
        rewriter, loc, known,
        arith::SelectOp::create(rewriter, loc, isInfer, c1, v));
  }
  // A 0 among the other dims (allowzero) leaves nothing to infer; the
  // check below then fails unless the input is empty too.
  Value knownIsZero =
      arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, known, c0);
  Value inferred = arith::DivUIOp::create(
      rewriter, loc, total,
      arith::SelectOp::create(rewriter, loc, knownIsZero, c1, known));
  // The shape is data, often fixed for the export's sample: it must fit this
  // input, and the result type's static dims (the reshape takes those).
  Value product = c1;
  SmallVector<Value> fits;
  for (auto [d, v] : llvm::enumerate(dims)) {
    Value isInfer =
        compareIndex(rewriter, loc, arith::CmpIPredicate::eq, v, cm1);
    v = arith::SelectOp::create(rewriter, loc, isInfer, inferred, v);
    product = arith::MulIOp::create(rewriter, loc, product, v);
    fits.push_back(
        compareIndex(rewriter, loc, arith::CmpIPredicate::sge, v, c0));
    if (!type.isDynamicDim(d))
      fits.push_back(compareIndex(rewriter, loc, arith::CmpIPredicate::eq, v,
                                  cIndex(rewriter, loc, type.getDimSize(d))));
  }
  fits.push_back(
      compareIndex(rewriter, loc, arith::CmpIPredicate::eq, product, total));
  checkAtRunTime(rewriter, loc, node, fits,
                 "the requested shape does not fit the input: it must have "
                 "as many elements (after its 0s and -1 are resolved)");
  rewriter.replaceOp(node, reshapeTo(rewriter, loc, data, type, dims));
  return success();
}

/// Flatten, Squeeze, Unsqueeze: the result's dynamic dims are products of
/// input dims; computing them from the types alone covers all three.
static LogicalResult lowerFlatten(onnx::NodeOp node, ValueRange operands,
                                  ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  int64_t rank = cast<RankedTensorType>(data.getType()).getRank();
  int64_t axis = normalizeAxis(getIntAttr(node, "axis", 1), rank);
  Value lead = cIndex(rewriter, loc, 1), rest = cIndex(rewriter, loc, 1);
  for (int64_t d = 0; d < rank; ++d) {
    Value &acc = d < axis ? lead : rest;
    acc = arith::MulIOp::create(rewriter, loc, acc,
                                getDimValue(rewriter, loc, data, d));
  }
  rewriter.replaceOp(node, reshapeTo(rewriter, loc, data, type, {lead, rest}));
  return success();
}

/// The axes of Squeeze/Unsqueeze: an attribute before opset 13, else input 1.
static std::optional<SmallVector<int64_t>> getAxes(onnx::NodeOp node) {
  if (auto attr = dyn_cast_or_null<DenseI64ArrayAttr>(node.getONNXAttr("axes")))
    return SmallVector<int64_t>(attr.asArrayRef());
  if (node.getInputs().size() > 1)
    return onnx::getConstantInts(node.getInputs()[1]);
  return SmallVector<int64_t>();
}

static LogicalResult lowerSqueeze(onnx::NodeOp node, ValueRange operands,
                                  ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  auto dataType = cast<RankedTensorType>(data.getType());
  auto axes = getAxes(node);
  if (!axes)
    return emitNodeError(node) << "axes must be constant";
  bool squeeze = node.getOpType() == "Squeeze";
  int64_t rank = squeeze ? dataType.getRank() : type.getRank();
  SmallVector<int64_t> norm;
  for (int64_t a : *axes)
    norm.push_back(normalizeAxis(a, rank));
  SmallVector<Value> dims;
  if (squeeze) {
    for (int64_t d = 0; d < rank; ++d) {
      bool dropped = norm.empty() ? dataType.getDimSize(d) == 1
                                  : llvm::is_contained(norm, d);
      if (!dropped)
        dims.push_back(getDimValue(rewriter, loc, data, d));
    }
  } else {
    for (int64_t d = 0, j = 0; d < rank; ++d)
      dims.push_back(llvm::is_contained(norm, d)
                         ? cIndex(rewriter, loc, 1)
                         : getDimValue(rewriter, loc, data, j++));
  }
  rewriter.replaceOp(node, reshapeTo(rewriter, loc, data, type, dims));
  return success();
}

static LogicalResult lowerTranspose(onnx::NodeOp node, ValueRange operands,
                                    ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  int64_t rank = type.getRank();
  SmallVector<int64_t> perm;
  if (auto attr = dyn_cast_or_null<DenseI64ArrayAttr>(node.getONNXAttr("perm")))
    for (int64_t p : attr.asArrayRef())
      perm.push_back(normalizeAxis(p, rank));
  else
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < rank; ++d)
    if (type.isDynamicDim(d))
      sizes.push_back(getDimValue(rewriter, loc, data, perm[d]));
  Value init = createEmpty(rewriter, loc, type, sizes);
  auto transpose = linalg::TransposeOp::create(rewriter, loc, data, init, perm);
  rewriter.replaceOp(node, transpose->getResults());
  return success();
}

/// Concat: insert_slice of each input at its running offset.
static LogicalResult lowerConcat(onnx::NodeOp node, ValueRange operands,
                                 ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  int64_t rank = type.getRank();
  int64_t axis = normalizeAxis(getIntAttr(node, "axis", 0), rank);
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < rank; ++d) {
    if (!type.isDynamicDim(d))
      continue;
    if (d != axis) {
      sizes.push_back(getDimValue(rewriter, loc, operands[0], d));
      continue;
    }
    Value sum = cIndex(rewriter, loc, 0);
    for (Value in : operands)
      sum = arith::AddIOp::create(rewriter, loc, sum,
                                  getDimValue(rewriter, loc, in, d));
    sizes.push_back(sum);
  }
  // Every input must have the result's dims off the axis.
  SmallVector<Value> dims = resultDims(rewriter, loc, type, sizes), same;
  for (Value in : operands)
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis)
        same.push_back(compareIndex(rewriter, loc, arith::CmpIPredicate::eq,
                                    getDimValue(rewriter, loc, in, d),
                                    dims[d]));
  checkAtRunTime(rewriter, loc, node, same,
                 "the inputs' shapes do not agree: all dimensions but axis " +
                     Twine(axis) + " must be equal");
  Value result = createEmpty(rewriter, loc, type, sizes);
  Value offset = cIndex(rewriter, loc, 0);
  for (Value in : operands) {
    SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
    SmallVector<OpFoldResult> inSizes;
    auto inType = cast<RankedTensorType>(in.getType());
    for (int64_t d = 0; d < rank; ++d)
      inSizes.push_back(
          inType.isDynamicDim(d)
              ? OpFoldResult(getDimValue(rewriter, loc, in, d))
              : OpFoldResult(rewriter.getIndexAttr(inType.getDimSize(d))));
    offsets[axis] = offset;
    result = tensor::InsertSliceOp::create(rewriter, loc, in, result, offsets,
                                           inSizes, strides);
    offset = arith::AddIOp::create(rewriter, loc, offset,
                                   getDimValue(rewriter, loc, in, axis));
  }
  rewriter.replaceOp(node, result);
  return success();
}

/// Slice with positive steps: starts/ends clamped as ONNX says, then an
/// extract_slice; starts, ends and axes may be computed, steps must be
/// constant (their sign decides the clamping).
static LogicalResult lowerSlice(onnx::NodeOp node, ValueRange operands,
                                ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  int64_t rank = type.getRank();
  auto inputs = node.getInputs();
  if (node.getONNXAttr("starts"))
    return emitNodeError(node) << "opset < 10 Slice has no CPU lowering";
  auto has = [&](unsigned i) {
    return i < inputs.size() && !isa<NoneType>(inputs[i].getType());
  };
  int64_t n = cast<RankedTensorType>(inputs[1].getType()).getDimSize(0);
  if (ShapedType::isDynamic(n))
    return emitNodeError(node) << "starts must have a static length";
  SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(0, n));
  if (has(3)) {
    auto values = onnx::getConstantInts(inputs[3]);
    if (!values)
      return emitNodeError(node) << "axes must be constant";
    axes = *values;
  }
  SmallVector<int64_t> steps(n, 1);
  if (has(4)) {
    auto values = onnx::getConstantInts(inputs[4]);
    if (!values)
      return emitNodeError(node) << "steps must be constant";
    steps = *values;
  }
  SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
  SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank; ++d)
    sizes.push_back(getDimValue(rewriter, loc, data, d));
  Value c0 = cIndex(rewriter, loc, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t axis = normalizeAxis(axes[i], rank);
    if (steps[i] <= 0)
      return emitNodeError(node) << "negative steps have no CPU lowering";
    Value dim = getDimValue(rewriter, loc, data, axis);
    // ONNX bounds are i64 and may be INT64_MAX: clamp before index math.
    auto bound = [&](Value tensor) {
      Value pos = cIndex(rewriter, loc, i);
      Value v =
          tensor::ExtractOp::create(rewriter, loc, tensor, ValueRange{pos});
      Type vt = v.getType();
      Value dimI = arith::IndexCastOp::create(rewriter, loc, vt, dim);
      Value zero =
          arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(vt));
      Value isNeg = arith::CmpIOp::create(rewriter, loc,
                                          arith::CmpIPredicate::slt, v, zero);
      v = arith::SelectOp::create(rewriter, loc, isNeg,
                                  arith::AddIOp::create(rewriter, loc, v, dimI),
                                  v);
      v = arith::MaxSIOp::create(rewriter, loc, v, zero);
      v = arith::MinSIOp::create(rewriter, loc, v, dimI);
      return Value(arith::IndexCastOp::create(rewriter, loc,
                                              rewriter.getIndexType(), v));
    };
    Value start = bound(operands[1]), end = bound(operands[2]);
    Value len = arith::MaxSIOp::create(
        rewriter, loc, arith::SubIOp::create(rewriter, loc, end, start), c0);
    Value step = cIndex(rewriter, loc, steps[i]);
    // ceil(len / step)
    Value count = arith::CeilDivUIOp::create(rewriter, loc, len, step);
    offsets[axis] = start;
    sizes[axis] = count;
    strides[axis] = rewriter.getIndexAttr(steps[i]);
  }
  Value slice = tensor::ExtractSliceOp::create(rewriter, loc, data, offsets,
                                               sizes, strides);
  if (slice.getType() != type)
    slice = tensor::CastOp::create(rewriter, loc, type, slice);
  rewriter.replaceOp(node, slice);
  return success();
}

/// Gather: out[pre, idx, post] = data[pre, indices[idx], post], negative
/// indices counting from the end.
static LogicalResult lowerGather(onnx::NodeOp node, ValueRange operands,
                                 ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0], indices = operands[1];
  auto dataType = cast<RankedTensorType>(data.getType());
  auto indType = cast<RankedTensorType>(indices.getType());
  int64_t axis = normalizeAxis(getIntAttr(node, "axis", 0), dataType.getRank());
  int64_t q = indType.getRank(), rank = type.getRank();
  MLIRContext *ctx = rewriter.getContext();
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < rank; ++d) {
    if (!type.isDynamicDim(d))
      continue;
    if (d < axis)
      sizes.push_back(getDimValue(rewriter, loc, data, d));
    else if (d < axis + q)
      sizes.push_back(getDimValue(rewriter, loc, indices, d - axis));
    else
      sizes.push_back(getDimValue(rewriter, loc, data, d - q + 1));
  }
  SmallVector<AffineExpr> indExprs;
  for (int64_t d = 0; d < q; ++d)
    indExprs.push_back(getAffineDimExpr(axis + d, ctx));
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, indExprs, ctx),
                                 rewriter.getMultiDimIdentityMap(rank)};
  Value init = createEmpty(rewriter, loc, type, sizes);
  Value axisSize = getDimValue(rewriter, loc, data, axis);
  checkIndicesAtRunTime(rewriter, loc, node, indices, axisSize, axis);
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, indices, init, maps,
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value idx =
            arith::IndexCastOp::create(b, loc, b.getIndexType(), args[0]);
        Value zero = arith::ConstantIndexOp::create(b, loc, 0);
        Value isNeg =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, idx, zero);
        idx = arith::SelectOp::create(
            b, loc, isNeg, arith::AddIOp::create(b, loc, idx, axisSize), idx);
        SmallVector<Value> pos;
        for (int64_t d = 0; d < axis; ++d)
          pos.push_back(linalg::IndexOp::create(b, loc, d));
        pos.push_back(idx);
        for (int64_t d = axis + q; d < rank; ++d)
          pos.push_back(linalg::IndexOp::create(b, loc, d));
        Value v = tensor::ExtractOp::create(b, loc, data, pos);
        linalg::YieldOp::create(b, loc, v);
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

/// Shape: the dims as i64 (with start/end).
static LogicalResult lowerShape(onnx::NodeOp node, ValueRange operands,
                                ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  int64_t rank = cast<RankedTensorType>(data.getType()).getRank();
  auto bound = [&](int64_t v) {
    return std::min(std::max(v < 0 ? v + rank : v, int64_t(0)), rank);
  };
  int64_t start = bound(getIntAttr(node, "start", 0));
  int64_t end = bound(getIntAttr(node, "end", rank));
  SmallVector<Value> dims;
  for (int64_t d = start; d < end; ++d)
    dims.push_back(
        arith::IndexCastOp::create(rewriter, loc, type.getElementType(),
                                   getDimValue(rewriter, loc, data, d)));
  rewriter.replaceOpWithNewOp<tensor::FromElementsOp>(node, type, dims);
  return success();
}

/// Expand: broadcast to max(input dim, requested dim) per dim.
static LogicalResult lowerExpand(onnx::NodeOp node, ValueRange operands,
                                 ConversionPatternRewriter &rewriter) {
  Location loc = node.getLoc();
  RankedTensorType type = getResultType(node);
  Value data = operands[0];
  auto dataType = cast<RankedTensorType>(data.getType());
  int64_t rank = type.getRank(), offset = rank - dataType.getRank();
  SmallVector<Value> dims;
  for (int64_t d = 0; d < rank; ++d) {
    // numpy's rule: a 1 on either side takes the other's size, 0 included
    // (max() would make [0, 16] expanded by [1, 16] one row, read past the
    // data). A data dim that is not a static 1 is read as it is, so it must
    // be the result's (checked below).
    Value want = extractIndex(rewriter, loc, operands[1], d);
    if (d >= offset && dataType.getDimSize(d - offset) != 1) {
      Value wantsOne = compareIndex(rewriter, loc, arith::CmpIPredicate::eq,
                                    want, cIndex(rewriter, loc, 1));
      want = arith::SelectOp::create(
          rewriter, loc, wantsOne, getDimValue(rewriter, loc, data, d - offset),
          want);
    }
    dims.push_back(want);
  }
  checkShapeAtRunTime(rewriter, loc, node, type, dims,
                      "the broadcast shape's dims");
  checkBroadcastAtRunTime(rewriter, loc, node, dims, data);
  Value init = createEmpty(rewriter, loc, type, dynamicOf(type, dims));
  SmallVector<AffineMap> maps = {
      broadcastMap(rewriter.getContext(), dataType, type),
      rewriter.getMultiDimIdentityMap(rank)};
  auto generic = linalg::GenericOp::create(
      rewriter, loc, type, data, init, maps,
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [](OpBuilder &b, Location loc, ValueRange args) {
        linalg::YieldOp::create(b, loc, args[0]);
      });
  rewriter.replaceOp(node, generic.getResults());
  return success();
}

void moe::onnx_to_linalg::registerShapeOpLowerings(LoweringTable &t) {
  t["Reshape"] = lowerReshape;
  t["Flatten"] = lowerFlatten;
  t["Squeeze"] = lowerSqueeze;
  t["Unsqueeze"] = lowerSqueeze;
  t["Transpose"] = lowerTranspose;
  t["Concat"] = lowerConcat;
  t["Slice"] = lowerSlice;
  t["Gather"] = lowerGather;
  t["Shape"] = lowerShape;
  t["Expand"] = lowerExpand;
}
