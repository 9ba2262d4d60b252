//===- RaiseExpertChoice.cpp - expert choice routing -> moe ops -----------===//
//
// Expert choice (Zhou et al. 2022) turns routing around: every expert takes
// its best C tokens instead of every token its best k experts.
//
//   S          = softmax(x Wg)                      [T, E]
//   g, ids     = TopK(Transpose(S), C, axis = 1)    [E, C]
//   rows       = x[ids]                             Gather / GatherND
//   y          = ffn_e(rows) * g[..., None]         einsum / batched MatMul
//   out        = zeros[T, H].scatter_add(0, ids, y)
//
// which is moe.route <expert_choice> with dispatch, experts and combine. The
// capacity C must be moe.route's: C = min(T, max(1, ceil(T * c / E))). The
// exporter writes it as integer arithmetic on the token count, such as
// (T * 2 + E - 1) // E; it is read back symbolically and mapped to a
// capacity_factor c only if it is that ceiling for every T, else the layer
// stays and a remark says how the rounding differs. Ties: ONNX TopK and
// moe.route both take the lower token index first.
//
//===----------------------------------------------------------------------===//

#include "Match.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace moe;
using namespace moe::detail;
using onnx::NodeOp;

namespace {

/// The layer-wide facts every piece is checked against.
struct ChoiceContext {
  NodeOp topk;
  /// The chosen tokens [E, C] and their scores.
  Value ids, gates;
  /// The router's token rows [T, H].
  Value tokens;
  int64_t numExperts = 0;
  int64_t hidden = 0;
};

/// The [T, E] scores `topk` picks tokens from: TopK(largest) along the last
/// axis of Transpose(scores).
Value tokenAxisScores(NodeOp topk) {
  RankedTensorType in = rankedType(topk.getInputs()[0]);
  int64_t axis = intAttr(topk, "axis", -1);
  NodeOp transpose = producer(topk.getInputs()[0], "Transpose");
  if (!in || in.getRank() != 2 || (axis != 1 && axis != -1) ||
      intAttr(topk, "largest", 1) != 1 || !transpose || in.isDynamicDim(0) ||
      topk.getOutputs().size() != 2)
    return {};
  auto perm =
      dyn_cast_or_null<DenseI64ArrayAttr>(transpose.getONNXAttr("perm"));
  if (perm && perm.asArrayRef() != ArrayRef<int64_t>{1, 0})
    return {};
  return transpose.getInputs()[0];
}

/// True if `index` holds the [E, C] token ids row-major, with unit axes
/// after them (`unitAxes` of them).
bool isIdsView(Value index, const ChoiceContext &ctx, int64_t unitAxes) {
  RankedTensorType t = rankedType(index);
  if (skipReshapes(index) != ctx.ids || !t || t.getRank() != 2 + unitAxes ||
      t.getDimSize(0) != ctx.numExperts)
    return false;
  for (int64_t i = 2; i < t.getRank(); ++i)
    if (t.getDimSize(i) != 1)
      return false;
  return true;
}

/// The token table rows are gathered from, when `rows` is x[ids] [E, C, H]:
/// Gather(x, ids, axis = 0) or GatherND(x, ids[..., None]).
Value gatheredTable(Value rows, const ChoiceContext &ctx) {
  rows = skipReshapes(rows);
  if (NodeOp gather = producer(rows, "Gather");
      gather && intAttr(gather, "axis", 0) == 0 &&
      isIdsView(gather.getInputs()[1], ctx, 0))
    return gather.getInputs()[0];
  if (NodeOp gatherND = producer(rows, "GatherND");
      gatherND && intAttr(gatherND, "batch_dims", 0) == 0 &&
      isIdsView(gatherND.getInputs()[1], ctx, 1))
    return gatherND.getInputs()[0];
  return {};
}

/// True if some user of the token ids gathers rows with them.
bool gathersRows(const ChoiceContext &ctx) {
  SmallVector<Value> views = {ctx.ids};
  for (Operation *user : ctx.ids.getUsers())
    if (auto node = dyn_cast<NodeOp>(user);
        node && node.isStandard("Unsqueeze"))
      views.push_back(node.getOutputs()[0]);
  for (Value v : views)
    for (Operation *user : v.getUsers())
      if (auto node = dyn_cast<NodeOp>(user);
          node && node.getOutputs().size() == 1 &&
          gatheredTable(node.getOutputs()[0], ctx))
        return true;
  return false;
}

//===----------------------------------------------------------------------===//
// Capacity
//===----------------------------------------------------------------------===//

/// An integer scalar (a * P + b) / d, where P is the product of the dims of
/// `source` in `dims` (1 if none) and / floors (d = 1: no division).
struct CountExpr {
  int64_t a = 0, b = 0, d = 1;
  Value source;
  uint64_t dims = 0;
  bool isConstant() const { return dims == 0; }
};

std::optional<CountExpr> readCount(Value v, unsigned depth = 0);

/// Dimension `dim` of `source` as a count.
CountExpr dimOf(Value source, int64_t dim) {
  return CountExpr{1, 0, 1, source, uint64_t(1) << dim};
}

/// True if `shape` is the whole shape of its input (no start / end).
bool isWholeShape(NodeOp shape) {
  return intAttr(shape, "start", 0) == 0 && !shape.getONNXAttr("end");
}

/// Shape(v)[i], through Gather of a whole Shape or a one-element Shape
/// slice (start / end attributes).
std::optional<CountExpr> readDim(NodeOp node) {
  auto shapeDim = [](NodeOp shape, int64_t offset) -> std::optional<CountExpr> {
    RankedTensorType t = rankedType(shape.getInputs()[0]);
    int64_t start = intAttr(shape, "start", 0);
    if (!t || start < 0)
      return std::nullopt;
    int64_t dim = start + offset;
    if (dim < 0 || dim >= t.getRank() || dim >= 64)
      return std::nullopt;
    return dimOf(shape.getInputs()[0], dim);
  };
  if (node.isStandard("Shape")) {
    int64_t start = intAttr(node, "start", 0);
    int64_t end = intAttr(node, "end", start + 1);
    RankedTensorType out = rankedType(node.getOutputs()[0]);
    if (end != start + 1 || !out || out.getNumElements() != 1)
      return std::nullopt;
    return shapeDim(node, 0);
  }
  if (node.isStandard("Gather")) {
    NodeOp shape = producer(node.getInputs()[0], "Shape");
    std::optional<SmallVector<int64_t>> i =
        onnx::getConstantInts(node.getInputs()[1]);
    if (!shape || !i || i->size() != 1 || (*i)[0] < 0 ||
        intAttr(node, "axis", 0) != 0 || !isWholeShape(shape))
      return std::nullopt;
    return shapeDim(shape, (*i)[0]);
  }
  return std::nullopt;
}

/// x * y, with one side a constant or both products of dims of one tensor.
std::optional<CountExpr> mulCounts(CountExpr x, CountExpr y) {
  if (x.isConstant())
    std::swap(x, y);
  if (x.d != 1 || y.d != 1)
    return std::nullopt;
  if (y.isConstant() && y.a == 0)
    return CountExpr{x.a * y.b, x.b * y.b, 1, x.source, x.dims};
  if (x.b != 0 || y.b != 0 || x.source != y.source || (x.dims & y.dims))
    return std::nullopt;
  return CountExpr{x.a * y.a, 0, 1, x.source, x.dims | y.dims};
}

/// x + sign * y, where the dims terms (if both have one) must agree.
std::optional<CountExpr> addCounts(CountExpr x, CountExpr y, int64_t sign) {
  if (x.d != 1 || y.d != 1)
    return std::nullopt;
  if (x.isConstant() && sign == 1)
    std::swap(x, y);
  if (!y.isConstant() && (x.source != y.source || x.dims != y.dims))
    return std::nullopt;
  return CountExpr{x.a + sign * y.a, x.b + sign * y.b, 1, x.source, x.dims};
}

/// True for an integer tensor (the shape arithmetic's element types).
bool isIntTensor(Value v) {
  RankedTensorType t = rankedType(v);
  return t && isa<IntegerType>(t.getElementType());
}

std::optional<CountExpr> readCount(Value v, unsigned depth) {
  if (depth > 16)
    return std::nullopt;
  if (std::optional<SmallVector<int64_t>> c = onnx::getConstantInts(v);
      c && c->size() == 1)
    return CountExpr{0, (*c)[0], 1, Value(), 0};
  auto node = v.getDefiningOp<NodeOp>();
  if (!node || !onnx::isDefaultDomain(node.getDomain()) || !isIntTensor(v))
    return std::nullopt;
  StringRef op = node.getOpType();
  if (op == "Cast" || op == "Reshape" || op == "Squeeze" || op == "Unsqueeze" ||
      op == "Identity") {
    if (!isIntTensor(node.getInputs()[0]))
      return std::nullopt;
    return readCount(node.getInputs()[0], depth + 1);
  }
  if (op == "Shape" || op == "Gather")
    return readDim(node);
  if (node.getInputs().size() != 2)
    return std::nullopt;
  std::optional<CountExpr> x = readCount(node.getInputs()[0], depth + 1);
  std::optional<CountExpr> y = readCount(node.getInputs()[1], depth + 1);
  if (!x || !y)
    return std::nullopt;
  if (op == "Mul")
    return mulCounts(*x, *y);
  if (op == "Add" || op == "Sub")
    return addCounts(*x, *y, op == "Add" ? 1 : -1);
  // Integer Div truncates; the numerator is a non-negative count, so that
  // is floor division.
  if (op == "Div" && y->isConstant() && y->b > 0 && x->d == 1 && x->b >= 0 &&
      x->a >= 0)
    return CountExpr{x->a, x->b, y->b, x->source, x->dims};
  return std::nullopt;
}

/// True if the dims of `e` multiply to the token count: every axis but the
/// last of a tensor that is a reshape of the tokens with the same row width.
bool isTokenCount(const CountExpr &e, const ChoiceContext &ctx) {
  RankedTensorType t = rankedType(e.source);
  if (!t || e.isConstant() || t.getRank() > 64 ||
      t.getShape().back() != ctx.hidden ||
      skipReshapes(e.source) != skipReshapes(ctx.tokens))
    return false;
  return e.dims == (uint64_t(1) << (t.getRank() - 1)) - 1;
}

/// The capacity factor c for which moe.route's capacity equals the graph's
/// `k` for every token count, or a near miss saying how they differ.
FailureOr<double> matchCapacity(Value k, const ChoiceContext &ctx,
                                const NearMiss &miss) {
  int64_t numTokens = rankedType(ctx.tokens).getDimSize(0);
  std::optional<CountExpr> e = readCount(k);
  if (!e)
    return miss("the capacity (TopK's k) is not integer arithmetic on the "
                "token count");
  int64_t numExperts = ctx.numExperts;
  if (e->isConstant()) {
    if (ShapedType::isDynamic(numTokens))
      return miss("the capacity is the constant " + Twine(e->b) +
                  " but the token count is dynamic");
    // A static token count: any factor that gives this capacity is exact.
    double c = double(e->b) * double(numExperts) / double(numTokens);
    if (RouteOp::getExpertCapacity(numTokens, numExperts, c) != e->b)
      return miss("the capacity " + Twine(e->b) + " for " + Twine(numTokens) +
                  " tokens is not ceil(T * c / E) for any factor c");
    return c;
  }
  if (!isTokenCount(*e, ctx) || e->a <= 0)
    return miss("the capacity is not computed from the token count");
  std::string formula = "(" + std::to_string(e->a) + " * T + " +
                        std::to_string(e->b) + ") // " + std::to_string(e->d);
  // (a T + d - 1) // d = ceil(a T / d) = ceil(T * c / E) with c = a E / d.
  if (e->b != e->d - 1)
    return miss("the capacity " + formula + " is not ceil(" + Twine(e->a) +
                " * T / " + Twine(e->d) +
                "), but moe.route's capacity is ceil(T * c / E)");
  if (e->a > e->d)
    return miss("the capacity " + formula + " exceeds the token count");
  double c = double(e->a) * double(numExperts) / double(e->d);
  // Only an exactly representable factor reproduces the integer ceiling in
  // moe.route's f64 arithmetic.
  if (std::fma(c, double(e->d), -double(e->a) * double(numExperts)) != 0.0)
    return miss("the capacity factor " + Twine(e->a * numExperts) + " / " +
                Twine(e->d) + " has no exact f64 value");
  for (int64_t t = 1; t <= 4096; ++t)
    if (RouteOp::getExpertCapacity(t, numExperts, c) !=
        (e->a * t + e->b) / e->d)
      return miss("the capacity " + formula +
                  " differs from moe.route's "
                  "for " +
                  Twine(t) + " tokens");
  return c;
}

//===----------------------------------------------------------------------===//
// Router, experts, combine
//===----------------------------------------------------------------------===//

/// The score function over the experts axis and the router linear behind
/// the [T, E] scores.
LogicalResult matchScores(Value scores, LayerSpec &spec, const NearMiss &miss) {
  scores = skipReshapes(scores);
  Value logits;
  if (NodeOp softmax = producer(scores, "Softmax")) {
    int64_t axis = intAttr(softmax, "axis", -1);
    RankedTensorType in = rankedType(softmax.getInputs()[0]);
    if (!in || (axis != -1 && axis != in.getRank() - 1))
      return miss("the router softmax is not over the experts axis");
    spec.route.score = ScoreFunction::Softmax;
    logits = softmax.getInputs()[0];
  } else if (NodeOp sigmoid = producer(scores, "Sigmoid")) {
    spec.route.score = ScoreFunction::Sigmoid;
    logits = sigmoid.getInputs()[0];
  } else {
    return miss("experts choose tokens by scores that are not a softmax or "
                "sigmoid of router logits");
  }
  std::optional<Linear> linear = matchLinear(skipReshapes(logits));
  if (!linear)
    return miss("the router logits are not a linear layer of the tokens");
  spec.router.weight = linear->weight;
  spec.router.transposed = linear->transposed;
  spec.router.bias = linear->bias;
  spec.tokens = linear->input;
  return success();
}

/// One stage of the experts on stacked weights: rows[E, C, in] times a
/// constant W[E, in, out] (or [E, out, in], `transposed`).
struct StackedLinear {
  Value input, weight;
  bool transposed = false;
};

/// The constant stacked weight `w` [E, ., .], possibly behind a Transpose
/// of its last two axes (which flips `transposed`).
Value stackedWeight(Value w, int64_t numExperts, bool &transposed) {
  if (NodeOp t = producer(w, "Transpose")) {
    auto perm = dyn_cast_or_null<DenseI64ArrayAttr>(t.getONNXAttr("perm"));
    if (!perm || perm.asArrayRef() != ArrayRef<int64_t>{0, 2, 1})
      return {};
    transposed = !transposed;
    w = t.getInputs()[0];
  }
  RankedTensorType type = rankedType(w);
  if (!isConstant(w) || !type || type.getRank() != 3 ||
      !type.hasStaticShape() || type.getDimSize(0) != numExperts)
    return {};
  return w;
}

/// Einsum "ech,ehi->eci" (either operand order; "eih" for [E, out, in]).
std::optional<StackedLinear> matchStackedEinsum(NodeOp einsum,
                                                int64_t numExperts) {
  auto eq = dyn_cast_or_null<StringAttr>(einsum.getONNXAttr("equation"));
  if (!eq || einsum.getInputs().size() != 2)
    return std::nullopt;
  std::string s;
  for (char c : eq.getValue())
    if (c != ' ')
      s.push_back(c);
  size_t comma = s.find(','), arrow = s.find("->");
  if (comma == std::string::npos || arrow == std::string::npos || arrow < comma)
    return std::nullopt;
  std::string terms[2] = {s.substr(0, comma),
                          s.substr(comma + 1, arrow - comma - 1)};
  std::string out = s.substr(arrow + 2);
  for (int w = 0; w < 2; ++w) {
    const std::string &x = terms[1 - w], &wt = terms[w];
    if (x.size() != 3 || wt.size() != 3 || out.size() != 3 || x[0] != wt[0] ||
        out[0] != x[0] || out[1] != x[1])
      continue;
    StackedLinear lin;
    // The contracted letter is x's last; the other weight letter is out's.
    if (wt[1] == x[2] && wt[2] == out[2] && out[2] != x[2])
      lin.transposed = false;
    else if (wt[2] == x[2] && wt[1] == out[2] && out[2] != x[2])
      lin.transposed = true;
    else
      continue;
    lin.weight =
        stackedWeight(einsum.getInputs()[w], numExperts, lin.transposed);
    if (!lin.weight)
      continue;
    lin.input = einsum.getInputs()[1 - w];
    return lin;
  }
  return std::nullopt;
}

std::optional<StackedLinear> matchStackedLinear(Value out, int64_t numExperts) {
  out = skipReshapes(out);
  if (NodeOp einsum = producer(out, "Einsum"))
    return matchStackedEinsum(einsum, numExperts);
  NodeOp matmul = producer(out, "MatMul");
  RankedTensorType x = matmul ? rankedType(matmul.getInputs()[0]) : nullptr;
  if (!x || x.getRank() != 3)
    return std::nullopt;
  StackedLinear lin;
  lin.weight = stackedWeight(matmul.getInputs()[1], numExperts, lin.transposed);
  lin.input = matmul.getInputs()[0];
  if (!lin.weight)
    return std::nullopt;
  return lin;
}

/// The experts' FFN behind `out` [E, C, H] on stacked weights, with the rows
/// it reads.
FailureOr<std::pair<ExpertsSpec, Value>>
matchStackedFFN(Value out, const ChoiceContext &ctx, const NearMiss &miss) {
  ExpertsSpec spec;
  spec.numExperts = ctx.numExperts;
  std::optional<StackedLinear> down = matchStackedLinear(out, ctx.numExperts);
  if (!down)
    return miss("the expert output is not a projection by constant stacked "
                "[E, ., .] weights");
  Value h = skipReshapes(down->input);
  SmallVector<StackedLinear> stages;
  if (auto act = matchActivation(h)) {
    std::optional<StackedLinear> up =
        matchStackedLinear(act->second, ctx.numExperts);
    if (!up)
      return miss("the expert's first projection does not use constant "
                  "stacked weights");
    spec.activation = act->first.kind;
    spec.alpha = act->first.alpha;
    stages = {*up, *down};
  } else if (NodeOp mul = producer(h, "Mul")) {
    for (int i = 0; i < 2 && stages.empty(); ++i) {
      auto gateAct = matchActivation(skipReshapes(mul.getInputs()[i]));
      std::optional<StackedLinear> gate =
          gateAct ? matchStackedLinear(gateAct->second, ctx.numExperts)
                  : std::nullopt;
      std::optional<StackedLinear> up =
          matchStackedLinear(mul.getInputs()[1 - i], ctx.numExperts);
      if (!gate || !up || skipReshapes(gate->input) != skipReshapes(up->input))
        continue;
      spec.activation = gateAct->first.kind;
      spec.alpha = gateAct->first.alpha;
      spec.gateLayout = GateLayout::Separate;
      stages = {*gate, *up, *down};
    }
  }
  if (stages.empty())
    return miss("the expert's hidden activation is not recognized");
  spec.transposed = stages.front().transposed;
  for (const StackedLinear &s : stages) {
    if (s.transposed != spec.transposed)
      return miss("the experts' projections mix [E, in, out] and "
                  "[E, out, in] weights");
    spec.weights.push_back(s.weight);
  }
  auto width = [&](Value w, bool outDim) {
    return rankedType(w).getDimSize(outDim != spec.transposed ? 2 : 1);
  };
  int64_t inner = width(stages.front().weight, true);
  for (const StackedLinear &s : stages) {
    bool isDown = &s == &stages.back();
    if (width(s.weight, false) != (isDown ? inner : ctx.hidden) ||
        width(s.weight, true) != (isDown ? ctx.hidden : inner))
      return miss("the experts' projections do not chain hidden -> inner "
                  "-> hidden");
  }
  return std::make_pair(spec, stages.front().input);
}

/// The updates ScatterElements adds, looking through the no-op Slice the
/// TorchScript exporter writes for scatter_add_ (updates[:index.shape]).
Value scatterUpdates(NodeOp scatter) {
  Value updates = scatter.getInputs()[2];
  NodeOp slice = producer(updates, "Slice");
  if (!slice || slice.getInputs().size() != 3)
    return updates;
  std::optional<SmallVector<int64_t>> starts =
      onnx::getConstantInts(slice.getInputs()[1]);
  NodeOp shape = producer(slice.getInputs()[2], "Shape");
  if (!starts || llvm::any_of(*starts, [](int64_t s) { return s != 0; }) ||
      !shape || shape.getInputs()[0] != scatter.getInputs()[1] ||
      !isWholeShape(shape))
    return {};
  return slice.getInputs()[0];
}

/// True if `data` is zeros shaped like the tokens: ConstantOfShape or an
/// Expand of 0 to Shape(v), v a [T, H] view of the tokens.
bool isZeroTokens(Value data, const ChoiceContext &ctx) {
  NodeOp fill = producer(data, "ConstantOfShape");
  if (!fill)
    fill = producer(data, "Expand");
  NodeOp shape = fill ? producer(fill.getInputs().back(), "Shape") : NodeOp();
  if (!shape || getFill(data) != 0.0 || !isWholeShape(shape))
    return false;
  Value v = shape.getInputs()[0];
  RankedTensorType t = rankedType(v);
  return t && t.getRank() == 2 && t.getDimSize(1) == ctx.hidden &&
         skipReshapes(v) == skipReshapes(ctx.tokens);
}

/// The value of a small integer vector built from constants the way
/// torch's expand(-1, h) writes its target shape:
/// Where(Equal(s, -1 * ones), ones, s) with ones from ConstantOfShape.
std::optional<SmallVector<int64_t>> evalIntVector(Value v, unsigned depth = 0) {
  if (std::optional<SmallVector<int64_t>> c = onnx::getConstantInts(v))
    return c;
  auto node = v.getDefiningOp<NodeOp>();
  if (!node || depth > 8 || !onnx::isDefaultDomain(node.getDomain()))
    return std::nullopt;
  SmallVector<SmallVector<int64_t>> in;
  for (Value operand : node.getInputs()) {
    std::optional<SmallVector<int64_t>> c = evalIntVector(operand, depth + 1);
    if (!c)
      return std::nullopt;
    in.push_back(*c);
  }
  if (node.isStandard("ConstantOfShape") && in.size() == 1 &&
      in[0].size() == 1 && in[0][0] >= 0 && in[0][0] <= 8) {
    auto value =
        dyn_cast_or_null<DenseIntElementsAttr>(node.getONNXAttr("value"));
    if (!value || value.getNumElements() != 1)
      return std::nullopt;
    return SmallVector<int64_t>(
        in[0][0], (*value.getValues<APInt>().begin()).getSExtValue());
  }
  // Element-wise ops, broadcasting one-element operands.
  int64_t n = 1;
  for (const SmallVector<int64_t> &c : in)
    n = std::max<int64_t>(n, c.size());
  for (const SmallVector<int64_t> &c : in)
    if (int64_t(c.size()) != n && c.size() != 1)
      return std::nullopt;
  auto at = [&](unsigned i, int64_t j) {
    return in[i].size() == 1 ? in[i][0] : in[i][j];
  };
  SmallVector<int64_t> out;
  for (int64_t j = 0; j < n; ++j) {
    if (node.isStandard("Mul") && in.size() == 2)
      out.push_back(at(0, j) * at(1, j));
    else if (node.isStandard("Equal") && in.size() == 2)
      out.push_back(at(0, j) == at(1, j));
    else if (node.isStandard("Where") && in.size() == 3)
      out.push_back(at(0, j) ? at(1, j) : at(2, j));
    else
      return std::nullopt;
  }
  return out;
}

/// True if Expand(idcol[N, 1], shape) is [N, H]: its type says so, or its
/// target shape is [1, H].
bool expandsToRows(NodeOp expand, const ChoiceContext &ctx) {
  RankedTensorType full = rankedType(expand.getOutputs()[0]);
  if (!full || full.getRank() != 2)
    return false;
  std::optional<SmallVector<int64_t>> target =
      evalIntVector(expand.getInputs()[1]);
  if (target)
    return *target == SmallVector<int64_t>{1, ctx.hidden};
  return full.getDimSize(1) == ctx.hidden;
}

/// The scatter-add of the weighted expert rows back to their tokens:
/// ScatterElements(zeros, Expand(ids[N, 1], [N, H]), y[N, H], axis 0, add)
/// or ScatterND(zeros, ids[..., 1], y, add). Returns the updates.
Value matchScatterAdd(NodeOp scatter, const ChoiceContext &ctx) {
  auto reduction =
      dyn_cast_or_null<StringAttr>(scatter.getONNXAttr("reduction"));
  if (!reduction || reduction.getValue() != "add" ||
      !isZeroTokens(scatter.getInputs()[0], ctx))
    return {};
  Value index = scatter.getInputs()[1];
  Value updates = scatter.getInputs()[2];
  RankedTensorType u = rankedType(updates);
  if (scatter.isStandard("ScatterND")) {
    RankedTensorType i = rankedType(index);
    if (!i || !u || skipReshapes(index) != ctx.ids ||
        i.getShape().back() != 1 || u.getRank() != i.getRank() ||
        u.getShape().back() != ctx.hidden)
      return {};
    return updates;
  }
  NodeOp expand = producer(index, "Expand");
  RankedTensorType row = expand ? rankedType(expand.getInputs()[0]) : nullptr;
  if (intAttr(scatter, "axis", 0) != 0 || !row || row.getRank() != 2 ||
      row.getDimSize(1) != 1 || !expandsToRows(expand, ctx) ||
      skipReshapes(expand.getInputs()[0]) != ctx.ids)
    return {};
  updates = scatterUpdates(scatter);
  u = rankedType(updates);
  if (!u || u.getRank() != 2 || u.getDimSize(1) != ctx.hidden)
    return {};
  return updates;
}

/// The scatter-add that ends the layer, among the nodes reached from the
/// token ids through reshapes and index broadcasts.
NodeOp findScatterAdd(const ChoiceContext &ctx) {
  SmallVector<Value> views = {ctx.ids};
  for (unsigned i = 0; i < views.size() && views.size() < 32; ++i)
    for (Operation *user : views[i].getUsers()) {
      auto node = dyn_cast<NodeOp>(user);
      if (!node)
        continue;
      if ((node.isStandard("ScatterElements") ||
           node.isStandard("ScatterND")) &&
          node.getInputs()[1] == views[i])
        return node;
      if (node.isStandard("Expand") ||
          (node.getOutputs().size() == 1 &&
           skipReshapes(node.getOutputs()[0]) == ctx.ids))
        views.push_back(node.getOutputs()[0]);
    }
  return {};
}

/// y = ffn(rows) * g[..., None]: the expert output and the check that the
/// factor is the chosen tokens' scores.
FailureOr<Value> matchWeighted(Value y, const ChoiceContext &ctx,
                               const NearMiss &miss) {
  NodeOp mul = producer(skipReshapes(y), "Mul");
  RankedTensorType yt = rankedType(skipReshapes(y));
  if (!mul || !yt || yt.getRank() != 3 || yt.getDimSize(0) != ctx.numExperts ||
      yt.getDimSize(2) != ctx.hidden)
    return miss("the scattered rows are not [experts, capacity, hidden] "
                "expert outputs scaled by the scores");
  for (int i = 0; i < 2; ++i) {
    RankedTensorType g = rankedType(mul.getInputs()[i]);
    if (skipReshapes(mul.getInputs()[i]) == ctx.gates && g &&
        g.getRank() == 3 && g.getDimSize(0) == ctx.numExperts &&
        g.getDimSize(2) == 1)
      return mul.getInputs()[1 - i];
  }
  return miss("the expert outputs are not scaled by the chosen tokens' "
              "scores");
}

} // namespace

