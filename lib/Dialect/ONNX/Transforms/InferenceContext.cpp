//===- InferenceContext.cpp - inputs, attributes and results of a node ----===//

#include "InferenceContext.h"

#include "moe/Dialect/ONNX/Transforms/NodeUtils.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace moe::onnx;
using namespace moe::onnx::infer;

InferenceContext::InferenceContext(NodeOp node, int64_t opset,
                                   const KnownInts &known)
    : node(node), opset(opset), known(known), results(node->getNumResults()),
      resultInts(node->getNumResults()) {}

bool InferenceContext::hasInput(unsigned i) const {
  return i < getNumInputs() && !isa<NoneType>(node.getInputs()[i].getType());
}

RankedTensorType InferenceContext::getRanked(unsigned i) const {
  if (!hasInput(i))
    return {};
  return dyn_cast<RankedTensorType>(node.getInputs()[i].getType());
}

Type InferenceContext::getElementType(unsigned i) const {
  if (!hasInput(i))
    return {};
  if (auto tensor = dyn_cast<TensorType>(node.getInputs()[i].getType()))
    return tensor.getElementType();
  return {};
}

std::optional<SmallVector<int64_t>>
InferenceContext::getInts(unsigned i) const {
  if (!hasInput(i))
    return std::nullopt;
  Value value = node.getInputs()[i];
  if (auto it = known.find(value); it != known.end())
    return it->second;
  return getConstantInts(value);
}

std::optional<SmallVector<int64_t>>
InferenceContext::getStaticInts(unsigned i) const {
  auto values = getInts(i);
  if (!values || llvm::is_contained(*values, ShapedType::kDynamic))
    return std::nullopt;
  return values;
}

std::optional<int64_t> InferenceContext::getIntAttr(StringRef name) const {
  if (auto attr = dyn_cast_or_null<IntegerAttr>(node.getONNXAttr(name)))
    return attr.getInt();
  return std::nullopt;
}

int64_t InferenceContext::getIntAttr(StringRef name,
                                     int64_t defaultValue) const {
  return getIntAttr(name).value_or(defaultValue);
}

std::optional<SmallVector<int64_t>>
InferenceContext::getIntsAttr(StringRef name) const {
  if (auto attr = dyn_cast_or_null<DenseI64ArrayAttr>(node.getONNXAttr(name)))
    return SmallVector<int64_t>(attr.asArrayRef());
  return std::nullopt;
}

IntList InferenceContext::getIntsAttrOrInput(StringRef name, unsigned index,
                                             int64_t sinceOpset) const {
  IntList list;
  // A node carries one form or the other; read the one it has, preferring
  // the form of its opset when (invalidly) both are there.
  bool hasAttr = node.getONNXAttr(name) != nullptr;
  bool useInput = hasInput(index) && (opset >= sinceOpset || !hasAttr);
  if (useInput) {
    list.present = true;
    list.values = getInts(index);
  } else if (hasAttr) {
    list.present = true;
    list.values = getIntsAttr(name);
  }
  return list;
}

void InferenceContext::setResult(unsigned i, Type type) {
  if (i < results.size())
    results[i] = type;
}

void InferenceContext::setResult(unsigned i, ArrayRef<int64_t> shape,
                                 Type elementType) {
  if (elementType)
    setResult(i, RankedTensorType::get(shape, elementType));
}

void InferenceContext::setResultInts(unsigned i, SmallVector<int64_t> values) {
  if (i < resultInts.size())
    resultInts[i] = std::move(values);
}

InFlightDiagnostic InferenceContext::emitError() const {
  InFlightDiagnostic diag = node.emitError();
  diag << describeNode(node) << ": ";
  return diag;
}

FailureOr<int64_t> InferenceContext::normalizeAxis(int64_t axis, int64_t rank,
                                                   StringRef what) const {
  if (axis < -rank || axis >= rank)
    return emitError() << what << " " << axis << " is out of range for rank "
                       << rank;
  return axis < 0 ? axis + rank : axis;
}

void InferenceTable::add(StringRef domain, StringRef opType, InferFn fn) {
  fns[(domain + "|" + opType).str()] = fn;
}

InferFn InferenceTable::lookup(NodeOp node) const {
  StringRef domain = isDefaultDomain(node.getDomain()) ? "" : node.getDomain();
  auto it = fns.find((domain + "|" + node.getOpType()).str());
  return it == fns.end() ? nullptr : it->second;
}

const InferenceTable &moe::onnx::infer::getInferenceTable() {
  static const InferenceTable table = [] {
    InferenceTable t;
    registerElementwiseInference(t);
    registerShapeOpInference(t);
    registerReductionInference(t);
    registerContractionInference(t);
    registerContribInference(t);
    registerEinsumInference(t);
    return t;
  }();
  return table;
}

FailureOr<SmallVector<int64_t>>
moe::onnx::infer::broadcastShapes(ArrayRef<int64_t> lhs,
                                  ArrayRef<int64_t> rhs) {
  size_t rank = std::max(lhs.size(), rhs.size());
  SmallVector<int64_t> shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align from the right, missing dims are 1.
    int64_t a = i < rank - lhs.size() ? 1 : lhs[i - (rank - lhs.size())];
    int64_t b = i < rank - rhs.size() ? 1 : rhs[i - (rank - rhs.size())];
    if (a == 1)
      shape[i] = b;
    else if (b == 1)
      shape[i] = a;
    else if (ShapedType::isDynamic(a))
      shape[i] = b;
    else if (ShapedType::isDynamic(b) || a == b)
      shape[i] = a;
    else
      return failure();
  }
  return shape;
}

Type moe::onnx::infer::getElementTypeForONNXCode(MLIRContext *ctx,
                                                 int64_t code) {
  Builder b(ctx);
  auto u = [&](unsigned w) {
    return IntegerType::get(ctx, w, IntegerType::Unsigned);
  };
  switch (code) {
  case 1:
    return b.getF32Type();
  case 2:
    return u(8);
  case 3:
    return b.getIntegerType(8);
  case 4:
    return u(16);
  case 5:
    return b.getIntegerType(16);
  case 6:
    return b.getI32Type();
  case 7:
    return b.getI64Type();
  case 9:
    return b.getI1Type();
  case 10:
    return b.getF16Type();
  case 11:
    return b.getF64Type();
  case 12:
    return u(32);
  case 13:
    return u(64);
  case 16:
    return b.getBF16Type();
  default:
    return {};
  }
}
