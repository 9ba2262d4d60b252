//===- RaiseGatheredExperts.cpp - experts on weights gathered by id -------===//
//
// The "gathered" form computes every routing slot (token t, choice j) at
// once: the stacked expert weights are gathered by the top-k indices
// (Gather / GatherND), applied to the token's row with a batched MatMul or
// an Einsum, scaled by the slot's routing weight and summed over the k
// slots (ReduceSum over [T, k, H], or an Einsum). transformers' batched_mm
// experts, DeepSeek-V3's stacked experts and gpt-oss's MLPBlock are written
// this way.
//
// Slot tensors appear as [T * k, ...], [T, k, ...] or with unit axes in
// between; all of them hold the slots in the same (token-major) order, so
// matching looks through reshapes but never through a transpose.
//
//===----------------------------------------------------------------------===//

#include "Match.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;
using onnx::NodeOp;

namespace {

/// A stacked expert tensor gathered by the routing indices `ids`, or null.
Value gatheredByIds(Value v, Value ids, int64_t rank) {
  v = skipReshapes(v);
  NodeOp gather = producer(v, "Gather");
  NodeOp gatherND = producer(v, "GatherND");
  Value table, index;
  if (gather && intAttr(gather, "axis", 0) == 0) {
    table = gather.getInputs()[0];
    index = gather.getInputs()[1];
  } else if (gatherND && intAttr(gatherND, "batch_dims", 0) == 0) {
    RankedTensorType indexType = rankedType(gatherND.getInputs()[1]);
    if (!indexType || indexType.getShape().back() != 1)
      return {};
    table = gatherND.getInputs()[0];
    index = gatherND.getInputs()[1];
  } else {
    return {};
  }
  RankedTensorType t = rankedType(table);
  if (!isConstant(table) || !t || t.getRank() != rank || !t.hasStaticShape() ||
      skipReshapes(index) != ids)
    return {};
  return table;
}

/// Subscripts of an Einsum operand, from "ab,cd->ef".
SmallVector<std::string> einsumTerms(NodeOp einsum) {
  auto eq = dyn_cast_or_null<StringAttr>(einsum.getONNXAttr("equation"));
  SmallVector<std::string> terms;
  if (!eq)
    return terms;
  std::string s;
  for (char c : eq.getValue())
    if (c != ' ')
      s.push_back(c);
  size_t arrow = s.find("->");
  if (arrow == std::string::npos)
    return terms;
  StringRef lhs = StringRef(s).take_front(arrow);
  SmallVector<StringRef> parts;
  lhs.split(parts, ',');
  for (StringRef p : parts)
    terms.push_back(p.str());
  terms.push_back(s.substr(arrow + 2));
  return terms;
}

std::optional<SlotLinear> matchSlotLinear(Value out, Value ids) {
  SlotLinear lin;
  Value v = skipReshapes(out);
  if (NodeOp add = producer(v, "Add")) {
    for (int i = 0; i < 2 && !lin.bias; ++i)
      if (Value b = gatheredByIds(add.getInputs()[i], ids, 2)) {
        lin.bias = b;
        v = skipReshapes(add.getInputs()[1 - i]);
      }
    if (!lin.bias)
      return std::nullopt;
  }
  if (NodeOp matmul = producer(v, "MatMul")) {
    // W[id] is [out, in] times x as a column, or x as a row times [in, out].
    if (Value w = gatheredByIds(matmul.getInputs()[0], ids, 3)) {
      lin.weight = w;
      lin.transposed = true;
      lin.input = matmul.getInputs()[1];
    } else if (Value w = gatheredByIds(matmul.getInputs()[1], ids, 3)) {
      lin.weight = w;
      lin.input = matmul.getInputs()[0];
    }
  } else if (NodeOp einsum = producer(v, "Einsum")) {
    // "beck,bk->bec" or "beck,bek->bec": slot dims b e, out c, in k.
    SmallVector<std::string> t = einsumTerms(einsum);
    if (t.size() != 3 || einsum.getInputs().size() != 2)
      return std::nullopt;
    Value w = gatheredByIds(einsum.getInputs()[0], ids, 3);
    const std::string &wt = t[0], &xt = t[1], &ot = t[2];
    if (!w || wt.size() != 4 || ot.size() != 3 ||
        ot.substr(0, 2) != wt.substr(0, 2) ||
        (xt.size() == 2 && xt[0] != wt[0]) ||
        (xt.size() == 3 && xt.substr(0, 2) != wt.substr(0, 2)) ||
        (xt.size() != 2 && xt.size() != 3))
      return std::nullopt;
    char in = xt.back();
    if (ot[2] == wt[2] && in == wt[3])
      lin.transposed = true;
    else if (ot[2] != wt[3] || in != wt[2])
      return std::nullopt;
    lin.weight = w;
    lin.input = einsum.getInputs()[1];
  }
  if (!lin.weight)
    return std::nullopt;
  return lin;
}

/// The token rows behind slot rows: looks through the per-slot repetition
/// (Expand or Tile of [T, 1, H] to [T, k, H]) and reshapes.
Value slotSource(Value x, int64_t k) {
  x = skipReshapes(x);
  auto middleIsUnit = [](Value v) {
    RankedTensorType t = rankedType(v);
    return t && t.getRank() == 3 && t.getDimSize(1) == 1;
  };
  if (NodeOp expand = producer(x, "Expand")) {
    if (!middleIsUnit(expand.getInputs()[0]))
      return {};
    RankedTensorType t = rankedType(expand.getOutputs()[0]);
    if (!t || t.getRank() != 3 || (!t.isDynamicDim(1) && t.getDimSize(1) != k))
      return {};
    return skipReshapes(expand.getInputs()[0]);
  }
  if (NodeOp tile = producer(x, "Tile")) {
    std::optional<SmallVector<int64_t>> reps =
        onnx::getConstantInts(tile.getInputs()[1]);
    if (!middleIsUnit(tile.getInputs()[0]) || !reps ||
        *reps != SmallVector<int64_t>{1, k, 1})
      return {};
    return skipReshapes(tile.getInputs()[0]);
  }
  return x;
}

} // namespace

