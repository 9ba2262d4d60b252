//===- Match.cpp - reading meaning out of exported graphs -----------------===//

#include "Match.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace moe;
using namespace moe::detail;
using onnx::NodeOp;

NodeOp moe::detail::producer(Value v, StringRef opType) {
  auto node = v ? v.getDefiningOp<NodeOp>() : NodeOp();
  return node && node.isStandard(opType) ? node : NodeOp();
}

RankedTensorType moe::detail::rankedType(Value v) {
  return v ? dyn_cast<RankedTensorType>(v.getType()) : RankedTensorType();
}

int64_t moe::detail::intAttr(NodeOp node, StringRef name, int64_t fallback) {
  if (auto attr = dyn_cast_or_null<IntegerAttr>(node.getONNXAttr(name)))
    return attr.getInt();
  return fallback;
}

Value moe::detail::optionalInput(NodeOp node, unsigned i) {
  if (node.getInputs().size() <= i ||
      isa<NoneType>(node.getInputs()[i].getType()))
    return {};
  return node.getInputs()[i];
}

std::optional<int64_t> moe::detail::constantInt(Value v) {
  std::optional<SmallVector<int64_t>> values =
      v ? onnx::getConstantInts(v) : std::nullopt;
  if (!values || values->size() != 1)
    return std::nullopt;
  return values->front();
}

std::optional<SmallVector<int64_t>> moe::detail::intsAttr(NodeOp node,
                                                          StringRef name) {
  Attribute attr = node.getONNXAttr(name);
  if (auto dense = dyn_cast_or_null<DenseI64ArrayAttr>(attr))
    return SmallVector<int64_t>(dense.asArrayRef());
  auto array = dyn_cast_or_null<ArrayAttr>(attr);
  if (!array)
    return std::nullopt;
  SmallVector<int64_t> values;
  for (Attribute a : array) {
    auto i = dyn_cast<IntegerAttr>(a);
    if (!i)
      return std::nullopt;
    values.push_back(i.getInt());
  }
  return values;
}

Value moe::detail::skipCasts(Value v) {
  while (NodeOp node = v.getDefiningOp<NodeOp>()) {
    if (!node.isStandard("Cast") && !node.isStandard("Identity"))
      break;
    v = node.getInputs()[0];
  }
  return v;
}

bool moe::detail::isArange(Value v, int64_t n) {
  RankedTensorType t = rankedType(v);
  std::optional<SmallVector<int64_t>> values = onnx::getConstantInts(v);
  if (!t || !values || t.getRank() < 1 || t.getNumElements() != n ||
      t.getShape().back() != n)
    return false;
  for (int64_t i = 0; i < n; ++i)
    if ((*values)[i] != i)
      return false;
  return true;
}

static bool isFloatTensor(Value v) {
  RankedTensorType t = rankedType(v);
  return t && isa<FloatType>(t.getElementType());
}

Value moe::detail::skipReshapes(Value v) {
  while (auto node = v.getDefiningOp<NodeOp>()) {
    if (!node.getDomain().empty() && node.getDomain() != "ai.onnx")
      break;
    StringRef op = node.getOpType();
    bool keepsValues =
        op == "Identity" || op == "Reshape" || op == "Squeeze" ||
        op == "Unsqueeze" || op == "Flatten" ||
        // Float-to-float casts: widening ones are exact; narrowing ones are
        // where a mixed-precision export rounds, and the raised layer
        // computes in its operands' element types instead (fp16 / bf16
        // models route in fp32 and cast back).
        (op == "Cast" && isFloatTensor(node.getInputs()[0]) &&
         isFloatTensor(node.getOutputs()[0]));
    if (!keepsValues || node.getOutputs().size() != 1)
      break;
    v = node.getInputs()[0];
  }
  return v;
}

bool moe::detail::isConstant(Value v) {
  return v && matchPattern(v, m_Constant());
}

std::optional<double> moe::detail::getScalar(Value v) {
  std::optional<SmallVector<double>> values =
      onnx::getConstantFloats(skipReshapes(v));
  if (!values || values->size() != 1)
    return std::nullopt;
  return values->front();
}

