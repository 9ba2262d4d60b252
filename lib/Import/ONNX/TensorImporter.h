//===- TensorImporter.h - TensorProto to ElementsAttr -----------*- C++ -*-===//

#ifndef MOE_LIB_IMPORT_ONNX_TENSORIMPORTER_H
#define MOE_LIB_IMPORT_ONNX_TENSORIMPORTER_H

#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include "onnx/onnx_pb.h"

#include <memory>
#include <optional>
#include <string>

namespace moe::onnx_import {

/// Turns tensors into attributes without copying weights: data that is
/// already in memory we own for the whole import (the model buffer, mapped
/// external files) is referenced by a dense_resource blob whose deleter keeps
/// that memory alive.
class TensorImporter {
public:
  /// `modelBuffer` holds the model bytes that raw_data spans point into;
  /// `externalDataDir` is where external data locations are relative to
  /// (empty: external data is an error).
  TensorImporter(mlir::MLIRContext *ctx,
                 std::shared_ptr<llvm::MemoryBuffer> modelBuffer,
                 llvm::StringRef externalDataDir)
      : ctx(ctx), modelBuffer(std::move(modelBuffer)),
        externalDataDir(externalDataDir.str()) {}

  /// How the data of a tensor should be held.
  enum class Storage {
    /// Always a dense_resource blob (initializers: weights).
    Resource,
    /// A dense attribute if small and in memory anyway, else a blob.
    InlineIfSmall,
  };

  /// Converts `tensor`. `rawData` is its raw_data as left in the model buffer
  /// by the reader, if any. `name` is the resource key to use (made unique
  /// by the context's blob manager). Errors say what is wrong with the
  /// tensor; the caller names it.
  llvm::Expected<mlir::ElementsAttr>
  import(const ::onnx::TensorProto &tensor,
         std::optional<llvm::ArrayRef<char>> rawData, Storage storage,
         llvm::StringRef name);

private:
  /// The external data of `tensor`, `numBytes` long, mapped in place.
  llvm::Expected<llvm::ArrayRef<char>>
  mapExternalData(const ::onnx::TensorProto &tensor, uint64_t numBytes,
                  std::shared_ptr<llvm::MemoryBuffer> &owner);

  mlir::MLIRContext *ctx;
  std::shared_ptr<llvm::MemoryBuffer> modelBuffer;
  std::string externalDataDir;
  /// Each external data file is mapped once, whole, and shared by the blobs
  /// of all tensors that live in it.
  llvm::StringMap<std::shared_ptr<llvm::MemoryBuffer>> externalFiles;
};

} // namespace moe::onnx_import

#endif // MOE_LIB_IMPORT_ONNX_TENSORIMPORTER_H
