//===- ONNX.h - onnx import dialect -----------------------------*- C++ -*-===//
//
// The C++ namespace is moe::onnx; code that also sees the protobuf classes
// (lib/Import/ONNX) must spell those ::onnx.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_ONNX_IR_ONNX_H
#define MOE_DIALECT_ONNX_IR_ONNX_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "moe/Dialect/ONNX/ONNXDialect.h.inc"

#define GET_TYPEDEF_CLASSES
#include "moe/Dialect/ONNX/ONNXTypes.h.inc"

#define GET_OP_CLASSES
#include "moe/Dialect/ONNX/ONNXOps.h.inc"

namespace moe::onnx {

/// Attribute names the importer puts outside the ops: on the module, and on
/// function arguments and results.
namespace attrs {
/// Module: {domain = version} of every opset import ("" is spelled ai.onnx).
inline constexpr llvm::StringLiteral kOpsetImport = "onnx.opset_import";
/// Module: ModelProto.ir_version, producer_name, producer_version.
inline constexpr llvm::StringLiteral kIRVersion = "onnx.ir_version";
inline constexpr llvm::StringLiteral kProducerName = "onnx.producer_name";
inline constexpr llvm::StringLiteral kProducerVersion = "onnx.producer_version";
/// Argument/result: the graph input or output name.
inline constexpr llvm::StringLiteral kName = "onnx.name";
/// Argument/result: one string per dimension, the symbolic name (dim_param)
/// of a dynamic dimension or "" otherwise. Present only when some dimension
/// is symbolic.
inline constexpr llvm::StringLiteral kDimParams = "onnx.dim_params";
} // namespace attrs

/// The default operator set answers to both "" and "ai.onnx".
inline bool isDefaultDomain(llvm::StringRef domain) {
  return domain.empty() || domain == "ai.onnx";
}

} // namespace moe::onnx

#endif // MOE_DIALECT_ONNX_IR_ONNX_H
