//===- RaiseSwitch.cpp - Switch top-1 boolean dispatch -> moe ops ---------===//
//
// Switch Transformer's top-1 layer as PyTorch code writes it:
//
//   probs = softmax(x Wr)                 [T, E]
//   ids   = argmax(probs)                 ArgMax (ties: the first expert)
//   mask  = one_hot(ids)                  OneHot | Equal(ids[:, None], arange)
//   mask *= cumsum(mask, 0) <= C          optional expert capacity
//   out   = zeros_like(x)
//   out[mask[:, e]] = ffn_e(x[mask[:, e]])    for every expert e
//   y     = max(probs) * out
//
// Exporters write the boolean indexing as NonZero + GatherND for the rows
// and ScatterND (of whole rows, or of every element of them) for the
// assignment. That is a top-1 softmax route (the max probability is the
// chosen expert's weight) and, with C, an in-order dispatch capacity: a
// token past its expert's capacity is written by no expert, keeps its zero
// and outputs 0, which is what moe.combine gives a dropped slot.
//
// Every piece is read back to its meaning: each scatter's and gather's
// indices to the NonZero of one expert's column of the mask, the mask to
// the one-hot of this ArgMax, the rows to the router's tokens and the scale
// to the max of the same probabilities. Anything else stays in the graph.
//
//===----------------------------------------------------------------------===//

#include "Match.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/SetVector.h"

#include <cmath>

using namespace mlir;
using namespace moe;
using namespace moe::detail;
using onnx::NodeOp;

namespace {

/// The layer-wide facts every piece is checked against.
struct SwitchContext {
  /// The ArgMax's expert ids.
  Value ids;
  /// The softmax probabilities the ArgMax reads.
  Value probs;
  int64_t numExperts = 0;
  /// The router's token rows [T, H].
  Value tokens;
  int64_t hidden = 0;
  /// Where the router reads the tokens as [batch, seq, H] (a reshape of
  /// `tokens`): that 3-D input; a capacity then counts per sequence.
  Value sequences;
};

/// The routing mask [T, E] the experts' columns are cut from.
struct RoutingMask {
  /// The mask value (casts skipped); every expert must read the same one.
  Value mask;
  /// Tokens an expert keeps, in token order; none: all.
  std::optional<int64_t> capacity;
};

/// One expert's assignment out[mask[:, e]] = ffn_e(x[mask[:, e]]).
struct SwitchExpert {
  int64_t expert = -1;
  RoutingMask mask;
  Linear up, down;
  ActivationSpec activation{Activation::Identity, std::nullopt};
};

/// True if `axis` names the last of `rank` axes.
bool isLastAxis(int64_t axis, int64_t rank) {
  return axis == -1 || axis == rank - 1;
}

/// True if `v` (casts skipped) is one_hot(ids) over `numExperts` along the
/// last axis: OneHot(ids, E, [0, 1]) or Equal(ids[..., None], arange(E)).
bool isOneHotOf(Value v, Value ids, int64_t numExperts) {
  v = skipCasts(v);
  if (NodeOp oneHot = producer(v, "OneHot")) {
    RankedTensorType out = rankedType(v);
    std::optional<SmallVector<int64_t>> values =
        onnx::getConstantInts(oneHot.getInputs()[2]);
    return out && isLastAxis(intAttr(oneHot, "axis", -1), out.getRank()) &&
           skipReshapes(oneHot.getInputs()[0]) == ids &&
           constantInt(oneHot.getInputs()[1]) == numExperts && values &&
           *values == SmallVector<int64_t>{0, 1};
  }
  NodeOp equal = producer(v, "Equal");
  if (!equal)
    return false;
  for (int i = 0; i < 2; ++i) {
    Value column = equal.getInputs()[i];
    RankedTensorType t = rankedType(column);
    // ids[..., None]: the ids with a unit last axis, broadcast over E.
    if (t && t.getRank() >= 1 && t.getShape().back() == 1 &&
        skipReshapes(column) == ids &&
        isArange(equal.getInputs()[1 - i], numExperts))
      return true;
  }
  return false;
}

/// True if `node` is ids == e for a constant e: one expert's mask.
bool isExpertEqual(NodeOp node, Value ids) {
  if (!node.isStandard("Equal"))
    return false;
  for (int i = 0; i < 2; ++i)
    if (skipReshapes(node.getInputs()[i]) == ids &&
        constantInt(node.getInputs()[1 - i]))
      return true;
  return false;
}

/// The expert masks computed from `ids` (through reshapes and casts):
/// one-hots [T, E] or per-expert ids == e.
SmallVector<Value> findExpertMasks(Value ids, int64_t numExperts) {
  SmallVector<Value> found, worklist = {ids};
  while (!worklist.empty() && found.size() < 16) {
    Value v = worklist.pop_back_val();
    for (Operation *user : v.getUsers()) {
      auto node = dyn_cast<NodeOp>(user);
      if (!node || node.getOutputs().size() != 1)
        continue;
      Value out = node.getOutputs()[0];
      if (isOneHotOf(out, ids, numExperts) || isExpertEqual(node, ids))
        found.push_back(out);
      else if (skipReshapes(out) == ids)
        worklist.push_back(out);
    }
  }
  return found;
}

/// Checks that every cumulative count of the `masks` (a capacity's token
/// priority) runs over a known axis; matchCapacityKeep says whether it is
/// the tokens of [T, E] or the sequence axis of [batch, seq, E].
LogicalResult checkCapacityScope(ArrayRef<Value> masks, const NearMiss &miss) {
  SmallVector<Value> worklist(masks);
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    for (Operation *user : v.getUsers()) {
      auto node = dyn_cast<NodeOp>(user);
      if (node && node.isStandard("Cast"))
        worklist.push_back(node.getOutputs()[0]);
      if (!node || !node.isStandard("CumSum"))
        continue;
      if (!rankedType(node.getInputs()[0]) || !constantInt(node.getInputs()[1]))
        return miss("the expert capacity's token priority is a CumSum "
                    "over an unknown axis");
    }
  }
  return success();
}

