//===- ConstantSlicing.cpp - keep some indices of a constant weight -------===//

#include "ConstantSlicing.h"

#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/APFloat.h"

#include <cstring>

using namespace mlir;
using namespace moe;

static ElementsAttr constantValue(Value value) {
  if (auto c = value.getDefiningOp<onnx::ConstantOp>())
    return c.getValue();
  if (auto c = value.getDefiningOp<arith::ConstantOp>())
    return dyn_cast<ElementsAttr>(c.getValue());
  return {};
}

/// The raw row-major bytes of a non-splat constant, if readable. Booleans
/// are bit-packed in dense attributes, so only whole-byte elements qualify.
static std::optional<ArrayRef<char>> rawBytes(ElementsAttr attr) {
  ShapedType type = attr.getShapedType();
  unsigned bits = type.getElementTypeBitWidth();
  if (bits % 8 != 0)
    return std::nullopt;
  ArrayRef<char> data;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (dense.isSplat())
      return std::nullopt;
    data = dense.getRawData();
  } else if (auto res = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = res.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    data = blob->getData();
  } else {
    return std::nullopt;
  }
  if ((int64_t)data.size() != type.getNumElements() * (bits / 8))
    return std::nullopt;
  return data;
}

bool moe::isSliceableConstant(Value value) {
  ElementsAttr attr = constantValue(value);
  if (!attr || !attr.getShapedType().hasStaticShape())
    return false;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr); dense && dense.isSplat())
    return true;
  return rawBytes(attr).has_value();
}

FailureOr<std::vector<float>> moe::readFloatConstant(Value value) {
  ElementsAttr attr = constantValue(value);
  if (!attr || !attr.getShapedType().hasStaticShape())
    return failure();
  Type elementType = attr.getShapedType().getElementType();
  if (!elementType.isF32() && !elementType.isF16() && !elementType.isBF16())
    return failure();
  int64_t count = attr.getShapedType().getNumElements();
  if (auto dense = dyn_cast<DenseElementsAttr>(attr); dense && dense.isSplat())
    return std::vector<float>(count,
                              dense.getSplatValue<APFloat>().convertToFloat());
  std::optional<ArrayRef<char>> bytes = rawBytes(attr);
  if (!bytes)
    return failure();
  std::vector<float> values(count);
  if (elementType.isF32()) {
    std::memcpy(values.data(), bytes->data(), count * sizeof(float));
    return values;
  }
  const auto &semantics = cast<FloatType>(elementType).getFloatSemantics();
  const auto *halves = reinterpret_cast<const uint16_t *>(bytes->data());
  for (int64_t i = 0; i < count; ++i)
    values[i] = APFloat(semantics, APInt(16, halves[i])).convertToFloat();
  return values;
}

Value moe::createFloatConstant(OpBuilder &builder, Value like,
                               RankedTensorType type, ArrayRef<float> values,
                               StringRef name) {
  assert(type.getNumElements() == (int64_t)values.size() &&
         "one value per element");
  Type elementType = type.getElementType();
  int64_t elementBytes = elementType.getIntOrFloatBitWidth() / 8;
  SmallVector<char> bytes(values.size() * elementBytes);
  if (elementType.isF32()) {
    std::memcpy(bytes.data(), values.data(), bytes.size());
  } else {
    const auto &semantics = cast<FloatType>(elementType).getFloatSemantics();
    auto *halves = reinterpret_cast<uint16_t *>(bytes.data());
    for (auto [i, v] : llvm::enumerate(values)) {
      APFloat rounded(v);
      bool losesInfo;
      rounded.convert(semantics, APFloat::rmNearestTiesToEven, &losesInfo);
      halves[i] = rounded.bitcastToAPInt().getZExtValue();
    }
  }
  ElementsAttr likeAttr = constantValue(like);
  Attribute newValue;
  if (likeAttr && isa<DenseResourceElementsAttr>(likeAttr)) {
    AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
        bytes, elementBytes, /*dataIsMutable=*/false);
    newValue = DenseResourceElementsAttr::get(type, name, std::move(blob));
  } else {
    newValue = DenseElementsAttr::getFromRawBuffer(type, bytes);
  }
  Operation *old = like.getDefiningOp();
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointAfter(old);
  if (isa<onnx::ConstantOp>(old))
    return onnx::ConstantOp::create(builder, old->getLoc(),
                                    cast<ElementsAttr>(newValue));
  return arith::ConstantOp::create(builder, old->getLoc(),
                                   cast<TypedAttr>(newValue));
}

Value moe::sliceConstant(OpBuilder &builder, Value value, int64_t dim,
                         ArrayRef<int64_t> keep, StringRef suffix) {
  ElementsAttr attr = constantValue(value);
  auto type = cast<RankedTensorType>(attr.getShapedType());
  SmallVector<int64_t> shape(type.getShape());
  shape[dim] = keep.size();
  auto newType = RankedTensorType::get(shape, type.getElementType());

  Attribute newValue;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr); dense && dense.isSplat())
    newValue = dense.resizeSplat(newType);
  if (!newValue) {
    ArrayRef<char> data = *rawBytes(attr);
    int64_t elementBytes = type.getElementTypeBitWidth() / 8;
    int64_t outer = 1, inner = elementBytes;
    for (int64_t d = 0; d < dim; ++d)
      outer *= type.getDimSize(d);
    for (int64_t d = dim + 1; d < type.getRank(); ++d)
      inner *= type.getDimSize(d);
    int64_t extent = type.getDimSize(dim);
    SmallVector<char> out;
    out.reserve(outer * keep.size() * inner);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k : keep) {
        const char *src = data.data() + (o * extent + k) * inner;
        out.append(src, src + inner);
      }
    if (auto res = dyn_cast<DenseResourceElementsAttr>(attr)) {
      // Stay a resource: printing elides it and the CPU pipeline binds it
      // as a runtime parameter, as it did the original weight.
      AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
          out, elementBytes, /*dataIsMutable=*/false);
      newValue = DenseResourceElementsAttr::get(
          newType, (res.getRawHandle().getKey() + suffix).str(),
          std::move(blob));
    } else {
      newValue = DenseElementsAttr::getFromRawBuffer(newType, out);
    }
  }

  Operation *old = value.getDefiningOp();
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointAfter(old);
  auto typed = cast<ElementsAttr>(newValue);
  if (isa<onnx::ConstantOp>(old))
    return onnx::ConstantOp::create(builder, old->getLoc(), typed);
  return arith::ConstantOp::create(builder, old->getLoc(),
                                   cast<TypedAttr>(newValue));
}

void moe::eraseIfUnused(Value value) {
  Operation *op = value.getDefiningOp();
  if (op && op->use_empty() && isa<onnx::ConstantOp, arith::ConstantOp>(op))
    op->erase();
}
