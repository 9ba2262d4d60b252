//===- ExpandExperts.cpp - moe.experts -> grouped matmuls -----------------===//
//
// The backends only know how to run grouped matmuls and element-wise
// activations, so this pass is where an expert FFN stops being one op. The
// weights are forwarded as they are (stacked or per expert, transposed or
// not): expanding never copies or re-lays out a weight.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moe {
#define GEN_PASS_DEF_MOEEXPANDEXPERTS
#include "moe/Dialect/MoE/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace moe;

namespace {

/// Output width of a weight of a stage, honouring the transposed layout.
int64_t outWidth(Value weight, bool transposed) {
  auto type = cast<RankedTensorType>(weight.getType());
  int64_t rank = type.getRank();
  return type.getDimSize(transposed ? rank - 2 : rank - 1);
}

struct ExpandExpertsPattern : OpRewritePattern<ExpertsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ExpertsOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    unsigned stages = op.getNumStages();
    bool stacked = op.isStacked();
    bool transposed = op.getTransposedWeights();
    int64_t numExperts = op.getNumExperts();
    bool hasBias = !op.getBiases().empty();
    auto rowsType = cast<RankedTensorType>(op.getRows().getType());
    int64_t numRows = rowsType.getDimSize(0);
    Type elementType = rowsType.getElementType();

    // Operands of one stage: the stacked tensor, or one tensor per expert.
    auto stageOperands = [&](ValueRange all, unsigned stage) {
      SmallVector<Value> values;
      if (stacked) {
        values.push_back(all[stage]);
        return values;
      }
      for (int64_t e = 0; e < numExperts; ++e)
        values.push_back(all[e * stages + stage]);
      return values;
    };
    auto matmul = [&](Value lhs, unsigned stage) -> Value {
      SmallVector<Value> rhs = stageOperands(op.getWeights(), stage);
      SmallVector<Value> bias;
      if (hasBias)
        bias = stageOperands(op.getBiases(), stage);
      int64_t width = 0;
      for (Value w : rhs)
        width = std::max(width, outWidth(w, transposed));
      auto type = RankedTensorType::get({numRows, width}, elementType);
      return GroupedMatmulOp::create(rewriter, loc, type, lhs, rhs,
                                     op.getOffsets(), bias, transposed);
    };

    Value first = matmul(op.getRows(), 0);
    Value up = stages == 3 ? matmul(op.getRows(), 1) : Value();

    // Inner (post-activation) width of each expert; only heterogeneous
    // experts need the per-group widths spelled out.
    bool fused =
        op.getGateLayout() && *op.getGateLayout() != GateLayout::Separate;
    SmallVector<int64_t> widths;
    for (Value w : stageOperands(op.getWeights(), 0))
      widths.push_back(outWidth(w, transposed) / (fused ? 2 : 1));
    bool uniform = llvm::all_equal(widths);
    int64_t innerWidth = *llvm::max_element(widths);

    auto actType = RankedTensorType::get({numRows, innerWidth}, elementType);
    auto act = ActivationOp::create(
        rewriter, loc, actType, first, up, uniform ? Value() : op.getOffsets(),
        uniform ? DenseI64ArrayAttr() : rewriter.getDenseI64ArrayAttr(widths),
        op.getActivationAttr(), op.getGateLayoutAttr(), op.getAlphaAttr(),
        op.getBetaAttr(), op.getLimitAttr(), op.getKappaAttr(),
        op.getLambdaAttr());

    SmallVector<Value> down = stageOperands(op.getWeights(), stages - 1);
    SmallVector<Value> downBias;
    if (hasBias)
      downBias = stageOperands(op.getBiases(), stages - 1);
    rewriter.replaceOpWithNewOp<GroupedMatmulOp>(
        op, op.getType(), act.getResult(), down, op.getOffsets(), downBias,
        transposed);
    return success();
  }
};

struct MoEExpandExpertsPass
    : moe::impl::MoEExpandExpertsBase<MoEExpandExpertsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateExpandExpertsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void moe::populateExpandExpertsPatterns(RewritePatternSet &patterns) {
  patterns.add<ExpandExpertsPattern>(patterns.getContext());
}