FailureOr<SlotFFN> moe::detail::matchStackedFFN(Value out,
                                                StackedLinearMatcher linearOf,
                                                const NearMiss &miss) {
  std::optional<SlotLinear> down = linearOf(out);
  if (!down)
    return miss("the expert output is not a projection by stacked expert "
                "weights");
  SlotFFN ffn;
  ExpertsSpec &spec = ffn.spec;
  Value h = skipReshapes(down->input);
  SmallVector<SlotLinear> stages;

  // Gated: a product with one sigmoid factor (silu / SwiGLU, possibly
  // clamped) or act(gate) * up; ungated: act(up).
  std::optional<SlotLinear> gate, up;
  Value gateIn, upIn;
  if (std::optional<std::pair<ActivationSpec, Value>> act =
          matchActivation(h)) {
    spec.activation = act->first.kind;
    spec.alpha = act->first.alpha;
    upIn = act->second;
  } else if (NodeOp mul = producer(h, "Mul")) {
    // Factors: g, sigmoid(alpha * g) and the up term (u or u + beta).
    SmallVector<Value> factors;
    std::function<void(Value, int)> collect = [&](Value v, int depth) {
      if (NodeOp m = producer(v, "Mul"); m && depth < 3) {
        collect(m.getInputs()[0], depth + 1);
        collect(m.getInputs()[1], depth + 1);
        return;
      }
      factors.push_back(v);
    };
    collect(h, 0);
    for (Value f : factors) {
      // Try g * sigmoid(g) pairs among the factors.
      NodeOp sigmoid = producer(f, "Sigmoid");
      if (!sigmoid)
        continue;
      Value arg = sigmoid.getInputs()[0];
      std::optional<double> alpha;
      Value g = arg;
      if (NodeOp scale = producer(arg, "Mul"))
        for (int j = 0; j < 2; ++j)
          if (std::optional<double> c = getScalar(scale.getInputs()[j]))
            if (llvm::is_contained(factors, scale.getInputs()[1 - j])) {
              alpha = c;
              g = scale.getInputs()[1 - j];
            }
      if (!llvm::is_contained(factors, g))
        continue;
      SmallVector<Value> rest;
      for (Value other : factors)
        if (other != f && other != g)
          rest.push_back(other);
      if (rest.size() != 1)
        continue;
      spec.activation = Activation::Silu;
      spec.alpha = alpha;
      gateIn = g;
      upIn = rest.front();
      break;
    }
    if (!gateIn && factors.size() == 2)
      for (int i = 0; i < 2 && !gateIn; ++i)
        if (auto act = matchActivation(factors[i])) {
          spec.activation = act->first.kind;
          spec.alpha = act->first.alpha;
          gateIn = act->second;
          upIn = factors[1 - i];
        }
    if (!gateIn)
      return miss("the expert's hidden activation is not recognized");
    // Clamped SwiGLU: (clip(u, -L, L) + beta) * g' with g' = min(g, L).
    if (NodeOp add = producer(upIn, "Add"))
      for (int i = 0; i < 2; ++i)
        if (std::optional<double> beta = getScalar(add.getInputs()[i])) {
          spec.beta = *beta;
          upIn = add.getInputs()[1 - i];
          break;
        }
    NodeOp clipG = producer(gateIn, "Clip"), clipU = producer(upIn, "Clip");
    if (clipG || clipU) {
      auto bound = [](NodeOp clip, unsigned i) -> std::optional<double> {
        if (clip.getInputs().size() <= i ||
            isa<NoneType>(clip.getInputs()[i].getType()))
          return std::nullopt;
        return getScalar(clip.getInputs()[i]);
      };
      std::optional<double> limit = clipG ? bound(clipG, 2) : std::nullopt;
      bool gateLowOpen = clipG && !bound(clipG, 1);
      bool upSymmetric = clipU && bound(clipU, 2) == limit && bound(clipU, 1) &&
                         limit && *bound(clipU, 1) == -*limit;
      if (!clipG || !clipU || !limit || !gateLowOpen || !upSymmetric)
        return miss("the expert's SwiGLU clamps are not min(g, L) and "
                    "clip(u, -L, L)");
      spec.limit = *limit;
      gateIn = clipG.getInputs()[0];
      upIn = clipU.getInputs()[0];
    }
    gateIn = skipReshapes(gateIn);
    upIn = skipReshapes(upIn);
  } else {
    return miss("the expert's hidden activation is not recognized");
  }

  if (gateIn) {
    // Two halves of one projection: Split / Slice (concatenated) or
    // strided Slices (interleaved); else two projections (separate).
    NodeOp splitG = gateIn.getDefiningOp<NodeOp>();
    NodeOp splitU = upIn.getDefiningOp<NodeOp>();
    auto sliceOf = [](NodeOp s, int64_t &start, int64_t &end,
                      int64_t &step) -> bool {
      if (!s || !s.isStandard("Slice") || s.getInputs().size() < 3)
        return false;
      auto starts = onnx::getConstantInts(s.getInputs()[1]);
      auto ends = onnx::getConstantInts(s.getInputs()[2]);
      std::optional<SmallVector<int64_t>> axes, steps;
      if (s.getInputs().size() > 3 &&
          !isa<NoneType>(s.getInputs()[3].getType()))
        axes = onnx::getConstantInts(s.getInputs()[3]);
      if (s.getInputs().size() > 4 &&
          !isa<NoneType>(s.getInputs()[4].getType()))
        steps = onnx::getConstantInts(s.getInputs()[4]);
      RankedTensorType t = rankedType(s.getInputs()[0]);
      if (!starts || !ends || starts->size() != 1 || !t)
        return false;
      int64_t axis = axes ? (*axes)[0] : 0;
      if (axis != -1 && axis != t.getRank() - 1)
        return false;
      start = (*starts)[0];
      end = (*ends)[0];
      step = steps ? (*steps)[0] : 1;
      return true;
    };
    Value fused;
    if (splitG && splitU && splitG == splitU && splitG.isStandard("Split") &&
        splitG.getOutputs().size() == 2 && gateIn == splitG.getOutputs()[0] &&
        upIn == splitG.getOutputs()[1]) {
      RankedTensorType t = rankedType(splitG.getInputs()[0]);
      int64_t axis = intAttr(splitG, "axis", 0);
      std::optional<SmallVector<int64_t>> sizes;
      if (splitG.getInputs().size() > 1 &&
          !isa<NoneType>(splitG.getInputs()[1].getType()))
        sizes = onnx::getConstantInts(splitG.getInputs()[1]);
      if (!t || (axis != -1 && axis != t.getRank() - 1) ||
          (sizes && (*sizes)[0] != (*sizes)[1]))
        return miss("gate and up are not equal halves of one projection");
      spec.gateLayout = GateLayout::Concatenated;
      fused = splitG.getInputs()[0];
    } else {
      int64_t s0, e0, st0, s1, e1, st1;
      if (sliceOf(splitG, s0, e0, st0) && sliceOf(splitU, s1, e1, st1) &&
          splitG.getInputs()[0] == splitU.getInputs()[0]) {
        RankedTensorType t = rankedType(splitG.getInputs()[0]);
        int64_t width = t ? t.getShape().back() : ShapedType::kDynamic;
        if (st0 == 2 && st1 == 2 && s0 == 0 && s1 == 1 && e0 >= width &&
            e1 >= width)
          spec.gateLayout = GateLayout::Interleaved;
        else if (st0 == 1 && st1 == 1 && s0 == 0 &&
                 !ShapedType::isDynamic(width) && e0 == width / 2 &&
                 s1 == width / 2 && e1 >= width && width % 2 == 0)
          spec.gateLayout = GateLayout::Concatenated;
        else
          return miss("gate and up are slices of one projection in an "
                      "unrecognized layout");
        fused = splitG.getInputs()[0];
      }
    }
    if (fused) {
      up = linearOf(fused);
      if (!up)
        return miss("the fused gate/up projection does not use stacked "
                    "expert weights");
      stages = {*up, *down};
    } else {
      gate = linearOf(gateIn);
      up = linearOf(upIn);
      if (!gate || !up)
        return miss("the gate or up projection does not use weights "
                    "gathered by the top-k indices");
      if (skipReshapes(gate->input) != skipReshapes(up->input))
        return miss("the gate and up projections read different rows");
      spec.gateLayout = GateLayout::Separate;
      stages = {*gate, *up, *down};
    }
  } else {
    up = linearOf(upIn);
    if (!up)
      return miss("the up projection does not use weights gathered by the "
                  "top-k indices");
    stages = {*up, *down};
  }

  spec.transposed = stages.front().transposed;
  bool anyBias = false;
  for (const SlotLinear &s : stages) {
    if (s.transposed != spec.transposed)
      return miss("the experts' projections mix [E, in, out] and "
                  "[E, out, in] weights");
    spec.weights.push_back(s.weight);
    anyBias |= bool(s.bias);
  }
  spec.numExperts = rankedType(stages.front().weight).getDimSize(0);
  for (const SlotLinear &s : stages)
    if (rankedType(s.weight).getDimSize(0) != spec.numExperts)
      return miss("the experts' projections stack different expert counts");
  if (anyBias) {
    for (const SlotLinear &s : stages) {
      if (!s.bias)
        return miss("only some expert projections have biases");
      spec.biases.push_back(s.bias);
    }
  }
  ffn.input = stages.front().input;
  return ffn;
}

