//===- Common.cpp - helpers shared by the moe -> linalg patterns ----------===//

#include "Common.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Parser/Parser.h"

using namespace mlir;

Value moe::detail::convertScalar(OpBuilder &b, Location loc, Value value,
                                 Type type) {
  Type from = value.getType();
  if (from == type)
    return value;
  if (isa<FloatType>(from) && isa<FloatType>(type)) {
    if (from.getIntOrFloatBitWidth() < type.getIntOrFloatBitWidth())
      return arith::ExtFOp::create(b, loc, type, value);
    if (from.getIntOrFloatBitWidth() > type.getIntOrFloatBitWidth())
      return arith::TruncFOp::create(b, loc, type, value);
    // f16 <-> bf16: through f32.
    Value wide = arith::ExtFOp::create(b, loc, b.getF32Type(), value);
    return arith::TruncFOp::create(b, loc, type, wide);
  }
  if (from.isIndex() || type.isIndex())
    return arith::IndexCastOp::create(b, loc, type, value);
  if (from.getIntOrFloatBitWidth() < type.getIntOrFloatBitWidth())
    return arith::ExtSIOp::create(b, loc, type, value);
  return arith::TruncIOp::create(b, loc, type, value);
}

Value moe::detail::dimValue(OpBuilder &b, Location loc, Value tensor,
                            int64_t dim) {
  return b.createOrFold<tensor::DimOp>(loc, tensor, dim);
}

/// Dynamic sizes of `tensor`'s type, read from `tensor`.
static SmallVector<Value> dynamicSizes(OpBuilder &b, Location loc,
                                       Value tensor) {
  SmallVector<Value> sizes;
  auto type = cast<RankedTensorType>(tensor.getType());
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(moe::detail::dimValue(b, loc, tensor, i));
  return sizes;
}

Value moe::detail::convertElements(OpBuilder &b, Location loc, Value tensor,
                                   Type elementType) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (type.getElementType() == elementType)
    return tensor;
  auto resultType = type.clone(elementType);
  Value init =
      tensor::EmptyOp::create(b, loc, resultType, dynamicSizes(b, loc, tensor));
  AffineMap id = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, resultType, tensor, init, ArrayRef<AffineMap>{id, id}, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        linalg::YieldOp::create(nb, nloc,
                                convertScalar(nb, nloc, args[0], elementType));
      });
  return generic.getResult(0);
}

Value moe::detail::convertTo(OpBuilder &b, Location loc, Value tensor,
                             RankedTensorType type) {
  Value converted = convertElements(b, loc, tensor, type.getElementType());
  if (converted.getType() == type)
    return converted;
  return tensor::CastOp::create(b, loc, type, converted);
}

Value moe::detail::castToDynamic(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<int64_t> shape(type.getRank(), ShapedType::kDynamic);
  auto dynamic = RankedTensorType::get(shape, type.getElementType());
  if (dynamic == type)
    return tensor;
  return tensor::CastOp::create(b, loc, dynamic, tensor);
}

Value moe::detail::filledTensor(OpBuilder &b, Location loc,
                                RankedTensorType type, ValueRange sizes,
                                TypedAttr value) {
  if (!value)
    value = b.getZeroAttr(type.getElementType());
  Value empty = tensor::EmptyOp::create(b, loc, type, sizes);
  Value scalar = arith::ConstantOp::create(b, loc, value);
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

Value moe::detail::zerosWithDimsOf(OpBuilder &b, Location loc,
                                   RankedTensorType type,
                                   ArrayRef<Value> dimSources) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(dimValue(b, loc, dimSources[i], i));
  return filledTensor(b, loc, type, sizes);
}

Value moe::detail::extractIndex(OpBuilder &b, Location loc, Value tensor,
                                Value i) {
  Value v = tensor::ExtractOp::create(b, loc, tensor, i);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

FailureOr<func::FuncOp> moe::detail::getOrInsertKernel(RewriterBase &rewriter,
                                                       Operation *anchor,
                                                       StringRef name,
                                                       StringRef source) {
  auto module = anchor->getParentOfType<ModuleOp>();
  if (!module)
    return rewriter.notifyMatchFailure(anchor, "not inside a module");
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;

  OwningOpRef<ModuleOp> kernels =
      parseSourceString<ModuleOp>(source, anchor->getContext());
  if (!kernels) {
    anchor->emitError("internal error: moe kernel source does not parse");
    return failure();
  }
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToEnd(module.getBody());
  for (auto fn : kernels->getOps<func::FuncOp>())
    if (!module.lookupSymbol(fn.getSymName()))
      rewriter.insert(fn->clone());
  auto kernel = module.lookupSymbol<func::FuncOp>(name);
  if (!kernel) {
    anchor->emitError("internal error: no moe kernel named ") << name;
    return failure();
  }
  return kernel;
}

/// y[n, M] = a[n, K] * w (+ bias[M]), w stored [K, M] or, transposed,
/// [M, K]; accumulates in `elt`.
Value moe::detail::emitMatmul(OpBuilder &b, Location loc, Value a, Value w,
                              bool transposed, Value bias, Type elt,
                              Value zeroInit) {
  auto wType = cast<RankedTensorType>(w.getType());
  int64_t m = wType.getDimSize(transposed ? 0 : 1);
  auto outType = RankedTensorType::get({ShapedType::kDynamic, m}, elt);
  Value rows = dimValue(b, loc, a, 0);
  MLIRContext *ctx = b.getContext();
  Value init;
  if (bias) {
    Value empty =
        zeroInit ? zeroInit
                 : tensor::EmptyOp::create(b, loc, outType, rows).getResult();
    auto biasMap = AffineMap::get(2, 0, getAffineDimExpr(1, ctx));
    init =
        linalg::GenericOp::create(
            b, loc, outType, bias, empty,
            ArrayRef<AffineMap>{biasMap, b.getMultiDimIdentityMap(2)},
            SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
            [&](OpBuilder &nb, Location l, ValueRange args) {
              linalg::YieldOp::create(nb, l,
                                      convertScalar(nb, l, args[0], elt));
            })
            .getResult(0);
  } else {
    init = zeroInit ? zeroInit : filledTensor(b, loc, outType, rows);
  }
  // A named linalg.matmul (with a transposed map for [M, K] weights) is
  // what the CPU pipeline tiles and vectorizes; it extends narrower inputs
  // to the accumulator type itself.
  AffineExpr i = getAffineDimExpr(0, ctx), j = getAffineDimExpr(1, ctx),
             k = getAffineDimExpr(2, ctx);
  SmallVector<Attribute> maps = {
      AffineMapAttr::get(AffineMap::get(3, 0, {i, k}, ctx)),
      AffineMapAttr::get(transposed ? AffineMap::get(3, 0, {j, k}, ctx)
                                    : AffineMap::get(3, 0, {k, j}, ctx)),
      AffineMapAttr::get(AffineMap::get(3, 0, {i, j}, ctx))};
  return linalg::MatmulOp::create(
             b, loc, TypeRange{outType}, ValueRange{a, w}, ValueRange{init},
             {b.getNamedAttr("indexing_maps", b.getArrayAttr(maps))})
      .getResult(0);
}
