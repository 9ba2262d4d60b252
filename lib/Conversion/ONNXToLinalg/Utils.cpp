//===- Utils.cpp - helpers shared by the ONNX lowerings -------------------===//

#include "Lowering.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace moe;
using namespace moe::onnx_to_linalg;

RankedTensorType moe::onnx_to_linalg::getResultType(onnx::NodeOp node,
                                                    unsigned i) {
  return cast<RankedTensorType>(node->getResult(i).getType());
}

InFlightDiagnostic moe::onnx_to_linalg::emitNodeError(onnx::NodeOp node) {
  InFlightDiagnostic diag = node.emitError();
  diag << onnx::describeNode(node) << ": ";
  return diag;
}

void moe::onnx_to_linalg::checkAtRunTime(OpBuilder &b, Location loc,
                                         onnx::NodeOp node,
                                         ArrayRef<Value> conditions,
                                         const Twine &reason) {
  Value all;
  for (Value condition : conditions) {
    if (matchPattern(condition, m_One()))
      continue;
    all = all ? b.createOrFold<arith::AndIOp>(loc, all, condition) : condition;
  }
  if (all)
    cf::AssertOp::create(b, loc, all,
                         onnx::describeNode(node) + ": " + reason.str());
}

/// Whether `a` and `b` are tensor.dim ops reading the same dim of the same
/// tensor (the lowerings read a dim afresh wherever they need it).
static bool isSameDim(Value a, Value b) {
  auto dimA = a.getDefiningOp<tensor::DimOp>();
  auto dimB = b.getDefiningOp<tensor::DimOp>();
  return dimA && dimB && dimA.getSource() == dimB.getSource() &&
         dimA.getConstantIndex() &&
         dimA.getConstantIndex() == dimB.getConstantIndex();
}

void moe::onnx_to_linalg::checkShapeAtRunTime(OpBuilder &b, Location loc,
                                              onnx::NodeOp node,
                                              RankedTensorType type,
                                              ValueRange dims,
                                              const Twine &what) {
  Value zero = cIndex(b, loc, 0);
  SmallVector<Value> fits;
  for (auto [d, size] : llvm::enumerate(dims)) {
    fits.push_back(compareIndex(b, loc, arith::CmpIPredicate::sge, size, zero));
    if (!type.isDynamicDim(d))
      fits.push_back(compareIndex(b, loc, arith::CmpIPredicate::eq, size,
                                  cIndex(b, loc, type.getDimSize(d))));
  }
  checkAtRunTime(b, loc, node, fits,
                 what + " must not be negative and must match the result "
                        "type's static dimensions");
}

Value moe::onnx_to_linalg::compareIndex(OpBuilder &b, Location loc,
                                        arith::CmpIPredicate predicate,
                                        Value lhs, Value rhs) {
  if (predicate == arith::CmpIPredicate::eq && isSameDim(lhs, rhs))
    return arith::ConstantIntOp::create(b, loc, 1, 1);
  return b.createOrFold<arith::CmpIOp>(loc, predicate, lhs, rhs);
}

