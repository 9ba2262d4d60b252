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

/// The routing kernels' operands after the logits (or router): selection
/// bias, expert mask and the attributes as constants.
template <typename OpT>
SmallVector<Value> routingOperands(OpT op, PatternRewriter &rewriter,
                                   Location loc) {
  Type f32 = rewriter.getF32Type();
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
  return {
      castToDynamic(rewriter, loc, bias),
      castToDynamic(rewriter, loc, maskValue),
      arith::ConstantOp::create(
          rewriter, loc, rewriter.getI32IntegerAttr(scoreCode(op.getScore()))),
      index(*op.getK()),
      boolConst(op.getRenormalize()),
      f32Const(op.getEpsilonOrDefault()),
      f32Const(op.getScalingFactorOrDefault()),
      index(op.getNumGroups().value_or(0)),
      index(op.getTopkGroups().value_or(0)),
      index(op.getGroupTopKOrDefault()),
      boolConst(topP),
      f32Const(topP ? op.getTopPAttr().getValueAsDouble() : 1.0)};
}

/// skip_ratio = beta: slot s >= 1 with w[t, s] < beta * w[t, 0] becomes id
/// -1, weight 0. It runs after the kernel on its [T, k] results (the ratio
/// is the same before and after renormalization and scaling), so the
/// routing kernels need no extra operand.
std::pair<Value, Value> skipSlots(OpBuilder &b, Location loc, Value weights,
                                  Value ids, double beta) {
  MLIRContext *ctx = b.getContext();
  AffineExpr t = b.getAffineDimExpr(0), s = b.getAffineDimExpr(1);
  AffineMap id = AffineMap::get(2, 0, {t, s}, ctx);
  AffineMap first = AffineMap::get(2, 0, {t, b.getAffineConstantExpr(0)}, ctx);
  Value rows = dimValue(b, loc, weights, 0),
        slots = dimValue(b, loc, weights, 1);
  auto wType = cast<RankedTensorType>(weights.getType());
  auto iType = cast<RankedTensorType>(ids.getType());
  Value wInit = tensor::EmptyOp::create(b, loc, wType.getShape(),
                                        wType.getElementType(), {rows, slots});
  Value iInit = tensor::EmptyOp::create(b, loc, iType.getShape(),
                                        iType.getElementType(), {rows, slots});
  SmallVector<utils::IteratorType> parallel(2, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{wType, iType}, ValueRange{weights, weights, ids},
      ValueRange{wInit, iInit}, ArrayRef<AffineMap>{id, first, id, id, id},
      parallel, [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value slot = linalg::IndexOp::create(nb, nl, 1);
        Value later =
            arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ugt, slot,
                                  arith::ConstantIndexOp::create(nb, nl, 0));
        Value bound = arith::MulFOp::create(
            nb, nl, args[1],
            arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(beta)));
        Value below = arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OLT,
                                            args[0], bound);
        Value skip = arith::AndIOp::create(nb, nl, later, below);
        Value w = arith::SelectOp::create(
            nb, nl, skip,
            arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(0.0f)),
            args[0]);
        Value i = arith::SelectOp::create(
            nb, nl, skip,
            arith::ConstantOp::create(nb, nl, nb.getI64IntegerAttr(-1)),
            args[2]);
        linalg::YieldOp::create(nb, nl, ValueRange{w, i});
      });
  return {generic.getResult(0), generic.getResult(1)};
}

/// Replaces a routing op by `call`'s results, converted to its result types.
template <typename OpT>
void replaceWithCall(OpT op, func::CallOp call, PatternRewriter &rewriter) {
  Location loc = op.getLoc();
  Value weights = call.getResult(0), ids = call.getResult(1);
  if (FloatAttr beta = op.getSkipRatioAttr())
    std::tie(weights, ids) =
        skipSlots(rewriter, loc, weights, ids, beta.getValueAsDouble());
  rewriter.replaceOp(
      op, {convertTo(rewriter, loc, weights,
                     cast<RankedTensorType>(op.getWeights().getType())),
           convertTo(rewriter, loc, ids,
                     cast<RankedTensorType>(op.getIndices().getType()))});
}

