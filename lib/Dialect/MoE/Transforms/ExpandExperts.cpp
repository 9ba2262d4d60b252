//===- ExpandExperts.cpp - moe.experts -> grouped matmuls -----------------===//
//
// The backends only know how to run grouped matmuls and element-wise
// activations, so this pass is where an expert FFN stops being one op. The
// weights are forwarded as they are (stacked or per expert, transposed or
// not): expanding never copies or re-lays out a weight.
//
//===----------------------------------------------------------------------===//

#include "ExpandExperts.h"

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
    rewriter.replaceOp(op, expandExperts(rewriter, op));
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

SmallVector<Value> moe::getStageOperands(ExpertsOp op, ValueRange all,
                                         unsigned stage) {
  if (op.isStacked())
    return {all[stage]};
  SmallVector<Value> values;
  unsigned stages = op.getNumStages();
  for (int64_t e = 0, n = op.getNumExperts(); e < n; ++e)
    values.push_back(all[e * stages + stage]);
  return values;
}

Value moe::buildStageGroupedMatmul(OpBuilder &builder, ExpertsOp op, Value lhs,
                                   unsigned stage, RankedTensorType type) {
  SmallVector<Value> bias;
  if (!op.getBiases().empty())
    bias = getStageOperands(op, op.getBiases(), stage);
  return GroupedMatmulOp::create(builder, op.getLoc(), type, lhs,
                                 getStageOperands(op, op.getWeights(), stage),
                                 op.getOffsets(), bias,
                                 op.getTransposedWeights(), /*panels=*/false,
                                 /*group_extents=*/nullptr);
}

Value moe::expandExperts(OpBuilder &builder, ExpertsOp op,
                         StageMatmulBuilder matmul) {
  Location loc = op.getLoc();
  unsigned stages = op.getNumStages();
  bool transposed = op.getTransposedWeights();
  auto rowsType = cast<RankedTensorType>(op.getRows().getType());
  int64_t numRows = rowsType.getDimSize(0);
  Type elementType = rowsType.getElementType();

  auto product = [&](Value lhs, unsigned stage, RankedTensorType type) {
    if (matmul)
      return matmul(builder, lhs, stage, type);
    return buildStageGroupedMatmul(builder, op, lhs, stage, type);
  };
  // [rows, widest output of the stage's weights].
  auto stageType = [&](unsigned stage) {
    int64_t width = 0;
    for (Value w : getStageOperands(op, op.getWeights(), stage))
      width = std::max(width, outWidth(w, transposed));
    return RankedTensorType::get({numRows, width}, elementType);
  };

  Value first = product(op.getRows(), 0, stageType(0));
  Value up = stages == 3 ? product(op.getRows(), 1, stageType(1)) : Value();

  // Inner (post-activation) width of each expert; only heterogeneous
  // experts need the per-group widths spelled out.
  bool fused =
      op.getGateLayout() && *op.getGateLayout() != GateLayout::Separate;
  SmallVector<int64_t> widths;
  for (Value w : getStageOperands(op, op.getWeights(), 0))
    widths.push_back(outWidth(w, transposed) / (fused ? 2 : 1));
  bool uniform = llvm::all_equal(widths);
  int64_t innerWidth = *llvm::max_element(widths);

  auto actType = RankedTensorType::get({numRows, innerWidth}, elementType);
  auto act = ActivationOp::create(
      builder, loc, actType, first, up, uniform ? Value() : op.getOffsets(),
      uniform ? DenseI64ArrayAttr() : builder.getDenseI64ArrayAttr(widths),
      op.getActivationAttr(), op.getGateLayoutAttr(), op.getAlphaAttr(),
      op.getBetaAttr(), op.getLimitAttr(), op.getKappaAttr(),
      op.getLambdaAttr());

  return product(act.getResult(), stages - 1,
                 cast<RankedTensorType>(op.getType()));
}

void moe::populateExpandExpertsPatterns(RewritePatternSet &patterns) {
  patterns.add<ExpandExpertsPattern>(patterns.getContext());
}
