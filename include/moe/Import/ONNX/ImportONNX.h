//===- ImportONNX.h - ONNX models into the onnx dialect ---------*- C++ -*-===//
//
// The importer reads an ONNX ModelProto (binary .onnx or the textual
// .onnxtext syntax of onnx::OnnxParser) and produces a module with one
// func.func per graph, made of `onnx` dialect ops. Weights are never copied:
// initializers are dense_resource blobs that reference the memory-mapped model
// file or its external data files. Only this library sees protobuf.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_IMPORT_ONNX_IMPORTONNX_H
#define MOE_IMPORT_ONNX_IMPORTONNX_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <memory>

namespace llvm {
class MemoryBuffer;
} // namespace llvm

namespace moe {

enum class ONNXFormat {
  /// A serialized onnx.ModelProto.
  Binary,
  /// The text syntax of onnx::OnnxParser (`<ir_version: 8, ...> g (...) {}`).
  Text,
};

/// True for file names the importer reads: `*.onnx` and `*.onnxtext`.
bool isONNXFilename(llvm::StringRef path);

/// Imports the model at `path`: `*.onnxtext` is text, anything else binary.
/// External data files are found relative to the model's directory. Returns
/// null after emitting one error diagnostic that names the offending node or
/// tensor. Resources in the result keep the mapped files alive.
mlir::OwningOpRef<mlir::ModuleOp> importONNXFile(llvm::StringRef path,
                                                 mlir::MLIRContext *ctx);

/// Imports the model in `buffer`. `externalDataDir` is the directory that
/// external data locations are relative to (empty: external data is an
/// error). Initializer raw_data in a binary model is referenced in place, so
/// the buffer lives as long as the resources that point into it.
mlir::OwningOpRef<mlir::ModuleOp>
importONNX(std::unique_ptr<llvm::MemoryBuffer> buffer, ONNXFormat format,
           llvm::StringRef externalDataDir, mlir::MLIRContext *ctx);

} // namespace moe

#endif // MOE_IMPORT_ONNX_IMPORTONNX_H
