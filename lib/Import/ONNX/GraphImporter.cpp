//===- GraphImporter.cpp - ModelProto to an onnx-dialect module -----------===//
//
// One pass over the graph in file order. ONNX requires nodes to be
// topologically sorted, so a value must be defined before its first use; a
// use of a later node's output therefore means an unsorted or cyclic graph,
// and the error says which. Every check happens before anything is built for
// the offending node, and the first failure ends the import.
//
//===----------------------------------------------------------------------===//

#include "GraphImporter.h"
#include "AttributeImport.h"
#include "TypeImport.h"

#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace moe::onnx_import;
namespace ir = moe::onnx;

namespace {

class GraphImporter {
public:
  GraphImporter(const ::onnx::GraphProto &graph,
                llvm::ArrayRef<std::optional<llvm::ArrayRef<char>>> rawData,
                TensorImporter &tensors, Location fileLoc)
      : graph(graph), initializerRawData(rawData), tensors(tensors),
        fileLoc(fileLoc), ctx(fileLoc.getContext()), b(ctx) {}

  /// Appends the graph's function to `module`.
  LogicalResult import(ModuleOp module);

private:
  InFlightDiagnostic error() { return mlir::emitError(fileLoc); }

  /// Emits `err` as "<subject>: <reason>".
  LogicalResult fail(const llvm::Twine &subject, llvm::Error err) {
    return error() << subject << ": " << llvm::toString(std::move(err));
  }

  LogicalResult importInputs(llvm::SmallVectorImpl<Type> &types,
                             llvm::SmallVectorImpl<Location> &locs,
                             llvm::SmallVectorImpl<DictionaryAttr> &attrs);
  LogicalResult importInitializers();
  LogicalResult importNode(const ::onnx::NodeProto &node, size_t index);
  /// Builds onnx.constant for a Constant node whose value is a tensor or
  /// numbers; returns false (and builds nothing) for other forms.
  FailureOr<bool> importConstantNode(const ::onnx::NodeProto &node,
                                     const std::string &desc, Location loc);
  LogicalResult reportUndefined(const std::string &desc,
                                const std::string &input, size_t index);
  /// Records `value` as the definition of `name` by `definer`.
  void define(const std::string &name, Value value, const std::string &definer);

  /// The declared type of `name`, or !onnx.unknown if the model has none.
  llvm::Expected<Type> declaredType(const std::string &name);
  /// Argument/result attributes for a graph input/output.
  DictionaryAttr boundaryAttrs(const std::string &name, ArrayAttr dimParams);

  Value getNone();
  std::string describe(const ::onnx::NodeProto &node, size_t index);

  const ::onnx::GraphProto &graph;
  llvm::ArrayRef<std::optional<llvm::ArrayRef<char>>> initializerRawData;
  TensorImporter &tensors;
  Location fileLoc;
  MLIRContext *ctx;
  OpBuilder b;
  Block *entry = nullptr;
  Value none;

  /// Every defined value by ONNX name, and who defined it (for messages).
  llvm::StringMap<Value> values;
  llvm::StringMap<std::string> definers;
  /// Declared types from graph inputs, outputs and value_info.
  llvm::StringMap<const ::onnx::TypeProto *> declaredTypes;
  /// The first node that outputs each name, to explain undefined inputs.
  llvm::StringMap<size_t> producers;
};

} // namespace

std::string GraphImporter::describe(const ::onnx::NodeProto &node,
                                    size_t index) {
  // Unnamed nodes (common in hand-written models) go by index and output.
  std::string s = node.name().empty() ? "node #" + std::to_string(index)
                                      : "node '" + node.name() + "'";
  s += " (";
  if (!ir::isDefaultDomain(node.domain()))
    s += node.domain() + ".";
  s += node.op_type();
  if (node.name().empty() && node.output_size() && !node.output(0).empty())
    s += ", output '" + node.output(0) + "'";
  return s + ")";
}

void GraphImporter::define(const std::string &name, Value value,
                           const std::string &definer) {
  values[name] = value;
  definers[name] = definer;
}

Value GraphImporter::getNone() {
  if (!none) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(entry);
    none = ir::NoneOp::create(b, b.getUnknownLoc());
  }
  return none;
}

