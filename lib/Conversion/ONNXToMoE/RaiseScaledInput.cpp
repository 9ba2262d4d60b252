//===- RaiseScaledInput.cpp - experts on routing-scaled inputs (Llama 4) --===//
//
// Llama 4 scales the expert's *input* by the routing weight instead of its
// output, and transformers writes it densely: the top-1 logit is scattered
// into a -inf [T, E] matrix, sigmoid turns that into the weight of the
// chosen expert and 0 for every other, every expert runs on all tokens
// scaled by its column, and the expert outputs are summed:
//
//   s = sigmoid(scatter(-inf, topk.indices, topk.values))      [T, E]
//   y = sum_e FFN_e(x * s[:, e])        (Tile x E times, batched MatMul)
//
// An unchosen expert sees zeros, and an FFN without biases maps zeros to
// zeros, so y = FFN_chosen(x * w): with one expert per token, scaling the
// token before dispatch is exact. That is what the raised layer does
// (LayerSpec::scaleInput).
//
//===----------------------------------------------------------------------===//

#include "Match.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include <cmath>

using namespace mlir;
using namespace moe;
using namespace moe::detail;
using onnx::NodeOp;

namespace {

/// A batched MatMul of [E, T, in] rows by constant stacked [E, in, out]
/// weights: every expert on all rows.
std::optional<SlotLinear> matchBatchedLinear(Value out) {
  NodeOp matmul = producer(skipReshapes(out), "MatMul");
  if (!matmul)
    return std::nullopt;
  Value w = matmul.getInputs()[1];
  RankedTensorType wt = rankedType(w), xt = rankedType(matmul.getInputs()[0]);
  if (!isConstant(w) || !wt || wt.getRank() != 3 || !wt.hasStaticShape() ||
      !xt || xt.getRank() != 3 || xt.getDimSize(0) != wt.getDimSize(0))
    return std::nullopt;
  return SlotLinear{matmul.getInputs()[0], w, Value(), false};
}

/// The [T, E] matrix behind `v` = Reshape(Transpose(s)) as [E * T, 1]
/// (expert-major), or null.
Value expertMajorColumns(Value v) {
  NodeOp transpose = producer(skipReshapes(v), "Transpose");
  if (!transpose)
    return {};
  std::optional<SmallVector<int64_t>> perm = intsAttr(transpose, "perm");
  if (perm && *perm != SmallVector<int64_t>{1, 0})
    return {};
  return transpose.getInputs()[0];
}

/// The tokens behind `v` = x repeated E times expert-major ([E * T, H], row
/// e * T + t = x[t]), or null.
Value repeatedTokens(Value v, int64_t numExperts) {
  NodeOp tile = producer(skipReshapes(v), "Tile");
  if (!tile)
    return {};
  std::optional<SmallVector<int64_t>> reps =
      onnx::getConstantInts(tile.getInputs()[1]);
  if (!reps || *reps != SmallVector<int64_t>{numExperts, 1})
    return {};
  Value x = tile.getInputs()[0];
  // A broadcast to its own shape changes nothing.
  if (NodeOp expand = producer(x, "Expand");
      expand && expand.getInputs()[0].getType() == x.getType())
    x = expand.getInputs()[0];
  return skipReshapes(x);
}

/// The `opType` node that uses `v`, directly or through float casts.
NodeOp usedThroughCasts(Value v, StringRef opType) {
  for (Operation *user : v.getUsers()) {
    auto node = dyn_cast<NodeOp>(user);
    if (!node)
      continue;
    if (node.isStandard(opType))
      return node;
    if (node.isStandard("Cast") && skipReshapes(node.getOutputs()[0]) == v)
      if (NodeOp found = usedThroughCasts(node.getOutputs()[0], opType))
        return found;
  }
  return {};
}

} // namespace

