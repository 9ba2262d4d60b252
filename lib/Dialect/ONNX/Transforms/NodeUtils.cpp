//===- NodeUtils.cpp - opset versions, node names, constant integers ------===//

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;

std::optional<int64_t> moe::onnx::getOpsetVersion(NodeOp node) {
  StringRef domain = node.getDomain();
  if (isDefaultDomain(domain))
    domain = "ai.onnx";
  for (Operation *op = node->getParentOp(); op; op = op->getParentOp()) {
    auto imports = op->getAttrOfType<DictionaryAttr>(attrs::kOpsetImport);
    if (!imports)
      continue;
    if (auto version = imports.getAs<IntegerAttr>(domain))
      return version.getInt();
    return std::nullopt;
  }
  return std::nullopt;
}

/// The importer locates a node at its name, possibly fused with the file
/// location; walk down to the first NameLoc.
static StringRef findName(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().getValue();
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    for (Location inner : fused.getLocations())
      if (StringRef name = findName(inner); !name.empty())
        return name;
  }
  if (auto callSite = dyn_cast<CallSiteLoc>(loc))
    return findName(callSite.getCallee());
  return "";
}

std::string moe::onnx::getNodeName(NodeOp node) {
  return findName(node.getLoc()).str();
}

std::string moe::onnx::describeNode(NodeOp node) {
  std::string text = "onnx node '" + getNodeName(node) + "' (";
  if (!isDefaultDomain(node.getDomain()))
    text += node.getDomain().str() + " ";
  text += node.getOpType().str() + ")";
  return text;
}

std::optional<SmallVector<int64_t>> moe::onnx::getConstantInts(Value value) {
  Attribute attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  if (auto dense = dyn_cast<DenseIntElementsAttr>(attr)) {
    SmallVector<int64_t> values;
    for (const APInt &v : dense.getValues<APInt>())
      values.push_back(dense.getElementType().isInteger(1) ? v.getZExtValue()
                                                           : v.getSExtValue());
    return values;
  }
  // Initializers are resources; their bytes are available unless elided.
  if (auto res = dyn_cast<DenseI64ResourceElementsAttr>(attr)) {
    if (auto data = res.tryGetAsArrayRef())
      return SmallVector<int64_t>(data->begin(), data->end());
    return std::nullopt;
  }
  if (auto res = dyn_cast<DenseI32ResourceElementsAttr>(attr)) {
    if (auto data = res.tryGetAsArrayRef())
      return SmallVector<int64_t>(data->begin(), data->end());
  }
  return std::nullopt;
}

std::optional<SmallVector<double>> moe::onnx::getConstantFloats(Value value) {
  Attribute attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  if (auto dense = dyn_cast<DenseFPElementsAttr>(attr)) {
    SmallVector<double> values;
    for (const APFloat &v : dense.getValues<APFloat>())
      values.push_back(v.convertToDouble());
    return values;
  }
  if (auto res = dyn_cast<DenseF32ResourceElementsAttr>(attr)) {
    if (auto data = res.tryGetAsArrayRef())
      return SmallVector<double>(data->begin(), data->end());
    return std::nullopt;
  }
  if (auto res = dyn_cast<DenseF64ResourceElementsAttr>(attr)) {
    if (auto data = res.tryGetAsArrayRef())
      return SmallVector<double>(data->begin(), data->end());
  }
  return std::nullopt;
}