/// A constant 2-D weight, possibly behind Transpose(perm = [1, 0]), which
/// flips `transposed`.
static Value constantWeight(Value w, bool &transposed) {
  if (NodeOp t = producer(w, "Transpose")) {
    // Without perm, Transpose reverses the axes: a swap for 2-D.
    auto perm = dyn_cast_or_null<DenseI64ArrayAttr>(t.getONNXAttr("perm"));
    RankedTensorType type = rankedType(t.getInputs()[0]);
    bool swaps = !perm || perm.asArrayRef() == ArrayRef<int64_t>{1, 0};
    if (!type || type.getRank() != 2 || !swaps)
      return {};
    transposed = !transposed;
    w = t.getInputs()[0];
  }
  RankedTensorType type = rankedType(w);
  if (!isConstant(w) || !type || type.getRank() != 2 || !type.hasStaticShape())
    return {};
  return w;
}

/// A bias for `out` outputs: a constant [out] or [1, out].
static bool isBias(Value b, int64_t out) {
  RankedTensorType t = rankedType(b);
  if (!isConstant(b) || !t || t.getNumElements() != out)
    return false;
  return t.getRank() == 1 || (t.getRank() == 2 && t.getDimSize(0) == 1);
}

std::optional<Linear> moe::detail::matchLinear(Value out) {
  Linear linear;
  Value v = out;
  Value pendingBias;
  if (NodeOp add = producer(v, "Add")) {
    Value lhs = add.getInputs()[0], rhs = add.getInputs()[1];
    if (isConstant(rhs)) {
      pendingBias = rhs;
      v = lhs;
    } else if (isConstant(lhs)) {
      pendingBias = lhs;
      v = rhs;
    } else {
      return std::nullopt;
    }
  }
  if (NodeOp matmul = producer(v, "MatMul")) {
    linear.input = matmul.getInputs()[0];
    linear.weight = constantWeight(matmul.getInputs()[1], linear.transposed);
  } else if (NodeOp gemm = producer(v, "Gemm")) {
    auto floatAttr = [&](StringRef name) {
      auto a = dyn_cast_or_null<FloatAttr>(gemm.getONNXAttr(name));
      return a ? a.getValueAsDouble() : 1.0;
    };
    if (intAttr(gemm, "transA", 0) != 0 || floatAttr("alpha") != 1.0)
      return std::nullopt;
    linear.input = gemm.getInputs()[0];
    linear.transposed = intAttr(gemm, "transB", 0) != 0;
    linear.weight = constantWeight(gemm.getInputs()[1], linear.transposed);
    if (gemm.getInputs().size() > 2 &&
        !isa<NoneType>(gemm.getInputs()[2].getType())) {
      if (pendingBias || floatAttr("beta") != 1.0)
        return std::nullopt;
      pendingBias = gemm.getInputs()[2];
    }
  } else {
    return std::nullopt;
  }
  if (!linear.weight)
    return std::nullopt;
  RankedTensorType w = rankedType(linear.weight);
  int64_t outDim = w.getDimSize(linear.transposed ? 0 : 1);
  if (pendingBias) {
    if (!isBias(pendingBias, outDim))
      return std::nullopt;
    linear.bias = pendingBias;
  }
  return linear;
}

/// The factors of a product of Mul nodes, flattened.
static void collectFactors(Value v, SmallVectorImpl<Value> &factors,
                           unsigned depth = 0) {
  if (NodeOp mul = producer(v, "Mul"); mul && depth < 4) {
    collectFactors(mul.getInputs()[0], factors, depth + 1);
    collectFactors(mul.getInputs()[1], factors, depth + 1);
    return;
  }
  factors.push_back(v);
}

static bool near(double a, double b) {
  return std::abs(a - b) <= 1e-5 * std::max(1.0, std::abs(b));
}

