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

#include "mlir/IR/Builders.h"
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

/// Replaces the results in `known` whose elements are all known with
/// constants, then erases default-domain nodes left without users.
static void foldKnownInts(Operation *root, const KnownInts &known) {
  SmallVector<NodeOp> nodes;
  root->walk([&](NodeOp node) { nodes.push_back(node); });
  for (NodeOp node : nodes) {
    OpBuilder builder(node);
    for (Value result : node.getOutputs()) {
      auto it = known.find(result);
      auto type = dyn_cast<RankedTensorType>(result.getType());
      if (it == known.end() || result.use_empty() || !type ||
          !type.hasStaticShape() || !isa<IntegerType>(type.getElementType()) ||
          type.getNumElements() != int64_t(it->second.size()) ||
          llvm::is_contained(it->second, ShapedType::kDynamic))
        continue;
      auto elementType = cast<IntegerType>(type.getElementType());
      SmallVector<APInt> values;
      for (int64_t v : it->second)
        values.push_back(APInt(elementType.getWidth(), v, /*isSigned=*/true));
      auto constant = ConstantOp::create(
          builder, node.getLoc(), DenseIntElementsAttr::get(type, values));
      result.replaceAllUsesWith(constant);
    }
  }
  for (NodeOp node : llvm::reverse(nodes))
    if (isDefaultDomain(node.getDomain()) &&
        llvm::all_of(node.getOutputs(), [](Value v) { return v.use_empty(); }))
      node.erase();
}

LogicalResult moe::onnx::inferShapes(Operation *root, bool fold) {
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
  if (ok && fold)
    foldKnownInts(root, known);
  return success(ok);
}

namespace {
struct ONNXInferShapesPass
    : moe::onnx::impl::ONNXInferShapesBase<ONNXInferShapesPass> {
  using ONNXInferShapesBase::ONNXInferShapesBase;
  void runOnOperation() override {
    if (failed(inferShapes(getOperation(), foldKnownInts)))
      signalPassFailure();
  }
};
} // namespace
