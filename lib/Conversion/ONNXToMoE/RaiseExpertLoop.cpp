//===- RaiseExpertLoop.cpp - per-expert loops -> moe ops ------------------===//
//
// The eager "loop over experts" form (Mixtral, OLMoE, Qwen2-MoE), unrolled
// by the exporter into E copies of one body. For expert e:
//
//   mask    = OneHot(ids)ᵀ[e] | Equal(ids[..., None], arange)ᵀ[e] | ids == e
//   (a, b)  = columns of NonZero(mask)          token and slot coordinates
//   rows    = tokens[token]                     Gather / GatherND
//   y       = ffn_e(rows) * weights[token, slot]
//   acc     = acc + scatter(token, y)           ScatterElements + Add, or
//                                               ScatterND(reduction = add)
//
// starting from a zero accumulator. Nothing in it depends on the order the
// exporter emitted the nodes in: every index is read back to the NonZero
// column it is, every NonZero to the mask it takes, and every mask to the
// TopK indices and the expert it compares them with. The layer is raised
// only if each expert's rows, weight and scatter target are the same
// tokens of the same NonZero, each expert 0..E-1 appears once, the rows
// are the router's tokens and the weights are the routing weights of the
// same TopK. Anything else stays in the graph, with a near-miss remark once
// a NonZero over a mask of this TopK's indices shows it was meant as a loop.
//
//===----------------------------------------------------------------------===//

#include "Match.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;
using onnx::NodeOp;

namespace {

/// What an axis of a routing mask (or of the TopK indices) ranges over.
enum class MaskAxis { Token, Slot, Expert };

/// A boolean (or 0/1) tensor over `axes` that is true where the TopK index
/// of (token, slot) equals the expert: one fixed `expert` once the expert
/// axis has been selected away.
struct Mask {
  SmallVector<MaskAxis> axes;
  std::optional<int64_t> expert;
};

/// The layer-wide facts every piece is checked against.
struct LoopContext {
  Value ids;
  int64_t numExperts = 0;
  int64_t k = 0;
};

/// `axis` in [0, rank), or -1 if out of range.
int64_t normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < 0)
    axis += rank;
  return axis >= 0 && axis < rank ? axis : -1;
}

/// True if `transpose` only moves axes of extent 1, so that its output holds
/// the elements in the same (row-major) order as its input.
bool keepsElementOrder(NodeOp transpose) {
  RankedTensorType in = rankedType(transpose.getInputs()[0]);
  std::optional<SmallVector<int64_t>> perm = intsAttr(transpose, "perm");
  if (!in || !perm || int64_t(perm->size()) != in.getRank())
    return false;
  int64_t last = -1;
  for (int64_t axis : *perm) {
    if (axis < 0 || axis >= in.getRank())
      return false;
    if (in.getDimSize(axis) == 1)
      continue;
    if (axis < last)
      return false;
    last = axis;
  }
  return true;
}

/// skipReshapes that also looks through transposes of unit axes (the
/// dynamo exporter's way of gathering rows of [1, T, H] as [T, 1, H]).
Value skipLayout(Value v) {
  while (true) {
    v = skipReshapes(v);
    NodeOp transpose = producer(v, "Transpose");
    if (!transpose || !keepsElementOrder(transpose))
      return v;
    v = transpose.getInputs()[0];
  }
}

/// The axes an Unsqueeze inserts (input since opset 13, attribute before).
std::optional<SmallVector<int64_t>> unsqueezeAxes(NodeOp unsqueeze) {
  if (Value axes = optionalInput(unsqueeze, 1))
    return onnx::getConstantInts(axes);
  return intsAttr(unsqueeze, "axes");
}

std::optional<Mask> matchMask(Value v, const LoopContext &ctx);

/// mask[..., e, ...] selected out of a mask with an expert axis.
std::optional<Mask> matchExpertSelect(NodeOp gather, const LoopContext &ctx) {
  std::optional<Mask> m = matchMask(gather.getInputs()[0], ctx);
  RankedTensorType indexType = rankedType(gather.getInputs()[1]);
  std::optional<int64_t> e = constantInt(gather.getInputs()[1]);
  if (!m || m->expert || !indexType || indexType.getRank() != 0 || !e)
    return std::nullopt;
  int64_t axis = normalizeAxis(intAttr(gather, "axis", 0), m->axes.size());
  if (axis < 0 || m->axes[axis] != MaskAxis::Expert)
    return std::nullopt;
  int64_t expert = *e < 0 ? *e + ctx.numExperts : *e;
  if (expert < 0 || expert >= ctx.numExperts)
    return std::nullopt;
  m->axes.erase(m->axes.begin() + axis);
  m->expert = expert;
  return m;
}

