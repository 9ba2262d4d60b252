//===- MatchSparseMixer.cpp - PhiMoE's sparsemixer routing ----------------===//
//
// transformers' sparsemixer (PhiMoE) in inference mode, as both exporters
// write it: two rounds r over scores s_1 = logits and s_2 = the logits with
// round 1's expert scattered to -inf,
//   m = ReduceMax(s_r), i = ArgMax(s_r)
//   far = (m - logits) / Max(Abs(logits), m) > 2 jitter_eps
//   w = GatherElements(Softmax(Where(far, -inf, s_r)), i)
// then weights = Concat(w_1, w_2) and ids = Concat(i_1, i_2).
//
//===----------------------------------------------------------------------===//

#include "Match.h"

#include <cmath>

using namespace mlir;
using namespace moe;
using namespace moe::detail;
using onnx::NodeOp;

namespace {

bool isNegInf(std::optional<double> v) { return v && std::isinf(*v) && *v < 0; }

bool onLastAxis(NodeOp node, int64_t rank) {
  int64_t axis = intAttr(node, "axis", -1);
  return axis == -1 || axis == rank - 1;
}

/// ArgMax over the last axis of `scores`, keeping it, first index on ties.
bool isArgMaxOf(NodeOp argmax, Value scores) {
  return argmax && skipReshapes(argmax.getInputs()[0]) == scores &&
         onLastAxis(argmax, 2) && intAttr(argmax, "keepdims", 1) == 1 &&
         intAttr(argmax, "select_last_index", 0) == 0;
}

/// One round's weight `w` for the expert `argmax` picks from `scores`;
/// returns the jitter threshold (2 jitter_eps) it compares with.
std::optional<double> matchRound(Value w, NodeOp argmax, Value scores,
                                 Value logits) {
  NodeOp gather = producer(skipReshapes(w), "GatherElements");
  if (!gather || !onLastAxis(gather, 2) ||
      skipReshapes(gather.getInputs()[1]) != argmax.getOutputs()[0])
    return std::nullopt;
  NodeOp softmax = producer(skipReshapes(gather.getInputs()[0]), "Softmax");
  if (!softmax || !softmaxOverLastAxis(softmax))
    return std::nullopt;
  NodeOp where = producer(skipReshapes(softmax.getInputs()[0]), "Where");
  if (!where || skipReshapes(where.getInputs()[2]) != scores ||
      !isNegInf(getFill(where.getInputs()[1])))
    return std::nullopt;
  NodeOp greater = producer(skipCasts(where.getInputs()[0]), "Greater");
  std::optional<double> threshold =
      greater ? getScalar(greater.getInputs()[1]) : std::nullopt;
  NodeOp div = greater ? producer(greater.getInputs()[0], "Div") : NodeOp();
  if (!threshold || !div)
    return std::nullopt;
  NodeOp sub = producer(div.getInputs()[0], "Sub");
  NodeOp max = producer(div.getInputs()[1], "Max");
  if (!sub || !max || max.getInputs().size() != 2 ||
      skipReshapes(sub.getInputs()[1]) != logits)
    return std::nullopt;
  NodeOp best = producer(skipReshapes(sub.getInputs()[0]), "ReduceMax");
  if (!best || skipReshapes(best.getInputs()[0]) != scores ||
      !reducesLastAxis(best, 2) || intAttr(best, "keepdims", 1) != 1)
    return std::nullopt;
  // Max(Abs(logits), m), in either order.
  for (int i = 0; i < 2; ++i) {
    NodeOp abs = producer(max.getInputs()[i], "Abs");
    if (abs && skipReshapes(abs.getInputs()[0]) == logits &&
        skipReshapes(max.getInputs()[1 - i]) == best.getOutputs()[0])
      return threshold;
  }
  return std::nullopt;
}

} // namespace

FailureOr<RoutingMatch> moe::detail::matchSparseMixer(Value weights, NodeOp ids,
                                                      const NearMiss &miss) {
  if (!ids.isStandard("Concat") || ids.getInputs().size() != 2 ||
      !onLastAxis(ids, 2))
    return miss("the expert ids are not a concatenation of two argmaxes");
  NodeOp first = producer(skipReshapes(ids.getInputs()[0]), "ArgMax");
  NodeOp second = producer(skipReshapes(ids.getInputs()[1]), "ArgMax");
  Value logits = first ? skipReshapes(first.getInputs()[0]) : Value();
  RankedTensorType logitsType = rankedType(logits);
  if (!second || !isArgMaxOf(first, logits) || !logitsType ||
      logitsType.getRank() != 2 || logitsType.isDynamicDim(1) ||
      logitsType.getDimSize(1) < 2)
    return miss("the expert ids are not two argmaxes over [tokens, experts] "
                "scores");
  // Round two's scores: the logits with round one's expert at -inf.
  Value scattered = skipReshapes(second.getInputs()[0]);
  NodeOp scatter = producer(scattered, "ScatterElements");
  if (!scatter || !onLastAxis(scatter, 2) ||
      skipReshapes(scatter.getInputs()[0]) != logits ||
      skipReshapes(scatter.getInputs()[1]) != first.getOutputs()[0] ||
      !isNegInf(getFill(scatter.getInputs()[2])) ||
      !isArgMaxOf(second, scattered))
    return miss("the second argmax does not run on the scores without the "
                "first expert");
  NodeOp concat = producer(skipReshapes(weights), "Concat");
  if (!concat || concat.getInputs().size() != 2 || !onLastAxis(concat, 2))
    return miss("the routing weights are not one weight per argmax");
  std::optional<double> t1 =
      matchRound(concat.getInputs()[0], first, logits, logits);
  std::optional<double> t2 =
      matchRound(concat.getInputs()[1], second, scattered, logits);
  if (!t1 || !t2 || *t1 != *t2 || *t1 < 0)
    return miss("the routing weights are not sparsemixer's softmax over the "
                "experts within one jitter of each argmax");
  RoutingMatch m;
  m.route.score = ScoreFunction::SparseMixer;
  m.route.k = 2;
  m.route.jitterEps = *t1 / 2;
  if (failed(matchRouterLinear(logits, logitsType.getDimSize(1), m, miss)))
    return failure();
  return m;
}
