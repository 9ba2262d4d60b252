//===- GraphImporter.h - ModelProto to an onnx-dialect module ---*- C++ -*-===//

#ifndef MOE_LIB_IMPORT_ONNX_GRAPHIMPORTER_H
#define MOE_LIB_IMPORT_ONNX_GRAPHIMPORTER_H

#include "ModelReader.h"
#include "TensorImporter.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace moe::onnx_import {

/// Builds the module for `parsed`: module attributes for the opset imports
/// and producer, one func.func for the main graph. On bad input emits one
/// error at `fileLoc`, naming the node, value or tensor, and returns null.
mlir::OwningOpRef<mlir::ModuleOp> importModel(const ParsedModel &parsed,
                                              TensorImporter &tensors,
                                              mlir::Location fileLoc);

} // namespace moe::onnx_import

#endif // MOE_LIB_IMPORT_ONNX_GRAPHIMPORTER_H
