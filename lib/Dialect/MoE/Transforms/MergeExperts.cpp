//===- MergeExperts.cpp - MC-SMoE expert merging from calibration ---------===//

#include "ConstantSlicing.h"
#include "ExpertMerging.h"
#include "ExpertWeights.h"

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Calibration.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <map>
#include <numeric>

namespace moe {
#define GEN_PASS_DEF_MOEMERGEEXPERTS
#include "moe/Dialect/MoE/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace moe;

namespace {

/// Discardable attributes: the original ids of pruned experts (on the
/// route, written by --moe-prune-experts) and the original member ids of
/// every merged expert (on moe.experts).
constexpr llvm::StringLiteral kOriginalExperts = "moe.original_experts";
constexpr llvm::StringLiteral kMergedExperts = "moe.merged_experts";

/// What to do with one layer, decided and computed before anything is
/// edited so that a refused layer leaves the module as it was.
struct MergePlan {
  MoELayer layer;
  /// New expert n holds the original ids groups[n], its reference (the
  /// dominant expert, or an expert that could not be merged) first.
  SmallVector<SmallVector<int64_t>> groups;
  /// Original id -> new expert.
  SmallVector<int64_t> expertMap;
  /// The weights of every new expert.
  SmallVector<ExpertFFN> merged;
  /// New experts that are an original expert unchanged (operands reused).
  SmallVector<bool> unchanged;
  /// Remarks besides the summary (unmergeable experts, unused groups).
  SmallVector<std::string> notes;
  int64_t movedNeurons = 0;
  /// With align-only: the groups the experts were aligned in.
  SmallVector<SmallVector<int64_t>> alignedGroups;
};

static HiddenLayout hiddenLayout(ExpertsOp experts) {
  std::optional<GateLayout> layout = experts.getGateLayout();
  if (!layout)
    return HiddenLayout::Ungated;
  switch (*layout) {
  case GateLayout::Separate:
    return HiddenLayout::Separate;
  case GateLayout::Interleaved:
    return HiddenLayout::Interleaved;
  case GateLayout::Concatenated:
    return HiddenLayout::Concatenated;
  }
  llvm_unreachable("unknown gate layout");
}

/// Every expert's weights in [in, out] layout; the error names the weight
/// that is not a readable float constant.
static FailureOr<SmallVector<ExpertFFN>> readExperts(ExpertsOp experts) {
  FailureOr<ExpertWeights> weights =
      ExpertWeights::read(experts, [&](StringRef what, unsigned index) {
        return experts.emitError()
               << "cannot merge: " << what << " #" << index
               << " is not an f32/f16/bf16 constant the pass can read";
      });
  if (failed(weights))
    return failure();
  SmallVector<ExpertFFN> result(weights->numExperts());
  for (auto [e, ffn] : llvm::enumerate(result)) {
    for (unsigned s = 0; s < weights->numStages(); ++s) {
      ffn.weights.push_back(weights->matrix(e, s));
      if (weights->hasBiases())
        ffn.biases.push_back(weights->bias(e, s));
    }
  }
  return result;
}

/// Usage normalized by the layer's selections; experts that `expert_mask`
/// removes rank below every selectable one.
static SmallVector<double> usageRank(MoELayer layer,
                                     const LayerCalibration &calib) {
  double total = std::accumulate(calib.usage.begin(), calib.usage.end(), 0.0);
  SmallVector<double> rank;
  for (int64_t u : calib.usage)
    rank.push_back(total > 0 ? double(u) / total : 0.0);
  if (std::optional<ArrayRef<bool>> mask = layer.route.getExpertMask())
    for (auto [e, selectable] : llvm::enumerate(*mask))
      if (!selectable)
        rank[e] = -1;
  return rank;
}

/// Checks what the pass cannot merge; the error is at the op in the way.
static LogicalResult checkMergeable(MoELayer layer) {
  RouteOp route = layer.route;
  if (route.getMode() == RoutingMode::ExpertChoice)
    return route.emitError("cannot merge experts of an expert-choice layer: "
                           "its capacity depends on the expert count");
  if (route.getNumGroups())
    return route.emitError("cannot merge experts of a layer with "
                           "group-limited routing: its groups are sets of "
                           "experts");
  DispatchOp dispatch = layer.dispatch;
  if (dispatch.getExpertMap())
    return dispatch.emitError("the experts of this layer are already merged "
                              "(expert_map)");
  if (dispatch.getCapacity())
    return dispatch.emitError("cannot merge experts of a capacity-limited "
                              "dispatch: a merged expert would drop tokens "
                              "that its members kept");
  if (layer.experts.getNumExperts() != route.getNumExperts())
    return layer.experts.emitError()
           << "the layer routes to " << route.getNumExperts()
           << " experts but moe.experts holds "
           << layer.experts.getNumExperts();
  return success();
}

static std::string idList(ArrayRef<int64_t> ids) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "[";
  llvm::interleaveComma(ids, os);
  os << "]";
  return text;
}

/// Step 3: each other expert joins the dominant expert of its width whose
/// router-logit column is most similar, ties to the lower index; new expert
/// n is the group of the n-th reference in id order.
static void groupExperts(MergePlan &plan, const LayerCalibration &calib,
                         ArrayRef<int64_t> dominantIds,
                         ArrayRef<ExpertFFN> experts) {
  int64_t numExperts = calib.numExperts;
  auto width = [&](int64_t e) { return experts[e].hiddenWidth(); };
  SmallVector<int64_t> reference(numExperts, -1);
  for (int64_t d : dominantIds)
    reference[d] = d;
  for (int64_t e = 0; e < numExperts; ++e) {
    if (reference[e] >= 0)
      continue;
    int64_t best = -1;
    for (int64_t d : dominantIds) {
      if (width(d) != width(e))
        continue;
      double sim = calib.logitSimilarity[e * numExperts + d];
      if (best < 0 || sim > calib.logitSimilarity[e * numExperts + best])
        best = d;
    }
    if (best < 0) {
      plan.notes.push_back(
          llvm::formatv("expert {0} (hidden width {1}) cannot be merged: no "
                        "dominant expert has its width; it stays its own "
                        "expert",
                        e, width(e)));
      best = e;
    }
    reference[e] = best;
  }
  plan.expertMap.assign(numExperts, -1);
  for (int64_t e = 0; e < numExperts; ++e) {
    if (reference[e] != e)
      continue;
    plan.expertMap[e] = plan.groups.size();
    plan.groups.push_back({e});
  }
  for (int64_t e = 0; e < numExperts; ++e)
    if (reference[e] != e) {
      plan.expertMap[e] = plan.expertMap[reference[e]];
      plan.groups[plan.expertMap[e]].push_back(e);
    }
}

struct MoEMergeExpertsPass
    : moe::impl::MoEMergeExpertsBase<MoEMergeExpertsPass> {
  using Base::Base;

  void runOnOperation() override;

  /// ceil(keep-fraction * count), not counting the rounding error of the
  /// product (0.3 * 10 keeps 3).
  int64_t fractionOf(int64_t count) const {
    return int64_t(std::ceil(keepFraction * double(count) - 1e-9));
  }

  /// Dominant experts of every layer, ascending ids.
  SmallVector<SmallVector<int64_t>>
  chooseDominant(ArrayRef<MoELayer> layers,
                 ArrayRef<LayerCalibration> stats) const;

  /// Groups, alignment and merged weights of one layer.
  FailureOr<MergePlan> planLayer(MoELayer layer, int64_t index,
                                 const LayerCalibration &calib,
                                 ArrayRef<int64_t> dominantIds) const;
};

SmallVector<SmallVector<int64_t>>
MoEMergeExpertsPass::chooseDominant(ArrayRef<MoELayer> layers,
                                    ArrayRef<LayerCalibration> stats) const {
  SmallVector<SmallVector<int64_t>> chosen;
  SmallVector<SmallVector<double>> ranks;
  int64_t allExperts = 0;
  for (auto [layer, calib] : llvm::zip(layers, stats)) {
    ranks.push_back(usageRank(layer, calib));
    allExperts += calib.numExperts;
  }
  if (this->dominant == "per-layer") {
    for (auto [rank, calib] : llvm::zip(ranks, stats)) {
      int64_t count = keep > 0 ? keep : fractionOf(calib.numExperts);
      chosen.push_back(
          topRanked(rank, std::clamp<int64_t>(count, 1, calib.numExperts)));
    }
    return chosen;
  }
  // Global: one threshold on normalized usage over all layers' experts,
  // after each layer's most used expert (at least one per layer).
  int64_t budget = keep > 0 ? keep : fractionOf(allExperts);
  SmallVector<std::pair<int64_t, int64_t>> candidates;
  for (auto [l, rank] : llvm::enumerate(ranks)) {
    chosen.push_back(topRanked(rank, 1));
    --budget;
    for (int64_t e = 0, n = rank.size(); e < n; ++e)
      if (e != chosen.back().front())
        candidates.push_back({int64_t(l), e});
  }
  llvm::stable_sort(candidates, [&](auto a, auto b) {
    return ranks[a.first][a.second] > ranks[b.first][b.second];
  });
  for (auto [l, e] : candidates) {
    if (budget-- <= 0)
      break;
    chosen[l].push_back(e);
  }
  for (SmallVector<int64_t> &ids : chosen)
    llvm::sort(ids);
  return chosen;
}

FailureOr<MergePlan>
MoEMergeExpertsPass::planLayer(MoELayer layer, int64_t index,
                               const LayerCalibration &calib,
                               ArrayRef<int64_t> dominantIds) const {
  if (failed(checkMergeable(layer)))
    return failure();
  int64_t numExperts = calib.numExperts;
  if ((int64_t)dominantIds.size() < numExperts && calib.logitSimilarity.empty())
    return layer.route.emitError()
           << "cannot group experts: layer " << index
           << " of the statistics has no logit_similarity";
  FailureOr<SmallVector<ExpertFFN>> experts = readExperts(layer.experts);
  if (failed(experts))
    return failure();
  HiddenLayout layout = hiddenLayout(layer.experts);

  MergePlan plan;
  plan.layer = layer;
  groupExperts(plan, calib, dominantIds, *experts);

  // Steps 4-5: align each member's neurons to the reference, then average.
  // Only members that alignment moved get a copy.
  std::map<int64_t, ExpertFFN> aligned;
  for (ArrayRef<int64_t> group : plan.groups) {
    const ExpertFFN &ref = (*experts)[group.front()];
    SmallVector<const ExpertFFN *> members = {&ref};
    for (int64_t m : group.drop_front()) {
      const ExpertFFN &member = (*experts)[m];
      members.push_back(&member);
      if (!align)
        continue;
      std::vector<long> perm =
          maxCostAssignment(alignmentCost(ref, member, layout));
      int64_t moved = 0;
      for (auto [i, p] : llvm::enumerate(perm))
        moved += long(i) != p;
      if (!moved)
        continue;
      plan.movedNeurons += moved;
      members.back() = &(aligned[m] = permuteHidden(member, layout, perm));
    }
    if (alignOnly)
      continue;
    if (group.size() == 1) {
      plan.merged.push_back(std::move((*experts)[group.front()]));
      plan.unchanged.push_back(true);
      continue;
    }
    SmallVector<double> weights;
    for (int64_t m : group)
      weights.push_back(weighting == "uniform" ? 1.0 : double(calib.usage[m]));
    if (llvm::all_of(weights, [](double w) { return w == 0; })) {
      plan.notes.push_back(
          llvm::formatv("the group of expert {0} ({1}) had no calibration "
                        "selections: its members are averaged uniformly",
                        group.front(), idList(group)));
      weights.assign(group.size(), 1.0);
    }
    plan.merged.push_back(weightedAverage(members, weights));
    plan.unchanged.push_back(false);
  }
  if (alignOnly) {
    // Debug: every expert stays, aligned to its group's reference; the
    // module must compute what it did (alignment keeps each function).
    plan.alignedGroups = std::move(plan.groups);
    plan.groups.clear();
    for (int64_t e = 0; e < numExperts; ++e) {
      auto moved = aligned.find(e);
      plan.groups.push_back({e});
      plan.expertMap[e] = e;
      plan.unchanged.push_back(moved == aligned.end());
      plan.merged.push_back(
          std::move(moved == aligned.end() ? (*experts)[e] : moved->second));
    }
  }
  return plan;
}

/// Replaces the layer's expert weights by the plan's: stacked weights get
/// new [E', ...] constants, per-expert weights one constant per changed
/// expert (unchanged experts keep their operands).
static void rewriteWeights(MergePlan &plan) {
  ExpertsOp experts = plan.layer.experts;
  bool stacked = experts.isStacked(),
       transposed = experts.getTransposedWeights();
  unsigned stages = experts.getNumStages();
  int64_t numMerged = plan.merged.size();
  OpBuilder builder(experts);
  // Stored layout of `m` ([in, out], or [out, in] when transposed), row-major.
  auto storedValues = [&](const Eigen::MatrixXf &m, float *out) {
    if (transposed)
      Eigen::Map<RowMajorMatrixXf>(out, m.cols(), m.rows()) = m.transpose();
    else
      Eigen::Map<RowMajorMatrixXf>(out, m.rows(), m.cols()) = m;
  };
  auto newConstant = [&](Value like, ArrayRef<int64_t> shape,
                         ArrayRef<float> values) {
    auto type = RankedTensorType::get(
        shape, cast<RankedTensorType>(like.getType()).getElementType());
    return createFloatConstant(builder, like, type, values,
                               constantName(like) + ".merged");
  };

  SmallVector<Value> oldOperands(experts->getOperands());
  SmallVector<Value> weights, biases;
  bool hasBias = !experts.getBiases().empty();
  if (stacked) {
    for (unsigned s = 0; s < stages; ++s) {
      Value old = experts.getWeights()[s];
      ArrayRef<int64_t> shape =
          cast<RankedTensorType>(old.getType()).getShape();
      int64_t size = shape[1] * shape[2];
      std::vector<float> values(numMerged * size);
      for (int64_t n = 0; n < numMerged; ++n)
        storedValues(plan.merged[n].weights[s], values.data() + n * size);
      weights.push_back(
          newConstant(old, {numMerged, shape[1], shape[2]}, values));
      if (!hasBias)
        continue;
      Value oldBias = experts.getBiases()[s];
      int64_t width = cast<RankedTensorType>(oldBias.getType()).getDimSize(1);
      std::vector<float> bias(numMerged * width);
      for (int64_t n = 0; n < numMerged; ++n)
        Eigen::Map<Eigen::VectorXf>(bias.data() + n * width, width) =
            plan.merged[n].biases[s];
      biases.push_back(newConstant(oldBias, {numMerged, width}, bias));
    }
  } else {
    for (int64_t n = 0; n < numMerged; ++n) {
      int64_t first = plan.groups[n].front();
      for (unsigned s = 0; s < stages; ++s) {
        Value old = experts.getWeights()[first * stages + s];
        Value oldBias =
            hasBias ? experts.getBiases()[first * stages + s] : Value();
        if (plan.unchanged[n]) {
          weights.push_back(old);
          if (hasBias)
            biases.push_back(oldBias);
          continue;
        }
        const Eigen::MatrixXf &m = plan.merged[n].weights[s];
        std::vector<float> values(m.size());
        storedValues(m, values.data());
        weights.push_back(newConstant(
            old, cast<RankedTensorType>(old.getType()).getShape(), values));
        if (!hasBias)
          continue;
        const Eigen::VectorXf &b = plan.merged[n].biases[s];
        biases.push_back(newConstant(oldBias, {b.size()},
                                     ArrayRef<float>(b.data(), b.size())));
      }
    }
  }
  SmallVector<Value> operands = {experts.getRows(), experts.getOffsets()};
  llvm::append_range(operands, weights);
  llvm::append_range(operands, biases);
  experts->setOperands(operands);
  experts.getProperties().operandSegmentSizes = {1, 1, int32_t(weights.size()),
                                                 int32_t(biases.size())};
  for (Value v : oldOperands)
    eraseIfUnused(v);
}

static void applyPlan(MergePlan &plan) {
  MoELayer layer = plan.layer;
  MLIRContext *ctx = layer.route.getContext();
  int64_t numMerged = plan.merged.size();
  DispatchOp dispatch = layer.dispatch;
  if (numMerged != layer.experts.getNumExperts()) {
    dispatch.setNumExperts(numMerged);
    dispatch.setExpertMapAttr(DenseI64ArrayAttr::get(ctx, plan.expertMap));
    auto offsetsType = cast<RankedTensorType>(dispatch.getOffsets().getType());
    dispatch.getOffsets().setType(
        RankedTensorType::get({numMerged + 1}, offsetsType.getElementType()));
  }
  rewriteWeights(plan);

  // Provenance in the ids of the original model (through earlier pruning).
  auto prior = layer.route->getAttrOfType<DenseI64ArrayAttr>(kOriginalExperts);
  SmallVector<Attribute> members;
  for (ArrayRef<int64_t> group : plan.groups) {
    SmallVector<int64_t> ids(group);
    llvm::sort(ids);
    if (prior)
      for (int64_t &id : ids)
        id = prior[id];
    members.push_back(DenseI64ArrayAttr::get(ctx, ids));
  }
  layer.experts->setAttr(kMergedExperts, ArrayAttr::get(ctx, members));
}

void MoEMergeExpertsPass::runOnOperation() {
  ModuleOp module = getOperation();
  Location loc = module.getLoc();
  auto fail = [&](const Twine &msg) {
    emitError(loc) << "--moe-merge-experts: " << msg;
    signalPassFailure();
  };
  if (keep <= 0 && !(keepFraction > 0.0 && keepFraction <= 1.0))
    return fail("needs keep=<count> or keep-fraction=<(0, 1]>");
  if (dominant != "per-layer" && dominant != "global")
    return fail("unknown dominant='" + dominant +
                "' (supported: per-layer, global)");
  if (weighting != "frequency" && weighting != "uniform")
    return fail("unknown weighting='" + weighting +
                "' (supported: frequency, uniform)");
  FailureOr<CalibratedLayers> calibrated =
      loadCalibratedLayers(module, stats, getArgument());
  if (failed(calibrated))
    return signalPassFailure();
  ArrayRef<MoELayer> layers = calibrated->layers;
  ArrayRef<LayerCalibration> calibration = calibrated->stats;

  SmallVector<SmallVector<int64_t>> dominantIds =
      chooseDominant(layers, calibration);
  std::vector<MergePlan> plans;
  for (auto [index, layer] : llvm::enumerate(layers)) {
    if ((int64_t)dominantIds[index].size() == calibration[index].numExperts &&
        !alignOnly)
      continue;
    FailureOr<MergePlan> plan =
        planLayer(layer, index, calibration[index], dominantIds[index]);
    if (failed(plan))
      return signalPassFailure();
    plans.push_back(std::move(*plan));
  }

  for (MergePlan &plan : plans) {
    ArrayRef<SmallVector<int64_t>> groups =
        alignOnly ? plan.alignedGroups : plan.groups;
    std::string summary;
    llvm::raw_string_ostream os(summary);
    for (auto [n, group] : llvm::enumerate(groups))
      os << (n ? ", " : "") << (alignOnly ? "" : std::to_string(n) + " = ")
         << idList(group);
    InFlightDiagnostic remark = plan.layer.route.emitRemark();
    if (alignOnly)
      remark << "aligned experts to their group's reference without merging ";
    else
      remark << "merged " << plan.expertMap.size() << " experts into "
             << plan.merged.size() << " ";
    remark << "(" << (align ? "aligned" : "not aligned") << ", " << weighting
           << " weights): " << summary << "; alignment moved "
           << plan.movedNeurons << " hidden neurons";
    remark.report();
    for (const std::string &note : plan.notes)
      plan.layer.route.emitRemark(note);
    applyPlan(plan);
  }
}

} // namespace