/// OneHot(ids, >= E, [0, on]) over [token, slot, expert] (expert axis
/// where `axis` puts it).
std::optional<Mask> matchOneHot(NodeOp oneHot, const LoopContext &ctx) {
  std::optional<int64_t> depth = constantInt(oneHot.getInputs()[1]);
  std::optional<SmallVector<double>> values =
      onnx::getConstantFloats(oneHot.getInputs()[2]);
  if (!values)
    if (std::optional<SmallVector<int64_t>> ints =
            onnx::getConstantInts(oneHot.getInputs()[2]))
      values = llvm::to_vector(
          llvm::map_range(*ints, [](int64_t i) { return double(i); }));
  // Classes past E (transformers one-hots E + 1 of them) are never set by
  // top-k ids, which are below E.
  if (skipCasts(oneHot.getInputs()[0]) != ctx.ids || !depth ||
      *depth < ctx.numExperts || !values || values->size() != 2 ||
      (*values)[0] != 0.0 || (*values)[1] == 0.0)
    return std::nullopt;
  int64_t axis = normalizeAxis(intAttr(oneHot, "axis", -1), 3);
  if (axis < 0)
    return std::nullopt;
  Mask m{{MaskAxis::Token, MaskAxis::Slot}, std::nullopt};
  m.axes.insert(m.axes.begin() + axis, MaskAxis::Expert);
  return m;
}

/// ids == e over [token, slot], or ids[..., None] == arange(E) over
/// [token, slot, expert].
std::optional<Mask> matchEqual(NodeOp equal, const LoopContext &ctx) {
  for (int i = 0; i < 2; ++i) {
    Value lhs = skipCasts(equal.getInputs()[i]);
    Value rhs = equal.getInputs()[1 - i];
    RankedTensorType rhsType = rankedType(rhs);
    if (!rhsType)
      continue;
    if (lhs == ctx.ids && rhsType.getRank() <= 2) {
      std::optional<int64_t> e = constantInt(rhs);
      if (e && *e >= 0 && *e < ctx.numExperts)
        return Mask{{MaskAxis::Token, MaskAxis::Slot}, *e};
    }
    NodeOp unsqueeze = producer(lhs, "Unsqueeze");
    if (!unsqueeze || skipCasts(unsqueeze.getInputs()[0]) != ctx.ids ||
        !isArange(rhs, ctx.numExperts) || rhsType.getRank() > 3)
      continue;
    std::optional<SmallVector<int64_t>> axes = unsqueezeAxes(unsqueeze);
    if (axes && axes->size() == 1 && normalizeAxis((*axes)[0], 3) == 2)
      return Mask{{MaskAxis::Token, MaskAxis::Slot, MaskAxis::Expert},
                  std::nullopt};
  }
  return std::nullopt;
}

/// What `v` holds as a mask of the TopK indices, or nullopt.
std::optional<Mask> matchMask(Value v, const LoopContext &ctx) {
  v = skipCasts(v);
  if (NodeOp gather = producer(v, "Gather"))
    return matchExpertSelect(gather, ctx);
  if (NodeOp transpose = producer(v, "Transpose")) {
    std::optional<Mask> m = matchMask(transpose.getInputs()[0], ctx);
    if (!m)
      return std::nullopt;
    std::optional<SmallVector<int64_t>> perm = intsAttr(transpose, "perm");
    SmallVector<int64_t> order;
    if (perm)
      order = *perm;
    else
      for (int64_t i = m->axes.size() - 1; i >= 0; --i)
        order.push_back(i);
    if (order.size() != m->axes.size())
      return std::nullopt;
    SmallVector<MaskAxis> axes;
    for (int64_t axis : order) {
      if (axis < 0 || axis >= int64_t(m->axes.size()))
        return std::nullopt;
      axes.push_back(m->axes[axis]);
    }
    m->axes = axes;
    return m;
  }
  if (NodeOp oneHot = producer(v, "OneHot"))
    return matchOneHot(oneHot, ctx);
  if (NodeOp equal = producer(v, "Equal"))
    return matchEqual(equal, ctx);
  return std::nullopt;
}

