//===- FuseGating.cpp - moe.gate + moe.route -> moe.fused_route -----------===//

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moe {
#define GEN_PASS_DEF_MOEFUSEGATING
#include "moe/Dialect/MoE/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace moe;

namespace {

struct FuseGateIntoRoute : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RouteOp route,
                                PatternRewriter &rewriter) const override {
    auto gate = route.getLogits().getDefiningOp<GateOp>();
    if (!gate)
      return rewriter.notifyMatchFailure(route, "logits do not come from "
                                                "moe.gate");
    // Other users would need the logits in memory anyway.
    if (!gate->hasOneUse())
      return rewriter.notifyMatchFailure(route, "logits have other users");
    // The fused op computes logits in the input's element type, as the gate
    // does only when its result has that type.
    auto logitsType = cast<RankedTensorType>(gate.getLogits().getType());
    auto inputType = cast<RankedTensorType>(gate.getInput().getType());
    if (logitsType.getElementType() != inputType.getElementType())
      return rewriter.notifyMatchFailure(route, "gate changes element type");

    auto fused = FusedRouteOp::create(
        rewriter, route.getLoc(), route.getWeights().getType(),
        route.getIndices().getType(), gate.getInput(), gate.getWeight(),
        gate.getBias(), route.getSelectionBias(), gate.getWeightTransposed(),
        route.getMode(), route.getScore(), route.getKAttr(),
        route.getRenormalize(), route.getEpsilonAttr(),
        route.getScalingFactorAttr(), route.getNumGroupsAttr(),
        route.getTopkGroupsAttr(), route.getGroupTopkAttr(),
        route.getTopPAttr(), route.getCapacityFactorAttr(),
        route.getExpertMaskAttr(), route.getSkipRatioAttr());
    rewriter.replaceOp(route, fused.getResults());
    rewriter.eraseOp(gate);
    return success();
  }
};

struct MoEFuseGatingPass : moe::impl::MoEFuseGatingBase<MoEFuseGatingPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseGatingPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void moe::populateFuseGatingPatterns(RewritePatternSet &patterns) {
  patterns.add<FuseGateIntoRoute>(patterns.getContext());
}
