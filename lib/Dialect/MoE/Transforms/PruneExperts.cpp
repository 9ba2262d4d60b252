//===- PruneExperts.cpp - frequency / enumeration pruning -----------------===//

#include "ConstantSlicing.h"
#include "OutputError.h"

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Calibration.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>
#include <numeric>

namespace moe {
#define GEN_PASS_DEF_MOEPRUNEEXPERTS
#include "moe/Dialect/MoE/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace moe;

namespace {

/// Discardable attribute on moe.route: the original id of every expert.
constexpr llvm::StringLiteral kOriginalExperts = "moe.original_experts";

/// C(n, r), or nullopt once it exceeds `limit`.
static std::optional<int64_t> binomialUpTo(int64_t n, int64_t r,
                                           int64_t limit) {
  r = std::min(r, n - r);
  // c * (n - i) / (i + 1) is C(n, i + 1), an integer at every step; past the
  // limit the next factor could overflow.
  int64_t c = 1;
  for (int64_t i = 0; i < r; ++i) {
    if (c > limit || c > std::numeric_limits<int64_t>::max() / (n - i))
      return std::nullopt;
    c = c * (n - i) / (i + 1);
  }
  if (c > limit)
    return std::nullopt;
  return c;
}

/// Calls `visit` with every `count`-element subset of `items`, in
/// lexicographic order of positions.
static void forEachSubset(ArrayRef<int64_t> items, int64_t count,
                          function_ref<void(ArrayRef<int64_t>)> visit) {
  SmallVector<int64_t> pos(count), subset(count);
  std::iota(pos.begin(), pos.end(), 0);
  int64_t n = items.size();
  while (true) {
    for (int64_t i = 0; i < count; ++i)
      subset[i] = items[pos[i]];
    visit(subset);
    int64_t i = count - 1;
    while (i >= 0 && pos[i] == n - count + i)
      --i;
    if (i < 0)
      return;
    ++pos[i];
    for (int64_t j = i + 1; j < count; ++j)
      pos[j] = pos[j - 1] + 1;
  }
}

/// What enumeration found for one layer, for the remark.
struct EnumerationResult {
  SmallVector<int64_t> keep, frequencyKeep;
  double error = 0, frequencyError = 0, fullNorm = 0;
  int64_t subsets = 1, rows = 0;
};

/// What to do with one layer, decided before anything is edited.
struct LayerPlan {
  MoELayer layer;
  /// Kept expert ids, ascending: new id i is old id keep[i].
  SmallVector<int64_t> keep;
  SmallVector<int64_t> pruned;
  /// Calibration selections of the pruned experts, of all selections.
  int64_t prunedUses = 0, totalUses = 0;
  /// criterion=enumeration only.
  std::optional<EnumerationResult> enumeration = std::nullopt;
};

/// Checks that `layer` can lose experts and that every value to slice is a
/// readable constant; the error is at the op that is in the way.
static LogicalResult checkPrunable(MoELayer layer, ArrayRef<int64_t> keep) {
  RouteOp route = layer.route;
  if (route.getMode() == RoutingMode::ExpertChoice)
    return route.emitError("cannot prune an expert-choice layer: its capacity "
                           "depends on the expert count");
  if (route.getNumGroups())
    return route.emitError("cannot prune a layer with group-limited routing: "
                           "its groups must stay equal in size");
  if (layer.dispatch.getExpertMap())
    return layer.dispatch.emitError(
        "cannot prune a layer whose experts were merged (expert_map): prune "
        "before merging");
  int64_t k = route.getK().value_or(1);
  // Experts masked out stay unselectable after renumbering.
  std::optional<ArrayRef<bool>> mask = route.getExpertMask();
  int64_t selectable =
      llvm::count_if(keep, [&](int64_t e) { return !mask || (*mask)[e]; });
  if (selectable < k)
    return route.emitError()
           << "keeping " << keep.size() << " experts leaves " << selectable
           << " selectable, fewer than k = " << k;
  if (!layer.gate->hasOneUse())
    return layer.gate.emitError("the router logits have users besides "
                                "moe.route; pruning would change them");
  auto requireConstant = [](Operation *op, Value v,
                            StringRef what) -> LogicalResult {
    if (!v || isSliceableConstant(v))
      return success();
    return op->emitError() << "cannot prune: the " << what
                           << " is not a constant the pass can slice";
  };
  if (failed(requireConstant(layer.gate, layer.gate.getWeight(),
                             "router weight")) ||
      failed(
          requireConstant(layer.gate, layer.gate.getBias(), "router bias")) ||
      failed(
          requireConstant(route, route.getSelectionBias(), "selection bias")))
    return failure();
  if (layer.experts.isStacked()) {
    for (Value w : layer.experts.getWeights())
      if (failed(requireConstant(layer.experts, w, "expert weight")))
        return failure();
    for (Value b : layer.experts.getBiases())
      if (failed(requireConstant(layer.experts, b, "expert bias")))
        return failure();
  }
  return success();
}

/// Per-expert weights (and biases) of the kept experts only; the op is
/// rebuilt because its operand segment sizes change.
static void dropPerExpertOperands(ExpertsOp experts, ArrayRef<int64_t> keep) {
  unsigned stages = experts.getNumStages();
  auto subset = [&](OperandRange values) {
    SmallVector<Value> kept;
    if (values.empty())
      return kept;
    for (int64_t e : keep)
      for (unsigned s = 0; s < stages; ++s)
        kept.push_back(values[e * stages + s]);
    return kept;
  };
  SmallVector<Value> weights = subset(experts.getWeights());
  SmallVector<Value> biases = subset(experts.getBiases());
  SmallVector<Value> operands = {experts.getRows(), experts.getOffsets()};
  llvm::append_range(operands, weights);
  llvm::append_range(operands, biases);

  OpBuilder builder(experts);
  OperationState state(experts.getLoc(), experts->getName());
  state.addOperands(operands);
  state.addTypes(experts.getResult().getType());
  NamedAttrList attrs(experts->getAttrDictionary());
  attrs.set(ExpertsOp::getOperandSegmentSizesAttrName(state.name),
            builder.getDenseI32ArrayAttr(
                {1, 1, int32_t(weights.size()), int32_t(biases.size())}));
  state.addAttributes(attrs);
  Operation *rebuilt = builder.create(state);
  SmallVector<Value> old(experts->getOperands());
  experts.getResult().replaceAllUsesWith(rebuilt->getResult(0));
  experts.erase();
  for (Value v : old)
    eraseIfUnused(v);
}

static void replaceWithSlice(OpOperand &operand, int64_t dim,
                             ArrayRef<int64_t> keep, StringRef suffix) {
  Value old = operand.get();
  OpBuilder builder(old.getContext());
  operand.set(sliceConstant(builder, old, dim, keep, suffix));
  eraseIfUnused(old);
}

static void applyPlan(LayerPlan &plan) {
  MoELayer layer = plan.layer;
  ArrayRef<int64_t> keep = plan.keep;
  int64_t numKept = keep.size();
  StringRef suffix = ".pruned";
  MLIRContext *ctx = layer.route.getContext();

  // Router: rows (or columns, [H, E] layout) and bias entries of kept
  // experts; the logits narrow to the kept experts.
  GateOp gate = layer.gate;
  replaceWithSlice(gate.getWeightMutable(), gate.getWeightTransposed() ? 1 : 0,
                   keep, suffix);
  if (gate.getBias())
    replaceWithSlice(gate.getBiasMutable()[0], 0, keep, suffix);
  auto logitsType = cast<RankedTensorType>(gate.getLogits().getType());
  gate.getLogits().setType(RankedTensorType::get(
      {logitsType.getDimSize(0), numKept}, logitsType.getElementType()));

  RouteOp route = layer.route;
  if (route.getSelectionBias())
    replaceWithSlice(route.getSelectionBiasMutable()[0], 0, keep, suffix);
  if (std::optional<ArrayRef<bool>> mask = route.getExpertMask()) {
    SmallVector<bool> kept;
    for (int64_t e : keep)
      kept.push_back((*mask)[e]);
    route.setExpertMaskAttr(DenseBoolArrayAttr::get(ctx, kept));
  }
  // Later tools (placement, merging, calibration of the pruned model) need
  // to know which original expert each new id is; repeated pruning
  // composes.
  SmallVector<int64_t> original(keep);
  if (auto prior = route->getAttrOfType<DenseI64ArrayAttr>(kOriginalExperts))
    for (int64_t &id : original)
      id = prior[id];
  route->setAttr(kOriginalExperts, DenseI64ArrayAttr::get(ctx, original));

  DispatchOp dispatch = layer.dispatch;
  dispatch.setNumExperts(numKept);
  auto offsetsType = cast<RankedTensorType>(dispatch.getOffsets().getType());
  dispatch.getOffsets().setType(
      RankedTensorType::get({numKept + 1}, offsetsType.getElementType()));

  ExpertsOp experts = layer.experts;
  if (!experts.isStacked()) {
    dropPerExpertOperands(experts, keep);
    return;
  }
  for (OpOperand &w : experts.getWeightsMutable())
    replaceWithSlice(w, 0, keep, suffix);
  for (OpOperand &b : experts.getBiasesMutable())
    replaceWithSlice(b, 0, keep, suffix);
}

struct MoEPruneExpertsPass
    : moe::impl::MoEPruneExpertsBase<MoEPruneExpertsPass> {
  using Base::Base;

  /// criterion=enumeration for one layer: every `count`-subset of the
  /// selectable experts, the one whose layer output on the calibration
  /// input sample moves least (ties, within 1e-9 of the output's norm, to
  /// the first in id order).
  FailureOr<EnumerationResult> enumerate(MoELayer layer,
                                         const LayerCalibration &calib,
                                         int64_t index, int64_t count,
                                         ArrayRef<int64_t> frequencyKeep) {
    if (calib.numInputRows == 0)
      return emitError(layer.route.getLoc())
             << "criterion=enumeration needs layer inputs: calibration "
                "statistics '"
             << stats << "' have no input_sample for layer " << index
             << " (calibrate with --input-sample N)";
    std::optional<ArrayRef<bool>> mask = layer.route.getExpertMask();
    SmallVector<int64_t> selectable, masked;
    for (int64_t e = 0; e < calib.numExperts; ++e)
      (!mask || (*mask)[e] ? selectable : masked).push_back(e);
    // Masked-out experts never change the output: they are pruned first
    // (as by frequency), and only the selectable ones are enumerated.
    int64_t choose = std::min<int64_t>(count, selectable.size());
    std::optional<int64_t> subsets =
        binomialUpTo(selectable.size(), choose, maxSubsets);
    if (!subsets)
      return emitError(layer.route.getLoc())
             << "criterion=enumeration would try C(" << selectable.size()
             << ", " << choose << ") subsets of experts in layer " << index
             << ", more than max-subsets = " << int64_t(maxSubsets)
             << "; use criterion=frequency or raise max-subsets";
    FailureOr<OutputError> model = OutputError::create(layer, calib);
    if (failed(model))
      return failure();

    EnumerationResult result;
    result.subsets = *subsets;
    result.rows = model->numRows();
    result.fullNorm = model->fullNorm();
    double tolerance = 1e-9 * result.fullNorm;
    bool first = true;
    forEachSubset(selectable, choose, [&](ArrayRef<int64_t> subset) {
      double error = model->error(subset);
      if (first || error < result.error - tolerance) {
        result.error = error;
        result.keep.assign(subset.begin(), subset.end());
        first = false;
      }
    });
    result.keep.append(masked.begin(),
                       masked.begin() + (count - result.keep.size()));
    llvm::sort(result.keep);
    result.frequencyKeep.assign(frequencyKeep.begin(), frequencyKeep.end());
    result.frequencyError = model->error(frequencyKeep);
    return result;
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Location loc = module.getLoc();
    bool byEnumeration = criterion == "enumeration";
    if (criterion != "frequency" && !byEnumeration) {
      emitError(loc) << "--moe-prune-experts: unknown criterion '" << criterion
                     << "' (supported: frequency, enumeration)";
      return signalPassFailure();
    }
    if (keep <= 0 && !(keepFraction > 0.0 && keepFraction <= 1.0)) {
      emitError(loc, "--moe-prune-experts needs keep=<count> or "
                     "keep-fraction=<(0, 1]>");
      return signalPassFailure();
    }
    FailureOr<CalibratedLayers> calibrated =
        loadCalibratedLayers(module, stats, getArgument());
    if (failed(calibrated))
      return signalPassFailure();

    // Decide and check everything first: a refused layer leaves the whole
    // module as it was.
    std::vector<LayerPlan> plans;
    for (auto [index, pair] :
         llvm::enumerate(llvm::zip(calibrated->layers, calibrated->stats))) {
      auto [layer, calib] = pair;
      int64_t numExperts = calib.numExperts;
      int64_t count =
          keep > 0 ? keep
                   : int64_t(std::ceil(keepFraction * double(numExperts)));
      count = std::min(count, numExperts);
      if (count == numExperts)
        continue;
      // Masked-out experts are never selected: they go first, before
      // unused selectable ones.
      SmallVector<double> rank(calib.usage.begin(), calib.usage.end());
      if (std::optional<ArrayRef<bool>> mask = layer.route.getExpertMask())
        for (auto [e, selectable] : llvm::enumerate(*mask))
          if (!selectable)
            rank[e] = -1;
      LayerPlan plan{layer, topRanked(rank, count), {}};
      if (failed(checkPrunable(layer, plan.keep)))
        return signalPassFailure();
      if (byEnumeration) {
        FailureOr<EnumerationResult> found =
            enumerate(layer, calib, index, count, plan.keep);
        if (failed(found))
          return signalPassFailure();
        plan.keep = found->keep;
        plan.enumeration = std::move(*found);
      }
      for (int64_t e = 0; e < numExperts; ++e) {
        plan.totalUses += calib.usage[e];
        if (llvm::is_contained(plan.keep, e))
          continue;
        plan.pruned.push_back(e);
        plan.prunedUses += calib.usage[e];
      }
      plans.push_back(std::move(plan));
    }

    for (LayerPlan &plan : plans) {
      auto list = [](ArrayRef<int64_t> ids) {
        std::string text;
        llvm::raw_string_ostream os(text);
        llvm::interleaveComma(ids, os);
        return text;
      };
      plan.layer.route.emitRemark()
          << "pruned experts [" << list(plan.pruned) << "] of "
          << plan.keep.size() + plan.pruned.size() << ", kept "
          << plan.keep.size() << "; they had " << plan.prunedUses << " of "
          << plan.totalUses << " calibration selections";
      if (const std::optional<EnumerationResult> &e = plan.enumeration) {
        plan.layer.route.emitRemark() << llvm::formatv(
            "enumeration of {0} subsets on {1} sample tokens: kept [{2}], "
            "output error {3:E3} (||Z_full|| = {4:E3}); the frequency choice "
            "[{5}] has error {6:E3}",
            e->subsets, e->rows, list(plan.keep), e->error, e->fullNorm,
            list(e->frequencyKeep), e->frequencyError);
      }
      applyPlan(plan);
    }
  }
};

} // namespace