/// True if `nonzero` reads the mask of an expert chosen at run time
/// (mask[id] with a computed id): the loop over the experts that some token
/// picked, which a tracing exporter unrolls for the experts its example
/// input happened to pick.
bool readsDataDependentExpert(NodeOp nonzero, const LoopContext &ctx) {
  NodeOp gather = producer(skipCasts(nonzero.getInputs()[0]), "Gather");
  if (!gather || isConstant(gather.getInputs()[1]))
    return false;
  std::optional<Mask> m = matchMask(gather.getInputs()[0], ctx);
  int64_t axis =
      m ? normalizeAxis(intAttr(gather, "axis", 0), m->axes.size()) : -1;
  return axis >= 0 && !m->expert && m->axes[axis] == MaskAxis::Expert;
}

/// One expert's mask as a [token, slot] matrix in some axis order.
std::optional<Mask> expertMask(NodeOp nonzero, const LoopContext &ctx) {
  std::optional<Mask> m = matchMask(nonzero.getInputs()[0], ctx);
  if (!m || !m->expert || m->axes.size() != 2 || m->axes[0] == m->axes[1])
    return std::nullopt;
  return m;
}

/// A NonZero that is the coordinate list of `mask`'s true elements.
NodeOp coordinateList(Value v) {
  if (NodeOp nonzero = producer(v, "NonZero"))
    return nonzero;
  return {};
}

/// NonZero's output as [n, rank] (Transpose(NonZero)).
NodeOp transposedCoordinates(Value v) {
  NodeOp transpose = producer(v, "Transpose");
  if (!transpose)
    return {};
  std::optional<SmallVector<int64_t>> perm = intsAttr(transpose, "perm");
  if (perm && *perm != SmallVector<int64_t>{1, 0})
    return {};
  return coordinateList(transpose.getInputs()[0]);
}

/// Column `j` of [n, rank] coordinates cut by Split(axis = 1).
std::optional<int64_t> splitColumn(NodeOp split, Value v) {
  RankedTensorType in = rankedType(split.getInputs()[0]);
  if (!in || in.getRank() != 2 ||
      normalizeAxis(intAttr(split, "axis", 0), 2) != 1)
    return std::nullopt;
  unsigned out = cast<OpResult>(v).getResultNumber();
  std::optional<SmallVector<int64_t>> sizes;
  if (Value s = optionalInput(split, 1))
    sizes = onnx::getConstantInts(s);
  else
    sizes = intsAttr(split, "split");
  if (!sizes)
    sizes = SmallVector<int64_t>(split.getOutputs().size(), 1);
  if (sizes->size() == 1 && split.getOutputs().size() > 1)
    sizes = SmallVector<int64_t>(split.getOutputs().size(), sizes->front());
  if (out >= sizes->size() || (*sizes)[out] != 1)
    return std::nullopt;
  int64_t start = 0;
  for (unsigned i = 0; i < out; ++i)
    start += (*sizes)[i];
  return start;
}

/// Column `j` of [n, rank] coordinates cut by Slice(j, j + 1, axes = 1).
std::optional<int64_t> sliceColumn(NodeOp slice, int64_t rank) {
  std::optional<int64_t> start = constantInt(slice.getInputs()[1]);
  std::optional<int64_t> end = constantInt(slice.getInputs()[2]);
  std::optional<int64_t> axis = 0, step = 1;
  if (Value a = optionalInput(slice, 3))
    axis = constantInt(a);
  if (Value s = optionalInput(slice, 4))
    step = constantInt(s);
  if (!start || !end || !axis || step != 1 || normalizeAxis(*axis, 2) != 1 ||
      *start < 0 || *start >= rank)
    return std::nullopt;
  if (*end != *start + 1 && !(*start == rank - 1 && *end >= rank))
    return std::nullopt;
  return *start;
}