llvm::Expected<Type> GraphImporter::declaredType(const std::string &name) {
  auto it = declaredTypes.find(name);
  if (it == declaredTypes.end() ||
      it->second->value_case() == ::onnx::TypeProto::VALUE_NOT_SET)
    return ir::UnknownType::get(ctx);
  llvm::Expected<ValueType> type = convertType(*it->second, ctx);
  if (!type)
    return type.takeError();
  return type->type;
}

DictionaryAttr GraphImporter::boundaryAttrs(const std::string &name,
                                            ArrayAttr dimParams) {
  llvm::SmallVector<NamedAttribute, 2> attrs;
  attrs.push_back(b.getNamedAttr(ir::attrs::kName, b.getStringAttr(name)));
  if (dimParams)
    attrs.push_back(b.getNamedAttr(ir::attrs::kDimParams, dimParams));
  return b.getDictionaryAttr(attrs);
}

LogicalResult
GraphImporter::importInputs(llvm::SmallVectorImpl<Type> &types,
                            llvm::SmallVectorImpl<Location> &locs,
                            llvm::SmallVectorImpl<DictionaryAttr> &attrs) {
  llvm::StringSet<> initializers, seen;
  for (const ::onnx::TensorProto &init : graph.initializer())
    initializers.insert(init.name());
  for (const ::onnx::ValueInfoProto &input : graph.input()) {
    const std::string &name = input.name();
    if (name.empty())
      return error() << "graph input #" << types.size() << " has no name";
    if (!seen.insert(name).second)
      return error() << "graph input '" << name << "' is declared twice";
    // Before IR version 4 every initializer was also listed as an input.
    // The initializer wins: weights are constants, not arguments.
    if (initializers.contains(name))
      continue;
    llvm::Expected<ValueType> type = convertType(input.type(), ctx);
    if (!type)
      return fail("graph input '" + name + "'", type.takeError());
    types.push_back(type->type);
    locs.push_back(NameLoc::get(b.getStringAttr(name)));
    attrs.push_back(boundaryAttrs(name, type->dimParams));
  }
  return success();
}

LogicalResult GraphImporter::importInitializers() {
  if (graph.sparse_initializer_size())
    return error() << "sparse initializer '"
                   << graph.sparse_initializer(0).values().name()
                   << "' is not supported yet";
  for (auto [index, init] : llvm::enumerate(graph.initializer())) {
    const std::string &name = init.name();
    if (name.empty())
      return error() << "initializer #" << index << " has no name";
    if (values.contains(name) && definers[name] == "an initializer")
      return error() << "initializer '" << name << "' is defined twice";
    std::optional<llvm::ArrayRef<char>> rawData;
    if (index < initializerRawData.size())
      rawData = initializerRawData[index];
    llvm::Expected<ElementsAttr> value =
        tensors.import(init, rawData, TensorImporter::Storage::Resource, name);
    if (!value)
      return fail("initializer '" + name + "'", value.takeError());
    auto constant =
        ir::ConstantOp::create(b, NameLoc::get(b.getStringAttr(name)), *value);
    define(name, constant, "an initializer");
  }
  return success();
}

LogicalResult GraphImporter::reportUndefined(const std::string &desc,
                                             const std::string &input,
                                             size_t index) {
  auto producer = producers.find(input);
  if (producer == producers.end())
    return error() << desc << ": input '" << input
                   << "' is not defined by any graph input, initializer or "
                      "earlier node";
  size_t later = producer->second;
  if (later == index)
    return error() << desc << ": input '" << input
                   << "' is an output of the same node (the graph has a "
                      "cycle)";
  return error() << desc << ": input '" << input << "' is defined only by "
                 << describe(graph.node(later), later)
                 << ", which comes later; ONNX graphs must be topologically "
                    "sorted (the graph is unsorted or has a cycle)";
}

