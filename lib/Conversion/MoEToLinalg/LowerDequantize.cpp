//===- LowerDequantize.cpp - moe.dequantize -> linalg ---------------------===//
//
// One element-wise linalg.generic over the float result: each element finds
// its byte, bits, scale and zero point by index. The packed bytes are read in
// place (tensor.extract), so a memory-mapped weight is never copied whole
// before it is expanded.
//
//===----------------------------------------------------------------------===//

#include "Common.h"
#include "Patterns.h"

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;

namespace {

/// The `bits`-bit unsigned value number `pos` of a row of packed bytes
/// `packed` (low bits first), as f32; `lead` indexes the dims before the row.
Value unpack(OpBuilder &b, Location loc, Value packed, ValueRange lead,
             Value pos, int64_t bits) {
  Type i32 = b.getI32Type();
  auto cst = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v).getResult();
  };
  int64_t perByte = 8 / bits;
  SmallVector<Value> at(lead);
  at.push_back(arith::DivUIOp::create(b, loc, pos, cst(perByte)));
  Value byte = tensor::ExtractOp::create(b, loc, packed, at);
  Value value = arith::ExtUIOp::create(b, loc, i32, byte);
  if (perByte > 1) {
    Value shift = arith::MulIOp::create(
        b, loc, arith::RemUIOp::create(b, loc, pos, cst(perByte)), cst(bits));
    shift = arith::IndexCastUIOp::create(b, loc, i32, shift);
    value = arith::ShRUIOp::create(b, loc, value, shift);
    Value mask = arith::ConstantIntOp::create(b, loc, i32, (1 << bits) - 1);
    value = arith::AndIOp::create(b, loc, value, mask);
  }
  return arith::UIToFPOp::create(b, loc, b.getF32Type(), value);
}

struct DequantizeLowering : OpRewritePattern<DequantizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DequantizeOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    int64_t rank = type.getRank(), bits = op.getBits();
    std::optional<uint64_t> blockSize = op.getBlockSize();
    SmallVector<Value> dynSizes;
    for (int64_t d = 0; d < rank; ++d) {
      if (!type.isDynamicDim(d))
        continue;
      Value size = dimValue(rewriter, loc, op.getWeight(), d);
      if (d == rank - 1)
        size = arith::MulIOp::create(
            rewriter, loc, size,
            arith::ConstantIndexOp::create(rewriter, loc, 8 / bits));
      dynSizes.push_back(size);
    }
    Value init = tensor::EmptyOp::create(rewriter, loc, type, dynSizes);
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, type, ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{rewriter.getMultiDimIdentityMap(rank)}, iterators,
        [&](OpBuilder &b, Location loc, ValueRange) {
          SmallVector<Value> lead;
          for (int64_t d = 0; d + 1 < rank; ++d)
            lead.push_back(linalg::IndexOp::create(b, loc, d));
          Value k = linalg::IndexOp::create(b, loc, rank - 1);
          Value q = unpack(b, loc, op.getWeight(), lead, k, bits);
          // The scale (and zero point) of k's block, or of the row.
          Value block;
          SmallVector<Value> at(lead);
          if (blockSize) {
            block = arith::DivUIOp::create(
                b, loc, k,
                arith::ConstantIndexOp::create(b, loc, int64_t(*blockSize)));
            at.push_back(block);
          }
          Value scale = tensor::ExtractOp::create(b, loc, op.getScales(), at);
          scale = convertScalar(b, loc, scale, b.getF32Type());
          Value zero;
          if (Value zp = op.getZeroPoints()) {
            // Zero points are packed along their last dim like the weights.
            Value pos = at.back();
            at.pop_back();
            zero = unpack(b, loc, zp, at, pos, bits);
          } else {
            zero = arith::ConstantOp::create(
                b, loc, b.getF32FloatAttr(double(int64_t(1) << (bits - 1))));
          }
          Value w = arith::MulFOp::create(
              b, loc, arith::SubFOp::create(b, loc, q, zero), scale);
          linalg::YieldOp::create(
              b, loc, convertScalar(b, loc, w, type.getElementType()));
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

} // namespace

void moe::detail::populateDequantizeLoweringPatterns(
    RewritePatternSet &patterns) {
  patterns.add<DequantizeLowering>(patterns.getContext());
}