Value moe::onnx_to_linalg::allIndicesInRange(OpBuilder &b, Location loc,
                                             Value indices, Value size) {
  auto type = cast<RankedTensorType>(indices.getType());
  int64_t rank = type.getRank();
  Value low = b.createOrFold<arith::SubIOp>(loc, cIndex(b, loc, 0), size);
  auto inRange = [&](OpBuilder &nb, Location nl, Value index) -> Value {
    if (!index.getType().isIndex())
      index = nb.createOrFold<arith::IndexCastOp>(nl, nb.getIndexType(), index);
    return nb.createOrFold<arith::AndIOp>(
        nl, compareIndex(nb, nl, arith::CmpIPredicate::sge, index, low),
        compareIndex(nb, nl, arith::CmpIPredicate::slt, index, size));
  };
  // Constant indices (many of an export's gathers read shapes with them):
  // their extremes, folded where the size is static.
  DenseIntElementsAttr constant;
  if (matchPattern(indices, m_Constant(&constant))) {
    if (constant.empty())
      return arith::ConstantIntOp::create(b, loc, 1, 1);
    int64_t min = std::numeric_limits<int64_t>::max();
    int64_t max = std::numeric_limits<int64_t>::min();
    for (const APInt &value : constant.getValues<APInt>()) {
      min = std::min(min, value.getSExtValue());
      max = std::max(max, value.getSExtValue());
    }
    return b.createOrFold<arith::AndIOp>(loc,
                                         inRange(b, loc, cIndex(b, loc, min)),
                                         inRange(b, loc, cIndex(b, loc, max)));
  }
  // One index (a scalar computed from shapes, mostly): no loop.
  if (type.hasStaticShape() && type.getNumElements() == 1) {
    SmallVector<Value> zeros(rank, cIndex(b, loc, 0));
    return inRange(b, loc, tensor::ExtractOp::create(b, loc, indices, zeros));
  }
  Value init =
      tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, b.getI1Type());
  Value allTrue =
      linalg::FillOp::create(
          b, loc, ValueRange{arith::ConstantIntOp::create(b, loc, 1, 1)},
          ValueRange{init})
          .getResult(0);
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank),
                                 AffineMap::get(rank, 0, {}, b.getContext())};
  auto reduce = linalg::GenericOp::create(
      b, loc, allTrue.getType(), indices, allTrue, maps,
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::reduction),
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value all =
            arith::AndIOp::create(nb, nl, args[1], inRange(nb, nl, args[0]));
        linalg::YieldOp::create(nb, nl, all);
      });
  return tensor::ExtractOp::create(b, loc, reduce.getResult(0), ValueRange{});
}

void moe::onnx_to_linalg::checkIndicesAtRunTime(OpBuilder &b, Location loc,
                                                onnx::NodeOp node,
                                                Value indices, ValueRange sizes,
                                                int64_t axis) {
  // Indices are data (token ids, expert ids): one out of range would read
  // or write past the tensor, where onnxruntime reports an error.
  if (sizes.size() == 1) {
    checkAtRunTime(b, loc, node, allIndicesInRange(b, loc, indices, sizes[0]),
                   "an index is out of range: each must be in [-n, n) for "
                   "the n entries along axis " +
                       Twine(axis) + " of the data");
    return;
  }
  auto type = cast<RankedTensorType>(indices.getType());
  int64_t rank = type.getRank();
  SmallVector<Value> inRange;
  for (auto [c, size] : llvm::enumerate(sizes)) {
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
    SmallVector<OpFoldResult> shape;
    for (int64_t d = 0; d < rank; ++d)
      shape.push_back(getAsOpFoldResult(getDimValue(b, loc, indices, d)));
    offsets.back() = b.getIndexAttr(c);
    shape.back() = b.getIndexAttr(1);
    Value component = tensor::ExtractSliceOp::create(
        b, loc, indices, offsets, shape,
        SmallVector<OpFoldResult>(rank, b.getIndexAttr(1)));
    inRange.push_back(allIndicesInRange(b, loc, component, size));
  }
  checkAtRunTime(b, loc, node, inRange,
                 "an index is out of range: component c of each index must "
                 "be in [-n, n) for the n entries along axis " +
                     Twine(axis) + " + c of the data");
}

Value moe::onnx_to_linalg::cIndex(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value moe::onnx_to_linalg::getDimValue(OpBuilder &b, Location loc, Value value,
                                       int64_t dim) {
  auto type = cast<RankedTensorType>(value.getType());
  if (!type.isDynamicDim(dim))
    return cIndex(b, loc, type.getDimSize(dim));
  return tensor::DimOp::create(b, loc, value, dim);
}

Value moe::onnx_to_linalg::createEmpty(OpBuilder &b, Location loc,
                                       RankedTensorType type,
                                       ValueRange dynamicSizes) {
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 dynamicSizes);
}

