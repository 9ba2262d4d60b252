//===- ONNXToMoE.cpp - the onnx-raise-moe pass ----------------------------===//

#include "moe/Conversion/ONNXToMoE/ONNXToMoE.h"
#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoE.h"

#include "LayerReport.h"
#include "Match.h"
#include "Raise.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/CommandLine.h"

namespace moe {
#define GEN_PASS_DEF_ONNXRAISEMOE
#include "moe/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;
using moe::onnx::NodeOp;

namespace {

using moe::detail::RaisedLayer;

/// `moe-opt --moe-report=F` (any tool that links the pass): the report path
/// when the pass's own `report` option is not given.
static llvm::cl::opt<std::string>
    clReportPath("moe-report",
                 llvm::cl::desc("Write a JSON report of the MoE layers "
                                "that --onnx-raise-moe raises to this file"),
                 llvm::cl::init(""));

/// Every raising rule, tried in order on one node.
LogicalResult raiseNode(NodeOp node, RewriterBase &rewriter, bool remarks,
                        SmallVectorImpl<RaisedLayer> &layers) {
  if (!node.getDomain().empty() && node.getDomain() != "ai.onnx")
    return moe::detail::raiseContribMoE(node, rewriter, remarks, layers);
  if (node.isStandard("TopK")) {
    if (succeeded(
            moe::detail::raiseGatheredExperts(node, rewriter, remarks, layers)))
      return success();
    if (succeeded(
            moe::detail::raiseExpertLoop(node, rewriter, remarks, layers)))
      return success();
    if (succeeded(
            moe::detail::raiseDenseMasked(node, rewriter, remarks, layers)))
      return success();
    if (succeeded(
            moe::detail::raiseScaledInput(node, rewriter, remarks, layers)))
      return success();
    return moe::detail::raiseExpertChoice(node, rewriter, remarks, layers);
  }
  // Switch's top-1 router picks its expert with ArgMax, not TopK.
  if (node.isStandard("ArgMax"))
    return moe::detail::raiseSwitch(node, rewriter, remarks, layers);
  // PhiMoE's sparsemixer concatenates two argmaxes.
  if (node.isStandard("Concat"))
    return moe::detail::raiseSparseMixer(node, rewriter, remarks, layers);
  return failure();
}

/// Remembers erased ops: a raised layer erases nodes that are still on the
/// pass's worklist.
struct ErasedOps : RewriterBase::Listener {
  void notifyOperationErased(Operation *op) override { erased.insert(op); }
  llvm::DenseSet<Operation *> erased;
};

struct RaiseNodePattern : OpRewritePattern<NodeOp> {
  RaiseNodePattern(MLIRContext *ctx, bool remarks)
      : OpRewritePattern(ctx), remarks(remarks) {}
  LogicalResult matchAndRewrite(NodeOp node,
                                PatternRewriter &rewriter) const override {
    SmallVector<RaisedLayer> layers;
    return raiseNode(node, rewriter, remarks, layers);
  }
  bool remarks;
};

struct ONNXRaiseMoEPass : moe::impl::ONNXRaiseMoEBase<ONNXRaiseMoEPass> {
  using ONNXRaiseMoEBase::ONNXRaiseMoEBase;

  /// Stacked expert weights still gathered by expert ids after raising
  /// belong to a layer whose router no rule recognized (PhiMoE's
  /// sparsemixer, say): say so once per weight, where no TopK or ArgMax
  /// rule may have spoken.
  void explainUnraisedExpertGathers() {
    llvm::DenseSet<Value> explained;
    getOperation()->walk([&](NodeOp node) {
      if (!node.isStandard("Gather") && !node.isStandard("GatherND"))
        return;
      Value table = node.getInputs()[0];
      auto type = dyn_cast<RankedTensorType>(table.getType());
      if (!type || type.getRank() != 3 ||
          !isa<FloatType>(type.getElementType()) ||
          !moe::detail::isConstant(table) || !explained.insert(table).second)
        return;
      node.emitRemark("not raised: stacked expert weights ")
          << type
          << " are gathered by expert ids that no recognized router "
             "computes (a TopK or ArgMax over router scores)";
    });
  }

  void runOnOperation() override {
    // One visit per node, so that each near miss is reported once.
    SmallVector<NodeOp> nodes;
    getOperation()->walk([&](NodeOp node) { nodes.push_back(node); });
    ErasedOps erased;
    IRRewriter rewriter(&getContext(), &erased);
    SmallVector<RaisedLayer> layers;
    for (NodeOp node : nodes) {
      if (erased.erased.contains(node))
        continue;
      rewriter.setInsertionPoint(node);
      (void)raiseNode(node, rewriter, remarks, layers);
    }
    if (remarks)
      explainUnraisedExpertGathers();
    std::string path = report.empty() ? clReportPath.getValue() : report;
    if (!path.empty() && failed(moe::detail::writeLayerReport(
                             layers, path, getOperation().getLoc())))
      signalPassFailure();
  }
};

} // namespace

void moe::populateONNXToMoEPatterns(RewritePatternSet &patterns, bool remarks) {
  patterns.add<RaiseNodePattern>(patterns.getContext(), remarks);
}