namespace {

/// A value summing expert outputs over the k slots, with its two factors.
struct Combine {
  Value output;
  Value expertOut, weights;
};

std::optional<Combine> matchCombine(NodeOp node, int64_t k) {
  if (node.isStandard("ReduceSum")) {
    RankedTensorType in = rankedType(node.getInputs()[0]);
    std::optional<SmallVector<int64_t>> axes;
    if (node.getInputs().size() > 1)
      axes = onnx::getConstantInts(node.getInputs()[1]);
    if (!in || in.getRank() != 3 || !axes || axes->size() != 1 ||
        (*axes)[0] != 1 || intAttr(node, "keepdims", 1) != 0 ||
        (!in.isDynamicDim(1) && in.getDimSize(1) != k))
      return std::nullopt;
    NodeOp mul = producer(skipReshapes(node.getInputs()[0]), "Mul");
    if (!mul)
      return std::nullopt;
    return Combine{node.getOutputs()[0], mul.getInputs()[0],
                   mul.getInputs()[1]};
  }
  if (node.isStandard("Einsum")) {
    SmallVector<std::string> t = einsumTerms(node);
    // "bec,be->bc": weight the slots' rows and sum over the slots.
    if (t.size() != 3 || t[0].size() != 3 || t[1] != t[0].substr(0, 2) ||
        t[2] != std::string{t[0][0], t[0][2]})
      return std::nullopt;
    return Combine{node.getOutputs()[0], node.getInputs()[0],
                   node.getInputs()[1]};
  }
  return std::nullopt;
}

/// Reads the routing of a layer from the weights its slots are scaled by.
using RoutingOf = llvm::function_ref<FailureOr<RoutingMatch>(Value weights)>;

/// The layer whose stacked expert weights are gathered by `ids` (k per
/// token, produced by `anchor`) and whose slots are weighted by what
/// `routingOf` reads; numExperts is what the router scores.
LogicalResult raiseOnIds(NodeOp anchor, Value ids, int64_t k,
                         int64_t numExperts, RoutingOf routingOf,
                         RewriterBase &rewriter, bool remarks,
                         SmallVectorImpl<RaisedLayer> &layers) {
  NearMiss miss(anchor, remarks);
  // Only a layer whose stacked weights are gathered by these indices is of
  // this form; anything else is left to the other rules silently.
  bool gathersWeights = false;
  SmallVector<Operation *> worklist = {anchor};
  llvm::SetVector<Operation *> seen;
  SmallVector<Combine> combines;
  while (!worklist.empty() && seen.size() < 400) {
    Operation *op = worklist.pop_back_val();
    if (!seen.insert(op))
      continue;
    for (Operation *user : op->getUsers()) {
      auto node = dyn_cast<NodeOp>(user);
      if (!node)
        continue;
      if ((node.isStandard("Gather") || node.isStandard("GatherND")) &&
          gatheredByIds(node.getOutputs()[0], ids, 3))
        gathersWeights = true;
      if (std::optional<Combine> c = matchCombine(node, k))
        combines.push_back(*c);
      worklist.push_back(node);
    }
  }
  if (!gathersWeights)
    return failure();
  if (combines.empty())
    return miss("stacked expert weights are gathered by the top-k indices, "
                "but no weighted sum over the k slots was found");

  for (const Combine &c : combines) {
    // Either factor may be the experts' output.
    for (int order = 0; order < 2; ++order) {
      Value expertOut = order == 0 ? c.expertOut : c.weights;
      Value weights = order == 0 ? c.weights : c.expertOut;
      FailureOr<SlotFFN> ffn = matchStackedFFN(
          expertOut, [&](Value v) { return matchSlotLinear(v, ids); },
          NearMiss(anchor, false));
      if (failed(ffn))
        continue;
      FailureOr<RoutingMatch> routing = routingOf(weights);
      if (failed(routing))
        return failure();
      Value tokens = skipReshapes(routing->tokens);
      if (slotSource(ffn->input, k) != tokens)
        return miss("the experts read other rows than the router's tokens");
      RankedTensorType tokenType = rankedType(routing->tokens);
      RankedTensorType outType = rankedType(c.output);
      if (!tokenType || tokenType.getRank() != 2 || !outType ||
          outType.getRank() != 2)
        return miss("the layer's tokens or output are not [tokens, hidden]");
      int64_t hidden = tokenType.getDimSize(1);
      int64_t firstIn = rankedType(ffn->spec.weights.front())
                            .getDimSize(ffn->spec.transposed ? 2 : 1);
      if (ShapedType::isDynamic(hidden) || firstIn != hidden ||
          outType.getDimSize(1) != hidden)
        return miss("the experts' input or output width is not the hidden "
                    "size");
      if (ffn->spec.numExperts != numExperts)
        return miss("the stacked weights hold another number of experts "
                    "than the router scores");
      LayerSpec spec =
          routedLayer("gathered", *routing, ffn->spec, c.output, anchor);
      if (remarks)
        anchor.emitRemark() << "raised an MoE layer with experts on gathered "
                               "stacked weights: "
                            << spec.experts.numExperts << " experts, top-" << k
                            << (spec.route.score == ScoreFunction::SparseMixer
                                    ? " (sparsemixer)"
                                    : "");
      layers.push_back(buildLayer(spec, rewriter));
      return success();
    }
  }
  return miss("no weighted sum over the k slots has an expert FFN on "
              "gathered weights as a factor");
}

} // namespace