LogicalResult
moe::detail::raiseScaledInput(NodeOp topk, RewriterBase &rewriter, bool remarks,
                              SmallVectorImpl<RaisedLayer> &layers) {
  NearMiss miss(topk, remarks);
  // The chosen logits scattered into -inf: the anchor of this form.
  NodeOp scatter;
  for (Operation *user : topk.getOutputs()[1].getUsers())
    if (auto node = dyn_cast<NodeOp>(user);
        node && node.isStandard("ScatterElements") &&
        node.getInputs()[1] == topk.getOutputs()[1] &&
        node.getInputs()[2] == topk.getOutputs()[0])
      scatter = node;
  std::optional<double> fill =
      scatter ? getFill(scatter.getInputs()[0]) : std::nullopt;
  if (!scatter || !fill || !std::isinf(*fill) || *fill > 0 ||
      intAttr(scatter, "axis", 0) != 1)
    return failure();
  NodeOp sigmoid = usedThroughCasts(scatter.getOutputs()[0], "Sigmoid");
  if (!sigmoid)
    return miss("the chosen logits are scattered into -inf but not turned "
                "into weights by a sigmoid");
  std::optional<int64_t> k = constantInt(topk.getInputs()[1]);
  if (!k || *k != 1)
    return miss("routing weights that scale the experts' input are exact "
                "only with one expert per token (top-1)");
  int64_t axis = intAttr(topk, "axis", -1);
  RankedTensorType scores = rankedType(topk.getInputs()[0]);
  if (!scores || scores.getRank() != 2 || (axis != -1 && axis != 1) ||
      scores.isDynamicDim(1) || intAttr(topk, "largest", 1) != 1)
    return miss("TopK does not pick the largest logit per token");
  int64_t numExperts = scores.getDimSize(1);

  // The scaled rows: Mul(x repeated E times, s transposed to a column).
  NodeOp scaled;
  Value tokens;
  if (NodeOp transpose =
          usedThroughCasts(sigmoid.getOutputs()[0], "Transpose")) {
    SmallVector<Operation *> worklist(transpose->getUsers().begin(),
                                      transpose->getUsers().end());
    while (!worklist.empty() && !scaled) {
      auto node = dyn_cast<NodeOp>(worklist.pop_back_val());
      if (!node)
        continue;
      if (node.isStandard("Reshape")) {
        llvm::append_range(worklist, node->getUsers());
        continue;
      }
      if (!node.isStandard("Mul"))
        continue;
      for (int i = 0; i < 2 && !scaled; ++i)
        if (Value columns = expertMajorColumns(node.getInputs()[i]);
            columns && skipReshapes(columns) == sigmoid.getOutputs()[0])
          if (Value x = repeatedTokens(node.getInputs()[1 - i], numExperts)) {
            scaled = node;
            tokens = x;
          }
    }
  }
  if (!scaled)
    return miss("the sigmoid routing weights do not scale the tokens "
                "repeated once per expert");

  // The layer output: the expert outputs summed over the experts axis.
  NodeOp sum;
  FailureOr<SlotFFN> ffn = failure();
  SmallVector<Operation *> worklist(scaled->getUsers().begin(),
                                    scaled->getUsers().end());
  llvm::SmallPtrSet<Operation *, 32> seen;
  while (!worklist.empty() && !sum && seen.size() < 64) {
    auto node = dyn_cast<NodeOp>(worklist.pop_back_val());
    if (!node || !seen.insert(node).second)
      continue;
    std::optional<SmallVector<int64_t>> axes =
        node.isStandard("ReduceSum") && node.getInputs().size() > 1
            ? onnx::getConstantInts(node.getInputs()[1])
            : std::nullopt;
    RankedTensorType in = rankedType(node.getInputs().front());
    if (axes && *axes == SmallVector<int64_t>{0} && in && in.getRank() == 3 &&
        in.getDimSize(0) == numExperts && intAttr(node, "keepdims", 1) == 0) {
      ffn = matchStackedFFN(node.getInputs()[0], matchBatchedLinear,
                            NearMiss(topk, false));
      if (succeeded(ffn))
        sum = node;
      continue;
    }
    llvm::append_range(worklist, node->getUsers());
  }
  if (!sum)
    return miss("no sum over the experts of a stacked-weight FFN on the "
                "scaled tokens was found");
  if (skipReshapes(ffn->input) != skipReshapes(scaled.getOutputs()[0]))
    return miss("the experts read other rows than the scaled tokens");
  if (!ffn->spec.biases.empty())
    return miss("experts with biases do not map unchosen (zero) inputs to "
                "zero");
  if (ffn->spec.numExperts != numExperts)
    return miss("the stacked weights hold another number of experts than "
                "the router scores");

  // Route: top-1 on the logits, weight sigmoid(logit) (sigmoid is monotonic,
  // so selecting on scores or logits is the same).
  std::optional<Linear> router = matchLinear(skipReshapes(topk.getInputs()[0]));
  if (!router || skipReshapes(router->input) != tokens)
    return miss("the router logits are not a linear layer of the tokens");
  RankedTensorType outType = rankedType(sum.getOutputs()[0]);
  RankedTensorType tokenType = rankedType(router->input);
  if (!outType || outType.getRank() != 2 || !tokenType ||
      tokenType.getRank() != 2)
    return miss("the layer's tokens or output are not [tokens, hidden]");

  LayerSpec spec;
  spec.kind = "scaled_input";
  spec.tokens = router->input;
  spec.router.weight = router->weight;
  spec.router.transposed = router->transposed;
  spec.router.bias = router->bias;
  spec.route.score = ScoreFunction::Sigmoid;
  spec.route.k = 1;
  spec.experts = ffn->spec;
  spec.scaleInput = true;
  spec.output = sum.getOutputs()[0];
  spec.anchor = topk;
  if (remarks)
    topk.emitRemark() << "raised an MoE layer whose routing weight scales "
                         "the experts' input (Llama 4): "
                      << numExperts << " experts, top-1";
  layers.push_back(buildLayer(spec, rewriter));
  return success();
}