/// Which coordinate of which NonZero `v` is (as a vector of n indices, or
/// [n, 1]): a row of NonZero's [rank, n] output or a column of its
/// transpose.
std::optional<std::pair<NodeOp, int64_t>> nonzeroCoordinate(Value v) {
  v = skipCasts(skipReshapes(v));
  auto *def = v.getDefiningOp();
  auto node = dyn_cast_or_null<NodeOp>(def);
  if (!node)
    return std::nullopt;
  if (node.isStandard("Gather")) {
    std::optional<int64_t> j = constantInt(node.getInputs()[1]);
    RankedTensorType indexType = rankedType(node.getInputs()[1]);
    if (!j || !indexType || indexType.getRank() != 0)
      return std::nullopt;
    int64_t axis = intAttr(node, "axis", 0);
    if (NodeOp nz = coordinateList(node.getInputs()[0]); nz && axis == 0)
      return std::make_pair(nz, *j);
    if (NodeOp nz = transposedCoordinates(node.getInputs()[0]);
        nz && (axis == 1 || axis == -1))
      return std::make_pair(nz, *j);
    return std::nullopt;
  }
  NodeOp nz = transposedCoordinates(node.getInputs()[0]);
  RankedTensorType maskType = nz ? rankedType(nz.getInputs()[0]) : nullptr;
  if (!maskType)
    return std::nullopt;
  std::optional<int64_t> column;
  if (node.isStandard("Split"))
    column = splitColumn(node, v);
  else if (node.isStandard("Slice"))
    column = sliceColumn(node, maskType.getRank());
  if (!column || *column >= maskType.getRank())
    return std::nullopt;
  return std::make_pair(nz, *column);
}

/// An index tensor read back to its meaning: the token or slot coordinate
/// of the true elements of expert `expert`'s mask.
struct Coord {
  NodeOp nonzero;
  MaskAxis axis;
  int64_t expert;
};

std::optional<Coord> matchCoord(Value v, const LoopContext &ctx) {
  std::optional<std::pair<NodeOp, int64_t>> c = nonzeroCoordinate(v);
  if (!c)
    return std::nullopt;
  std::optional<Mask> m = expertMask(c->first, ctx);
  if (!m)
    return std::nullopt;
  return Coord{c->first, m->axes[c->second], *m->expert};
}

/// True if `v` is the top-k count `k` (a constant, or a dimension of a
/// [T, k] tensor read through Shape).
bool isSlotCount(Value v, int64_t k) {
  v = skipReshapes(v);
  if (constantInt(v) == k)
    return true;
  NodeOp gather = producer(v, "Gather");
  NodeOp shape = gather ? producer(gather.getInputs()[0], "Shape") : NodeOp();
  std::optional<int64_t> dim =
      gather ? constantInt(gather.getInputs()[1]) : std::optional<int64_t>();
  if (!shape || !dim || intAttr(shape, "start", 0) != 0)
    return false;
  RankedTensorType t = rankedType(shape.getInputs()[0]);
  int64_t axis = t ? normalizeAxis(*dim, t.getRank()) : -1;
  return axis >= 0 && t.getDimSize(axis) == k;
}

/// A gather of whole token rows: Gather along the token axis of the tokens
/// (with unit axes around them), or GatherND over [T, 1.., H].
struct RowGather {
  Value table;
  Value index;
};

/// True if every axis of `t` other than `keep` and the last is a unit axis.
bool onlyUnitAxesBesides(RankedTensorType t, int64_t keep) {
  for (int64_t i = 0; i + 1 < t.getRank(); ++i)
    if (i != keep && t.getDimSize(i) != 1)
      return false;
  return keep >= 0 && keep + 1 < t.getRank();
}

std::optional<RowGather> matchRowGather(Value v) {
  v = skipLayout(v);
  if (NodeOp gather = producer(v, "Gather")) {
    RankedTensorType t = rankedType(gather.getInputs()[0]);
    if (!t)
      return std::nullopt;
    int64_t axis = normalizeAxis(intAttr(gather, "axis", 0), t.getRank());
    if (!onlyUnitAxesBesides(t, axis))
      return std::nullopt;
    return RowGather{skipLayout(gather.getInputs()[0]), gather.getInputs()[1]};
  }
  if (NodeOp gatherND = producer(v, "GatherND")) {
    RankedTensorType t = rankedType(gatherND.getInputs()[0]);
    RankedTensorType index = rankedType(gatherND.getInputs()[1]);
    if (!t || !index || intAttr(gatherND, "batch_dims", 0) != 0 ||
        index.getShape().back() != 1 || !onlyUnitAxesBesides(t, 0))
      return std::nullopt;
    return RowGather{skipLayout(gatherND.getInputs()[0]),
                     gatherND.getInputs()[1]};
  }
  return std::nullopt;
}

