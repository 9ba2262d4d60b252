//===- ONNXToMoE.cpp - the onnx-raise-moe pass ----------------------------===//

#include "moe/Conversion/ONNXToMoE/ONNXToMoE.h"
#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoE.h"

#include "Raise.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"

namespace moe {
#define GEN_PASS_DEF_ONNXRAISEMOE
#include "moe/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;
using moe::onnx::NodeOp;

namespace {

/// Every raising rule, tried in order on one node.
LogicalResult raiseNode(NodeOp node, RewriterBase &rewriter, bool remarks) {
  return moe::detail::raiseContribMoE(node, rewriter, remarks);
}

struct RaiseNodePattern : OpRewritePattern<NodeOp> {
  RaiseNodePattern(MLIRContext *ctx, bool remarks)
      : OpRewritePattern(ctx), remarks(remarks) {}
  LogicalResult matchAndRewrite(NodeOp node,
                                PatternRewriter &rewriter) const override {
    return raiseNode(node, rewriter, remarks);
  }
  bool remarks;
};

struct ONNXRaiseMoEPass : moe::impl::ONNXRaiseMoEBase<ONNXRaiseMoEPass> {
  using ONNXRaiseMoEBase::ONNXRaiseMoEBase;

  void runOnOperation() override {
    // One visit per node, so that each near miss is reported once.
    SmallVector<NodeOp> nodes;
    getOperation()->walk([&](NodeOp node) { nodes.push_back(node); });
    IRRewriter rewriter(&getContext());
    for (NodeOp node : nodes) {
      rewriter.setInsertionPoint(node);
      (void)raiseNode(node, rewriter, remarks);
    }
  }
};

} // namespace

void moe::populateONNXToMoEPatterns(RewritePatternSet &patterns, bool remarks) {
  patterns.add<RaiseNodePattern>(patterns.getContext(), remarks);
}