FailureOr<bool> GraphImporter::importConstantNode(const ::onnx::NodeProto &node,
                                                  const std::string &desc,
                                                  Location loc) {
  if (!(node.op_type() == "Constant" && ir::isDefaultDomain(node.domain()) &&
        node.output_size() == 1 && !node.output(0).empty() &&
        node.attribute_size() == 1))
    return false;
  const ::onnx::AttributeProto &attr = node.attribute(0);
  const std::string &name = attr.name();
  ElementsAttr value;
  if (name == "value" && attr.type() == ::onnx::AttributeProto::TENSOR) {
    llvm::Expected<ElementsAttr> tensor =
        tensors.import(attr.t(), std::nullopt,
                       TensorImporter::Storage::InlineIfSmall, node.output(0));
    if (!tensor)
      return fail(desc + ": attribute 'value'", tensor.takeError());
    value = *tensor;
  } else if (name == "value_float") {
    value = DenseElementsAttr::get(RankedTensorType::get({}, b.getF32Type()),
                                   attr.f());
  } else if (name == "value_int") {
    value = DenseElementsAttr::get(
        RankedTensorType::get({}, b.getIntegerType(64)), attr.i());
  } else if (name == "value_floats") {
    llvm::SmallVector<float> floats(attr.floats().begin(), attr.floats().end());
    value = DenseElementsAttr::get(
        RankedTensorType::get({int64_t(floats.size())}, b.getF32Type()),
        llvm::ArrayRef(floats));
  } else if (name == "value_ints") {
    llvm::SmallVector<int64_t> ints(attr.ints().begin(), attr.ints().end());
    value = DenseElementsAttr::get(
        RankedTensorType::get({int64_t(ints.size())}, b.getIntegerType(64)),
        llvm::ArrayRef(ints));
  } else {
    // Strings and sparse values stay generic nodes.
    return false;
  }
  define(node.output(0), ir::ConstantOp::create(b, loc, value), desc);
  return true;
}

LogicalResult GraphImporter::importNode(const ::onnx::NodeProto &node,
                                        size_t index) {
  std::string desc = describe(node, index);
  if (node.op_type().empty())
    return error() << desc << ": has no op_type";

  // The node name is its location; unnamed nodes go by their first output.
  Location loc = fileLoc;
  if (!node.name().empty())
    loc = NameLoc::get(b.getStringAttr(node.name()));
  else
    for (const std::string &output : node.output())
      if (!output.empty()) {
        loc = NameLoc::get(b.getStringAttr(output));
        break;
      }

  llvm::SmallVector<Value> operands;
  for (const std::string &input : node.input()) {
    if (input.empty()) {
      operands.push_back(getNone());
      continue;
    }
    auto it = values.find(input);
    if (it == values.end())
      return reportUndefined(desc, input, index);
    operands.push_back(it->second);
  }

  llvm::StringSet<> outputs;
  for (const std::string &output : node.output()) {
    if (output.empty())
      continue;
    if (!outputs.insert(output).second)
      return error() << desc << ": output '" << output
                     << "' appears twice among its outputs";
    auto previous = definers.find(output);
    if (previous != definers.end())
      return error() << desc << ": output '" << output
                     << "' is already defined by " << previous->second;
  }

  FailureOr<bool> isConstant = importConstantNode(node, desc, loc);
  if (failed(isConstant))
    return failure();
  if (*isConstant)
    return success();

  llvm::SmallVector<NamedAttribute> attrs;
  llvm::StringSet<> attrNames;
  for (const ::onnx::AttributeProto &attr : node.attribute()) {
    if (attr.name().empty())
      return error() << desc << ": an attribute has no name";
    if (!attrNames.insert(attr.name()).second)
      return error() << desc << ": attribute '" << attr.name()
                     << "' appears twice";
    llvm::Expected<Attribute> value = convertAttribute(attr, tensors, ctx);
    if (!value)
      return fail(desc + ": attribute '" + attr.name() + "'",
                  value.takeError());
    attrs.push_back(b.getNamedAttr(attr.name(), *value));
  }

  llvm::SmallVector<Type> resultTypes;
  for (const std::string &output : node.output()) {
    if (output.empty()) {
      resultTypes.push_back(b.getNoneType());
      continue;
    }
    llvm::Expected<Type> type = declaredType(output);
    if (!type)
      return fail(desc + ": output '" + output + "'", type.takeError());
    resultTypes.push_back(*type);
  }

  auto op = ir::NodeOp::create(
      b, loc, resultTypes, operands, b.getStringAttr(node.op_type()),
      b.getStringAttr(node.domain()), b.getDictionaryAttr(attrs));
  // Tensor names, for reports that point back into the model (the node
  // name alone does not name a tensor).
  llvm::SmallVector<Attribute> names;
  for (const std::string &output : node.output())
    names.push_back(b.getStringAttr(output));
  op->setAttr("onnx.outputs", b.getArrayAttr(names));
  for (auto [output, result] : llvm::zip(node.output(), op.getResults()))
    if (!output.empty())
      define(output, result, desc);
  return success();
}