/// The capacity C of `keep` = (CumSum(one_hot, 0) <= C) (or < C + 1): a
/// token is kept by its expert while it is among the expert's first C.
FailureOr<int64_t> matchCapacityKeep(Value keep, const SwitchContext &ctx,
                                     const NearMiss &miss) {
  keep = skipCasts(keep);
  NodeOp cmp = producer(keep, "LessOrEqual");
  bool strict = false;
  if (!cmp && (cmp = producer(keep, "Less")))
    strict = true;
  if (!cmp)
    return miss("the expert mask is cut by something other than a "
                "token-priority capacity");
  NodeOp cumsum = producer(skipCasts(cmp.getInputs()[0]), "CumSum");
  std::optional<double> bound = getScalar(cmp.getInputs()[1]);
  if (std::optional<int64_t> c = constantInt(cmp.getInputs()[1]); !bound && c)
    bound = double(*c);
  if (!cumsum || !bound ||
      !isOneHotOf(cumsum.getInputs()[0], ctx.ids, ctx.numExperts))
    return miss("the expert capacity does not compare a cumulative count "
                "of the one-hot mask with a constant");
  RankedTensorType t = rankedType(cumsum.getInputs()[0]);
  std::optional<int64_t> axis = constantInt(cumsum.getInputs()[1]);
  int64_t rank = ctx.sequences ? 3 : 2;
  if (!t || t.getRank() != rank || !axis ||
      (*axis != rank - 2 && *axis != -2) ||
      intAttr(cumsum, "exclusive", 0) != 0 ||
      intAttr(cumsum, "reverse", 0) != 0)
    return miss("the expert capacity's token priority is not an inclusive "
                "count over the tokens in order");
  // Priorities are integers: p <= C keeps floor(C), p < C keeps ceil(C)-1.
  double kept = strict ? std::ceil(*bound) - 1 : std::floor(*bound);
  if (kept < 1)
    return miss("an expert capacity below 1 drops every token");
  return int64_t(kept);
}

/// The routing mask `v` (casts skipped): one_hot(ids), or one_hot(ids)
/// masked by a token-order capacity.
FailureOr<RoutingMask> matchRoutingMask(Value v, const SwitchContext &ctx,
                                        const NearMiss &miss) {
  v = skipCasts(v);
  if (isOneHotOf(v, ctx.ids, ctx.numExperts))
    return RoutingMask{v, std::nullopt};
  NodeOp mul = producer(v, "Mul");
  if (!mul)
    mul = producer(v, "And");
  if (!mul)
    return miss("the expert mask is not a one-hot of the argmax");
  for (int i = 0; i < 2; ++i) {
    if (!isOneHotOf(mul.getInputs()[i], ctx.ids, ctx.numExperts))
      continue;
    FailureOr<int64_t> capacity =
        matchCapacityKeep(mul.getInputs()[1 - i], ctx, miss);
    if (failed(capacity))
      return failure();
    return RoutingMask{v, *capacity};
  }
  return miss("the expert mask is not a one-hot of the argmax");
}

