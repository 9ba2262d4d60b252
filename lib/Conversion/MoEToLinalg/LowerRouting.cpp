//===- LowerRouting.cpp - moe.gate and moe.route -> linalg / kernels ------===//

#include "Common.h"
#include "Patterns.h"

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;

namespace {

/// logits[t, e] = bias[e] + sum_h x[t, h] * W[e, h]: the router weight
/// [E, H] is a transposed [in, out] matrix.
struct GateLowering : OpRewritePattern<GateOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(GateOp op,
                                PatternRewriter &rewriter) const override {
    auto resultType = cast<RankedTensorType>(op.getType());
    Value logits = emitMatmul(rewriter, op.getLoc(), op.getInput(),
                              op.getWeight(), !op.getWeightTransposed(),
                              op.getBias(), resultType.getElementType());
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, resultType, logits);
    return success();
  }
};

/// The routing kernel's encoding of the score function.
int32_t scoreCode(ScoreFunction score) {
  switch (score) {
  case ScoreFunction::Softmax:
    return 0;
  case ScoreFunction::Sigmoid:
    return 1;
  case ScoreFunction::SoftmaxAfterTopK:
    return 2;
  }
  llvm_unreachable("unknown score function");
}

/// Expert-choice capacity C = min(T, max(1, ceil(T * c / E))), computed in
/// f64 like RouteOp::getExpertCapacity so both agree on every T.
Value expertCapacity(OpBuilder &b, Location loc, Value logits,
                     int64_t numExperts, double factor) {
  auto type = cast<RankedTensorType>(logits.getType());
  if (!type.isDynamicDim(0))
    return arith::ConstantIndexOp::create(
        b, loc,
        RouteOp::getExpertCapacity(type.getDimSize(0), numExperts, factor));
  Value tokens = dimValue(b, loc, logits, 0);
  Value tokensI64 =
      arith::IndexCastUIOp::create(b, loc, b.getI64Type(), tokens);
  Value tokensF64 = arith::UIToFPOp::create(b, loc, b.getF64Type(), tokensI64);
  Value scaled = arith::MulFOp::create(
      b, loc, tokensF64,
      arith::ConstantOp::create(b, loc, b.getF64FloatAttr(factor)));
  Value ratio = arith::DivFOp::create(
      b, loc, scaled,
      arith::ConstantOp::create(b, loc, b.getF64FloatAttr(double(numExperts))));
  // Clamp while still in f64: a huge factor must not overflow the integer
  // conversion.
  Value ceil = math::CeilOp::create(b, loc, ratio);
  Value bounded = arith::MinimumFOp::create(b, loc, ceil, tokensF64);
  Value atLeastOne = arith::MaximumFOp::create(
      b, loc, bounded,
      arith::ConstantOp::create(b, loc, b.getF64FloatAttr(1.0)));
  Value capI64 = arith::FPToUIOp::create(b, loc, b.getI64Type(), atLeastOne);
  Value cap = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), capI64);
  // No tokens, no capacity.
  return arith::MinUIOp::create(b, loc, cap, tokens);
}

struct RouteLowering : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type();
    Value logits = castToDynamic(
        rewriter, loc, convertElements(rewriter, loc, op.getLogits(), f32));
    Value score = arith::ConstantOp::create(
        rewriter, loc, rewriter.getI32IntegerAttr(scoreCode(op.getScore())));
    auto weightsType = cast<RankedTensorType>(op.getWeights().getType());
    auto indicesType = cast<RankedTensorType>(op.getIndices().getType());

    if (op.getMode() == RoutingMode::ExpertChoice) {
      FailureOr<func::FuncOp> kernel = getOrInsertKernel(
          rewriter, op, "__moe_route_expert_choice", getRoutingKernels());
      if (failed(kernel))
        return failure();
      Value capacity =
          expertCapacity(rewriter, loc, op.getLogits(), op.getNumExperts(),
                         op.getCapacityFactorAttr().getValueAsDouble());
      auto call = func::CallOp::create(rewriter, loc, *kernel,
                                       ValueRange{logits, score, capacity});
      rewriter.replaceOp(
          op, {convertTo(rewriter, loc, call.getResult(0), weightsType),
               convertTo(rewriter, loc, call.getResult(1), indicesType)});
      return success();
    }

    FailureOr<func::FuncOp> kernel =
        getOrInsertKernel(rewriter, op, "__moe_route", getRoutingKernels());
    if (failed(kernel))
      return failure();
    int64_t numExperts = op.getNumExperts();
    auto vecType = [&](Type elt) {
      return RankedTensorType::get({numExperts}, elt);
    };
    Value bias;
    if (Value b = op.getSelectionBias())
      bias = convertElements(rewriter, loc, b, f32);
    else
      bias = arith::ConstantOp::create(
          rewriter, loc, DenseElementsAttr::get(vecType(f32), 0.0f));
    SmallVector<bool> mask(numExperts, true);
    if (std::optional<ArrayRef<bool>> m = op.getExpertMask())
      mask.assign(m->begin(), m->end());
    Value maskValue = arith::ConstantOp::create(
        rewriter, loc,
        DenseElementsAttr::get(vecType(rewriter.getI1Type()),
                               ArrayRef<bool>(mask)));

    auto index = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(rewriter, loc, v);
    };
    auto f32Const = [&](double v) -> Value {
      return arith::ConstantOp::create(rewriter, loc,
                                       rewriter.getF32FloatAttr(float(v)));
    };
    auto boolConst = [&](bool v) -> Value {
      return arith::ConstantOp::create(rewriter, loc, rewriter.getBoolAttr(v));
    };
    bool topP = op.getMode() == RoutingMode::TopP;
    SmallVector<Value> operands = {
        logits,
        castToDynamic(rewriter, loc, bias),
        castToDynamic(rewriter, loc, maskValue),
        score,
        index(*op.getK()),
        boolConst(op.getRenormalize()),
        f32Const(op.getEpsilonOrDefault()),
        f32Const(op.getScalingFactorOrDefault()),
        index(op.getNumGroups().value_or(0)),
        index(op.getTopkGroups().value_or(0)),
        index(op.getGroupTopKOrDefault()),
        boolConst(topP),
        f32Const(topP ? op.getTopPAttr().getValueAsDouble() : 1.0)};
    auto call = func::CallOp::create(rewriter, loc, *kernel, operands);
    rewriter.replaceOp(
        op, {convertTo(rewriter, loc, call.getResult(0), weightsType),
             convertTo(rewriter, loc, call.getResult(1), indicesType)});
    return success();
  }
};

} // namespace

void moe::detail::populateRoutingLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<GateLowering, RouteLowering>(patterns.getContext());
}
