//===- MoEToLinalg.cpp - the convert-moe-to-linalg pass -------------------===//

#include "moe/Conversion/MoEToLinalg/MoEToLinalg.h"
#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "Patterns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moe {
#define GEN_PASS_DEF_CONVERTMOETOLINALG
#include "moe/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

void moe::populateMoEToLinalgPatterns(RewritePatternSet &patterns) {
  populateExpandExpertsPatterns(patterns);
  detail::populateRoutingLoweringPatterns(patterns);
  detail::populateDispatchLoweringPatterns(patterns);
  detail::populateDequantizeLoweringPatterns(patterns);
  detail::populateExpertLoweringPatterns(patterns);
}

void moe::configureMoEToLinalgTarget(ConversionTarget &target) {
  target.addIllegalDialect<MoEDialect>();
  target.addLegalDialect<arith::ArithDialect, func::FuncDialect,
                         linalg::LinalgDialect, math::MathDialect,
                         memref::MemRefDialect, scf::SCFDialect,
                         tensor::TensorDialect>();
}

namespace {

/// What the CPU lowering cannot handle, reported before anything changes so
/// that the error names the op and the reason.
LogicalResult checkLowerable(Operation *op) {
  auto isSupportedFloat = [](Type t) {
    return t.isF16() || t.isBF16() || t.isF32() || t.isF64();
  };
  for (Type t :
       llvm::concat<Type>(op->getOperandTypes(), op->getResultTypes())) {
    Type elt = getElementTypeOrSelf(t);
    if (isa<FloatType>(elt) && !isSupportedFloat(elt))
      return op->emitOpError("element type ")
             << elt << " is not supported by the CPU lowering (f16, bf16, "
             << "f32 and f64 are)";
  }
  if (auto act = dyn_cast<moe::ActivationOp>(op)) {
    auto in = cast<RankedTensorType>(act.getInput().getType());
    auto out = cast<RankedTensorType>(act.getType());
    if (in.isDynamicDim(1) || out.isDynamicDim(1))
      return op->emitOpError(
          "needs static column counts to be lowered to the CPU");
  }
  return success();
}

struct ConvertMoEToLinalgPass
    : moe::impl::ConvertMoEToLinalgBase<ConvertMoEToLinalgPass> {
  void runOnOperation() override {
    WalkResult check = getOperation()->walk([](Operation *op) {
      if (isa_and_nonnull<moe::MoEDialect>(op->getDialect()) &&
          failed(checkLowerable(op)))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (check.wasInterrupted())
      return signalPassFailure();
    // Ops lowered together first: the op-by-op conversion below would take
    // them apart. No folding, nothing but these patterns.
    RewritePatternSet fused(&getContext());
    moe::detail::populateFusedExpertLoweringPatterns(fused);
    if (failed(applyPatternsGreedily(
            getOperation(), std::move(fused),
            GreedyRewriteConfig().enableFolding(false).setStrictness(
                GreedyRewriteStrictness::ExistingOps))))
      return signalPassFailure();
    ConversionTarget target(getContext());
    moe::configureMoEToLinalgTarget(target);
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    moe::populateMoEToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