/// Matches 1 + erf(x / sqrt(2)) (or x * (1/sqrt(2))) and returns x.
static Value matchErfTerm(Value v) {
  NodeOp add = producer(v, "Add");
  if (!add)
    return {};
  Value erfOut;
  for (int i = 0; i < 2; ++i)
    if (std::optional<double> one = getScalar(add.getInputs()[i]);
        one && *one == 1.0)
      erfOut = add.getInputs()[1 - i];
  NodeOp erf = producer(erfOut, "Erf");
  if (!erf)
    return {};
  Value arg = erf.getInputs()[0];
  if (NodeOp div = producer(arg, "Div")) {
    std::optional<double> c = getScalar(div.getInputs()[1]);
    return c && near(*c, std::sqrt(2.0)) ? div.getInputs()[0] : Value();
  }
  if (NodeOp mul = producer(arg, "Mul")) {
    for (int i = 0; i < 2; ++i)
      if (std::optional<double> c = getScalar(mul.getInputs()[i]);
          c && near(*c, 1.0 / std::sqrt(2.0)))
        return mul.getInputs()[1 - i];
  }
  return {};
}

std::optional<std::pair<ActivationSpec, Value>>
moe::detail::matchActivation(Value out) {
  if (NodeOp relu = producer(out, "Relu"))
    return std::make_pair(ActivationSpec{Activation::Relu, std::nullopt},
                          relu.getInputs()[0]);
  if (NodeOp gelu = producer(out, "Gelu")) {
    auto approx = dyn_cast_or_null<StringAttr>(gelu.getONNXAttr("approximate"));
    Activation kind = approx && approx.getValue() == "tanh"
                          ? Activation::GeluTanh
                          : Activation::Gelu;
    return std::make_pair(ActivationSpec{kind, std::nullopt},
                          gelu.getInputs()[0]);
  }
  SmallVector<Value> factors;
  collectFactors(out, factors);
  // silu: x * sigmoid(x) or x * sigmoid(alpha * x).
  if (factors.size() == 2) {
    for (int i = 0; i < 2; ++i) {
      NodeOp sigmoid = producer(factors[i], "Sigmoid");
      if (!sigmoid)
        continue;
      Value x = factors[1 - i], arg = sigmoid.getInputs()[0];
      if (arg == x)
        return std::make_pair(ActivationSpec{Activation::Silu, std::nullopt},
                              x);
      if (NodeOp scale = producer(arg, "Mul")) {
        for (int j = 0; j < 2; ++j)
          if (std::optional<double> alpha = getScalar(scale.getInputs()[j]);
              alpha && scale.getInputs()[1 - j] == x)
            return std::make_pair(ActivationSpec{Activation::Silu, *alpha}, x);
      }
    }
  }
  // gelu (erf form): x * 0.5 * (1 + erf(x / sqrt(2))), in any order.
  if (factors.size() == 3) {
    Value x, half, term;
    for (Value f : factors) {
      if (std::optional<double> c = getScalar(f); c && *c == 0.5)
        half = f;
      else if (Value arg = matchErfTerm(f))
        term = arg;
      else
        x = f;
    }
    if (x && half && term && term == x)
      return std::make_pair(ActivationSpec{Activation::Gelu, std::nullopt}, x);
  }
  return std::nullopt;
}

bool moe::detail::reducesLastAxis(NodeOp reduce, int64_t rank) {
  std::optional<SmallVector<int64_t>> axes;
  if (reduce.getInputs().size() > 1)
    axes = onnx::getConstantInts(reduce.getInputs()[1]);
  else
    axes = intsAttr(reduce, "axes");
  return axes && axes->size() == 1 &&
         ((*axes)[0] == -1 || (*axes)[0] == rank - 1);
}

bool moe::detail::softmaxOverLastAxis(NodeOp softmax) {
  RankedTensorType t = rankedType(softmax.getInputs()[0]);
  if (!t)
    return false;
  int64_t axis = intAttr(softmax, "axis", -1);
  return axis == -1 || axis == t.getRank() - 1;
}

namespace {
/// Group-limited selection (DeepSeek-V3): scores [T, E] viewed as
/// [T, G, E / G]; a group's score is the sum of its top group_topk; the top
/// topk_groups groups are kept and the other experts masked before top-k.
struct GroupLimit {
  int64_t numGroups, topkGroups, groupTopk;
  double fill;
  /// The scores the mask is applied to.
  Value scores;
};
} // namespace

/// A TopK node's k, or nullopt.
static std::optional<int64_t> topkK(NodeOp topk) {
  std::optional<SmallVector<int64_t>> k =
      onnx::getConstantInts(topk.getInputs()[1]);
  if (!k || k->size() != 1)
    return std::nullopt;
  return (*k)[0];
}