Value moe::onnx_to_linalg::createFilled(OpBuilder &b, Location loc,
                                        RankedTensorType type,
                                        ValueRange dynamicSizes,
                                        TypedAttr value) {
  Value empty = createEmpty(b, loc, type, dynamicSizes);
  Value scalar = arith::ConstantOp::create(b, loc, value);
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

SmallVector<Value> moe::onnx_to_linalg::broadcastDynamicSizes(
    OpBuilder &b, Location loc, RankedTensorType type, ValueRange inputs) {
  SmallVector<Value> sizes;
  int64_t rank = type.getRank();
  for (int64_t d = 0; d < rank; ++d) {
    if (!type.isDynamicDim(d))
      continue;
    Value size;
    for (Value input : inputs) {
      auto in = dyn_cast<RankedTensorType>(input.getType());
      if (!in)
        continue;
      int64_t id = d - (rank - in.getRank());
      if (id < 0 || in.getDimSize(id) == 1)
        continue;
      size = getDimValue(b, loc, input, id);
      break;
    }
    // Every input is 1 there: so is the result.
    sizes.push_back(size ? size : cIndex(b, loc, 1));
  }
  return sizes;
}

SmallVector<Value> moe::onnx_to_linalg::dynamicOf(RankedTensorType type,
                                                  ArrayRef<Value> dims) {
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      sizes.push_back(dims[d]);
  return sizes;
}

SmallVector<Value> moe::onnx_to_linalg::resultDims(OpBuilder &b, Location loc,
                                                   RankedTensorType type,
                                                   ValueRange dynamicSizes) {
  SmallVector<Value> dims;
  unsigned next = 0;
  for (int64_t d = 0; d < type.getRank(); ++d)
    dims.push_back(type.isDynamicDim(d) ? dynamicSizes[next++]
                                        : cIndex(b, loc, type.getDimSize(d)));
  return dims;
}

void moe::onnx_to_linalg::checkBroadcastAtRunTime(OpBuilder &b, Location loc,
                                                  onnx::NodeOp node,
                                                  ValueRange dims,
                                                  ValueRange inputs) {
  int64_t rank = dims.size();
  SmallVector<Value> equal;
  for (Value input : inputs) {
    auto type = dyn_cast<RankedTensorType>(input.getType());
    if (!type)
      continue;
    for (int64_t id = 0; id < type.getRank(); ++id)
      if (type.getDimSize(id) != 1)
        equal.push_back(compareIndex(b, loc, arith::CmpIPredicate::eq,
                                     getDimValue(b, loc, input, id),
                                     dims[id + rank - type.getRank()]));
  }
  checkAtRunTime(b, loc, node, equal,
                 "the inputs' shapes do not agree: a dimension known only "
                 "at run time must equal the result's (only dimensions that "
                 "are 1 in the model broadcast)");
}

AffineMap moe::onnx_to_linalg::broadcastMap(MLIRContext *ctx,
                                            RankedTensorType input,
                                            RankedTensorType output) {
  int64_t rank = output.getRank(), offset = rank - input.getRank();
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < input.getRank(); ++d) {
    bool broadcast =
        input.getDimSize(d) == 1 && output.getDimSize(d + offset) != 1;
    exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                              : getAffineDimExpr(d + offset, ctx));
  }
  return AffineMap::get(rank, 0, exprs, ctx);
}

Value moe::onnx_to_linalg::reshapeTo(OpBuilder &b, Location loc, Value value,
                                     RankedTensorType type,
                                     ArrayRef<Value> sizes) {
  if (value.getType() == type)
    return value;
  SmallVector<Value> dims;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    Value size =
        type.isDynamicDim(d) ? sizes[d] : cIndex(b, loc, type.getDimSize(d));
    dims.push_back(size);
  }
  auto shapeType = RankedTensorType::get({type.getRank()}, b.getIndexType());
  Value shape = tensor::FromElementsOp::create(b, loc, shapeType, dims);
  return tensor::ReshapeOp::create(b, loc, type, value, shape);
}

Value moe::onnx_to_linalg::castScalar(OpBuilder &b, Location loc, Value value,
                                      Type to) {
  Type from = value.getType();
  if (from == to)
    return value;
  if (to.isInteger(1)) {
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(from));
    if (isa<FloatType>(from))
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, value,
                                   zero);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, value, zero);
  }
  // Booleans are 0/1, not -1/0.
  return convertScalarToDtype(b, loc, value, to,
                              /*isUnsignedCast=*/from.isInteger(1));
}

int64_t moe::onnx_to_linalg::normalizeAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

int64_t moe::onnx_to_linalg::getIntAttr(onnx::NodeOp node, StringRef name,
                                        int64_t defaultValue) {
  if (auto attr = dyn_cast_or_null<IntegerAttr>(node.getONNXAttr(name)))
    return attr.getInt();
  return defaultValue;
}
