//===- ONNXDialect.cpp - onnx dialect registration ------------------------===//

#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace moe::onnx;

#include "moe/Dialect/ONNX/ONNXDialect.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "moe/Dialect/ONNX/ONNXTypes.cpp.inc"

void ONNXDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "moe/Dialect/ONNX/ONNXTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "moe/Dialect/ONNX/ONNXOps.cpp.inc"
      >();
}