/// The one value every element of `v` has: a constant scalar, broadcast
/// by Expand or written by ConstantOfShape.
std::optional<double> moe::detail::getFill(Value v) {
  if (std::optional<double> c = getScalar(v))
    return c;
  if (NodeOp expand = producer(v, "Expand"))
    return getScalar(expand.getInputs()[0]);
  if (NodeOp fill = producer(v, "ConstantOfShape")) {
    auto value = dyn_cast_or_null<DenseElementsAttr>(fill.getONNXAttr("value"));
    if (!value)
      return 0.0;
    if (isa<FloatType>(value.getElementType()))
      return (*value.getValues<APFloat>().begin()).convertToDouble();
    return double((*value.getValues<APInt>().begin()).getSExtValue());
  }
  return std::nullopt;
}

/// Matches Where(not(mask), fill, scores) with the group mask computed from
/// the same scores.
static FailureOr<GroupLimit> matchGroupLimit(Value selected,
                                             const NearMiss &miss) {
  NodeOp where = producer(selected, "Where");
  GroupLimit g;
  std::optional<double> fill = getScalar(where.getInputs()[1]);
  if (!fill)
    return miss("experts are masked with a non-constant before top-k");
  g.fill = *fill;
  g.scores = skipReshapes(where.getInputs()[2]);
  // The condition: not(expert's group kept), broadcast from [T, G]. Casts
  // between the 0/1 mask's float and bool forms keep its truth values.
  auto skipMaskPlumbing = [](Value v) {
    while (true) {
      v = skipReshapes(v);
      NodeOp node = producer(v, "Cast");
      if (!node)
        node = producer(v, "Expand");
      if (!node)
        return v;
      v = node.getInputs()[0];
    }
  };
  Value cond = skipMaskPlumbing(where.getInputs()[0]);
  NodeOp notOp = producer(cond, "Not");
  if (!notOp)
    return miss("the expert mask before top-k is not a negated group mask");
  Value mask = skipMaskPlumbing(notOp.getInputs()[0]);
  // The kept groups: a scatter of ones at TopK(group scores).indices.
  NodeOp scatter = producer(mask, "ScatterElements");
  if (!scatter || intAttr(scatter, "axis", 0) != 1)
    return miss("the group mask is not a scatter of the top groups");
  std::optional<double> one = getFill(scatter.getInputs()[2]);
  std::optional<double> zero = getFill(scatter.getInputs()[0]);
  if (!one || *one != 1.0 || !zero || *zero != 0.0)
    return miss("the group mask is not ones scattered into zeros");
  Value kept = scatter.getInputs()[1];
  NodeOp groupTopk = kept.getDefiningOp<NodeOp>();
  if (!groupTopk || !groupTopk.isStandard("TopK") ||
      groupTopk.getOutputs()[1] != kept || !topkK(groupTopk))
    return miss("the kept groups are not a top-k of group scores");
  g.topkGroups = *topkK(groupTopk);
  // Group scores: sum of the top group_topk per group (or their max).
  Value groupScores = skipReshapes(groupTopk.getInputs()[0]);
  Value grouped;
  if (NodeOp sum = producer(groupScores, "ReduceSum")) {
    Value inner = skipReshapes(sum.getInputs()[0]);
    NodeOp innerTopk = inner.getDefiningOp<NodeOp>();
    RankedTensorType t = rankedType(sum.getInputs()[0]);
    if (!innerTopk || !innerTopk.isStandard("TopK") ||
        innerTopk.getOutputs()[0] != inner || !topkK(innerTopk) || !t ||
        !reducesLastAxis(sum, t.getRank()) || intAttr(sum, "keepdims", 1) != 0)
      return miss("group scores are not sums of the top scores per group");
    g.groupTopk = *topkK(innerTopk);
    grouped = innerTopk.getInputs()[0];
  } else if (NodeOp max = producer(groupScores, "ReduceMax")) {
    g.groupTopk = 1;
    grouped = max.getInputs()[0];
  } else {
    return miss("group scores are not sums of the top scores per group");
  }
  RankedTensorType groupedType = rankedType(grouped);
  if (!groupedType || groupedType.getRank() != 3 ||
      groupedType.isDynamicDim(1) || skipReshapes(grouped) != g.scores)
    return miss("the groups are not a [tokens, groups, experts / groups] "
                "view of the masked scores");
  g.numGroups = groupedType.getDimSize(1);
  return g;
}

