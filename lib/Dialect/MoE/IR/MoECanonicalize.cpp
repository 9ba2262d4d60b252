//===- MoECanonicalize.cpp - moe dialect canonicalizations ----------------===//
//
// Only rewrites that leave every result bit-identical: attributes spelled at
// their default value are dropped, a selection bias of zeros is dropped, a
// mask that keeps every expert is dropped, and top-p routing that can pick
// one expert at most becomes plain top-1 routing.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace moe;

/// True when `op` has a float attribute `name` equal to `value`.
static bool hasDefaultFloat(Operation *op, StringRef name, double value) {
  auto attr = op->getAttrOfType<FloatAttr>(name);
  return attr && attr.getValueAsDouble() == value;
}

namespace {

/// Drops optional attributes that spell out their default.
template <typename OpT> struct DropDefaultAttrs : OpRewritePattern<OpT> {
  DropDefaultAttrs(MLIRContext *context,
                   SmallVector<std::pair<StringRef, double>> defaults)
      : OpRewritePattern<OpT>(context), defaults(std::move(defaults)) {}

  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    // Match before modifying: modifyOpInPlace notifies the rewriter even when
    // nothing changes, and the greedy driver would then revisit the op
    // forever.
    auto isDefault = [&](const std::pair<StringRef, double> &d) {
      return hasDefaultFloat(op, d.first, d.second);
    };
    if (llvm::none_of(defaults, isDefault))
      return failure();
    rewriter.modifyOpInPlace(op, [&] {
      for (const auto &d : defaults)
        if (isDefault(d))
          op->removeAttr(d.first);
    });
    return success();
  }

  SmallVector<std::pair<StringRef, double>> defaults;
};

/// A selection bias of zeros selects exactly like no bias.
template <typename OpT> struct DropZeroSelectionBias : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    Value bias = op.getSelectionBias();
    DenseFPElementsAttr values;
    if (!bias || !matchPattern(bias, m_Constant(&values)))
      return failure();
    if (!llvm::all_of(values.getValues<APFloat>(),
                      [](const APFloat &v) { return v.isZero(); }))
      return failure();
    rewriter.modifyOpInPlace(op, [&] { op.getSelectionBiasMutable().clear(); });
    return success();
  }
};

/// A mask that keeps every expert removes nothing.
template <typename OpT> struct DropFullExpertMask : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    std::optional<ArrayRef<bool>> mask = op.getExpertMask();
    if (!mask || !llvm::all_of(*mask, [](bool keep) { return keep; }))
      return failure();
    rewriter.modifyOpInPlace(op, [&] { op.removeExpertMaskAttr(); });
    return success();
  }
};

/// Top-p routing with at most one expert always takes the best expert with
/// its raw score, which is token-choice top-1 without renormalization (top_p
/// mode admits neither renormalization, bias nor groups).
template <typename OpT> struct TopPWithOneExpertIsTop1 : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    if (op.getMode() != RoutingMode::TopP || op.getK() != 1)
      return failure();
    rewriter.modifyOpInPlace(op, [&] {
      op.setMode(RoutingMode::TokenChoice);
      op.removeTopPAttr();
    });
    return success();
  }
};

/// group_topk = 2 is the default (DeepSeek-V3's group score).
template <typename OpT> struct DropDefaultGroupTopK : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    if (op.getGroupTopk() != 2)
      return failure();
    rewriter.modifyOpInPlace(op, [&] { op.removeGroupTopkAttr(); });
    return success();
  }
};

} // namespace

static SmallVector<std::pair<StringRef, double>> activationDefaults() {
  return {{"alpha", 1.0}, {"beta", 0.0}, {"kappa", 1.0}, {"lambda", 1.0}};
}

/// The same rewrites apply to moe.route and moe.fused_route.
template <typename OpT>
static void addRoutingPatterns(RewritePatternSet &results,
                               MLIRContext *context) {
  results.add<DropZeroSelectionBias<OpT>, DropFullExpertMask<OpT>,
              TopPWithOneExpertIsTop1<OpT>, DropDefaultGroupTopK<OpT>>(context);
  results.add<DropDefaultAttrs<OpT>>(
      context, SmallVector<std::pair<StringRef, double>>{
                   {"scaling_factor", 1.0}, {"epsilon", 0.0}});
}

void RouteOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  addRoutingPatterns<RouteOp>(results, context);
}

void FusedRouteOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                               MLIRContext *context) {
  addRoutingPatterns<FusedRouteOp>(results, context);
}

void ExpertsOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                            MLIRContext *context) {
  results.add<DropDefaultAttrs<ExpertsOp>>(context, activationDefaults());
}

void ActivationOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                               MLIRContext *context) {
  results.add<DropDefaultAttrs<ActivationOp>>(context, activationDefaults());
}