/// The routing weight of each row: the [T, k] weights read at the (token,
/// slot) coordinates of one NonZero.
struct SlotWeight {
  Value table;
  Value tokenIndex, slotIndex;
};

/// GatherND(weights [T, k, 1..], Concat(token[n, 1], slot[n, 1], axis=-1)).
std::optional<SlotWeight> matchWeightGatherND(NodeOp gatherND, int64_t k) {
  RankedTensorType t = rankedType(gatherND.getInputs()[0]);
  NodeOp concat = producer(gatherND.getInputs()[1], "Concat");
  if (!t || !concat || t.getRank() < 2 || t.getDimSize(1) != k ||
      concat.getInputs().size() != 2 || intAttr(gatherND, "batch_dims", 0) != 0)
    return std::nullopt;
  for (int64_t i = 2; i < t.getRank(); ++i)
    if (t.getDimSize(i) != 1)
      return std::nullopt;
  RankedTensorType part = rankedType(concat.getInputs()[0]);
  if (!part || part.getRank() < 1 ||
      normalizeAxis(intAttr(concat, "axis", 0), part.getRank()) !=
          part.getRank() - 1)
    return std::nullopt;
  for (Value p : concat.getInputs()) {
    RankedTensorType pt = rankedType(p);
    if (!pt || pt.getShape().back() != 1)
      return std::nullopt;
  }
  return SlotWeight{gatherND.getInputs()[0], concat.getInputs()[0],
                    concat.getInputs()[1]};
}

/// Gather(flat weights [T * k, (1)], slot + token * k).
std::optional<SlotWeight> matchWeightFlatGather(NodeOp gather, int64_t k) {
  RankedTensorType t = rankedType(gather.getInputs()[0]);
  RankedTensorType source = rankedType(skipReshapes(gather.getInputs()[0]));
  NodeOp add = producer(gather.getInputs()[1], "Add");
  if (!t || !source || !add || intAttr(gather, "axis", 0) != 0 ||
      source.getRank() != 2 || source.getDimSize(1) != k ||
      !(t.getRank() == 1 || (t.getRank() == 2 && t.getDimSize(1) == 1)))
    return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    NodeOp mul = producer(add.getInputs()[1 - i], "Mul");
    if (!mul)
      continue;
    for (int j = 0; j < 2; ++j)
      if (isSlotCount(mul.getInputs()[1 - j], k))
        return SlotWeight{gather.getInputs()[0], mul.getInputs()[j],
                          add.getInputs()[i]};
  }
  return std::nullopt;
}

std::optional<SlotWeight> matchSlotWeight(Value v, int64_t k) {
  v = skipReshapes(v);
  if (NodeOp gatherND = producer(v, "GatherND"))
    return matchWeightGatherND(gatherND, k);
  if (NodeOp gather = producer(v, "Gather"))
    return matchWeightFlatGather(gather, k);
  return std::nullopt;
}

/// acc' = acc + rows scattered to `index`: ScatterND(acc, idx, v, add),
/// ScatterElements(acc, idx, v, add) or acc + ScatterElements(0, idx, v).
struct AccumStep {
  NodeOp node;
  Value acc, index, value;
  /// ScatterElements: `index` holds the token of each element.
  bool elementwise = false;
  /// The scatter node (`node` itself, or the ScatterElements it adds).
  NodeOp scatter;
};

bool isZeros(Value v) {
  if (NodeOp fill = producer(v, "ConstantOfShape")) {
    auto value = dyn_cast_or_null<DenseElementsAttr>(fill.getONNXAttr("value"));
    if (!value)
      return true;
    if (auto floats = dyn_cast<DenseFPElementsAttr>(value))
      return llvm::all_of(floats.getValues<APFloat>(),
                          [](const APFloat &f) { return f.isZero(); });
    return false;
  }
  if (NodeOp expand = producer(v, "Expand"))
    v = expand.getInputs()[0];
  std::optional<SmallVector<double>> values = onnx::getConstantFloats(v);
  return values && llvm::all_of(*values, [](double d) { return d == 0.0; });
}

bool reducesByAdd(NodeOp scatter) {
  auto r = dyn_cast_or_null<StringAttr>(scatter.getONNXAttr("reduction"));
  return r && r.getValue() == "add";
}