FailureOr<RoutingMatch> moe::detail::matchRouting(Value weights,
                                                  const NearMiss &miss) {
  RoutingMatch m;
  RouteSpec &route = m.route;
  // Backward through the weight computation: scaling, then renormalization,
  // then softmax over the chosen, down to the TopK values (or to a gather of
  // unbiased scores by the TopK indices).
  enum Stage { Scaling, Renorm, AfterTopK, Source } stage = Scaling;
  Value v = skipReshapes(weights);
  Value gatheredScores;
  while (true) {
    if (NodeOp mul = producer(v, "Mul"); mul && stage == Scaling) {
      std::optional<double> c0 = getScalar(mul.getInputs()[0]);
      std::optional<double> c1 = getScalar(mul.getInputs()[1]);
      if (!c0 && !c1)
        return miss("the routing weights are scaled by a non-constant");
      route.scaling *= c0 ? *c0 : *c1;
      v = skipReshapes(mul.getInputs()[c0 ? 1 : 0]);
      continue;
    }
    if (NodeOp div = producer(v, "Div"); div && stage <= Renorm) {
      Value num = skipReshapes(div.getInputs()[0]);
      if (std::optional<double> c = getScalar(div.getInputs()[1]);
          c && stage == Scaling) {
        route.scaling /= *c;
        v = num;
        continue;
      }
      Value den = div.getInputs()[1];
      if (NodeOp add = producer(den, "Add")) {
        for (int i = 0; i < 2; ++i)
          if (std::optional<double> eps = getScalar(add.getInputs()[i])) {
            route.epsilon = *eps;
            den = add.getInputs()[1 - i];
            break;
          }
      }
      // Ernie 4.5: clip(sum, min = epsilon), no max.
      if (NodeOp clip = producer(den, "Clip"); clip && route.epsilon == 0) {
        Value min = optionalInput(clip, 1);
        std::optional<double> floor = min ? getScalar(min) : std::nullopt;
        if (!floor || optionalInput(clip, 2) || *floor < 0)
          return miss("the routing weights are divided by a clip of their "
                      "sum other than clip(sum, min = epsilon >= 0)");
        route.epsilon = *floor;
        route.clampSum = true;
        den = clip.getInputs()[0];
      }
      NodeOp sum = producer(den, "ReduceSum");
      RankedTensorType numType = rankedType(num);
      if (!sum || skipReshapes(sum.getInputs()[0]) != num || !numType ||
          !reducesLastAxis(sum, rankedType(sum.getInputs()[0]).getRank()))
        return miss("the routing weights are divided by something other "
                    "than their sum over the chosen experts");
      route.renormalize = true;
      stage = AfterTopK;
      v = num;
      continue;
    }
    if (NodeOp softmax = producer(v, "Softmax");
        softmax && stage <= AfterTopK) {
      if (!softmaxOverLastAxis(softmax))
        return miss("softmax over the chosen experts is not over the last "
                    "axis");
      route.score = ScoreFunction::SoftmaxAfterTopK;
      stage = Source;
      v = skipReshapes(softmax.getInputs()[0]);
      continue;
    }
    if (NodeOp gather = producer(v, "GatherElements")) {
      gatheredScores = gather.getInputs()[0];
      v = skipReshapes(gather.getInputs()[1]);
      NodeOp topk = v.getDefiningOp<NodeOp>();
      if (!topk || !topk.isStandard("TopK") || topk.getOutputs()[1] != v)
        return miss("routing weights are gathered by something other than "
                    "the top-k indices");
      m.topk = topk;
      break;
    }
    if (NodeOp topk = v.getDefiningOp<NodeOp>();
        topk && topk.isStandard("TopK") && topk.getOutputs()[0] == v) {
      m.topk = topk;
      break;
    }
    return miss("the routing weights do not come from a TopK");
  }

  NodeOp topk = m.topk;
  RankedTensorType in = rankedType(topk.getInputs()[0]);
  if (!in || in.getRank() != 2)
    return miss("TopK input is not a [tokens, experts] matrix");
  int64_t axis = intAttr(topk, "axis", -1);
  if ((axis != -1 && axis != 1) || intAttr(topk, "largest", 1) != 1)
    return miss("TopK does not pick the largest over the experts axis");
  std::optional<SmallVector<int64_t>> kValues =
      onnx::getConstantInts(topk.getInputs()[1]);
  if (!kValues || kValues->size() != 1)
    return miss("TopK's k is not a constant");
  route.k = (*kValues)[0];
  int64_t numExperts = in.getDimSize(1);
  if (ShapedType::isDynamic(numExperts) || *route.k < 1 ||
      *route.k > numExperts)
    return miss("TopK's k or the expert count is not usable");

  Value selected = skipReshapes(topk.getInputs()[0]);
  // Group-limited selection masks the experts of the groups not kept.
  std::optional<double> groupFill;
  if (producer(selected, "Where")) {
    FailureOr<GroupLimit> groups = matchGroupLimit(selected, miss);
    if (failed(groups))
      return failure();
    route.numGroups = groups->numGroups;
    route.topkGroups = groups->topkGroups;
    route.groupTopk = groups->groupTopk;
    groupFill = groups->fill;
    selected = groups->scores;
  }
  Value scores = selected;
  if (gatheredScores) {
    // Selection on biased scores, weights from the unbiased ones.
    scores = skipReshapes(gatheredScores);
    NodeOp add = producer(selected, "Add");
    if (!add)
      return miss("top-k selects on other scores than the weights come "
                  "from, but not on scores plus a bias");
    for (int i = 0; i < 2; ++i) {
      RankedTensorType bias = rankedType(add.getInputs()[i]);
      if (skipReshapes(add.getInputs()[1 - i]) == scores && bias &&
          isConstant(add.getInputs()[i]) && bias.getNumElements() == numExperts)
        route.selectionBias = add.getInputs()[i];
    }
    if (!route.selectionBias)
      return miss("top-k selects on scores plus a non-constant or "
                  "misshapen bias");
  }

  Value logits;
  if (route.score == ScoreFunction::SoftmaxAfterTopK) {
    if (gatheredScores)
      return miss("softmax over gathered scores is not supported");
    logits = scores;
  } else if (NodeOp softmax = producer(scores, "Softmax")) {
    if (!softmaxOverLastAxis(softmax))
      return miss("the router softmax is not over the experts axis");
    route.score = ScoreFunction::Softmax;
    logits = skipReshapes(softmax.getInputs()[0]);
  } else if (NodeOp sigmoid = producer(scores, "Sigmoid")) {
    route.score = ScoreFunction::Sigmoid;
    logits = skipReshapes(sigmoid.getInputs()[0]);
  } else {
    return miss("top-k runs on raw scores whose weights are not a softmax "
                "over the chosen experts");
  }
  if (route.selectionBias && route.score != ScoreFunction::Sigmoid &&
      route.score != ScoreFunction::Softmax)
    return miss("a selection bias needs sigmoid or softmax scores");

  if (groupFill && !std::isinf(*groupFill)) {
    // Masking with a finite fill (HF's masked_fill(0.0)) is masking with
    // -inf only if every kept score is above it: sigmoid and softmax scores
    // are positive, so a fill <= 0 is, as long as the bias cannot make a
    // score negative.
    std::optional<SmallVector<double>> bias;
    if (route.selectionBias)
      bias = onnx::getConstantFloats(route.selectionBias);
    bool positive =
        !route.selectionBias ||
        (bias && llvm::all_of(*bias, [](double b) { return b >= 0.0; }));
    if (*groupFill > 0.0 || !positive)
      return miss("groups are masked with " + std::to_string(*groupFill) +
                  ", which a kept expert's biased score can fall below");
  }
  if (route.numGroups &&
      *route.topkGroups * (numExperts / *route.numGroups) < *route.k)
    return miss("the kept groups hold fewer experts than top-k picks");

  if (failed(matchRouterLinear(logits, numExperts, m, miss)))
    return failure();
  return m;
}

