//===- QuantizedWeights.cpp - QMoE's quantized expert weights -------------===//

#include "QuantizedWeights.h"
#include "Match.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;

namespace {

/// The bytes of a uint8/int8 initializer, or null.
ElementsAttr constantBytes(Value v) {
  auto cst = v ? v.getDefiningOp<onnx::ConstantOp>() : onnx::ConstantOp();
  if (!cst)
    return {};
  ElementsAttr value = cst.getValue();
  if (!value.getElementType().isInteger(8))
    return {};
  if (!isa<DenseResourceElementsAttr, DenseElementsAttr>(value))
    return {};
  return value;
}

std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? ", " : "") + std::to_string(d);
  return s + "]";
}

/// The same bytes as a signless i8 constant: arith works on signless
/// integers only, and a resource keeps its blob (no copy).
Value signlessBytes(Value v, RewriterBase &rewriter, Location loc) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getElementType().isSignlessInteger(8))
    return v;
  auto newType = type.clone(rewriter.getI8Type());
  ElementsAttr value = v.getDefiningOp<onnx::ConstantOp>().getValue();
  ElementsAttr retyped;
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value))
    retyped = DenseResourceElementsAttr::get(newType, resource.getRawHandle());
  else
    retyped = cast<DenseElementsAttr>(value).bitcast(rewriter.getI8Type());
  return onnx::ConstantOp::create(rewriter, loc, newType, retyped);
}

} // namespace

FailureOr<QuantizedWeight> moe::detail::readQuantizedWeight(
    StringRef name, Value weight, Value scales, Value zeroPoints, int64_t bits,
    std::optional<int64_t> blockSize, Type elementType, const NearMiss &miss) {
  QuantizedWeight q;
  q.weight = weight;
  q.scales = scales;
  q.zeroPoints = zeroPoints;
  q.bits = bits;
  q.blockSize = blockSize;
  RankedTensorType wType = rankedType(weight);
  if (!constantBytes(weight) || !wType || wType.getRank() != 3 ||
      !wType.hasStaticShape())
    return miss((name + "_experts_weights must be a constant uint8 "
                        "[experts, out, packed in] initializer")
                    .str());
  if (!scales)
    return miss((name + "_scales is required").str());
  int64_t experts = wType.getDimSize(0), rows = wType.getDimSize(1);
  int64_t cols = wType.getDimSize(2) * 8 / bits;
  q.floatType = RankedTensorType::get({experts, rows, cols}, elementType);
  SmallVector<int64_t> expected = {experts, rows};
  if (blockSize)
    expected.push_back(llvm::divideCeil(cols, *blockSize));
  RankedTensorType sType = rankedType(scales);
  if (!sType || !isa<FloatType>(sType.getElementType()) ||
      sType.getShape() != ArrayRef<int64_t>(expected))
    return miss((name + "_scales " + typeStr(scales.getType()) +
                 " should be float " + shapeStr(expected) +
                 (blockSize ? " (one scale per block)"
                            : " (one scale per row without block_size)"))
                    .str());
  if (zeroPoints) {
    expected.back() = llvm::divideCeil(expected.back() * bits, 8);
    RankedTensorType zType = rankedType(zeroPoints);
    if (!constantBytes(zeroPoints) || !zType ||
        zType.getShape() != ArrayRef<int64_t>(expected))
      return miss((name + "_zero_points " + typeStr(zeroPoints.getType()) +
                   " should be a constant uint8 " + shapeStr(expected))
                      .str());
  }
  return q;
}

Value moe::detail::materializeDequantize(const QuantizedWeight &q,
                                         RewriterBase &rewriter, Location loc) {
  Value zeroPoints;
  if (q.zeroPoints)
    zeroPoints = signlessBytes(q.zeroPoints, rewriter, loc);
  IntegerAttr blockSize;
  if (q.blockSize)
    blockSize = rewriter.getI64IntegerAttr(*q.blockSize);
  return DequantizeOp::create(
      rewriter, loc, q.floatType, signlessBytes(q.weight, rewriter, loc),
      q.scales, zeroPoints, rewriter.getI64IntegerAttr(q.bits), blockSize);
}