/// Column `e` of the routing mask: Gather(mask, e, axis = 1), or ids == e.
FailureOr<std::pair<int64_t, RoutingMask>>
matchExpertColumn(Value column, const SwitchContext &ctx,
                  const NearMiss &miss) {
  column = skipCasts(column);
  int64_t e = ctx.numExperts;
  auto inRange = [&](int64_t id) {
    return id >= -ctx.numExperts && id < ctx.numExperts;
  };
  if (NodeOp gather = producer(column, "Gather")) {
    RankedTensorType in = rankedType(gather.getInputs()[0]);
    std::optional<int64_t> id = constantInt(gather.getInputs()[1]);
    RankedTensorType out = rankedType(column);
    int64_t axis = intAttr(gather, "axis", 0);
    if (!in || in.getRank() != 2 || (axis != 1 && axis != -1) || !id ||
        !inRange(*id) || !out || out.getRank() != 1 ||
        in.getDimSize(1) != ctx.numExperts)
      return miss("an expert's mask is not one column of a [tokens, "
                  "experts] mask");
    Value maskIn = gather.getInputs()[0];
    if (ctx.sequences)
      maskIn = skipReshapes(skipCasts(maskIn));
    FailureOr<RoutingMask> mask = matchRoutingMask(maskIn, ctx, miss);
    if (failed(mask))
      return failure();
    e = *id < 0 ? *id + ctx.numExperts : *id;
    return std::make_pair(e, *mask);
  }
  if (NodeOp equal = producer(column, "Equal")) {
    for (int i = 0; i < 2; ++i) {
      std::optional<int64_t> id = constantInt(equal.getInputs()[1 - i]);
      if (skipReshapes(equal.getInputs()[i]) == ctx.ids && id && *id >= 0 &&
          *id < ctx.numExperts)
        return std::make_pair(*id, RoutingMask{ctx.ids, std::nullopt});
    }
  }
  return miss("an expert's mask is not a column of the argmax's one-hot");
}

/// Where the elements of an index tensor come from: the coordinates of a
/// NonZero's true elements, as [n, rank] (NonZero's [rank, n] transposed;
/// for a 1-D mask any reshape of it).
NodeOp nonzeroCoordinates(Value idx, unsigned depth = 0) {
  bool transposed = false;
  Value v = idx;
  while (depth++ < 16) {
    v = skipReshapes(v);
    NodeOp node = v.getDefiningOp<NodeOp>();
    if (!node)
      return {};
    // Max of one input is its input.
    if (node.isStandard("Max") && node.getInputs().size() == 1) {
      v = node.getInputs()[0];
      continue;
    }
    // Expand(x, Shape(x')) of a vector x' holding x is x.
    if (node.isStandard("Expand")) {
      NodeOp shape = producer(node.getInputs()[1], "Shape");
      RankedTensorType in = rankedType(node.getInputs()[0]);
      RankedTensorType like =
          shape ? rankedType(shape.getInputs()[0]) : nullptr;
      if (!shape || intAttr(shape, "start", 0) != 0 ||
          shape.getONNXAttr("end") || !in || !like || in.getRank() != 1 ||
          like.getRank() != 1 ||
          nonzeroCoordinates(shape.getInputs()[0], depth) !=
              nonzeroCoordinates(node.getInputs()[0], depth))
        return {};
      v = node.getInputs()[0];
      continue;
    }
    if (node.isStandard("Transpose") && !transposed) {
      std::optional<SmallVector<int64_t>> perm = intsAttr(node, "perm");
      RankedTensorType t = rankedType(node.getInputs()[0]);
      if (!t || t.getRank() != 2 ||
          (perm && *perm != SmallVector<int64_t>{1, 0}))
        return {};
      transposed = true;
      v = node.getInputs()[0];
      continue;
    }
    if (!node.isStandard("NonZero"))
      return {};
    RankedTensorType mask = rankedType(node.getInputs()[0]);
    // A [1, n] NonZero output reads the same in any shape; [r, n] needs
    // the transpose to become n coordinate tuples.
    if (!mask || (mask.getRank() > 1 && !transposed))
      return {};
    return node;
  }
  return {};
}

