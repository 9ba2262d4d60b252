//===- ONNXOps.cpp - onnx dialect op verifiers and folders ----------------===//

#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace moe::onnx;

#define GET_OP_CLASSES
#include "moe/Dialect/ONNX/ONNXOps.cpp.inc"

//===----------------------------------------------------------------------===//
// NodeOp
//===----------------------------------------------------------------------===//

bool NodeOp::isStandard(StringRef opType) {
  return getOpType() == opType && isDefaultDomain(getDomain());
}

/// The MLIR attribute kinds that the ONNX attribute kinds map to (see the op
/// description). Anything else would mean a producer other than the importer
/// invented an encoding that later passes cannot rely on.
static bool isONNXAttrValue(Attribute attr) {
  if (isa<IntegerAttr, FloatAttr, StringAttr, ElementsAttr, TypeAttr,
          DenseI64ArrayAttr, DenseF32ArrayAttr>(attr))
    return true;
  auto array = dyn_cast<ArrayAttr>(attr);
  if (!array)
    return false;
  // A list is homogeneous: strings, tensors or types.
  if (array.empty())
    return true;
  auto isSameKind = [&](Attribute elt) {
    Attribute first = array[0];
    return (isa<StringAttr>(first) && isa<StringAttr>(elt)) ||
           (isa<ElementsAttr>(first) && isa<ElementsAttr>(elt)) ||
           (isa<TypeAttr>(first) && isa<TypeAttr>(elt));
  };
  return llvm::all_of(array, isSameKind);
}

LogicalResult NodeOp::verify() {
  if (getOpType().empty())
    return emitOpError("needs a non-empty op_type");
  for (NamedAttribute attr : getOnnxAttrs()) {
    if (!isONNXAttrValue(attr.getValue()))
      return emitOpError("ONNX attribute '")
             << attr.getName().getValue()
             << "' must be an integer, f32, string, elements, type, "
                "array<i64>, array<f32> or a list of strings, elements or "
                "types; got "
             << attr.getValue();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// ConstantOp
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }
