//===- RaiseDenseMasked.cpp - dense masked experts -> moe ops -------------===//
//
// The "dense masked" form runs every expert on every token and combines the
// outputs through a [T, E] gate matrix that holds the top-k routing weights
// at the top-k indices and zeros elsewhere:
//
//   gates = zeros[T, E].scatter(1, ids, w)         ScatterElements(axis = 1)
//   y     = sum_e gates[:, e] * expert_e(x)
//
// written either as stack + broadcast Mul + ReduceSum over the expert axis,
// or as a sum of per-expert products with gate columns (Slice, Gather or
// Split of the gate matrix). Since a zero gate contributes nothing, the
// layer is the sparse top-k layer, which computes only the routed rows.
// It is raised only if the gate matrix is exactly the top-k weights of one
// router scattered at that router's top-k indices into zeros, column e
// multiplies expert e, every expert appears once, and the experts read the
// router's tokens.
//
//===----------------------------------------------------------------------===//

#include "Match.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;
using onnx::NodeOp;

namespace {

/// The layer-wide facts every piece is checked against.
struct DenseContext {
  Value gates;
  int64_t numExperts = 0;
  int64_t hidden = 0;
};

/// True for the nodes skipReshapes looks through.
bool isReshapeLike(NodeOp node) {
  return node && node.getOutputs().size() == 1 &&
         skipReshapes(node.getOutputs()[0]) != node.getOutputs()[0];
}

/// `v` and every value that skipReshapes maps back to it.
SmallVector<Value> reshapedViews(Value v) {
  SmallVector<Value> views = {v};
  for (unsigned i = 0; i < views.size() && views.size() < 32; ++i)
    for (Operation *user : views[i].getUsers())
      if (auto node = dyn_cast<NodeOp>(user); isReshapeLike(node))
        views.push_back(node.getOutputs()[0]);
  return views;
}

/// ScatterElements(zeros, ids, updates, axis = 1) over `ids` (the TopK
/// indices [T, k]): a candidate gate matrix.
NodeOp findGateScatter(NodeOp topk) {
  Value ids = topk.getOutputs()[1];
  for (Value view : reshapedViews(ids))
    for (Operation *user : view.getUsers()) {
      auto node = dyn_cast<NodeOp>(user);
      if (node && node.isStandard("ScatterElements") &&
          node.getInputs()[1] == view)
        return node;
    }
  return {};
}

/// Checks that `scatter` writes `[T, k]` routing weights at the `[T, k]`
/// indices of its TopK into a `[T, E]` matrix.
LogicalResult checkGateScatter(NodeOp scatter, int64_t k, int64_t numExperts,
                               const NearMiss &miss) {
  // TopK's indices in a row are distinct, so adding into zeros writes.
  auto reduction =
      dyn_cast_or_null<StringAttr>(scatter.getONNXAttr("reduction"));
  if (reduction && reduction.getValue() != "none" &&
      reduction.getValue() != "add")
    return miss("the gate matrix is scattered with reduction '" +
                reduction.getValue() + "'");
  RankedTensorType data = rankedType(scatter.getInputs()[0]);
  if (!data || data.getRank() != 2 || data.getDimSize(1) != numExperts)
    return miss("the gate matrix is not [tokens, experts]");
  int64_t axis = intAttr(scatter, "axis", 0);
  if (axis != 1 && axis != -1)
    return miss("the routing weights are not scattered along the experts "
                "axis");
  for (Value v : {scatter.getInputs()[1], scatter.getInputs()[2]}) {
    RankedTensorType t = rankedType(v);
    if (!t || t.getRank() != 2 || t.getDimSize(1) != k)
      return miss("the scattered indices or weights are not [tokens, k]");
  }
  return success();
}

/// The column index `e` a [T, 1] (or [T]) value takes out of the gate
/// matrix: Slice(e, e + 1, axes = 1), Gather(e, axis = 1) or output e of a
/// Split(axis = 1) into unit columns.
std::optional<int64_t> gateColumn(Value v, const DenseContext &ctx) {
  v = skipReshapes(v);
  auto node = v.getDefiningOp<NodeOp>();
  if (!node || skipReshapes(node.getInputs()[0]) != ctx.gates ||
      rankedType(node.getInputs()[0]) != rankedType(ctx.gates))
    return std::nullopt;
  auto single = [](Value c) -> std::optional<int64_t> {
    std::optional<SmallVector<int64_t>> values = onnx::getConstantInts(c);
    if (!values || values->size() != 1)
      return std::nullopt;
    return values->front();
  };
  auto isExpertAxis = [](std::optional<int64_t> axis) {
    return axis == 1 || axis == -1;
  };
  auto inRange = [&](std::optional<int64_t> e) -> std::optional<int64_t> {
    if (!e || *e < -ctx.numExperts || *e >= ctx.numExperts)
      return std::nullopt;
    return *e < 0 ? *e + ctx.numExperts : *e;
  };
  unsigned numInputs = node.getInputs().size();
  if (node.isStandard("Slice") && numInputs >= 4 && numInputs <= 5) {
    std::optional<int64_t> start = inRange(single(node.getInputs()[1]));
    std::optional<int64_t> end = single(node.getInputs()[2]);
    std::optional<int64_t> step =
        numInputs == 5 ? single(node.getInputs()[4]) : 1;
    if (!start || !end || step != 1 ||
        !isExpertAxis(single(node.getInputs()[3])) ||
        (*end != *start + 1 &&
         !(*start == ctx.numExperts - 1 && *end >= ctx.numExperts)))
      return std::nullopt;
    return start;
  }
  if (node.isStandard("Gather")) {
    RankedTensorType index = rankedType(node.getInputs()[1]);
    if (!index || index.getRank() != 0 ||
        !isExpertAxis(intAttr(node, "axis", 0)))
      return std::nullopt;
    return inRange(single(node.getInputs()[1]));
  }
  if (node.isStandard("Split") &&
      int64_t(node.getOutputs().size()) == ctx.numExperts &&
      isExpertAxis(intAttr(node, "axis", 0))) {
    if (numInputs > 1 && !isa<NoneType>(node.getInputs()[1].getType())) {
      std::optional<SmallVector<int64_t>> sizes =
          onnx::getConstantInts(node.getInputs()[1]);
      if (!sizes || llvm::any_of(*sizes, [](int64_t s) { return s != 1; }))
        return std::nullopt;
    }
    return cast<OpResult>(v).getResultNumber();
  }
  return std::nullopt;
}

/// The combine's pieces: expert e's output (its down projection, reshapes
/// skipped) for every e, and the value the layer computes.
struct DenseCombine {
  SmallVector<Value> expertOuts;
  Value output;
};

/// Records `out` as expert `e`'s output, once.
LogicalResult setExpert(DenseCombine &combine, int64_t e, Value out,
                        const NearMiss &miss) {
  if (combine.expertOuts[e])
    return miss("gate column " + Twine(e) +
                " multiplies more than one "
                "expert output");
  combine.expertOuts[e] = skipReshapes(out);
  return success();
}

/// The experts stacked along axis 1 into [T, E, H]: a Concat(axis = 1) of E
/// [T, 1, H] (or [T, H], viewed as [T, E, H]) expert outputs, in order.
FailureOr<DenseCombine> matchStack(Value stack, const DenseContext &ctx,
                                   const NearMiss &miss) {
  RankedTensorType stackType = rankedType(stack);
  NodeOp concat = producer(skipReshapes(stack), "Concat");
  if (!stackType || stackType.getRank() != 3 ||
      stackType.getDimSize(1) != ctx.numExperts ||
      stackType.getDimSize(2) != ctx.hidden || !concat ||
      int64_t(concat.getInputs().size()) != ctx.numExperts)
    return miss("the gate matrix multiplies something other than the E "
                "expert outputs stacked along axis 1");
  RankedTensorType part = rankedType(concat.getInputs()[0]);
  int64_t axis = intAttr(concat, "axis", 0);
  bool unitAxis = part && part.getRank() == 3 && (axis == 1 || axis == -2);
  bool flat = part && part.getRank() == 2 && (axis == 1 || axis == -1);
  DenseCombine combine;
  combine.expertOuts.resize(ctx.numExperts);
  for (auto [e, in] : llvm::enumerate(concat.getInputs())) {
    RankedTensorType t = rankedType(in);
    bool fits = t && t.getDimSize(t.getRank() - 1) == ctx.hidden &&
                ((unitAxis && t.getRank() == 3 && t.getDimSize(1) == 1) ||
                 (flat && t.getRank() == 2));
    if (!fits)
      return miss("the stacked expert outputs are not [tokens, 1, hidden] "
                  "slices along axis 1");
    if (failed(setExpert(combine, e, in, miss)))
      return failure();
  }
  return combine;
}

/// ReduceSum(gates[T, E, 1] * stack[T, E, H], axes = [1]).
FailureOr<DenseCombine> matchStackedCombine(NodeOp reduce,
                                            const DenseContext &ctx,
                                            const NearMiss &miss) {
  std::optional<SmallVector<int64_t>> axes;
  if (reduce.getInputs().size() > 1)
    axes = onnx::getConstantInts(reduce.getInputs()[1]);
  RankedTensorType in = rankedType(reduce.getInputs()[0]);
  NodeOp mul = producer(reduce.getInputs()[0], "Mul");
  if (!in || in.getRank() != 3 || !axes || axes->size() != 1 ||
      ((*axes)[0] != 1 && (*axes)[0] != -2) ||
      intAttr(reduce, "keepdims", 1) != 0 || !mul)
    return miss("the weighted expert outputs are not summed over the "
                "experts axis");
  for (int i = 0; i < 2; ++i) {
    Value g = mul.getInputs()[i];
    RankedTensorType gt = rankedType(g);
    if (skipReshapes(g) != ctx.gates || !gt || gt.getRank() != 3 ||
        gt.getDimSize(1) != ctx.numExperts || gt.getDimSize(2) != 1)
      continue;
    FailureOr<DenseCombine> combine =
        matchStack(mul.getInputs()[1 - i], ctx, miss);
    if (succeeded(combine))
      combine->output = reduce.getOutputs()[0];
    return combine;
  }
  return miss("the expert outputs are not scaled by the gate matrix as "
              "[tokens, experts, 1]");
}

/// The terms of a tree of Adds.
void collectTerms(Value v, SmallVectorImpl<Value> &terms, unsigned depth = 0) {
  if (NodeOp add = producer(v, "Add"); add && depth < 64) {
    collectTerms(add.getInputs()[0], terms, depth + 1);
    collectTerms(add.getInputs()[1], terms, depth + 1);
    return;
  }
  terms.push_back(v);
}

/// sum_e gates[:, e] * expert_e(x): an Add tree of per-expert products
/// (and zeros, which add nothing).
FailureOr<DenseCombine> matchColumnSum(NodeOp root, const DenseContext &ctx,
                                       const NearMiss &miss) {
  SmallVector<Value> terms;
  collectTerms(root.getOutputs()[0], terms);
  DenseCombine combine;
  combine.expertOuts.resize(ctx.numExperts);
  combine.output = root.getOutputs()[0];
  for (Value term : terms) {
    if (getFill(term) == 0.0)
      continue;
    NodeOp mul = producer(term, "Mul");
    std::optional<int64_t> e;
    for (int i = 0; i < 2 && mul && !e; ++i) {
      e = gateColumn(mul.getInputs()[i], ctx);
      RankedTensorType out = rankedType(mul.getInputs()[1 - i]);
      if (e && (!out || out.getRank() != 2 || out.getDimSize(1) != ctx.hidden))
        return miss("gate column " + Twine(*e) +
                    " does not scale a "
                    "[tokens, hidden] output");
      if (e && failed(setExpert(combine, *e, mul.getInputs()[1 - i], miss)))
        return failure();
    }
    if (!e)
      return miss("a term of the expert sum is not a gate column times an "
                  "expert output");
  }
  return combine;
}

/// Follows `v` forward through its single users while they are Adds.
NodeOp sumRoot(Value v) {
  NodeOp root;
  while (v.hasOneUse()) {
    auto add = dyn_cast<NodeOp>(*v.getUsers().begin());
    if (!add || !add.isStandard("Add"))
      break;
    root = add;
    v = add.getOutputs()[0];
  }
  return root;
}

/// The root of the sum that a gate column's product with an expert output
/// is a term of.
NodeOp columnSumRoot(Value column) {
  for (Value view : reshapedViews(column))
    for (Operation *user : view.getUsers())
      if (auto mul = dyn_cast<NodeOp>(user); mul && mul.isStandard("Mul"))
        if (NodeOp root = sumRoot(mul.getOutputs()[0]))
          return root;
  return {};
}

/// Finds where the gate matrix is combined with the experts' outputs and
/// reads the combine back from there.
FailureOr<DenseCombine> matchDenseCombine(const DenseContext &ctx,
                                          const NearMiss &miss) {
  for (Value view : reshapedViews(ctx.gates))
    for (Operation *user : view.getUsers()) {
      auto node = dyn_cast<NodeOp>(user);
      if (!node)
        continue;
      RankedTensorType viewType = rankedType(view);
      if (node.isStandard("Mul") && viewType && viewType.getRank() == 3 &&
          node.getOutputs()[0].hasOneUse())
        if (auto reduce =
                dyn_cast<NodeOp>(*node.getOutputs()[0].getUsers().begin());
            reduce && reduce.isStandard("ReduceSum"))
          return matchStackedCombine(reduce, ctx, miss);
      for (Value column : node.getOutputs())
        if (gateColumn(column, ctx))
          if (NodeOp root = columnSumRoot(column))
            return matchColumnSum(root, ctx, miss);
    }
  return miss("the gate matrix is not combined with the expert outputs by "
              "a sum over the experts");
}

/// Reads expert e's FFN for every e and checks they read `tokens`.
FailureOr<ExpertsSpec> matchDenseExperts(const DenseCombine &combine,
                                         Value tokens, const DenseContext &ctx,
                                         const NearMiss &miss) {
  SmallVector<ExpertFFN> ffns;
  for (auto [e, out] : llvm::enumerate(combine.expertOuts)) {
    if (!out)
      return miss("expert " + Twine(e) + " of " + Twine(ctx.numExperts) +
                  " never meets its gate column");
    std::optional<ExpertFFN> ffn = matchExpertFFN(out);
    if (!ffn)
      return miss("gate column " + Twine(e) +
                  " does not multiply a "
                  "recognized expert FFN");
    if (ffn->input != skipReshapes(tokens))
      return miss("expert " + Twine(e) +
                  " reads other rows than the router's tokens");
    ffns.push_back(*ffn);
  }
  return perExpertSpec(ffns, ctx.hidden, miss);
}

} // namespace

LogicalResult
moe::detail::raiseDenseMasked(NodeOp topk, RewriterBase &rewriter, bool remarks,
                              SmallVectorImpl<RaisedLayer> &layers) {
  if (!topk.isStandard("TopK") || topk.getOutputs().size() != 2)
    return failure();
  // Only a scatter of the top-k weights into zeros makes a gate matrix; a
  // scatter of a constant (a mask of kept groups) or into -inf (logits
  // masked before a score function, Llama 4) is something else.
  NodeOp scatter = findGateScatter(topk);
  if (!scatter || getFill(scatter.getInputs()[2]) ||
      getFill(scatter.getInputs()[0]) != 0.0)
    return failure();
  NearMiss miss(topk, remarks);
  FailureOr<RoutingMatch> routing = matchRouting(scatter.getInputs()[2], miss);
  if (failed(routing))
    return failure();
  if (routing->topk != topk)
    return miss("the gate matrix scatters another TopK's weights at this "
                "TopK's indices");
  int64_t numExperts = rankedType(topk.getInputs()[0]).getDimSize(1);
  if (failed(checkGateScatter(scatter, *routing->route.k, numExperts, miss)))
    return failure();
  RankedTensorType tokenType = rankedType(routing->tokens);
  if (!tokenType || tokenType.getRank() != 2 || tokenType.isDynamicDim(1))
    return miss("the router's tokens are not [tokens, hidden]");
  DenseContext ctx{scatter.getOutputs()[0], numExperts,
                   tokenType.getDimSize(1)};
  FailureOr<DenseCombine> combine = matchDenseCombine(ctx, miss);
  if (failed(combine))
    return failure();
  FailureOr<ExpertsSpec> experts =
      matchDenseExperts(*combine, routing->tokens, ctx, miss);
  if (failed(experts))
    return failure();

  LayerSpec spec =
      routedLayer("dense_masked", *routing, *experts, combine->output, topk);
  if (remarks)
    topk.emitRemark() << "raised a dense masked MoE layer: " << numExperts
                      << " experts, top-" << *spec.route.k;
  layers.push_back(buildLayer(spec, rewriter));
  return success();
}
