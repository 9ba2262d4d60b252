//===- Calibration.cpp - read and match calibration statistics ------------===//

#include "moe/Dialect/MoE/Transforms/Calibration.h"
#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <numeric>

using namespace mlir;
using namespace moe;
namespace json = llvm::json;

static constexpr llvm::StringLiteral kFormat = "moe-opt.calibration";

std::string moe::constantName(Value v) {
  Attribute value;
  if (auto c = v.getDefiningOp<onnx::ConstantOp>())
    value = c.getValue();
  else if (auto c = v.getDefiningOp<arith::ConstantOp>())
    value = c.getValue();
  if (auto res = dyn_cast_or_null<DenseResourceElementsAttr>(value))
    return res.getRawHandle().getKey().str();
  return "";
}

/// The ONNX name the importer recorded for a graph value (a node output or
/// a graph input), or "" (a value the raising created, e.g. a reshape).
static std::string onnxName(Value v) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    auto func = dyn_cast<FunctionOpInterface>(arg.getOwner()->getParentOp());
    if (!func)
      return "";
    auto name =
        func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "onnx.name");
    return name ? name.str() : "";
  }
  auto names = v.getDefiningOp()->getAttrOfType<ArrayAttr>("onnx.outputs");
  unsigned index = cast<OpResult>(v).getResultNumber();
  if (!names || index >= names.size())
    return "";
  auto name = dyn_cast<StringAttr>(names[index]);
  return name ? name.str() : "";
}

namespace {
/// Reads one layer's fields; `fail` reports a problem and returns failure.
struct LayerReader {
  const json::Object &obj;
  std::function<LogicalResult(const Twine &)> fail;

  LogicalResult intField(StringRef key, int64_t &out) {
    std::optional<int64_t> v = obj.getInteger(key);
    if (!v)
      return fail("'" + key + "' is missing or not an integer");
    out = *v;
    return success();
  }
};
} // namespace

/// Appends the rows of the number matrix `rows` ([n][width], field `key`)
/// to `out`, row-major.
static LogicalResult
readRows(const json::Array &rows, int64_t width, StringRef key,
         std::vector<double> &out,
         llvm::function_ref<LogicalResult(const Twine &)> fail) {
  for (const json::Value &row : rows) {
    const json::Array *values = row.getAsArray();
    if (!values || (int64_t)values->size() != width)
      return fail("'" + key + "' rows must have one number per expert");
    for (const json::Value &v : *values) {
      std::optional<double> d = v.getAsNumber();
      if (!d)
        return fail("'" + key + "' holds a non-number");
      out.push_back(*d);
    }
  }
  return success();
}

