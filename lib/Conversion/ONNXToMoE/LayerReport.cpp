//===- LayerReport.cpp - what --onnx-raise-moe raised, as JSON ------------===//
//
// The report is the contract with tools outside the compiler (calibration
// scripts, dashboards): per raised layer, its kind, routing and expert
// shapes, and the ONNX names of the tensors and initializers it came from,
// so that a tool can hook the model's router logits or find the weights in
// the .onnx file. JSON via llvm/Support/JSON.h.
//
//===----------------------------------------------------------------------===//

#include "LayerReport.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;
namespace json = llvm::json;

/// The FFN width of each expert: the output width of its first stage (half
/// of it for a fused gate/up projection).
static json::Array expertWidths(ExpertsOp experts) {
  json::Array widths;
  bool fused = experts.getGateLayout() &&
               *experts.getGateLayout() != GateLayout::Separate;
  int64_t numExperts = experts.getNumExperts();
  for (int64_t e = 0; e < numExperts; ++e) {
    auto type = cast<RankedTensorType>(experts.getStageWeight(e, 0).getType());
    int64_t rank = type.getRank();
    int64_t out =
        type.getDimSize(experts.getTransposedWeights() ? rank - 2 : rank - 1);
    widths.push_back(fused ? out / 2 : out);
  }
  return widths;
}

static json::Object routingObject(RouteOp route) {
  json::Object r;
  r["mode"] = stringifyRoutingMode(route.getMode()).str();
  r["score"] = stringifyScoreFunction(route.getScore()).str();
  if (auto k = route.getK())
    r["k"] = int64_t(*k);
  r["renormalize"] = route.getRenormalize();
  r["epsilon"] = route.getEpsilonOrDefault();
  r["renormalize_clamp"] = route.getRenormalizeClamp();
  if (FloatAttr eps = route.getJitterEpsAttr())
    r["jitter_eps"] = eps.getValueAsDouble();
  r["scaling_factor"] = route.getScalingFactorOrDefault();
  r["selection_bias"] = bool(route.getSelectionBias());
  if (auto g = route.getNumGroups()) {
    r["num_groups"] = int64_t(*g);
    r["topk_groups"] = int64_t(route.getTopkGroups().value_or(1));
    r["group_topk"] = route.getGroupTopKOrDefault();
  }
  if (auto p = route.getTopP())
    r["top_p"] = p->convertToDouble();
  if (auto c = route.getCapacityFactor())
    r["capacity_factor"] = c->convertToDouble();
  return r;
}

static json::Object expertsObject(ExpertsOp experts) {
  json::Object x;
  x["activation"] = stringifyActivation(experts.getActivation()).str();
  if (auto layout = experts.getGateLayout())
    x["gate_layout"] = stringifyGateLayout(*layout).str();
  x["widths"] = expertWidths(experts);
  x["stacked"] = experts.isStacked();
  x["transposed_weights"] = experts.getTransposedWeights();
  x["biases"] = !experts.getBiases().empty();
  if (auto a = experts.getAlpha())
    x["alpha"] = a->convertToDouble();
  if (auto b = experts.getBeta())
    x["beta"] = b->convertToDouble();
  if (auto l = experts.getLimit())
    x["limit"] = l->convertToDouble();
  return x;
}

LogicalResult moe::detail::writeLayerReport(ArrayRef<RaisedLayer> layers,
                                            StringRef path, Location loc) {
  json::Array entries;
  for (auto [index, layer] : llvm::enumerate(layers)) {
    json::Object entry;
    entry["index"] = int64_t(index);
    entry["kind"] = layer.kind;
    entry["num_experts"] = layer.numExperts;
    RouteOp route = layer.route;
    ExpertsOp experts = layer.experts;
    if (route) {
      if (auto k = route.getK())
        entry["k"] = int64_t(*k);
      entry["routing"] = routingObject(route);
    }
    if (experts)
      entry["experts"] = expertsObject(experts);
    if (auto dispatch =
            experts ? experts.getRows().getDefiningOp<DispatchOp>() : nullptr)
      if (auto capacity = dispatch.getCapacity()) {
        entry["capacity"] = int64_t(*capacity);
        entry["drop_policy"] =
            stringifyDropPolicy(
                dispatch.getDropPolicy().value_or(DropPolicy::InOrder))
                .str();
      }
    json::Object tensors;
    tensors["input"] = layer.inputName;
    tensors["router_logits"] = layer.logitsName;
    tensors["output"] = layer.outputName;
    entry["tensors"] = std::move(tensors);
    json::Array weights;
    for (const std::string &name : layer.weightNames)
      weights.push_back(name);
    entry["weights"] = std::move(weights);
    if (!layer.routerWeightName.empty())
      entry["router_weight"] = layer.routerWeightName;
    if (!layer.selectionBiasName.empty())
      entry["selection_bias"] = layer.selectionBiasName;
    entries.push_back(std::move(entry));
  }
  json::Object root;
  root["layers"] = std::move(entries);

  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return emitError(loc) << "cannot write the MoE layer report '" << path
                          << "': " << ec.message();
  os << llvm::formatv("{0:2}", json::Value(std::move(root))) << "\n";
  return success();
}