/// The index depth of a GatherND / ScatterND index tensor.
std::optional<int64_t> indexDepth(Value idx) {
  RankedTensorType t = rankedType(idx);
  if (!t || t.getRank() < 1 || t.isDynamicDim(t.getRank() - 1))
    return std::nullopt;
  return t.getShape().back();
}

/// True if the [T, 1] column `expand` broadcasts is H wide: its result
/// type says so, or its shape is that of a [., H] tensor.
bool broadcastsToHidden(NodeOp expand, const SwitchContext &ctx) {
  RankedTensorType t = rankedType(expand.getOutputs()[0]);
  if (t && t.getRank() == 2 && t.getDimSize(1) == ctx.hidden)
    return true;
  NodeOp shape = producer(expand.getInputs()[1], "Shape");
  RankedTensorType like = shape ? rankedType(shape.getInputs()[0]) : nullptr;
  return like && intAttr(shape, "start", 0) == 0 && !shape.getONNXAttr("end") &&
         like.getRank() == 2 && like.getDimSize(1) == ctx.hidden;
}

/// The per-expert mask [T] whose true tokens a ScatterND writes: whole rows
/// (coordinates of mask [T], depth 1) or every element of them
/// (coordinates of Expand(mask[:, None], [T, H]), depth 2).
Value scatteredColumn(NodeOp scatter, const SwitchContext &ctx) {
  NodeOp nonzero = nonzeroCoordinates(scatter.getInputs()[1]);
  std::optional<int64_t> depth = indexDepth(scatter.getInputs()[1]);
  if (!nonzero || !depth)
    return {};
  Value mask = skipCasts(nonzero.getInputs()[0]);
  RankedTensorType t = rankedType(mask);
  if (!t)
    return {};
  if (t.getRank() == 1)
    return *depth == 1 ? mask : Value();
  NodeOp expand = producer(mask, "Expand");
  if (!expand || t.getRank() != 2 || *depth != 2 ||
      !broadcastsToHidden(expand, ctx))
    return {};
  // mask[:, None] broadcast over the hidden axis.
  Value column = skipCasts(expand.getInputs()[0]);
  RankedTensorType c = rankedType(column);
  Value source = skipCasts(skipReshapes(column));
  RankedTensorType s = rankedType(source);
  if (!c || c.getRank() != 2 || c.getDimSize(1) != 1 || !s || s.getRank() != 1)
    return {};
  return source;
}

/// Looks through what the exporter does to an expert's output before
/// scattering it: reshapes (to the flat element list), a broadcast to the
/// shape it already has and a slice of its prefix. Both keep the values
/// because ScatterND needs exactly one update per index, and the indices
/// are the n * H elements of the n rows the expert computed.
Value skipUpdatePlumbing(Value v) {
  while (true) {
    v = skipReshapes(v);
    if (NodeOp expand = producer(v, "Expand")) {
      v = expand.getInputs()[0];
      continue;
    }
    NodeOp slice = producer(v, "Slice");
    RankedTensorType t = slice ? rankedType(slice.getInputs()[0]) : nullptr;
    if (!slice || !t || t.getRank() != 1)
      return v;
    std::optional<int64_t> start = constantInt(slice.getInputs()[1]);
    Value axes = optionalInput(slice, 3), steps = optionalInput(slice, 4);
    if (start != 0 ||
        (axes && constantInt(axes) != 0 && constantInt(axes) != -1) ||
        (steps && constantInt(steps) != 1))
      return v;
    v = slice.getInputs()[0];
  }
}

/// The index tensor of a gather of whole token rows: GatherND(x, [n, 1])
/// or Gather(x, [n] or [n, 1], axis = 0); null otherwise.
Value rowGatherIndices(Value rows) {
  if (NodeOp gatherND = producer(rows, "GatherND"))
    return intAttr(gatherND, "batch_dims", 0) == 0 &&
                   indexDepth(gatherND.getInputs()[1]) == 1
               ? gatherND.getInputs()[1]
               : Value();
  NodeOp gather = producer(rows, "Gather");
  RankedTensorType idx = gather ? rankedType(gather.getInputs()[1]) : nullptr;
  if (!gather || intAttr(gather, "axis", 0) != 0 || !idx ||
      (idx.getRank() != 1 && (idx.getRank() != 2 || idx.getDimSize(1) != 1)))
    return {};
  return gather.getInputs()[1];
}