FailureOr<SmallVector<LayerCalibration, 0>> moe::loadCalibration(StringRef path,
                                                                 Location loc) {
  auto fail = [&](const Twine &msg) {
    return emitError(loc) << "calibration statistics '" << path << "': " << msg;
  };
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return fail("cannot read: " + buffer.getError().message());
  llvm::Expected<json::Value> root = json::parse((*buffer)->getBuffer());
  if (!root)
    return fail("not valid JSON: " + llvm::toString(root.takeError()));
  const json::Object *obj = root->getAsObject();
  if (!obj)
    return fail("the top level is not a JSON object");
  std::optional<StringRef> format = obj->getString("format");
  if (format != kFormat)
    return fail("'format' is " +
                (format ? "'" + format->str() + "'" : std::string("missing")) +
                ", expected '" + kFormat + "'");
  std::optional<int64_t> version = obj->getInteger("version");
  if (version != kCalibrationVersion)
    return fail("format version " +
                (version ? std::to_string(*version) : std::string("missing")) +
                ", this compiler reads version " +
                std::to_string(kCalibrationVersion));
  const json::Array *layers = obj->getArray("layers");
  if (!layers)
    return fail("'layers' is missing or not an array");

  SmallVector<LayerCalibration, 0> result;
  for (auto [index, value] : llvm::enumerate(*layers)) {
    auto layerFail = [&, index = index](const Twine &msg) {
      return fail("layer " + Twine(index) + ": " + msg);
    };
    const json::Object *entry = value.getAsObject();
    if (!entry)
      return layerFail("not a JSON object");
    LayerCalibration layer;
    LayerReader reader{*entry, layerFail};
    if (failed(reader.intField("num_experts", layer.numExperts)) ||
        failed(reader.intField("tokens", layer.tokens)))
      return failure();
    const json::Array *usage = entry->getArray("usage");
    if (!usage)
      return layerFail("'usage' is missing or not an array");
    for (const json::Value &count : *usage) {
      std::optional<int64_t> c = count.getAsInteger();
      if (!c || *c < 0)
        return layerFail("'usage' holds something other than counts");
      layer.usage.push_back(*c);
    }
    if ((int64_t)layer.usage.size() != layer.numExperts)
      return layerFail("'usage' has " + Twine(layer.usage.size()) +
                       " counts for " + Twine(layer.numExperts) + " experts");
    if (std::optional<StringRef> name = entry->getString("router_weight"))
      layer.routerWeight = name->str();
    if (const json::Object *tensors = entry->getObject("tensors"))
      if (std::optional<StringRef> name = tensors->getString("input"))
        layer.inputName = name->str();
    if (const json::Array *names = entry->getArray("weights"))
      for (const json::Value &name : *names)
        layer.weights.push_back(name.getAsString().value_or("").str());
    if (const json::Array *rows = entry->getArray("router_logits")) {
      if (failed(readRows(*rows, layer.numExperts, "router_logits",
                          layer.routerLogits, layerFail)))
        return failure();
      layer.numLogitRows = rows->size();
    }
    if (const json::Array *rows = entry->getArray("logit_similarity")) {
      if ((int64_t)rows->size() != layer.numExperts)
        return layerFail(
            "'logit_similarity' must be [num_experts][num_experts]");
      if (failed(readRows(*rows, layer.numExperts, "logit_similarity",
                          layer.logitSimilarity, layerFail)))
        return failure();
    }
    if (const json::Value *median = entry->get("top2_ratio_median"))
      if (median->kind() != json::Value::Null) {
        std::optional<double> d = median->getAsNumber();
        if (!d)
          return layerFail("'top2_ratio_median' is not a number");
        layer.top2RatioMedian = *d;
      }
    if (const json::Array *rows = entry->getArray("input_sample")) {
      for (const json::Value &row : *rows) {
        const json::Array *values = row.getAsArray();
        if (!values || values->empty() ||
            (layer.numInputRows && (int64_t)values->size() != layer.inputWidth))
          return layerFail("'input_sample' rows must be non-empty and of "
                           "one width");
        layer.inputWidth = values->size();
        for (const json::Value &v : *values) {
          std::optional<double> d = v.getAsNumber();
          if (!d)
            return layerFail("'input_sample' holds a non-number");
          layer.inputSample.push_back(float(*d));
        }
        ++layer.numInputRows;
      }
    }
    result.push_back(std::move(layer));
  }
  return result;
}

