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

/// Removes `name` from `op` when it is a float attribute equal to `value`.
/// Returns true if it removed something.
static bool dropDefaultFloat(Operation *op, StringRef name, double value) {
  auto attr = op->getAttrOfType<FloatAttr>(name);
  if (!attr || attr.getValueAsDouble() != value)
    return false;
  op->removeAttr(name);
  return true;
}

namespace {

/// Drops optional attributes that spell out their default.
template <typename OpT> struct DropDefaultAttrs : OpRewritePattern<OpT> {
  DropDefaultAttrs(MLIRContext *context,
                   SmallVector<std::pair<StringRef, double>> defaults)
      : OpRewritePattern<OpT>(context), defaults(std::move(defaults)) {}

  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    bool changed = false;
    rewriter.modifyOpInPlace(op, [&] {
      for (auto [name, value] : defaults)
        changed |= dropDefaultFloat(op, name, value);
    });
    return success(changed);
  }

  SmallVector<std::pair<StringRef, double>> defaults;
};

/// A selection bias of zeros selects exactly like no bias.
struct DropZeroSelectionBias : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteOp op,
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
struct DropFullExpertMask : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteOp op,
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
struct TopPWithOneExpertIsTop1 : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteOp op,
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
struct DropDefaultGroupTopK : OpRewritePattern<RouteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteOp op,
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

void RouteOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<DropZeroSelectionBias, DropFullExpertMask,
              TopPWithOneExpertIsTop1, DropDefaultGroupTopK>(context);
  results.add<DropDefaultAttrs<RouteOp>>(
      context, SmallVector<std::pair<StringRef, double>>{
                   {"scaling_factor", 1.0}, {"epsilon", 0.0}});
}

void ExpertsOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                            MLIRContext *context) {
  results.add<DropDefaultAttrs<ExpertsOp>>(context, activationDefaults());
}

void ActivationOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                               MLIRContext *context) {
  results.add<DropDefaultAttrs<ActivationOp>>(context, activationDefaults());
}