LogicalResult GraphImporter::import(ModuleOp module) {
  for (const ::onnx::ValueInfoProto &info : graph.value_info())
    declaredTypes[info.name()] = &info.type();
  for (const ::onnx::ValueInfoProto &info : graph.output())
    declaredTypes[info.name()] = &info.type();
  for (const ::onnx::ValueInfoProto &info : graph.input())
    declaredTypes[info.name()] = &info.type();
  for (auto [index, node] : llvm::enumerate(graph.node()))
    for (const std::string &output : node.output())
      if (!output.empty())
        producers.try_emplace(output, index);

  llvm::SmallVector<Type> argTypes;
  llvm::SmallVector<Location> argLocs;
  llvm::SmallVector<DictionaryAttr> argAttrs;
  if (failed(importInputs(argTypes, argLocs, argAttrs)))
    return failure();

  std::string name = graph.name().empty() ? "main_graph" : graph.name();
  b.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name,
                                   b.getFunctionType(argTypes, {}));
  entry = b.createBlock(&func.getBody(), {}, argTypes, argLocs);
  func.setAllArgAttrs(argAttrs);
  for (auto [arg, attrs] : llvm::zip(entry->getArguments(), argAttrs))
    define(cast<StringAttr>(attrs.get(ir::attrs::kName)).str(), arg,
           "a graph input");

  b.setInsertionPointToEnd(entry);
  if (failed(importInitializers()))
    return failure();
  for (auto [index, node] : llvm::enumerate(graph.node()))
    if (failed(importNode(node, index)))
      return failure();

  llvm::SmallVector<Value> results;
  llvm::SmallVector<DictionaryAttr> resultAttrs;
  for (const ::onnx::ValueInfoProto &output : graph.output()) {
    if (output.name().empty())
      return error() << "graph output #" << results.size() << " has no name";
    auto it = values.find(output.name());
    if (it == values.end())
      return error() << "graph output '" << output.name()
                     << "' is not defined by any node, graph input or "
                        "initializer";
    results.push_back(it->second);
    ArrayAttr dimParams;
    if (output.type().has_tensor_type()) {
      if (llvm::Expected<ValueType> type = convertType(output.type(), ctx))
        dimParams = type->dimParams;
      else
        llvm::consumeError(type.takeError());
    }
    resultAttrs.push_back(boundaryAttrs(output.name(), dimParams));
  }
  func::ReturnOp::create(b, func.getLoc(), results);
  func.setType(b.getFunctionType(argTypes, ValueRange(results).getTypes()));
  func.setAllResultAttrs(resultAttrs);
  return success();
}

OwningOpRef<ModuleOp> moe::onnx_import::importModel(const ParsedModel &parsed,
                                                    TensorImporter &tensors,
                                                    Location fileLoc) {
  MLIRContext *ctx = fileLoc.getContext();
  ctx->loadDialect<ir::ONNXDialect, func::FuncDialect>();
  const ::onnx::ModelProto &model = parsed.model;
  if (!model.has_graph()) {
    mlir::emitError(fileLoc) << "model has no graph (is this an ONNX model?)";
    return nullptr;
  }

  Builder b(ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  llvm::StringMap<int64_t> opsets;
  llvm::SmallVector<NamedAttribute> opsetAttrs;
  for (const ::onnx::OperatorSetIdProto &opset : model.opset_import()) {
    // "" and "ai.onnx" name the same operator set; "" cannot be a key.
    std::string domain =
        ir::isDefaultDomain(opset.domain()) ? "ai.onnx" : opset.domain();
    if (!opsets.try_emplace(domain, opset.version()).second) {
      mlir::emitError(fileLoc)
          << "opset of domain '" << domain << "' is imported twice";
      return nullptr;
    }
    opsetAttrs.push_back(
        b.getNamedAttr(domain, b.getI64IntegerAttr(opset.version())));
  }
  (*module)->setAttr(ir::attrs::kOpsetImport, b.getDictionaryAttr(opsetAttrs));
  (*module)->setAttr(ir::attrs::kIRVersion,
                     b.getI64IntegerAttr(model.ir_version()));
  if (!model.producer_name().empty())
    (*module)->setAttr(ir::attrs::kProducerName,
                       b.getStringAttr(model.producer_name()));
  if (!model.producer_version().empty())
    (*module)->setAttr(ir::attrs::kProducerVersion,
                       b.getStringAttr(model.producer_version()));

  GraphImporter importer(model.graph(), parsed.initializerRawData, tensors,
                         fileLoc);
  if (failed(importer.import(*module)))
    return nullptr;
  return module;
}