/// The mask [T] whose rows x[mask] an expert reads: a row gather of the
/// router's tokens at the coordinates of NonZero(mask).
Value gatheredColumn(Value rows, const SwitchContext &ctx) {
  Value idx = rowGatherIndices(rows);
  if (!idx)
    return {};
  Value data = rows.getDefiningOp<NodeOp>().getInputs()[0];
  RankedTensorType dataType = rankedType(data);
  NodeOp nonzero = nonzeroCoordinates(idx);
  if (!dataType || dataType.getRank() != 2 || !nonzero ||
      skipReshapes(data) != skipReshapes(ctx.tokens))
    return {};
  Value mask = skipCasts(nonzero.getInputs()[0]);
  RankedTensorType t = rankedType(mask);
  return t && t.getRank() == 1 ? mask : Value();
}

/// Checks that `scatter` writes ffn_e(x[mask[:, e]]) to the rows of
/// mask[:, e], the same mask column for the rows and their destination.
FailureOr<SwitchExpert> matchAssignment(NodeOp scatter,
                                        const SwitchContext &ctx,
                                        const NearMiss &miss) {
  auto reduction =
      dyn_cast_or_null<StringAttr>(scatter.getONNXAttr("reduction"));
  if (reduction && reduction.getValue() != "none")
    return miss("an expert's rows are accumulated, not assigned");
  Value column = scatteredColumn(scatter, ctx);
  if (!column)
    return miss("a ScatterND does not write the rows of one expert's mask");
  Value out = skipUpdatePlumbing(scatter.getInputs()[2]);
  SwitchExpert expert;
  std::optional<Linear> down = matchLinear(out);
  auto act = down ? matchActivation(skipReshapes(down->input)) : std::nullopt;
  std::optional<Linear> up =
      act ? matchLinear(skipReshapes(act->second)) : std::nullopt;
  if (!up)
    return miss("an expert's output is not linear -> activation -> linear");
  expert.up = *up;
  expert.down = *down;
  expert.activation = act->first;
  Value gathered = gatheredColumn(skipReshapes(up->input), ctx);
  if (!gathered)
    return miss("an expert does not read the router's token rows of a mask");
  if (gathered != column)
    return miss("an expert's rows are written to other tokens than it read");
  FailureOr<std::pair<int64_t, RoutingMask>> e =
      matchExpertColumn(column, ctx, miss);
  if (failed(e))
    return failure();
  expert.expert = e->first;
  expert.mask = e->second;
  return expert;
}

/// What is computed from the ids: the ScatterNDs whose indices come from
/// them (the experts' assignments; the walk stops at them, their outputs
/// are the layer's) and whether any NonZero reads a mask of them (boolean
/// dispatch, what makes an argmax a Switch router).
struct DispatchScan {
  SmallVector<NodeOp> scatters;
  bool nonzero = false;
  /// A NonZero reads mask[id] with an id computed at run time: the loop
  /// over the experts some token picked, which a tracing exporter unrolls
  /// for the experts its example input happened to pick.
  bool dataDependentExpert = false;
};

/// True if `nonzero` reads one slice of a mask cut by a computed index.
bool readsComputedSlice(NodeOp nonzero) {
  Value v = nonzero.getInputs()[0];
  for (int i = 0; i < 4; ++i)
    v = skipReshapes(skipCasts(v));
  NodeOp gather = producer(v, "Gather");
  return gather && !isConstant(gather.getInputs()[1]);
}

DispatchScan scanDispatch(Value ids) {
  DispatchScan scan;
  llvm::DenseSet<Operation *> seen;
  llvm::SetVector<Operation *> scatters;
  SmallVector<Value> worklist = {ids};
  while (!worklist.empty() && seen.size() < 4096) {
    Value v = worklist.pop_back_val();
    for (OpOperand &use : v.getUses()) {
      auto node = dyn_cast<NodeOp>(use.getOwner());
      if (!node)
        continue;
      if (node.isStandard("ScatterND")) {
        if (use.getOperandNumber() == 1)
          scatters.insert(node);
        continue;
      }
      if (node.isStandard("NonZero")) {
        scan.nonzero = true;
        scan.dataDependentExpert |= readsComputedSlice(node);
      }
      if (seen.insert(node).second)
        llvm::append_range(worklist, node.getOutputs());
    }
  }
  scan.scatters = llvm::to_vector(llvm::map_range(
      scatters, [](Operation *op) { return cast<NodeOp>(op); }));
  return scan;
}