bool replaces(NodeOp scatter) {
  auto r = dyn_cast_or_null<StringAttr>(scatter.getONNXAttr("reduction"));
  return !r || r.getValue() == "none";
}

std::optional<AccumStep> matchAccumStep(NodeOp node) {
  if (node.isStandard("ScatterND") && reducesByAdd(node))
    return AccumStep{node,
                     node.getInputs()[0],
                     node.getInputs()[1],
                     node.getInputs()[2],
                     false,
                     node};
  if (node.isStandard("ScatterElements") && reducesByAdd(node))
    return AccumStep{node,
                     node.getInputs()[0],
                     node.getInputs()[1],
                     node.getInputs()[2],
                     true,
                     node};
  if (!node.isStandard("Add"))
    return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    NodeOp scatter = producer(node.getInputs()[i], "ScatterElements");
    if (scatter && replaces(scatter) && isZeros(scatter.getInputs()[0]))
      return AccumStep{node,
                       node.getInputs()[1 - i],
                       scatter.getInputs()[1],
                       scatter.getInputs()[2],
                       true,
                       scatter};
  }
  return std::nullopt;
}

/// What the loop around one TopK looks like from the TopK's side.
struct LoopScan {
  /// NonZeros over masks of the TopK's indices: the loop's bodies.
  SmallVector<NodeOp> nonzeros;
  /// NonZeros over the mask of an expert picked at run time.
  SmallVector<NodeOp> dynamicNonzeros;
  SmallVector<AccumStep> steps;
};

/// Walks forward from `topk` through everything computed from it, except
/// past an accumulation's result other than into the next accumulation
/// (the layer's output feeds the rest of the model, not the loop).
LoopScan scanLoop(NodeOp topk, const LoopContext &ctx) {
  LoopScan scan;
  SmallVector<Operation *> worklist = {topk};
  llvm::SetVector<Operation *> seen;
  while (!worklist.empty() && seen.size() < 20000) {
    Operation *op = worklist.pop_back_val();
    if (!seen.insert(op))
      continue;
    std::optional<AccumStep> step;
    if (auto node = dyn_cast<NodeOp>(op)) {
      if (node.isStandard("NonZero") && expertMask(node, ctx))
        scan.nonzeros.push_back(node);
      else if (node.isStandard("NonZero") &&
               readsDataDependentExpert(node, ctx))
        scan.dynamicNonzeros.push_back(node);
      step = matchAccumStep(node);
      if (step)
        scan.steps.push_back(*step);
    }
    for (Operation *user : op->getUsers()) {
      auto next = dyn_cast<NodeOp>(user);
      if (!next)
        continue;
      std::optional<AccumStep> nextStep = matchAccumStep(next);
      if (step && (!nextStep || nextStep->acc != step->node.getOutputs()[0]))
        continue;
      worklist.push_back(next);
    }
  }
  return scan;
}

/// What one accumulation step adds, once verified.
struct Contribution {
  int64_t expert;
  ExpertFFN ffn;
  /// The routing weights [T, k] (before their gather) and the rows'
  /// source.
  Value weights, tokens;
};

/// The rows an accumulation step adds, looking through the broadcast the
/// TorchScript exporter puts on index_add_'s operands.
Value scatteredRows(const AccumStep &step, int64_t hidden) {
  Value v = step.value;
  if (NodeOp expand = producer(v, "Expand")) {
    RankedTensorType in = rankedType(expand.getInputs()[0]);
    if (!in || in.getRank() != 2 || in.getDimSize(1) != hidden)
      return {};
    v = expand.getInputs()[0];
  }
  RankedTensorType t = rankedType(v);
  return t && t.getRank() == 2 && t.getDimSize(1) == hidden ? v : Value();
}

/// The token index an accumulation step scatters rows to, as [n] or [n, 1].
Value scatterTarget(const AccumStep &step) {
  Value index = step.index;
  if (step.elementwise) {
    // ScatterElements(axis 0) with every element of a row sent to the row's
    // token: the token list broadcast along the hidden axis.
    if (intAttr(step.scatter, "axis", 0) != 0)
      return {};
    NodeOp expand = producer(index, "Expand");
    RankedTensorType in = expand ? rankedType(expand.getInputs()[0]) : nullptr;
    if (!in || in.getRank() != 2 || in.getDimSize(1) != 1)
      return {};
    return expand.getInputs()[0];
  }
  RankedTensorType t = rankedType(index);
  return t && t.getRank() == 2 && t.getDimSize(1) == 1 ? index : Value();
}

