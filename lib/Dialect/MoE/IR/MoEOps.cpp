//===- MoEOps.cpp - moe dialect op verifiers and helpers ------------------===//
//
// Each verifier checks one shape or attribute relation at a time and names it
// in the message, so that a frontend bug points at the relation it broke.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace moe;

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

static RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// The value of an optional float attribute.
static std::optional<double> toDouble(FloatAttr attr) {
  if (!attr)
    return std::nullopt;
  return attr.getValueAsDouble();
}

static bool isDyn(int64_t d) { return ShapedType::isDynamic(d); }

/// Two dims agree unless both are static and differ.
static bool compatible(int64_t a, int64_t b) {
  return isDyn(a) || isDyn(b) || a == b;
}

static std::string dimStr(int64_t d) {
  return isDyn(d) ? std::string("?") : std::to_string(d);
}

static LogicalResult expectRank(Operation *op, Value v, int64_t rank,
                                StringRef what) {
  int64_t actual = tensorType(v).getRank();
  if (actual == rank)
    return success();
  return op->emitOpError() << what << " must have rank " << rank << ", got "
                           << actual;
}

/// Verifies `offsets` is a static 1-D tensor and returns E = size - 1.
static FailureOr<int64_t> verifyOffsets(Operation *op, Value offsets) {
  RankedTensorType type = tensorType(offsets);
  if (type.getRank() != 1 || isDyn(type.getDimSize(0)) ||
      type.getDimSize(0) < 2)
    return op->emitOpError()
           << "offsets must be a static 1-D tensor of (num_experts + 1) >= 2 "
              "elements, got "
           << type;
  return type.getDimSize(0) - 1;
}

/// [in, out] of a 2-D matrix, or of the trailing two dims of a stacked one.
static std::pair<int64_t, int64_t> inOut(RankedTensorType type,
                                         bool transposed) {
  int64_t rank = type.getRank();
  int64_t a = type.getDimSize(rank - 2), b = type.getDimSize(rank - 1);
  return transposed ? std::make_pair(b, a) : std::make_pair(a, b);
}

//===----------------------------------------------------------------------===//
// Activation attributes (moe.experts and moe.activation)
//===----------------------------------------------------------------------===//

namespace {
struct ActivationAttrs {
  Activation kind;
  std::optional<GateLayout> layout;
  std::optional<double> alpha, beta, limit, kappa, lambda;
};
} // namespace

template <typename OpT> static ActivationAttrs getActivationAttrs(OpT op) {
  return {op.getActivation(),          op.getGateLayout(),
          toDouble(op.getAlphaAttr()), toDouble(op.getBetaAttr()),
          toDouble(op.getLimitAttr()), toDouble(op.getKappaAttr()),
          toDouble(op.getLambdaAttr())};
}

static LogicalResult verifyActivationAttrs(Operation *op,
                                           const ActivationAttrs &a) {
  auto finite = [&](std::optional<double> v, StringRef name) -> LogicalResult {
    if (v && !std::isfinite(*v))
      return op->emitOpError() << name << " must be finite";
    return success();
  };
  if (failed(finite(a.alpha, "alpha")) || failed(finite(a.beta, "beta")) ||
      failed(finite(a.limit, "limit")) || failed(finite(a.kappa, "kappa")) ||
      failed(finite(a.lambda, "lambda")))
    return failure();
  if (a.alpha && a.kind != Activation::Silu)
    return op->emitOpError("alpha applies only to the silu activation");
  if (a.beta && !a.layout)
    return op->emitOpError(
        "beta applies only to gated activations (set gate_layout)");
  if (a.limit && !a.layout)
    return op->emitOpError(
        "limit applies only to gated activations (set gate_layout)");
  if (a.limit && *a.limit <= 0)
    return op->emitOpError("limit must be positive");
  bool isApa = a.kind == Activation::Apa || a.kind == Activation::Aglu;
  if ((a.kappa || a.lambda) && !isApa)
    return op->emitOpError("kappa and lambda apply only to apa and aglu");
  if (a.lambda && *a.lambda <= 0)
    return op->emitOpError("lambda must be positive");
  return success();
}

//===----------------------------------------------------------------------===//
// GateOp
//===----------------------------------------------------------------------===//

int64_t GateOp::getNumExperts() {
  return tensorType(getWeight()).getDimSize(getWeightTransposed() ? 1 : 0);
}

int64_t GateOp::getHiddenSize() {
  return tensorType(getWeight()).getDimSize(getWeightTransposed() ? 0 : 1);
}

/// The router's own relations: input [T, H], weight [E, H] (or [H, E]) with
/// a static E, optional bias [E]. Shared by moe.gate and moe.fused_route.
static LogicalResult verifyRouter(Operation *op, Value input, Value weight,
                                  Value bias, bool transposed) {
  if (failed(expectRank(op, input, 2, "input [tokens, hidden]")) ||
      failed(expectRank(op, weight, 2, "router weight")))
    return failure();
  RankedTensorType in = tensorType(input), w = tensorType(weight);
  int64_t numExperts = w.getDimSize(transposed ? 1 : 0);
  int64_t hidden = w.getDimSize(transposed ? 0 : 1);
  if (isDyn(numExperts))
    return op->emitOpError("router weight must have a static expert dimension");
  if (!compatible(in.getDimSize(1), hidden))
    return op->emitOpError() << "router weight hidden size (" << dimStr(hidden)
                             << ") must match input hidden size ("
                             << dimStr(in.getDimSize(1)) << ")";
  if (bias) {
    RankedTensorType b = tensorType(bias);
    if (b.getRank() != 1 || b.getDimSize(0) != numExperts)
      return op->emitOpError()
             << "router bias must have shape [" << numExperts << "], got " << b;
  }
  return success();
}