LogicalResult
moe::detail::raiseExpertChoice(NodeOp topk, RewriterBase &rewriter,
                               bool remarks,
                               SmallVectorImpl<RaisedLayer> &layers) {
  if (!topk.isStandard("TopK"))
    return failure();
  Value scores = tokenAxisScores(topk);
  if (!scores)
    return failure();
  ChoiceContext ctx;
  ctx.topk = topk;
  ctx.gates = topk.getOutputs()[0];
  ctx.ids = topk.getOutputs()[1];
  ctx.numExperts = rankedType(topk.getInputs()[0]).getDimSize(0);
  // Only a top-k over the token axis whose ids gather token rows is expert
  // choice; other uses of such a TopK are left alone silently.
  if (!gathersRows(ctx))
    return failure();
  NearMiss miss(topk, remarks);
  LayerSpec spec;
  spec.kind = "expert_choice";
  spec.route.mode = RoutingMode::ExpertChoice;
  if (failed(matchScores(scores, spec, miss)))
    return failure();
  ctx.tokens = spec.tokens;
  RankedTensorType tokenType = rankedType(ctx.tokens);
  if (!tokenType || tokenType.getRank() != 2 || tokenType.isDynamicDim(1))
    return miss("the router's tokens are not [tokens, hidden]");
  ctx.hidden = tokenType.getDimSize(1);
  FailureOr<double> factor = matchCapacity(topk.getInputs()[1], ctx, miss);
  if (failed(factor))
    return failure();
  spec.route.capacityFactor = *factor;

  NodeOp scatter = findScatterAdd(ctx);
  Value updates = scatter ? matchScatterAdd(scatter, ctx) : Value();
  if (!updates)
    return miss("the expert outputs are not scatter-added back to the "
                "chosen tokens of a zero [tokens, hidden] tensor");
  FailureOr<Value> expertOut = matchWeighted(updates, ctx, miss);
  if (failed(expertOut))
    return failure();
  auto ffn = matchStackedFFN(*expertOut, ctx, miss);
  if (failed(ffn))
    return failure();
  Value table = gatheredTable(ffn->second, ctx);
  RankedTensorType tableType = rankedType(table);
  if (!table || !tableType || tableType.getRank() != 2 ||
      tableType.getDimSize(1) != ctx.hidden ||
      skipReshapes(table) != skipReshapes(ctx.tokens))
    return miss("the experts read other rows than the router's tokens at "
                "the chosen ids");
  spec.experts = ffn->first;
  spec.output = scatter.getOutputs()[0];
  spec.anchor = topk;
  if (remarks)
    topk.emitRemark() << "raised an expert-choice MoE layer: " << ctx.numExperts
                      << " experts, capacity factor " << *factor;
  layers.push_back(buildLayer(spec, rewriter));
  return success();
}