/// Orders the assignments into the chain out_0 -> ... -> out_E, each
/// writing into the previous one's result.
FailureOr<SmallVector<NodeOp>> assignmentChain(ArrayRef<NodeOp> scatters,
                                               const NearMiss &miss) {
  llvm::DenseMap<Value, NodeOp> byData;
  for (NodeOp s : scatters)
    if (!byData.try_emplace(s.getInputs()[0], s).second)
      return miss("two expert assignments write into the same tensor");
  SmallVector<NodeOp> chain;
  for (NodeOp s : scatters) {
    bool first = llvm::none_of(scatters, [&](NodeOp other) {
      return other.getOutputs()[0] == s.getInputs()[0];
    });
    if (!first)
      continue;
    if (!chain.empty())
      return miss("the expert assignments do not form one chain");
    for (NodeOp next = s; next;
         next = byData.lookup(chain.back().getOutputs()[0]))
      chain.push_back(next);
  }
  if (chain.size() != scatters.size())
    return miss("the expert assignments do not form one chain");
  return chain;
}

/// True if `v` is zeros shaped like the tokens: ConstantOfShape(Shape(x))
/// or Expand(0, Shape(x)), x the tokens in some [., H] view.
bool isZerosLikeTokens(Value v, const SwitchContext &ctx) {
  NodeOp node = v.getDefiningOp<NodeOp>();
  if (!node)
    return false;
  Value shapeOf;
  if (node.isStandard("ConstantOfShape")) {
    auto value = dyn_cast_or_null<DenseElementsAttr>(node.getONNXAttr("value"));
    if (value && (!isa<FloatType>(value.getElementType()) || !value.isSplat() ||
                  !value.getSplatValue<APFloat>().isZero()))
      return false;
    shapeOf = node.getInputs()[0];
  } else if (node.isStandard("Expand")) {
    std::optional<double> fill = getScalar(node.getInputs()[0]);
    if (!fill || *fill != 0.0)
      return false;
    shapeOf = node.getInputs()[1];
  } else {
    return false;
  }
  NodeOp shape = producer(shapeOf, "Shape");
  if (!shape || shape.getONNXAttr("end") || intAttr(shape, "start", 0) != 0)
    return false;
  RankedTensorType t = rankedType(shape.getInputs()[0]);
  return t && t.getRank() == 2 && t.getDimSize(1) == ctx.hidden &&
         skipReshapes(shape.getInputs()[0]) == skipReshapes(ctx.tokens);
}

/// True if `v` is max(probs) over the experts as a [T, 1] column.
bool isMaxProbColumn(Value v, const SwitchContext &ctx) {
  RankedTensorType t = rankedType(v);
  NodeOp max = producer(skipReshapes(v), "ReduceMax");
  if (!t || t.getRank() != 2 || t.getDimSize(1) != 1 || !max ||
      skipReshapes(max.getInputs()[0]) != ctx.probs)
    return false;
  std::optional<SmallVector<int64_t>> axes =
      optionalInput(max, 1) ? onnx::getConstantInts(max.getInputs()[1])
                            : intsAttr(max, "axes");
  return axes && axes->size() == 1 &&
         isLastAxis((*axes)[0], rankedType(ctx.probs).getRank());
}

/// The layer output: the assignments' result scaled by max(probs).
Value scaledOutput(Value assigned, const SwitchContext &ctx) {
  for (Operation *user : assigned.getUsers()) {
    auto mul = dyn_cast<NodeOp>(user);
    if (!mul || !mul.isStandard("Mul"))
      continue;
    for (int i = 0; i < 2; ++i)
      if (mul.getInputs()[1 - i] == assigned &&
          isMaxProbColumn(mul.getInputs()[i], ctx))
        return mul.getOutputs()[0];
  }
  return {};
}