FailureOr<SmallVector<MoELayer>> moe::collectLayers(Operation *module) {
  SmallVector<MoELayer> layers;
  WalkResult walk = module->walk([&](Operation *op) {
    if (isa<FusedRouteOp>(op)) {
      op->emitError("calibrated passes edit moe.gate and moe.route: run them "
                    "before --moe-fuse-gating");
      return WalkResult::interrupt();
    }
    auto route = dyn_cast<RouteOp>(op);
    if (!route)
      return WalkResult::advance();
    MoELayer layer;
    layer.route = route;
    layer.gate = route.getLogits().getDefiningOp<GateOp>();
    if (!layer.gate) {
      route.emitError("the router logits do not come from moe.gate");
      return WalkResult::interrupt();
    }
    for (Operation *user : route.getIndices().getUsers()) {
      auto dispatch = dyn_cast<DispatchOp>(user);
      if (!dispatch || layer.dispatch) {
        route.emitError("the expert ids are used by something other than one "
                        "moe.dispatch");
        return WalkResult::interrupt();
      }
      layer.dispatch = dispatch;
    }
    if (!layer.dispatch) {
      route.emitError("the expert ids feed no moe.dispatch");
      return WalkResult::interrupt();
    }
    for (Operation *user : layer.dispatch.getOffsets().getUsers()) {
      auto experts = dyn_cast<ExpertsOp>(user);
      if (!experts || layer.experts) {
        layer.dispatch.emitError("the expert offsets are used by something "
                                 "other than one moe.experts");
        return WalkResult::interrupt();
      }
      layer.experts = experts;
    }
    if (!layer.experts) {
      layer.dispatch.emitError("the expert offsets feed no moe.experts");
      return WalkResult::interrupt();
    }
    layers.push_back(layer);
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  return layers;
}

LogicalResult moe::matchCalibration(ArrayRef<LayerCalibration> stats,
                                    ArrayRef<MoELayer> layers, StringRef path,
                                    Location loc) {
  auto fail = [&](const Twine &msg) {
    return emitError(loc) << "calibration statistics '" << path
                          << "' do not match the module: " << msg;
  };
  if (stats.size() != layers.size())
    return fail("they describe " + Twine(stats.size()) +
                " MoE layers, the module has " + Twine(layers.size()));
  for (auto [index, pair] : llvm::enumerate(llvm::zip(stats, layers))) {
    auto [s, constLayer] = pair;
    MoELayer layer = constLayer;
    int64_t numExperts = layer.route.getNumExperts();
    if (s.numExperts != numExperts)
      return fail("layer " + Twine(index) + " has " + Twine(s.numExperts) +
                  " experts in the statistics, " + Twine(numExperts) +
                  " in the module");
    // Names are compared only where both sides know them: inline constants
    // and IR written by hand have none.
    std::string router = constantName(layer.gate.getWeight());
    if (!s.routerWeight.empty() && !router.empty() && s.routerWeight != router)
      return fail("layer " + Twine(index) + "'s router weight is '" +
                  s.routerWeight + "' in the statistics, '" + router +
                  "' in the module");
    std::string input = onnxName(layer.gate.getInput());
    if (!s.inputName.empty() && !input.empty() && s.inputName != input)
      return fail("layer " + Twine(index) + "'s input is '" + s.inputName +
                  "' in the statistics, '" + input + "' in the module");
    auto weights = layer.experts.getWeights();
    if (!s.weights.empty() && s.weights.size() != weights.size())
      return fail("layer " + Twine(index) + " has " + Twine(s.weights.size()) +
                  " expert weights in the statistics, " +
                  Twine(weights.size()) + " in the module");
    for (auto [i, name] : llvm::enumerate(s.weights)) {
      std::string actual = constantName(weights[i]);
      if (!name.empty() && !actual.empty() && name != actual)
        return fail("layer " + Twine(index) + "'s expert weight " + Twine(i) +
                    " is '" + name + "' in the statistics, '" + actual +
                    "' in the module");
    }
  }
  return success();
}

FailureOr<CalibratedLayers>
moe::loadCalibratedLayers(ModuleOp module, StringRef path, StringRef passName) {
  Location loc = module.getLoc();
  if (path.empty())
    return emitError(loc) << "--" << passName << " needs stats=<file>";
  FailureOr<SmallVector<LayerCalibration, 0>> stats =
      loadCalibration(path, loc);
  if (failed(stats))
    return failure();
  FailureOr<SmallVector<MoELayer>> layers = collectLayers(module);
  if (failed(layers) || failed(matchCalibration(*stats, *layers, path, loc)))
    return failure();
  return CalibratedLayers{std::move(*stats), std::move(*layers)};
}

SmallVector<int64_t> moe::topRanked(ArrayRef<double> rank, int64_t count) {
  SmallVector<int64_t> order(rank.size());
  std::iota(order.begin(), order.end(), 0);
  llvm::stable_sort(order,
                    [&](int64_t a, int64_t b) { return rank[a] > rank[b]; });
  order.resize(count);
  llvm::sort(order);
  return order;
}