/// Checks that `step` adds ffn_e(tokens[token]) * weights[token, slot] at
/// the token rows of one expert's NonZero.
FailureOr<Contribution> matchContribution(const AccumStep &step,
                                          const LoopContext &ctx,
                                          int64_t hidden,
                                          const NearMiss &miss) {
  Value target = scatterTarget(step);
  std::optional<Coord> to = target ? matchCoord(target, ctx) : std::nullopt;
  if (!to || to->axis != MaskAxis::Token)
    return miss("an accumulation scatters to rows that are not the token "
                "coordinates of an expert's mask");
  std::string expertName = "expert " + std::to_string(to->expert);
  Value rows = scatteredRows(step, hidden);
  NodeOp mul = rows ? producer(skipReshapes(rows), "Mul") : NodeOp();
  if (!mul)
    return miss(expertName + "'s accumulated rows are not an expert output "
                             "scaled by a weight");
  for (int i = 0; i < 2; ++i) {
    std::optional<ExpertFFN> ffn = matchExpertFFN(mul.getInputs()[i]);
    if (!ffn)
      continue;
    std::optional<RowGather> g = matchRowGather(ffn->input);
    std::optional<Coord> from =
        g ? matchCoord(g->index, ctx) : std::optional<Coord>();
    if (!from || from->axis != MaskAxis::Token)
      return miss(expertName + "'s FFN does not read token rows gathered by "
                               "an expert mask's token coordinates");
    if (from->nonzero != to->nonzero)
      return miss("expert " + Twine(from->expert) +
                  "'s rows are scattered to other tokens than it gathered "
                  "(expert " +
                  Twine(to->expert) + "'s)");
    Value factor = mul.getInputs()[1 - i];
    RankedTensorType factorType = rankedType(factor);
    // One weight per row: [n, 1] broadcasts over the hidden axis.
    std::optional<SlotWeight> w = matchSlotWeight(factor, ctx.k);
    if (!w || !factorType || factorType.getRank() != 2 ||
        factorType.getDimSize(1) != 1)
      return miss(expertName + "'s output is not scaled by one routing "
                               "weight per row");
    std::optional<Coord> wToken = matchCoord(w->tokenIndex, ctx);
    std::optional<Coord> wSlot = matchCoord(w->slotIndex, ctx);
    if (!wToken || !wSlot || wToken->axis != MaskAxis::Token ||
        wSlot->axis != MaskAxis::Slot || wToken->nonzero != to->nonzero ||
        wSlot->nonzero != to->nonzero)
      return miss(expertName + "'s weight is not read at the (token, slot) "
                               "coordinates of its rows");
    return Contribution{to->expert, *ffn, w->table, g->table};
  }
  return miss(expertName + "'s output is not a recognized expert FFN with "
                           "constant weights");
}

/// The accumulation chain that ends the loop, first step first.
FailureOr<SmallVector<AccumStep>> accumulationChain(const LoopScan &scan,
                                                    const NearMiss &miss) {
  llvm::DenseMap<Value, const AccumStep *> byResult;
  llvm::DenseSet<Value> accs;
  for (const AccumStep &s : scan.steps) {
    byResult[s.node->getResult(0)] = &s;
    accs.insert(s.acc);
  }
  SmallVector<const AccumStep *> ends;
  for (const AccumStep &s : scan.steps)
    if (!accs.contains(s.node->getResult(0)))
      ends.push_back(&s);
  if (ends.empty())
    return miss("the expert loop accumulates into no scatter-add chain");
  if (ends.size() > 1)
    return miss("the expert loop ends in " + Twine(ends.size()) +
                " separate accumulations");
  SmallVector<AccumStep> chain;
  for (const AccumStep *s = ends.front(); s; s = byResult.lookup(s->acc))
    chain.push_back(*s);
  std::reverse(chain.begin(), chain.end());
  if (!isZeros(chain.front().acc))
    return miss("the expert loop's accumulator does not start from zeros");
  return chain;
}

/// The moe.experts operands for the experts in order 0..E-1.
FailureOr<ExpertsSpec> expertsSpec(ArrayRef<Contribution> byExpert,
                                   int64_t hidden, const NearMiss &miss) {
  SmallVector<ExpertFFN> ffns;
  for (const Contribution &c : byExpert)
    ffns.push_back(c.ffn);
  return perExpertSpec(ffns, hidden, miss);
}