LogicalResult GateOp::verify() {
  Operation *op = getOperation();
  if (failed(verifyRouter(op, getInput(), getWeight(), getBias(),
                          getWeightTransposed())) ||
      failed(expectRank(op, getLogits(), 2, "logits [tokens, experts]")))
    return failure();
  RankedTensorType in = tensorType(getInput()), out = tensorType(getLogits());
  int64_t numExperts = getNumExperts();
  if (!compatible(in.getDimSize(0), out.getDimSize(0)))
    return emitOpError() << "logits token count (" << dimStr(out.getDimSize(0))
                         << ") must match input token count ("
                         << dimStr(in.getDimSize(0)) << ")";
  if (out.getDimSize(1) != numExperts)
    return emitOpError() << "logits expert count (" << dimStr(out.getDimSize(1))
                         << ") must match router weight expert count ("
                         << numExperts << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// RouteOp
//===----------------------------------------------------------------------===//

int64_t RouteOp::getNumExperts() {
  return tensorType(getLogits()).getDimSize(1);
}

int64_t RouteOp::getExpertCapacity(int64_t numTokens, int64_t numExperts,
                                   double capacityFactor) {
  if (numTokens <= 0)
    return 0;
  // Clamp to T while still in f64: ceil(T * c / E) can exceed the int64 range,
  // and converting such a double to int64_t is undefined behavior.
  double capacity = std::ceil(static_cast<double>(numTokens) * capacityFactor /
                              static_cast<double>(numExperts));
  if (!(capacity < static_cast<double>(numTokens)))
    return numTokens;
  return std::max<int64_t>(static_cast<int64_t>(capacity), 1);
}

/// Checks that `value` has shape [rows, cols] (either may be dynamic).
static LogicalResult expectShape2D(Operation *op, Value value, int64_t rows,
                                   int64_t cols, StringRef what,
                                   StringRef relation) {
  RankedTensorType t = tensorType(value);
  if (t.getRank() != 2 || !compatible(t.getDimSize(0), rows) ||
      !compatible(t.getDimSize(1), cols))
    return op->emitOpError()
           << what << " must have shape [" << dimStr(rows) << ", "
           << dimStr(cols) << "] (" << relation << "), got " << t;
  return success();
}

/// The routing attributes and result shapes, for logits of type `logits`
/// (an operand of moe.route, computed inside moe.fused_route).
template <typename OpT>
static LogicalResult verifyRouting(OpT routeOp, RankedTensorType logits) {
  Operation *op = routeOp.getOperation();
  auto emitOpError = [&](const Twine &message = {}) {
    return op->emitOpError(message);
  };
  if (logits.getRank() != 2 || isDyn(logits.getDimSize(1)) ||
      logits.getDimSize(1) < 1)
    return emitOpError()
           << "logits must be [tokens, experts] with a static, non-zero "
              "expert count, got "
           << logits;
  int64_t numTokens = logits.getDimSize(0);
  int64_t numExperts = logits.getDimSize(1);
  RoutingMode mode = routeOp.getMode();
  StringRef modeName = stringifyRoutingMode(mode);
  bool tokenChoice = mode == RoutingMode::TokenChoice;

  // Attributes that belong to one mode only.
  if (routeOp.getSelectionBias() && !tokenChoice)
    return emitOpError() << "selection bias is only supported in token_choice "
                            "mode, not "
                         << modeName;
  if ((routeOp.getNumGroups() || routeOp.getTopkGroups() ||
       routeOp.getGroupTopk()) &&
      !tokenChoice)
    return emitOpError() << "group-limited selection is only supported in "
                            "token_choice mode, not "
                         << modeName;
  if (routeOp.getSkipRatio() && !tokenChoice)
    return emitOpError() << "skip_ratio is only valid in token_choice mode, "
                            "not "
                         << modeName;
  if (routeOp.getTopP() && mode != RoutingMode::TopP)
    return emitOpError("top_p is only valid in top_p mode");
  if (routeOp.getCapacityFactor() && mode != RoutingMode::ExpertChoice)
    return emitOpError("capacity_factor is only valid in expert_choice mode");
  if (routeOp.getRenormalize() && !tokenChoice)
    return emitOpError() << "renormalize is only valid in token_choice mode, "
                            "not "
                         << modeName;
  if (routeOp.getEpsilon() && !routeOp.getRenormalize())
    return emitOpError("epsilon requires renormalize");
  if (routeOp.getRenormalizeClamp() && !routeOp.getRenormalize())
    return emitOpError("renormalize_clamp requires renormalize");
  if (std::optional<double> eps = toDouble(routeOp.getJitterEpsAttr())) {
    if (routeOp.getScore() != ScoreFunction::SparseMixer)
      return emitOpError("jitter_eps is only valid with sparsemixer scores");
    if (!(*eps >= 0 && std::isfinite(*eps)))
      return emitOpError("jitter_eps must be finite and non-negative");
  }
  if (routeOp.getScore() == ScoreFunction::SparseMixer) {
    if (!tokenChoice || routeOp.getK() != 2)
      return emitOpError(
          "sparsemixer scores need token_choice mode with k = 2");
    if (routeOp.getRenormalize() || routeOp.getSelectionBias() ||
        routeOp.getNumGroups() || routeOp.getExpertMask() ||
        routeOp.getSkipRatioAttr())
      return emitOpError("sparsemixer scores take no renormalize, selection "
                         "bias, groups, expert_mask or skip_ratio");
  }
  if (std::optional<double> eps = toDouble(routeOp.getEpsilonAttr()))
    if (!(*eps >= 0 && std::isfinite(*eps)))
      return emitOpError("epsilon must be finite and non-negative");
  if (std::optional<double> scale = toDouble(routeOp.getScalingFactorAttr()))
    if (!(std::isfinite(*scale) && *scale > 0))
      return emitOpError("scaling_factor must be finite and positive");

  if (Value bias = routeOp.getSelectionBias()) {
    RankedTensorType b = tensorType(bias);
    if (b.getRank() != 1 || b.getDimSize(0) != numExperts)
      return emitOpError() << "selection bias must have shape [" << numExperts
                           << "] (one per expert), got " << b;
  }

  int64_t selectable = numExperts;
  if (std::optional<ArrayRef<bool>> mask = routeOp.getExpertMask()) {
    if (static_cast<int64_t>(mask->size()) != numExperts)
      return emitOpError() << "expert_mask has " << mask->size()
                           << " entries but there are " << numExperts
                           << " experts";
    selectable = llvm::count(*mask, true);
    if (selectable == 0)
      return emitOpError("expert_mask removes every expert");
  }

  if (mode == RoutingMode::ExpertChoice) {
    // Each expert ranks the tokens by their plain scores: only the trivial
    // mask and scale (which canonicalization drops) are accepted.
    if (selectable != numExperts)
      return emitOpError("expert_mask cannot remove experts in expert_choice "
                         "mode");
    if (routeOp.getScalingFactorOrDefault() != 1.0)
      return emitOpError("scaling_factor must be 1 in expert_choice mode");
    if (routeOp.getK())
      return emitOpError("k is not used in expert_choice mode (capacity comes "
                         "from capacity_factor)");
    if (routeOp.getScore() == ScoreFunction::SoftmaxAfterTopK)
      return emitOpError("softmax_after_topk scores need token_choice or "
                         "top_p mode");
    std::optional<double> factor = toDouble(routeOp.getCapacityFactorAttr());
    if (!factor)
      return emitOpError("expert_choice mode requires capacity_factor");
    if (!(std::isfinite(*factor) && *factor > 0))
      return emitOpError("capacity_factor must be finite and positive");
    int64_t capacity =
        isDyn(numTokens)
            ? ShapedType::kDynamic
            : RouteOp::getExpertCapacity(numTokens, numExperts, *factor);
    if (failed(expectShape2D(op, routeOp.getWeights(), numTokens, numExperts,
                             "weights", "dense gate [tokens, experts]")) ||
        failed(expectShape2D(op, routeOp.getIndices(), numExperts, capacity,
                             "indices",
                             "token ids [experts, ceil(tokens * "
                             "capacity_factor / experts)]")))
      return failure();
    return success();
  }

  std::optional<int64_t> k = routeOp.getK();
  if (!k)
    return emitOpError() << modeName << " mode requires k";
  if (*k > numExperts)
    return emitOpError() << "k (" << *k << ") must not exceed the number of "
                         << "experts (" << numExperts << ")";
  if (tokenChoice && *k > selectable)
    return emitOpError() << "expert_mask keeps " << selectable
                         << " experts, fewer than k (" << *k << ")";
  if (mode == RoutingMode::TopP) {
    std::optional<double> p = toDouble(routeOp.getTopPAttr());
    if (!p)
      return emitOpError("top_p mode requires top_p");
    if (!(*p > 0 && *p <= 1))
      return emitOpError("top_p must be in (0, 1]");
  }

  // Group-limited selection (DeepSeek): E splits into num_groups groups.
  if (routeOp.getNumGroups().has_value() != routeOp.getTopkGroups().has_value())
    return emitOpError("num_groups and topk_groups must be given together");
  if (routeOp.getGroupTopk() && !routeOp.getNumGroups())
    return emitOpError("group_topk requires num_groups and topk_groups");
  if (std::optional<int64_t> groups = routeOp.getNumGroups()) {
    if (numExperts % *groups != 0)
      return emitOpError() << "num_groups (" << *groups
                           << ") must divide the number of experts ("
                           << numExperts << ")";
    int64_t perGroup = numExperts / *groups;
    int64_t keptGroups = *routeOp.getTopkGroups();
    if (keptGroups > *groups)
      return emitOpError() << "topk_groups (" << keptGroups
                           << ") must not exceed num_groups (" << *groups
                           << ")";
    if (static_cast<int64_t>(*k) > keptGroups * perGroup)
      return emitOpError() << "k (" << *k << ") exceeds the experts in the "
                           << "kept groups (topk_groups * experts per group = "
                           << keptGroups * perGroup << ")";
    if (routeOp.getGroupTopKOrDefault() > perGroup)
      return emitOpError() << "group_topk (" << routeOp.getGroupTopKOrDefault()
                           << (routeOp.getGroupTopk() ? "" : ", the default")
                           << ") exceeds the experts per group (" << perGroup
                           << ")";
  }

  if (std::optional<double> beta = toDouble(routeOp.getSkipRatioAttr())) {
    if (*k < 2)
      return emitOpError() << "skip_ratio needs k >= 2 (it drops slots after "
                              "the first), got k = "
                           << *k;
    if (!(*beta >= 0 && *beta <= 1))
      return emitOpError("skip_ratio must be in [0, 1]");
  }

  return failure(failed(expectShape2D(op, routeOp.getWeights(), numTokens, *k,
                                      "weights", "[tokens, k]")) ||
                 failed(expectShape2D(op, routeOp.getIndices(), numTokens, *k,
                                      "indices", "[tokens, k]")));
}

LogicalResult RouteOp::verify() {
  return verifyRouting(*this, tensorType(getLogits()));
}

//===----------------------------------------------------------------------===//
// FusedRouteOp
//===----------------------------------------------------------------------===//

int64_t FusedRouteOp::getNumExperts() {
  return tensorType(getWeight()).getDimSize(getWeightTransposed() ? 1 : 0);
}

RankedTensorType FusedRouteOp::getLogitsType() {
  RankedTensorType in = tensorType(getInput());
  return RankedTensorType::get({in.getDimSize(0), getNumExperts()},
                               in.getElementType());
}

LogicalResult FusedRouteOp::verify() {
  if (failed(verifyRouter(getOperation(), getInput(), getWeight(), getBias(),
                          getWeightTransposed())))
    return failure();
  return verifyRouting(*this, getLogitsType());
}

//===----------------------------------------------------------------------===//
// DispatchOp
//===----------------------------------------------------------------------===//

static int64_t mulDims(int64_t a, int64_t b) {
  return isDyn(a) || isDyn(b) ? ShapedType::kDynamic : a * b;
}

LogicalResult DispatchOp::verify() {
  Operation *op = getOperation();
  if (failed(expectRank(op, getInput(), 2, "input [tokens, hidden]")) ||
      failed(expectRank(op, getIndices(), 2, "indices")) ||
      failed(expectRank(op, getRows(), 2, "rows")) ||
      failed(expectRank(op, getRowMap(), 2, "row_map")))
    return failure();
  RankedTensorType in = tensorType(getInput()), idx = tensorType(getIndices()),
                   rows = tensorType(getRows());
  int64_t numTokens = in.getDimSize(0), hidden = in.getDimSize(1);
  int64_t numExperts = getNumExperts();

  if (rows.getElementType() != in.getElementType())
    return emitOpError("rows element type must match the input element type");
  if (!compatible(rows.getDimSize(1), hidden))
    return emitOpError() << "rows width (" << dimStr(rows.getDimSize(1))
                         << ") must match the input hidden size ("
                         << dimStr(hidden) << ")";
  RankedTensorType offsets = tensorType(getOffsets());
  if (offsets.getRank() != 1 || offsets.getDimSize(0) != numExperts + 1)
    return emitOpError() << "offsets must have shape [num_experts + 1] = ["
                         << numExperts + 1 << "], got " << offsets;

  if (getCapacity().has_value() != getDropPolicy().has_value())
    return emitOpError(getCapacity() ? "capacity requires a drop_policy"
                                     : "drop_policy requires a capacity");
  bool byWeight = getDropPolicy() == DropPolicy::ByWeight;
  if (byWeight && !getWeights())
    return emitOpError("drop_policy by_weight requires the weights operand");
  if (getScaleRows() && !getWeights())
    return emitOpError("scale_rows requires the weights operand");
  if (!byWeight && !getScaleRows() && getWeights())
    return emitOpError("the weights operand is only used by drop_policy "
                       "by_weight and scale_rows");
  if (getScaleRows() && getExpertChoice())
    return emitOpError("scale_rows applies to token-choice dispatch");
  if (getGroupSize()) {
    if (!getCapacity())
      return emitOpError("group_size groups the tokens of a capacity; it "
                         "requires one");
    if (byWeight)
      return emitOpError("group_size counts capacity in token order; it "
                         "requires drop_policy in_order");
    if (getExpertChoice())
      return emitOpError("group_size applies to token-choice dispatch");
    APInt g;
    if (matchPattern(getGroupSize(), m_ConstantInt(&g)) &&
        !g.isStrictlyPositive())
      return emitOpError() << "group_size must be positive, got "
                           << g.getSExtValue();
  }

  if (std::optional<ArrayRef<int64_t>> map = getExpertMap()) {
    if (getExpertChoice())
      return emitOpError("expert_map renames token-choice expert ids; "
                         "expert-choice indices are token ids");
    if (map->empty())
      return emitOpError("expert_map must have one entry per routed expert");
    // Where the ids visibly come from a router, its expert count is known.
    std::optional<int64_t> routed;
    if (auto route = getIndices().getDefiningOp<RouteOp>())
      routed = route.getNumExperts();
    else if (auto fused = getIndices().getDefiningOp<FusedRouteOp>())
      routed = fused.getNumExperts();
    if (routed && !isDyn(*routed) && *routed != (int64_t)map->size())
      return emitOpError() << "expert_map has " << map->size()
                           << " entries but the router scores " << *routed
                           << " experts";
    for (auto [id, target] : llvm::enumerate(*map))
      if (target < 0 || target >= numExperts)
        return emitOpError() << "expert_map sends id " << id << " to expert "
                             << target << ", outside [0, " << numExperts << ")";
  }

  if (getExpertChoice()) {
    if (getCapacity())
      return emitOpError("capacity is implied by the indices in expert_choice "
                         "dispatch");
    if (idx.getDimSize(0) != numExperts)
      return emitOpError() << "expert-choice indices must be [num_experts, "
                              "capacity] with num_experts = "
                           << numExperts << ", got " << idx;
    int64_t numRows = mulDims(numExperts, idx.getDimSize(1));
    if (!compatible(rows.getDimSize(0), numRows))
      return emitOpError() << "rows must have num_experts * capacity = "
                           << dimStr(numRows) << " rows, got "
                           << dimStr(rows.getDimSize(0));
    return expectShape2D(op, getRowMap(), numTokens, numExperts, "row_map",
                         "[tokens, num_experts] for expert choice");
  }

  if (!compatible(idx.getDimSize(0), numTokens))
    return emitOpError() << "indices must have one row per token ("
                         << dimStr(numTokens) << "), got "
                         << dimStr(idx.getDimSize(0));
  int64_t numRows = mulDims(numTokens, idx.getDimSize(1));
  if (!compatible(rows.getDimSize(0), numRows))
    return emitOpError() << "rows must have tokens * k = " << dimStr(numRows)
                         << " rows, got " << dimStr(rows.getDimSize(0));
  if (failed(expectShape2D(op, getRowMap(), numTokens, idx.getDimSize(1),
                           "row_map", "same as indices [tokens, k]")))
    return failure();
  if (Value weights = getWeights())
    return expectShape2D(op, weights, numTokens, idx.getDimSize(1), "weights",
                         "same as indices [tokens, k]");
  return success();
}

//===----------------------------------------------------------------------===//
// ExpertsOp
//===----------------------------------------------------------------------===//

int64_t ExpertsOp::getNumExperts() {
  return tensorType(getOffsets()).getDimSize(0) - 1;
}

unsigned ExpertsOp::getNumStages() {
  return getGateLayout() == GateLayout::Separate ? 3 : 2;
}

bool ExpertsOp::isStacked() {
  return getWeights().size() == getNumStages() &&
         llvm::all_of(getWeights(),
                      [](Value w) { return tensorType(w).getRank() == 3; });
}

Value ExpertsOp::getStageWeight(unsigned expert, unsigned stage) {
  return isStacked() ? getWeights()[stage]
                     : getWeights()[expert * getNumStages() + stage];
}

LogicalResult ExpertsOp::verify() {
  Operation *op = getOperation();
  if (failed(expectRank(op, getRows(), 2, "rows")) ||
      failed(expectRank(op, getResult(), 2, "result")))
    return failure();
  FailureOr<int64_t> numExpertsOr = verifyOffsets(op, getOffsets());
  if (failed(numExpertsOr))
    return failure();
  int64_t numExperts = *numExpertsOr;
  ActivationAttrs act = getActivationAttrs(*this);
  if (failed(verifyActivationAttrs(op, act)))
    return failure();

  RankedTensorType rows = tensorType(getRows()), res = tensorType(getResult());
  if (res.getElementType() != rows.getElementType())
    return emitOpError("result element type must match the rows element type");
  if (!compatible(rows.getDimSize(0), res.getDimSize(0)))
    return emitOpError("result must have as many rows as the input rows");

  unsigned stages = getNumStages();
  bool stacked = isStacked();
  int64_t numWeights = getWeights().size();
  if (!stacked && numWeights != numExperts * stages)
    return emitOpError() << "expected " << stages
                         << " stacked weights [E, in, out] or "
                         << numExperts * stages
                         << " per-expert weights [in, out] (E = " << numExperts
                         << " experts x " << stages << " stages), got "
                         << numWeights;
  for (auto [i, w] : llvm::enumerate(getWeights())) {
    RankedTensorType t = tensorType(w);
    if (t.getRank() != (stacked ? 3 : 2))
      return emitOpError() << "weight #" << i << " must have rank "
                           << (stacked ? 3 : 2) << ", got " << t;
    if (llvm::any_of(t.getShape(), isDyn))
      return emitOpError() << "weight #" << i << " must have a static shape";
    if (stacked && t.getDimSize(0) != numExperts)
      return emitOpError() << "stacked weight #" << i << " holds "
                           << t.getDimSize(0) << " experts but offsets imply "
                           << numExperts;
  }

  bool transposed = getTransposedWeights();
  bool fused = act.layout && *act.layout != GateLayout::Separate;
  int64_t hidden = rows.getDimSize(1), outWidth = res.getDimSize(1);
  for (int64_t e = 0, last = stacked ? 1 : numExperts; e < last; ++e) {
    auto [upIn, upOut] = inOut(tensorType(getStageWeight(e, 0)), transposed);
    if (!compatible(upIn, hidden))
      return emitOpError() << "expert " << e << "'s first weight reads " << upIn
                           << " features but rows have " << dimStr(hidden);
    int64_t inner = upOut;
    if (fused) {
      if (upOut % 2 != 0)
        return emitOpError() << "expert " << e
                             << "'s fused gate/up weight has an odd output "
                                "width ("
                             << upOut << ")";
      inner = upOut / 2;
    }
    if (stages == 3) {
      Type gateType = getStageWeight(e, 0).getType();
      if (getStageWeight(e, 1).getType() != gateType)
        return emitOpError() << "expert " << e
                             << "'s gate and up weights must have the same "
                                "type";
    }
    auto [downIn, downOut] =
        inOut(tensorType(getStageWeight(e, stages - 1)), transposed);
    if (downIn != inner)
      return emitOpError() << "expert " << e << "'s down weight reads "
                           << downIn << " features but the activation yields "
                           << inner;
    if (!compatible(downOut, outWidth))
      return emitOpError() << "expert " << e << " produces " << downOut
                           << " features but the result has "
                           << dimStr(outWidth);
  }

  if (getBiases().empty())
    return success();
  if (getBiases().size() != getWeights().size())
    return emitOpError() << "expected one bias per weight (" << numWeights
                         << ") or none, got " << getBiases().size();
  for (auto [i, pair] : llvm::enumerate(llvm::zip(getWeights(), getBiases()))) {
    RankedTensorType w = tensorType(std::get<0>(pair));
    RankedTensorType b = tensorType(std::get<1>(pair));
    int64_t out = inOut(w, transposed).second;
    SmallVector<int64_t> expected;
    if (stacked)
      expected.push_back(numExperts);
    expected.push_back(out);
    if (b.getShape() != ArrayRef<int64_t>(expected))
      return emitOpError() << "bias #" << i << " must have shape ["
                           << (stacked ? std::to_string(numExperts) + ", " : "")
                           << out << "] to match its weight, got " << b;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// GroupedMatmulOp
//===----------------------------------------------------------------------===//

int64_t GroupedMatmulOp::getNumGroups() {
  return tensorType(getOffsets()).getDimSize(0) - 1;
}

/// The panel layout: one stacked rhs [E, M / P, K, P], or one [M / P, K, P]
/// per group, all of one shape.
LogicalResult GroupedMatmulOp::verifyPanels(int64_t groups) {
  if (getTransposeRhs())
    return emitOpError("panels hold [K, P] blocks; transpose_rhs does not "
                       "apply to them");
  RankedTensorType t = tensorType(getRhs()[0]);
  bool stacked = getRhs().size() == 1 && t.getRank() == 4;
  if (!stacked && static_cast<int64_t>(getRhs().size()) != groups)
    return emitOpError() << "panels need one stacked rhs [E, M / P, K, P] or "
                            "one rhs [M / P, K, P] per group ("
                         << groups << "), got " << getRhs().size() << " of "
                         << t;
  for (auto [i, rhs] : llvm::enumerate(getRhs())) {
    RankedTensorType r = tensorType(rhs);
    if (!stacked && r.getRank() != 3)
      return emitOpError() << "panel rhs #" << i
                           << " must be [M / P, K, P], got " << r;
    if (r != t)
      return emitOpError() << "panel rhs #" << i << " must have the type of "
                           << "rhs #0 (" << t << "), got " << r;
  }
  if (llvm::any_of(t.getShape(), isDyn))
    return emitOpError("rhs must have a static shape");
  if (stacked && t.getDimSize(0) != groups)
    return emitOpError() << "panel rhs holds " << t.getDimSize(0)
                         << " groups but offsets imply " << groups;
  ArrayRef<int64_t> panel = t.getShape().take_back(3);
  int64_t k = panel[1], width = panel[0] * panel[2];
  if (width == 0)
    return emitOpError("panels must not be empty");
  RankedTensorType lhs = tensorType(getLhs()), res = tensorType(getResult());
  if (!compatible(lhs.getDimSize(1), k))
    return emitOpError() << "lhs has " << dimStr(lhs.getDimSize(1))
                         << " columns but the panels reduce over " << k;
  if (!compatible(res.getDimSize(1), width))
    return emitOpError() << "result has " << dimStr(res.getDimSize(1))
                         << " columns but the panels hold " << panel[0] << " x "
                         << panel[2] << " = " << width;
  if (getBias().empty())
    return success();
  if (getBias().size() != getRhs().size())
    return emitOpError() << "expected one bias per rhs (" << getRhs().size()
                         << ") or none, got " << getBias().size();
  SmallVector<int64_t> expected;
  if (stacked)
    expected.push_back(groups);
  expected.push_back(width);
  for (auto [i, bias] : llvm::enumerate(getBias()))
    if (tensorType(bias).getShape() != ArrayRef<int64_t>(expected))
      return emitOpError() << "bias #" << i << " must have shape ["
                           << (stacked ? std::to_string(groups) + ", " : "")
                           << width << "], got " << tensorType(bias);
  return success();
}

LogicalResult GroupedMatmulOp::verifyGroupExtents(int64_t groups) {
  std::optional<ArrayRef<int64_t>> extents = getGroupExtents();
  if (!extents)
    return success();
  if (!isStacked())
    return emitOpError("group_extents needs one stacked rhs [E, K, M]");
  if (static_cast<int64_t>(extents->size()) != 2 * groups)
    return emitOpError() << "group_extents has " << extents->size()
                         << " entries, expected 2 per group (" << 2 * groups
                         << ")";
  auto [k, m] = inOut(tensorType(getRhs()[0]), getTransposeRhs());
  for (int64_t e = 0; e < groups; ++e) {
    int64_t ke = (*extents)[2 * e], me = (*extents)[2 * e + 1];
    if (ke < 1 || ke > k || me < 1 || me > m)
      return emitOpError() << "group_extents of group " << e << " ([" << ke
                           << ", " << me << "]) must lie within [1.." << k
                           << ", 1.." << m << "]";
  }
  return success();
}

LogicalResult GroupedMatmulOp::verify() {
  Operation *op = getOperation();
  if (failed(expectRank(op, getLhs(), 2, "lhs")) ||
      failed(expectRank(op, getResult(), 2, "result")))
    return failure();
  FailureOr<int64_t> groupsOr = verifyOffsets(op, getOffsets());
  if (failed(groupsOr))
    return failure();
  int64_t groups = *groupsOr;
  RankedTensorType lhs = tensorType(getLhs()), res = tensorType(getResult());
  if (res.getElementType() != lhs.getElementType())
    return emitOpError("result element type must match the lhs element type");
  if (!compatible(lhs.getDimSize(0), res.getDimSize(0)))
    return emitOpError("result must have as many rows as lhs");

  if (getPanels())
    return getGroupExtents()
               ? emitOpError("group_extents needs a stacked rhs, not panels")
               : verifyPanels(groups);
  bool transposed = getTransposeRhs();
  bool stacked = isStacked();
  if (failed(verifyGroupExtents(groups)))
    return failure();
  if (!stacked && static_cast<int64_t>(getRhs().size()) != groups)
    return emitOpError() << "expected one stacked rhs [E, K, M] or one rhs "
                            "[K, M] per group ("
                         << groups << "), got " << getRhs().size();
  int64_t maxK = 0, maxM = 0;
  SmallVector<int64_t> widths;
  for (auto [i, rhs] : llvm::enumerate(getRhs())) {
    RankedTensorType t = tensorType(rhs);
    if (t.getRank() != (stacked ? 3 : 2))
      return emitOpError() << "rhs #" << i << " must have rank "
                           << (stacked ? 3 : 2) << ", got " << t;
    if (llvm::any_of(t.getShape(), isDyn))
      return emitOpError() << "rhs #" << i << " must have a static shape";
    if (stacked && t.getDimSize(0) != groups)
      return emitOpError() << "stacked rhs holds " << t.getDimSize(0)
                           << " groups but offsets imply " << groups;
    auto [k, m] = inOut(t, transposed);
    maxK = std::max(maxK, k);
    maxM = std::max(maxM, m);
    widths.push_back(m);
  }
  if (!compatible(lhs.getDimSize(1), maxK))
    return emitOpError() << "lhs has " << dimStr(lhs.getDimSize(1))
                         << " columns but the rhs reduce over " << maxK
                         << (stacked ? "" : " (largest group)");
  if (!compatible(res.getDimSize(1), maxM))
    return emitOpError() << "result has " << dimStr(res.getDimSize(1))
                         << " columns but the rhs produce " << maxM
                         << (stacked ? "" : " (largest group)");

  if (getBias().empty())
    return success();
  if (getBias().size() != getRhs().size())
    return emitOpError() << "expected one bias per rhs (" << getRhs().size()
                         << ") or none, got " << getBias().size();
  for (auto [i, bias] : llvm::enumerate(getBias())) {
    RankedTensorType b = tensorType(bias);
    SmallVector<int64_t> expected;
    if (stacked)
      expected.push_back(groups);
    expected.push_back(widths[i]);
    if (b.getShape() != ArrayRef<int64_t>(expected))
      return emitOpError() << "bias #" << i << " must have shape ["
                           << (stacked ? std::to_string(groups) + ", " : "")
                           << widths[i] << "], got " << b;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// ScatterColumnsOp
//===----------------------------------------------------------------------===//

LogicalResult ScatterColumnsOp::verify() {
  Operation *op = getOperation();
  if (failed(expectRank(op, getSource(), 2, "source")) ||
      failed(expectRank(op, getDest(), 2, "dest")) ||
      failed(expectRank(op, getColumns(), 2, "columns")))
    return failure();
  FailureOr<int64_t> groups = verifyOffsets(op, getOffsets());
  if (failed(groups))
    return failure();
  RankedTensorType source = tensorType(getSource()),
                   dest = tensorType(getDest()),
                   columns = tensorType(getColumns());
  if (source.getElementType() != dest.getElementType())
    return emitOpError("source and dest element types must match");
  if (getType() != getDest().getType())
    return emitOpError() << "result type must be the dest type " << dest;
  if (!compatible(source.getDimSize(0), dest.getDimSize(0)))
    return emitOpError("source must have as many rows as dest");
  if (!columns.hasStaticShape())
    return emitOpError("columns must have a static shape");
  if (columns.getDimSize(0) != *groups)
    return emitOpError() << "columns has " << columns.getDimSize(0)
                         << " rows but offsets imply " << *groups << " groups";
  if (!compatible(source.getDimSize(1), columns.getDimSize(1)))
    return emitOpError() << "source has " << dimStr(source.getDimSize(1))
                         << " columns but columns lists "
                         << columns.getDimSize(1) << " per group";
  // Constant indices (the usual case) are checked against dest's width.
  DenseIntElementsAttr indices;
  int64_t width = dest.getDimSize(1);
  if (isDyn(width) || !matchPattern(getColumns(), m_Constant(&indices)))
    return success();
  int64_t perGroup = columns.getDimSize(1);
  llvm::SmallDenseSet<int64_t, 16> seen;
  for (auto [i, index] : llvm::enumerate(indices.getValues<APInt>())) {
    int64_t c = index.getSExtValue(), group = i / perGroup;
    if (c < -1 || c >= width)
      return emitOpError() << "column index " << c << " (group " << group
                           << ") is outside [-1, " << width << ")";
    if (i % perGroup == 0)
      seen.clear();
    if (getUniqueColumns() && c >= 0 && !seen.insert(c).second)
      return emitOpError() << "has unique_columns, but group " << group
                           << " repeats column " << c;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// ActivationOp
//===----------------------------------------------------------------------===//

LogicalResult ActivationOp::verify() {
  Operation *op = getOperation();
  if (failed(expectRank(op, getInput(), 2, "input")) ||
      failed(expectRank(op, getResult(), 2, "result")))
    return failure();
  ActivationAttrs act = getActivationAttrs(*this);
  if (failed(verifyActivationAttrs(op, act)))
    return failure();
  RankedTensorType in = tensorType(getInput()), res = tensorType(getResult());
  if (res.getElementType() != in.getElementType())
    return emitOpError("result element type must match the input element type");
  if (!compatible(in.getDimSize(0), res.getDimSize(0)))
    return emitOpError("result must have as many rows as the input");

  bool separate = act.layout == GateLayout::Separate;
  bool fused = act.layout && !separate;
  if (separate && !getUp())
    return emitOpError("gate_layout separate requires the up operand");
  if (!separate && getUp())
    return emitOpError("the up operand is only used with gate_layout separate");
  if (Value up = getUp(); up && up.getType() != getInput().getType())
    return emitOpError("gate and up operands must have the same type");

  if (getWidths().has_value() != static_cast<bool>(getOffsets()))
    return emitOpError("widths and offsets must be given together");
  int64_t inWidth = in.getDimSize(1), outWidth = res.getDimSize(1);
  int64_t factor = fused ? 2 : 1;
  if (std::optional<ArrayRef<int64_t>> widths = getWidths()) {
    FailureOr<int64_t> groupsOr = verifyOffsets(op, getOffsets());
    if (failed(groupsOr))
      return failure();
    if (static_cast<int64_t>(widths->size()) != *groupsOr)
      return emitOpError() << "widths has " << widths->size()
                           << " entries but offsets imply " << *groupsOr
                           << " groups";
    if (llvm::any_of(*widths, [](int64_t w) { return w <= 0; }))
      return emitOpError("widths must be positive");
    int64_t maxWidth = *llvm::max_element(*widths);
    if (!compatible(outWidth, maxWidth))
      return emitOpError() << "result width (" << dimStr(outWidth)
                           << ") must be the largest group width (" << maxWidth
                           << ")";
    if (!compatible(inWidth, maxWidth * factor))
      return emitOpError() << "input width (" << dimStr(inWidth) << ") must be "
                           << factor << " x the largest group width ("
                           << maxWidth << ")";
    return success();
  }
  if (fused && !isDyn(inWidth) && inWidth % 2 != 0)
    return emitOpError() << "fused gate/up input width (" << inWidth
                         << ") must be even";
  int64_t expected = isDyn(inWidth) ? inWidth : inWidth / factor;
  if (!compatible(outWidth, expected))
    return emitOpError() << "result width (" << dimStr(outWidth) << ") must be "
                         << (fused ? "half the fused input width"
                                   : "the input width")
                         << " (" << dimStr(expected) << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// DequantizeOp
//===----------------------------------------------------------------------===//

/// Bytes that hold `count` values of `bits` bits (? stays ?).
static int64_t packedBytes(int64_t count, int64_t bits) {
  return isDyn(count) ? count : llvm::divideCeil(count * bits, 8);
}

LogicalResult DequantizeOp::verify() {
  RankedTensorType weight = tensorType(getWeight()),
                   result = tensorType(getResult()),
                   scales = tensorType(getScales());
  int64_t rank = weight.getRank(), bits = getBits();
  if (rank < 2)
    return emitOpError() << "weight must have rank >= 2 ([..., N, packed K]), "
                            "got "
                         << rank;
  if (result.getRank() != rank)
    return emitOpError() << "result must have the weight's rank (" << rank
                         << "), got " << result.getRank();
  for (int64_t d = 0; d + 1 < rank; ++d)
    if (!compatible(weight.getDimSize(d), result.getDimSize(d)))
      return emitOpError() << "result dim " << d << " ("
                           << dimStr(result.getDimSize(d))
                           << ") must match weight dim " << d << " ("
                           << dimStr(weight.getDimSize(d)) << ")";
  int64_t k = result.getDimSize(rank - 1);
  if (!compatible(packedBytes(k, bits), weight.getDimSize(rank - 1)))
    return emitOpError() << "weight's last dim ("
                         << dimStr(weight.getDimSize(rank - 1))
                         << ") must hold " << dimStr(k) << " values of " << bits
                         << " bits (" << dimStr(packedBytes(k, bits))
                         << " bytes)";
  // Scales: one per row, or one per block of `block_size` values of a row.
  std::optional<uint64_t> blockSize = getBlockSize();
  SmallVector<int64_t> expected(result.getShape().drop_back());
  if (blockSize)
    expected.push_back(isDyn(k) ? k : llvm::divideCeil(k, *blockSize));
  auto describe = [](ArrayRef<int64_t> shape) {
    std::string s = "[";
    for (auto [i, d] : llvm::enumerate(shape))
      s += (i ? ", " : "") + dimStr(d);
    return s + "]";
  };
  auto matches = [](RankedTensorType t, ArrayRef<int64_t> shape) {
    return t.getRank() == int64_t(shape.size()) &&
           llvm::all_of(llvm::zip(t.getShape(), shape), [](auto p) {
             return compatible(std::get<0>(p), std::get<1>(p));
           });
  };
  if (!matches(scales, expected))
    return emitOpError() << "scales " << scales << " must be "
                         << describe(expected)
                         << (blockSize ? " (one per block of block_size values)"
                                       : " (one per row without block_size)");
  if (Value zp = getZeroPoints()) {
    expected.back() = packedBytes(expected.back(), bits);
    if (!matches(tensorType(zp), expected))
      return emitOpError() << "zero_points " << zp.getType() << " must be "
                           << describe(expected)
                           << " (the scales' shape, last dim packed to " << bits
                           << " bits)";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// CombineOp
//===----------------------------------------------------------------------===//

LogicalResult CombineOp::verify() {
  Operation *op = getOperation();
  if (failed(expectRank(op, getRows(), 2, "rows")) ||
      failed(expectRank(op, getRowMap(), 2, "row_map")) ||
      failed(expectRank(op, getResult(), 2, "result [tokens, hidden]")))
    return failure();
  RankedTensorType rows = tensorType(getRows()), map = tensorType(getRowMap()),
                   res = tensorType(getResult());
  if (getWeights() &&
      failed(expectShape2D(op, getWeights(), map.getDimSize(0),
                           map.getDimSize(1), "weights", "same as row_map")))
    return failure();
  if (res.getElementType() != rows.getElementType())
    return emitOpError("result element type must match the rows element type");
  if (!compatible(res.getDimSize(0), map.getDimSize(0)))
    return emitOpError() << "result token count (" << dimStr(res.getDimSize(0))
                         << ") must match row_map ("
                         << dimStr(map.getDimSize(0)) << ")";
  if (!compatible(res.getDimSize(1), rows.getDimSize(1)))
    return emitOpError() << "result width (" << dimStr(res.getDimSize(1))
                         << ") must match rows width ("
                         << dimStr(rows.getDimSize(1)) << ")";
  return success();
}

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/MoEOps.cpp.inc"