LogicalResult
moe::detail::raiseGatheredExperts(NodeOp topk, RewriterBase &rewriter,
                                  bool remarks,
                                  SmallVectorImpl<RaisedLayer> &layers) {
  if (!topk.isStandard("TopK") || topk.getOutputs().size() != 2)
    return failure();
  std::optional<SmallVector<int64_t>> kValues =
      onnx::getConstantInts(topk.getInputs()[1]);
  RankedTensorType scores = rankedType(topk.getInputs()[0]);
  if (!kValues || kValues->size() != 1 || !scores || scores.getRank() != 2)
    return failure();
  NearMiss miss(topk, remarks);
  auto routingOf = [&](Value weights) -> FailureOr<RoutingMatch> {
    FailureOr<RoutingMatch> routing = matchRouting(weights, miss);
    if (succeeded(routing) && routing->topk != topk)
      return miss("the slots are weighted by another TopK's weights");
    return routing;
  };
  return raiseOnIds(topk, topk.getOutputs()[1], (*kValues)[0],
                    scores.getDimSize(1), routingOf, rewriter, remarks, layers);
}

LogicalResult
moe::detail::raiseSparseMixer(NodeOp ids, RewriterBase &rewriter, bool remarks,
                              SmallVectorImpl<RaisedLayer> &layers) {
  // Cheap first: Concat(ArgMax, ArgMax) over [tokens, experts] scores.
  if (!ids.isStandard("Concat") || ids.getInputs().size() != 2)
    return failure();
  NodeOp first = producer(skipReshapes(ids.getInputs()[0]), "ArgMax");
  if (!first || !producer(skipReshapes(ids.getInputs()[1]), "ArgMax"))
    return failure();
  RankedTensorType scores = rankedType(first.getInputs()[0]);
  if (!scores || scores.getRank() != 2)
    return failure();
  NearMiss miss(ids, remarks);
  auto routingOf = [&](Value weights) {
    return matchSparseMixer(weights, ids, miss);
  };
  return raiseOnIds(ids, ids.getOutputs()[0], 2, scores.getDimSize(1),
                    routingOf, rewriter, remarks, layers);
}