/// Orders the contributions by expert, requiring each of 0..E-1 once and
/// one routing-weight table and token source for all.
FailureOr<SmallVector<Contribution>> collectExperts(ArrayRef<AccumStep> chain,
                                                    const LoopContext &ctx,
                                                    int64_t hidden,
                                                    const NearMiss &miss) {
  SmallVector<std::optional<Contribution>> byExpert(ctx.numExperts);
  for (const AccumStep &step : chain) {
    FailureOr<Contribution> c = matchContribution(step, ctx, hidden, miss);
    if (failed(c))
      return failure();
    if (byExpert[c->expert])
      return miss("expert " + Twine(c->expert) +
                  " is accumulated more than once");
    byExpert[c->expert] = *c;
  }
  SmallVector<Contribution> experts;
  for (int64_t e = 0; e < ctx.numExperts; ++e) {
    if (!byExpert[e])
      return miss("expert " + Twine(e) + " of " + Twine(ctx.numExperts) +
                  " is never accumulated");
    experts.push_back(*byExpert[e]);
  }
  for (const Contribution &c : experts) {
    if (skipReshapes(c.weights) != skipReshapes(experts.front().weights))
      return miss("expert " + Twine(c.expert) +
                  " is scaled by other routing weights than expert 0");
    if (c.tokens != experts.front().tokens)
      return miss("expert " + Twine(c.expert) +
                  " reads other token rows than expert 0");
  }
  return experts;
}

} // namespace

LogicalResult
moe::detail::raiseExpertLoop(onnx::NodeOp topk, RewriterBase &rewriter,
                             bool remarks,
                             SmallVectorImpl<RaisedLayer> &layers) {
  if (!topk.isStandard("TopK") || topk.getOutputs().size() != 2)
    return failure();
  RankedTensorType scores = rankedType(topk.getInputs()[0]);
  std::optional<int64_t> k = constantInt(topk.getInputs()[1]);
  if (!scores || scores.getRank() != 2 || scores.isDynamicDim(1) || !k)
    return failure();
  LoopContext ctx{topk.getOutputs()[1], scores.getDimSize(1), *k};

  // Only a NonZero over a mask of these indices makes this a loop; any
  // other TopK (a classifier head, sampling) is left alone silently.
  LoopScan scan = scanLoop(topk, ctx);
  NearMiss miss(topk, remarks);
  if (!scan.dynamicNonzeros.empty())
    return miss("the expert loop runs over the experts the example input "
                "picked (expert ids computed at run time), not over all " +
                Twine(ctx.numExperts));
  if (scan.nonzeros.empty())
    return failure();

  FailureOr<SmallVector<AccumStep>> chain = accumulationChain(scan, miss);
  if (failed(chain))
    return failure();
  Value output = chain->back().node.getOutputs()[0];
  RankedTensorType outType = rankedType(output);
  if (!outType || outType.getRank() != 2 || outType.isDynamicDim(1))
    return miss("the expert loop's accumulator is not [tokens, hidden]");
  int64_t hidden = outType.getDimSize(1);

  FailureOr<SmallVector<Contribution>> experts =
      collectExperts(*chain, ctx, hidden, miss);
  if (failed(experts))
    return failure();
  FailureOr<RoutingMatch> routing =
      matchRouting(experts->front().weights, miss);
  if (failed(routing))
    return failure();
  if (routing->topk != topk)
    return miss("the experts are scaled by another TopK's weights");
  if (skipLayout(routing->tokens) != experts->front().tokens)
    return miss("the experts read other rows than the router's tokens");
  RankedTensorType tokenType = rankedType(routing->tokens);
  if (!tokenType || tokenType.getRank() != 2 ||
      tokenType.getDimSize(1) != hidden)
    return miss("the router's tokens are not [tokens, hidden]");
  FailureOr<ExpertsSpec> spec = expertsSpec(*experts, hidden, miss);
  if (failed(spec))
    return failure();

  LayerSpec layer = routedLayer("expert_loop", *routing, *spec, output, topk);
  if (remarks)
    topk.emitRemark() << "raised a per-expert loop MoE layer: "
                      << ctx.numExperts << " experts, top-" << ctx.k;
  layers.push_back(buildLayer(layer, rewriter));
  return success();
}