LogicalResult moe::detail::matchRouterLinear(Value logits, int64_t numExperts,
                                             RoutingMatch &m,
                                             const NearMiss &miss) {
  std::optional<Linear> linear = matchLinear(logits);
  if (!linear)
    return miss("the router logits are not a linear layer of the tokens");
  RankedTensorType w = rankedType(linear->weight);
  if (w.getDimSize(linear->transposed ? 0 : 1) != numExperts)
    return miss("the router weight does not have one column per expert");
  m.router.weight = linear->weight;
  m.router.transposed = linear->transposed;
  m.router.bias = linear->bias;
  m.tokens = linear->input;
  return success();
}

/// act(x W_gate) * (x W_up) as a product of its two factors, in any order.
static std::optional<ExpertFFN> matchGatedHidden(Value h) {
  NodeOp mul = producer(h, "Mul");
  if (!mul)
    return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    auto act = matchActivation(skipReshapes(mul.getInputs()[i]));
    if (!act)
      continue;
    std::optional<Linear> gate = matchLinear(skipReshapes(act->second));
    std::optional<Linear> up =
        matchLinear(skipReshapes(mul.getInputs()[1 - i]));
    if (!gate || !up || skipReshapes(gate->input) != skipReshapes(up->input))
      continue;
    ExpertFFN ffn;
    ffn.activation = act->first;
    ffn.gated = true;
    ffn.stages = {*gate, *up};
    return ffn;
  }
  return std::nullopt;
}

