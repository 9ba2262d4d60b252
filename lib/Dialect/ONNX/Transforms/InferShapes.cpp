//===- InferShapes.cpp - the onnx-infer-shapes pass -----------------------===//
//
// One walk in program order: an ONNX graph is imported in topological order,
// so each node's inputs are typed (or known to be unknowable) by the time it
// is visited.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"
#include "moe/Dialect/ONNX/Transforms/Passes.h"
#include "moe/Dialect/ONNX/Transforms/ShapeInference.h"

#include "InferenceContext.h"

#include "mlir/IR/BuiltinOps.h"

namespace moe::onnx {
#define GEN_PASS_DEF_ONNXINFERSHAPES
#include "moe/Dialect/ONNX/Passes.h.inc"
} // namespace moe::onnx

using namespace mlir;
using namespace moe::onnx;
using namespace moe::onnx::infer;

/// True if a value of type `known` can hold what the operator produces as
/// `inferred`: same element type, same rank, and no two static dims differ.
static bool isCompatible(Type known, Type inferred) {
  auto knownTensor = dyn_cast<TensorType>(known);
  auto inferredTensor = dyn_cast<TensorType>(inferred);
  if (!knownTensor || !inferredTensor)
    return false;
  if (knownTensor.getElementType() != inferredTensor.getElementType())
    return false;
  if (!knownTensor.hasRank() || !inferredTensor.hasRank())
    return true;
  if (knownTensor.getRank() != inferredTensor.getRank())
    return false;
  for (auto [a, b] :
       llvm::zip(knownTensor.getShape(), inferredTensor.getShape()))
    if (!ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b)
      return false;
  return true;
}

/// Applies the inferred types to `node`: unknown results take them, known
/// ones must agree.
static LogicalResult applyResults(NodeOp node, InferenceContext &ctx,
                                  KnownInts &known) {
  bool ok = true;
  for (auto [i, result] : llvm::enumerate(node.getOutputs())) {
    Type inferred = ctx.getResults()[i];
    if (const auto &ints = ctx.getResultInts()[i])
      known[result] = *ints;
    if (!inferred)
      continue;
    Type current = result.getType();
    // An unused optional output stays `none`.
    if (isa<NoneType>(current))
      continue;
    if (isa<UnknownType>(current)) {
      result.setType(inferred);
      continue;
    }
    if (!isCompatible(current, inferred)) {
      ctx.emitError() << "result #" << i << " has type " << current
                      << " but the operator gives " << inferred;
      ok = false;
    }
  }
  return success(ok);
}

LogicalResult moe::onnx::inferShapes(Operation *root) {
  const InferenceTable &table = getInferenceTable();
  KnownInts known;
  bool ok = true;
  root->walk([&](NodeOp node) {
    InferFn fn = table.lookup(node);
    if (!fn)
      return;
    int64_t opset = getOpsetVersion(node).value_or(kLatestOpset);
    InferenceContext ctx(node, opset, known);
    if (failed(fn(ctx)) || failed(applyResults(node, ctx, known)))
      ok = false;
  });
  return success(ok);
}

namespace {
struct ONNXInferShapesPass
    : moe::onnx::impl::ONNXInferShapesBase<ONNXInferShapesPass> {
  void runOnOperation() override {
    if (failed(inferShapes(getOperation())))
      signalPassFailure();
  }
};
} // namespace
