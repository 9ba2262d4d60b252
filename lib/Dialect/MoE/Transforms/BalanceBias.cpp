//===- BalanceBias.cpp - offline aux-loss-free balancing bias -------------===//
//
// MOE_REFERENCE §3 run on recorded router logits: the selection of every
// recorded token is recomputed here with the layer's routing attributes
// (the semantics of moe.route, python/moe_opt/reference.py), the expert loads
// counted, and the bias nudged toward balance.
//
//===----------------------------------------------------------------------===//

#include "RoutingEvaluator.h"

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Calibration.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/ONNX/IR/ONNX.h"
#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace moe {
#define GEN_PASS_DEF_MOEBALANCEBIAS
#include "moe/Dialect/MoE/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace moe;

namespace {

/// The selection part of a token-choice moe.route: the shared evaluator,
/// reduced to counting each expert's selections.
struct Selector {
  RoutingEvaluator routing;

  explicit Selector(RouteOp route) : routing(route) {
    // Only the selection counts: skipping would hide selected experts.
    routing.skipRatio.reset();
  }

  SmallVector<int64_t> loads(ArrayRef<double> logits, int64_t rows,
                             ArrayRef<double> bias) const {
    int64_t numExperts = routing.numExperts;
    SmallVector<int64_t> load(numExperts, 0);
    SmallVector<double> weights(routing.k);
    SmallVector<int64_t> ids(routing.k);
    for (int64_t t = 0; t < rows; ++t) {
      routing.route(logits.slice(t * numExperts, numExperts), bias, weights,
                    ids);
      for (int64_t id : ids)
        if (id >= 0)
          ++load[id];
    }
    return load;
  }
};

/// MaxVio = (max_i c_i - mean) / mean over the selectable experts.
double maxViolation(ArrayRef<int64_t> load, ArrayRef<bool> mask) {
  double total = 0, max = 0;
  int64_t count = 0;
  for (auto [e, c] : llvm::enumerate(load)) {
    if (!mask.empty() && !mask[e])
      continue;
    total += c;
    max = std::max(max, double(c));
    ++count;
  }
  double mean = count ? total / count : 0;
  return mean > 0 ? (max - mean) / mean : 0;
}

struct BalanceResult {
  SmallVector<double> bias;
  double before, after;
  int64_t iterations;
};

BalanceResult balance(const Selector &selector, ArrayRef<double> logits,
                      int64_t rows, SmallVector<double> bias, double target,
                      int64_t maxIterations, double rate) {
  bool sign = selector.routing.score == ScoreFunction::Sigmoid;
  SmallVector<int64_t> load = selector.loads(logits, rows, bias);
  BalanceResult result{bias, maxViolation(load, selector.routing.mask), 0, 0};
  result.after = result.before;
  int64_t iteration = 0;
  while (result.after > target && iteration < maxIterations) {
    double mean = 0;
    int64_t count = 0;
    for (auto [e, c] : llvm::enumerate(load))
      if (selector.routing.mask.empty() || selector.routing.mask[e]) {
        mean += c;
        ++count;
      }
    mean /= count;
    for (auto [e, c] : llvm::enumerate(load)) {
      double gap = mean - double(c);
      bias[e] += sign ? rate * ((gap > 0) - (gap < 0)) : rate * gap;
    }
    ++iteration;
    load = selector.loads(logits, rows, bias);
    // The sign update oscillates around balance: keep the best bias seen.
    double vio = maxViolation(load, selector.routing.mask);
    if (vio < result.after) {
      result.after = vio;
      result.bias = bias;
      result.iterations = iteration;
    }
  }
  return result;
}

struct MoEBalanceBiasPass : moe::impl::MoEBalanceBiasBase<MoEBalanceBiasPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Location loc = module.getLoc();
    FailureOr<CalibratedLayers> calibrated =
        loadCalibratedLayers(module, stats, getArgument());
    if (failed(calibrated))
      return signalPassFailure();

    // Check every layer before changing any.
    SmallVector<SmallVector<double>> initial;
    for (auto [index, pair] :
         llvm::enumerate(llvm::zip(calibrated->layers, calibrated->stats))) {
      auto [layer, calib] = pair;
      if (calib.numLogitRows == 0) {
        emitError(loc) << "calibration statistics '" << stats << "': layer "
                       << index
                       << " has no router_logits (calibrate with "
                          "--logits-sample N)";
        return signalPassFailure();
      }
      if (layer.route.getMode() != RoutingMode::TokenChoice) {
        layer.route.emitError("a selection bias needs token_choice routing");
        return signalPassFailure();
      }
      if (layer.route.getScore() == ScoreFunction::SparseMixer) {
        layer.route.emitError("sparsemixer routing takes no selection bias");
        return signalPassFailure();
      }
      SmallVector<double> bias(calib.numExperts, 0.0);
      if (Value b = layer.route.getSelectionBias()) {
        std::optional<SmallVector<double>> values = onnx::getConstantFloats(b);
        if (!values || (int64_t)values->size() != calib.numExperts) {
          layer.route.emitError("the selection bias is not a constant the "
                                "pass can start from");
          return signalPassFailure();
        }
        bias = *values;
      }
      initial.push_back(std::move(bias));
    }

    for (auto [index, pair] :
         llvm::enumerate(llvm::zip(calibrated->layers, calibrated->stats))) {
      auto [layer, calib] = pair;
      RouteOp route = layer.route;
      BalanceResult result =
          balance(Selector(route), calib.routerLogits, calib.numLogitRows,
                  initial[index], target, maxIterations, updateRate);
      route.emitRemark() << llvm::formatv(
          "layer {0}: MaxVio {1:F4} -> {2:F4} on {3} recorded tokens after "
          "{4} bias updates",
          index, result.before, result.after, calib.numLogitRows,
          result.iterations);

      auto logitsType = cast<RankedTensorType>(route.getLogits().getType());
      auto type = RankedTensorType::get({calib.numExperts},
                                        logitsType.getElementType());
      auto floatType = cast<FloatType>(type.getElementType());
      SmallVector<APFloat> values;
      for (double b : result.bias) {
        APFloat v(b);
        bool lost;
        v.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                  &lost);
        values.push_back(v);
      }
      OpBuilder builder(route);
      Value old = route.getSelectionBias();
      Value bias = onnx::ConstantOp::create(
          builder, route.getLoc(), DenseElementsAttr::get(type, values));
      if (old)
        route.getSelectionBiasMutable()[0].set(bias);
      else
        route.getSelectionBiasMutable().append(bias);
      if (auto def = old ? old.getDefiningOp<onnx::ConstantOp>() : nullptr)
        if (def->use_empty())
          def->erase();
    }
  }
};

} // namespace