/// Expert choice needs every logit before any expert picks its tokens, so
/// it always runs on materialized logits.
template <typename OpT>
LogicalResult lowerExpertChoice(OpT op, Value logits,
                                PatternRewriter &rewriter) {
  Location loc = op.getLoc();
  FailureOr<func::FuncOp> kernel = getOrInsertKernel(
      rewriter, op, "__moe_route_expert_choice", getRoutingKernels());
  if (failed(kernel))
    return failure();
  Value capacity =
      expertCapacity(rewriter, loc, logits, op.getNumExperts(),
                     op.getCapacityFactorAttr().getValueAsDouble());
  Value score = arith::ConstantOp::create(
      rewriter, loc, rewriter.getI32IntegerAttr(scoreCode(op.getScore())));
  Value dynLogits = castToDynamic(
      rewriter, loc,
      convertElements(rewriter, loc, logits, rewriter.getF32Type()));
  auto call = func::CallOp::create(rewriter, loc, *kernel,
                                   ValueRange{dynLogits, score, capacity});
  replaceWithCall(op, call, rewriter);
  return success();
}

struct RouteLowering : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouteOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getMode() == RoutingMode::ExpertChoice)
      return lowerExpertChoice(op, op.getLogits(), rewriter);
    Location loc = op.getLoc();
    FailureOr<func::FuncOp> kernel =
        getOrInsertKernel(rewriter, op, "__moe_route", getRoutingKernels());
    if (failed(kernel))
      return failure();
    SmallVector<Value> operands = {castToDynamic(
        rewriter, loc,
        convertElements(rewriter, loc, op.getLogits(), rewriter.getF32Type()))};
    llvm::append_range(operands, routingOperands(op, rewriter, loc));
    replaceWithCall(op, func::CallOp::create(rewriter, loc, *kernel, operands),
                    rewriter);
    return success();
  }
};

/// One kernel computes a token's logits, scores, selection and weights.
struct FusedRouteLowering : OpRewritePattern<FusedRouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(FusedRouteOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    if (op.getMode() == RoutingMode::ExpertChoice) {
      Value logits = emitMatmul(rewriter, loc, op.getInput(), op.getWeight(),
                                !op.getWeightTransposed(), op.getBias(),
                                op.getLogitsType().getElementType());
      return lowerExpertChoice(op, logits, rewriter);
    }
    FailureOr<func::FuncOp> kernel = getOrInsertKernel(
        rewriter, op, "__moe_gate_route", getRoutingKernels());
    if (failed(kernel))
      return failure();
    Type f32 = rewriter.getF32Type();
    auto toF32 = [&](Value v) {
      return castToDynamic(rewriter, loc,
                           convertElements(rewriter, loc, v, f32));
    };
    Value routerBias;
    if (Value b = op.getBias())
      routerBias = toF32(b);
    else
      routerBias = castToDynamic(
          rewriter, loc,
          arith::ConstantOp::create(
              rewriter, loc,
              DenseElementsAttr::get(
                  RankedTensorType::get({op.getNumExperts()}, f32), 0.0f)));
    SmallVector<Value> operands = {
        toF32(op.getInput()), toF32(op.getWeight()), routerBias,
        arith::ConstantOp::create(
            rewriter, loc, rewriter.getBoolAttr(op.getWeightTransposed()))};
    llvm::append_range(operands, routingOperands(op, rewriter, loc));
    replaceWithCall(op, func::CallOp::create(rewriter, loc, *kernel, operands),
                    rewriter);
    return success();
  }
};
} // namespace

void moe::detail::populateRoutingLoweringPatterns(RewritePatternSet &patterns) {
  patterns.add<GateLowering, RouteLowering, FusedRouteLowering>(
      patterns.getContext());
}