/// The router: probs = Softmax(linear(tokens)) over the experts [T, E],
/// or over [batch, seq, E] of a [batch, seq, H] reshape of [T, H] tokens
/// (row-major, so token t is sequence t / seq, position t mod seq).
LogicalResult matchRouter(SwitchContext &ctx, RouterSpec &router, Value &tokens,
                          const NearMiss &miss) {
  NodeOp softmax = producer(ctx.probs, "Softmax");
  std::optional<Linear> linear =
      matchLinear(skipReshapes(softmax.getInputs()[0]));
  if (!linear)
    return miss("the router logits are not a linear layer of the tokens");
  RankedTensorType w = rankedType(linear->weight);
  Value input = linear->input;
  if (RankedTensorType in3 = rankedType(input);
      in3 && in3.getRank() == 3 && !in3.isDynamicDim(2)) {
    Value flat = skipReshapes(input);
    // A [batch, seq, hidden] model input: its rows are a flattening of it.
    if (RankedTensorType t = rankedType(flat); t && t.getRank() == 3)
      for (Operation *user : flat.getUsers())
        if (auto node = dyn_cast<NodeOp>(user);
            node && node.getOutputs().size() == 1 &&
            skipReshapes(node.getOutputs()[0]) == flat &&
            rankedType(node.getOutputs()[0]) &&
            rankedType(node.getOutputs()[0]).getRank() == 2) {
          flat = node.getOutputs()[0];
          break;
        }
    RankedTensorType in2 = rankedType(flat);
    if (!in2 || in2.getRank() != 2 || in2.getDimSize(1) != in3.getDimSize(2))
      return miss("the router reads [batch, seq, hidden] tokens that are no "
                  "reshape of [tokens, hidden] rows");
    ctx.sequences = input;
    input = flat;
  }
  RankedTensorType in = rankedType(input);
  if (w.getDimSize(linear->transposed ? 0 : 1) != ctx.numExperts || !in ||
      in.getRank() != 2 || in.isDynamicDim(1))
    return miss("the router is not a [tokens, hidden] x [hidden, experts] "
                "linear layer");
  router.weight = linear->weight;
  router.transposed = linear->transposed;
  router.bias = linear->bias;
  tokens = input;
  return success();
}

/// The moe.experts operands for experts 0..E-1 (one ungated weight set
/// each), checked as every per-expert layer is.
FailureOr<ExpertsSpec> expertsOf(ArrayRef<SwitchExpert> experts, int64_t hidden,
                                 const NearMiss &miss) {
  SmallVector<ExpertFFN> ffns;
  for (const SwitchExpert &e : experts)
    ffns.push_back({e.activation, /*gated=*/false, {e.up, e.down}, Value()});
  return perExpertSpec(ffns, hidden, miss);
}

/// Orders the experts 0..E-1, each once, all cut from one routing mask.
FailureOr<SmallVector<SwitchExpert>> orderExperts(ArrayRef<NodeOp> chain,
                                                  const SwitchContext &ctx,
                                                  const NearMiss &miss) {
  SmallVector<std::optional<SwitchExpert>> byExpert(ctx.numExperts);
  for (NodeOp scatter : chain) {
    FailureOr<SwitchExpert> e = matchAssignment(scatter, ctx, miss);
    if (failed(e))
      return failure();
    if (byExpert[e->expert])
      return miss("expert " + Twine(e->expert) + " is assigned twice");
    byExpert[e->expert] = *e;
  }
  SmallVector<SwitchExpert> experts;
  for (int64_t e = 0; e < ctx.numExperts; ++e) {
    if (!byExpert[e])
      return miss("expert " + Twine(e) + " of " + Twine(ctx.numExperts) +
                  " is never assigned");
    if (e > 0 && byExpert[e]->mask.mask != byExpert[0]->mask.mask)
      return miss("expert " + Twine(e) +
                  " reads another routing mask than expert 0");
    experts.push_back(*byExpert[e]);
  }
  return experts;
}

/// The ArgMax's probabilities if it picks the first largest softmax score
/// over the last axis; null otherwise (not a router).
Value argmaxProbs(NodeOp argmax) {
  Value probs = skipReshapes(argmax.getInputs()[0]);
  NodeOp softmax = producer(probs, "Softmax");
  RankedTensorType t = rankedType(probs);
  if (!softmax || !t || t.isDynamicDim(t.getRank() - 1) ||
      !isLastAxis(intAttr(softmax, "axis", -1), t.getRank()) ||
      !isLastAxis(intAttr(argmax, "axis", 0), t.getRank()))
    return {};
  return probs;
}

} // namespace