std::optional<ExpertFFN> moe::detail::matchExpertFFN(Value out) {
  std::optional<Linear> down = matchLinear(skipReshapes(out));
  if (!down)
    return std::nullopt;
  Value h = skipReshapes(down->input);
  std::optional<ExpertFFN> ffn = matchGatedHidden(h);
  if (!ffn) {
    auto act = matchActivation(h);
    std::optional<Linear> up =
        act ? matchLinear(skipReshapes(act->second)) : std::nullopt;
    if (!up)
      return std::nullopt;
    ffn = ExpertFFN();
    ffn->activation = act->first;
    ffn->stages = {*up};
  }
  ffn->stages.push_back(*down);
  ffn->input = skipReshapes(ffn->stages.front().input);
  return ffn;
}

FailureOr<ExpertsSpec> moe::detail::perExpertSpec(ArrayRef<ExpertFFN> byExpert,
                                                  int64_t hidden,
                                                  const NearMiss &miss) {
  ExpertsSpec spec;
  spec.numExperts = byExpert.size();
  const ExpertFFN &first = byExpert.front();
  spec.activation = first.activation.kind;
  spec.alpha = first.activation.alpha;
  if (first.gated)
    spec.gateLayout = GateLayout::Separate;
  spec.transposed = first.stages.front().transposed;
  bool biased = bool(first.stages.front().bias);
  for (auto [expert, ffn] : llvm::enumerate(byExpert)) {
    if (ffn.gated != first.gated ||
        ffn.activation.kind != first.activation.kind ||
        ffn.activation.alpha != first.activation.alpha)
      return miss("expert " + Twine(expert) +
                  " has another activation than expert 0");
    auto width = [&](const Linear &l, bool out) {
      return rankedType(l.weight).getDimSize(out != l.transposed ? 1 : 0);
    };
    int64_t inner = width(ffn.stages.front(), true);
    for (const Linear &l : ffn.stages) {
      if (l.transposed != spec.transposed || bool(l.bias) != biased)
        return miss("the experts' projections mix weight layouts or biases");
      bool isDown = &l == &ffn.stages.back();
      if (width(l, false) != (isDown ? inner : hidden) ||
          width(l, true) != (isDown ? hidden : inner))
        return miss("expert " + Twine(expert) +
                    "'s projections do not chain hidden -> inner -> hidden");
      spec.weights.push_back(l.weight);
      if (l.bias)
        spec.biases.push_back(l.bias);
    }
  }
  return spec;
}

LayerSpec moe::detail::routedLayer(StringRef kind, const RoutingMatch &routing,
                                   ExpertsSpec experts, Value output,
                                   Operation *anchor) {
  LayerSpec spec;
  spec.kind = kind.str();
  spec.tokens = routing.tokens;
  spec.router = routing.router;
  spec.route = routing.route;
  spec.experts = std::move(experts);
  spec.output = output;
  spec.anchor = anchor;
  return spec;
}
