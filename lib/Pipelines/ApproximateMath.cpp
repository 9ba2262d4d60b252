//===- ApproximateMath.cpp - vectorizable exp in elementwise bodies -------===//
//
// LLVM's loop vectorizer gives up on a loop that calls expf; the polynomial
// form is plain arithmetic that it vectorizes to 16 lanes on AVX-512. Only
// elementwise generics are rewritten: their loops are where the time goes,
// and the routing kernels keep libm's exp (their top-k compares scores).
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moe {
#define GEN_PASS_DEF_MOEAPPROXIMATEMATH
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

struct ApproximateMathPass
    : moe::impl::MoEApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return name == math::ExpOp::getOperationName();
    });
    FrozenRewritePatternSet frozen(std::move(patterns));
    SmallVector<Operation *> elementwise;
    getOperation().walk([&](linalg::GenericOp op) {
      if (op.getNumLoops() == op.getNumParallelLoops())
        elementwise.push_back(op);
    });
    for (Operation *op : elementwise)
      if (failed(applyPatternsGreedily(op->getRegion(0), frozen)))
        return signalPassFailure();
  }
};

} // namespace