LogicalResult moe::detail::raiseSwitch(NodeOp argmax, RewriterBase &rewriter,
                                       bool remarks,
                                       SmallVectorImpl<RaisedLayer> &layers) {
  if (!argmax.isStandard("ArgMax"))
    return failure();
  SwitchContext ctx;
  ctx.ids = argmax.getOutputs()[0];
  ctx.probs = argmaxProbs(argmax);
  if (!ctx.probs)
    return failure();
  ctx.numExperts = rankedType(ctx.probs).getShape().back();
  // Only a one-hot of the ids that selects rows through NonZero makes this
  // a Switch router; any other argmax (a classifier's prediction, even one
  // turned into a one-hot) is left alone silently.
  SmallVector<Value> masks = findExpertMasks(ctx.ids, ctx.numExperts);
  DispatchScan scan = scanDispatch(ctx.ids);
  if (masks.empty() || !scan.nonzero)
    return failure();
  NearMiss miss(argmax, remarks);
  if (intAttr(argmax, "select_last_index", 0) != 0)
    return miss("ties pick the last expert; moe.route picks the first");
  if (scan.dataDependentExpert)
    return miss("the expert loop runs over the experts the example input "
                "picked (expert ids computed at run time), not over all " +
                Twine(ctx.numExperts));
  int64_t routerRank = rankedType(ctx.probs).getRank();
  if (failed(checkCapacityScope(masks, miss)))
    return failure();
  if (routerRank != 2 && routerRank != 3)
    return miss("the router probabilities are not a [tokens, experts] or "
                "[batch, seq, experts] tensor");
  LayerSpec layer;
  if (failed(matchRouter(ctx, layer.router, ctx.tokens, miss)))
    return failure();
  if (routerRank == 3 && !ctx.sequences)
    return miss("the router probabilities are [batch, seq, experts] but the "
                "router does not read [batch, seq, hidden] tokens");
  ctx.hidden = rankedType(ctx.tokens).getDimSize(1);

  if (scan.scatters.empty())
    return miss("no ScatterND writes expert rows selected by the argmax");
  FailureOr<SmallVector<NodeOp>> chain = assignmentChain(scan.scatters, miss);
  if (failed(chain))
    return failure();
  FailureOr<SmallVector<SwitchExpert>> experts =
      orderExperts(*chain, ctx, miss);
  if (failed(experts))
    return failure();
  std::optional<int64_t> capacity = experts->front().mask.capacity;
  Value start = chain->front().getInputs()[0];
  // Without a capacity every token is assigned, so a start of x (HF's
  // pass-through clone) is overwritten everywhere; with one, the dropped
  // tokens keep the start, which must be the 0 a dropped slot gets.
  bool passThrough = !capacity && skipReshapes(start) == ctx.tokens &&
                     rankedType(start) == rankedType(ctx.tokens);
  if (!passThrough && !isZerosLikeTokens(start, ctx))
    return miss(capacity ? "tokens dropped by the expert capacity keep "
                           "something other than 0"
                         : "the expert assignments start from something "
                           "other than zeros or the tokens");
  Value output = scaledOutput(chain->back().getOutputs()[0], ctx);
  if (!output)
    return miss("the expert outputs are not scaled by the max routing "
                "probability");
  FailureOr<ExpertsSpec> spec = expertsOf(*experts, ctx.hidden, miss);
  if (failed(spec))
    return failure();

  layer.kind = "switch";
  layer.tokens = ctx.tokens;
  layer.route.score = ScoreFunction::Softmax;
  layer.route.k = 1;
  layer.experts = *spec;
  layer.output = output;
  layer.anchor = argmax;
  if (remarks) {
    InFlightDiagnostic remark = argmax.emitRemark();
    remark << "raised a Switch top-1 MoE layer: " << ctx.numExperts
           << " experts";
    if (capacity)
      remark << ", capacity " << *capacity << " in token order"
             << (ctx.sequences ? " per sequence" : "");
  }
  // A token past its expert's capacity is written by no expert: zero, as
  // moe.combine leaves a dropped slot.
  layer.capacity = capacity;
  layer.dropPolicy = DropPolicy::InOrder;
  // Per sequence: the capacity counts within groups of seq tokens, seq
  // being the router input's dimension 1 (known at run time only). Read
  // before the layer is built, which erases the router's reshape otherwise.
  Value seq;
  if (capacity && ctx.sequences) {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointAfterValue(ctx.sequences);
    seq = tensor::DimOp::create(rewriter, argmax.getLoc(), ctx.sequences, 1);
  }
  RaisedLayer raised = buildLayer(layer, rewriter);
  if (seq)
    raised.experts.getRows()
        .getDefiningOp<DispatchOp>()
        .getGroupSizeMutable()
        .assign(seq);
  layers.push_back(raised);
  return success();
}
