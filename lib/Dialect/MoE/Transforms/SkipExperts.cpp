//===- SkipExperts.cpp - calibrated dynamic expert skipping ---------------===//
//
// MOE_REFERENCE §5: the second expert of a token is dropped when its weight
// is below beta_l times the first's. The decision is per token at run time,
// so the pass only sets moe.route's skip_ratio; beta_l comes from the
// calibration median of w1 / w0.
//
//===----------------------------------------------------------------------===//

#include "ConstantSlicing.h"
#include "RoutingEvaluator.h"

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Calibration.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

namespace moe {
#define GEN_PASS_DEF_MOESKIPEXPERTS
#include "moe/Dialect/MoE/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace moe;

namespace {

/// The routing op to mark and its threshold, decided before any edit.
struct SkipPlan {
  Operation *op;
  double beta;
  /// Recorded tokens whose second slot is used without skipping, and those
  /// of them that skipping drops (only with recorded logits).
  std::optional<std::pair<int64_t, int64_t>> skipped;
};

/// A routing op (moe.route or moe.fused_route) that can skip slots.
template <typename OpT> LogicalResult checkSkippable(OpT op) {
  if (op.getMode() != RoutingMode::TokenChoice)
    return op.emitError() << "dynamic expert skipping needs token_choice "
                             "routing, this layer uses "
                          << stringifyRoutingMode(op.getMode());
  int64_t k = op.getK().value_or(1);
  if (k < 2)
    return op.emitError() << "dynamic expert skipping needs k >= 2 (it drops "
                             "slots after the first), this layer has k = "
                          << k;
  return success();
}

/// Of the recorded tokens whose second slot is used, how many skipping
/// with `beta` drops; none when the selection bias is not a constant.
std::optional<std::pair<int64_t, int64_t>>
countSkipped(RouteOp route, const LayerCalibration &calib, double beta) {
  SmallVector<double> bias;
  if (Value b = route.getSelectionBias()) {
    FailureOr<std::vector<float>> values = readFloatConstant(b);
    if (failed(values))
      return std::nullopt;
    bias.assign(values->begin(), values->end());
  }
  RoutingEvaluator plain(route), skipping(route);
  plain.skipRatio.reset();
  skipping.skipRatio = beta;
  int64_t numExperts = calib.numExperts, used = 0, dropped = 0;
  SmallVector<double> weights(plain.k);
  SmallVector<int64_t> before(plain.k), after(plain.k);
  for (int64_t t = 0; t < calib.numLogitRows; ++t) {
    ArrayRef<double> logits(calib.routerLogits.data() + t * numExperts,
                            numExperts);
    plain.route(logits, bias, weights, before);
    skipping.route(logits, bias, weights, after);
    if (before[1] < 0)
      continue;
    ++used;
    dropped += after[1] < 0;
  }
  return std::make_pair(used, dropped);
}

struct MoESkipExpertsPass : moe::impl::MoESkipExpertsBase<MoESkipExpertsPass> {
  using Base::Base;

  LogicalResult checkBeta(Location loc, double value, const Twine &source) {
    if (value >= 0 && value <= 1)
      return success();
    return emitError(loc) << "--moe-skip-experts: " << source << " is " << value
                          << ", outside [0, 1]";
  }

  /// Without statistics: every routing op gets the one beta.
  LogicalResult planFromOption(ModuleOp module, SmallVector<SkipPlan> &plans) {
    WalkResult walk = module.walk([&](Operation *op) {
      LogicalResult checked = success();
      if (auto route = dyn_cast<RouteOp>(op))
        checked = checkSkippable(route);
      else if (auto fused = dyn_cast<FusedRouteOp>(op))
        checked = checkSkippable(fused);
      else
        return WalkResult::advance();
      if (failed(checked))
        return WalkResult::interrupt();
      plans.push_back({op, beta, std::nullopt});
      return WalkResult::advance();
    });
    return failure(walk.wasInterrupted());
  }

  LogicalResult planFromStats(ModuleOp module, SmallVector<SkipPlan> &plans) {
    FailureOr<CalibratedLayers> calibrated =
        loadCalibratedLayers(module, stats, getArgument());
    if (failed(calibrated))
      return failure();
    for (auto [index, pair] :
         llvm::enumerate(llvm::zip(calibrated->layers, calibrated->stats))) {
      auto [layer, calib] = pair;
      if (failed(checkSkippable(layer.route)))
        return failure();
      double layerBeta = beta;
      if (beta < 0) {
        if (!calib.top2RatioMedian)
          return emitError(module.getLoc())
                 << "calibration statistics '" << stats << "': layer " << index
                 << " has no top2_ratio_median (no calibration token used a "
                    "second expert); give beta=";
        layerBeta = *calib.top2RatioMedian;
        if (failed(checkBeta(layer.route.getLoc(), layerBeta,
                             "layer " + Twine(index) + "'s top2_ratio_median")))
          return failure();
      }
      std::optional<std::pair<int64_t, int64_t>> skipped;
      if (calib.numLogitRows)
        skipped = countSkipped(layer.route, calib, layerBeta);
      plans.push_back({layer.route, layerBeta, skipped});
    }
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (beta >= 0 && failed(checkBeta(module.getLoc(), beta, "beta")))
      return signalPassFailure();
    if (stats.empty() && beta < 0) {
      emitError(module.getLoc(), "--moe-skip-experts needs stats=<file> "
                                 "(per-layer top2_ratio_median) or beta=");
      return signalPassFailure();
    }
    SmallVector<SkipPlan> plans;
    if (failed(stats.empty() ? planFromOption(module, plans)
                             : planFromStats(module, plans)))
      return signalPassFailure();

    Builder builder(module.getContext());
    for (auto [index, plan] : llvm::enumerate(plans)) {
      InFlightDiagnostic remark = plan.op->emitRemark();
      remark << llvm::formatv("layer {0}: skip_ratio {1:F4}", index, plan.beta);
      if (plan.skipped) {
        auto [used, dropped] = *plan.skipped;
        remark << llvm::formatv(
            "; skips {0} of {1} second slots ({2:F3}) on the recorded tokens",
            dropped, used, used ? double(dropped) / used : 0.0);
      }
      plan.op->setAttr("skip_ratio", builder.getF64FloatAttr(plan.beta));
    }
  }
};

} // namespace
