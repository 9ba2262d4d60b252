//===- ImportONNX.cpp - the importer's public entry points ----------------===//

#include "moe/Import/ONNX/ImportONNX.h"

#include "GraphImporter.h"
#include "ModelReader.h"
#include "TensorImporter.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <exception>

using namespace mlir;
using namespace moe::onnx_import;

bool moe::isONNXFilename(llvm::StringRef path) {
  return path.ends_with(".onnx") || path.ends_with(".onnxtext");
}

static OwningOpRef<ModuleOp>
importBuffer(std::shared_ptr<llvm::MemoryBuffer> buffer, moe::ONNXFormat format,
             llvm::StringRef externalDataDir, MLIRContext *ctx) {
  Location fileLoc =
      FileLineColLoc::get(ctx, buffer->getBufferIdentifier(), 0, 0);
  ParsedModel parsed;
  llvm::Error err =
      format == moe::ONNXFormat::Text
          ? readTextModel(buffer->getBuffer(), parsed)
          : readBinaryModel({buffer->getBufferStart(), buffer->getBufferSize()},
                            parsed);
  if (err) {
    emitError(fileLoc) << (format == moe::ONNXFormat::Binary
                               ? "cannot read ONNX model: "
                               : "")
                       << llvm::toString(std::move(err));
    return nullptr;
  }
  TensorImporter tensors(ctx,
                         format == moe::ONNXFormat::Binary ? buffer : nullptr,
                         externalDataDir);
  return importModel(parsed, tensors, fileLoc);
}

OwningOpRef<ModuleOp>
moe::importONNX(std::unique_ptr<llvm::MemoryBuffer> buffer, ONNXFormat format,
                llvm::StringRef externalDataDir, MLIRContext *ctx) {
  // Protobuf may throw (std::bad_alloc at least); the reader catches what it
  // calls, this catches the rest so that nothing unwinds into MLIR.
  try {
    return importBuffer(std::move(buffer), format, externalDataDir, ctx);
  } catch (const std::exception &e) {
    emitError(UnknownLoc::get(ctx)) << "ONNX import failed: " << e.what();
  } catch (...) {
    emitError(UnknownLoc::get(ctx)) << "ONNX import failed";
  }
  return nullptr;
}

OwningOpRef<ModuleOp> moe::importONNXFile(llvm::StringRef path,
                                          MLIRContext *ctx) {
  // No null terminator: MemoryBuffer then maps large files instead of
  // reading them, and the weights stay in the page cache.
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false,
                                  /*IsVolatile=*/false);
  if (!buffer) {
    emitError(FileLineColLoc::get(ctx, path, 0, 0))
        << "cannot open ONNX model: " << buffer.getError().message();
    return nullptr;
  }
  llvm::SmallString<256> dir(path);
  llvm::sys::path::remove_filename(dir);
  if (dir.empty())
    dir = ".";
  ONNXFormat format =
      path.ends_with(".onnxtext") ? ONNXFormat::Text : ONNXFormat::Binary;
  return importONNX(std::move(*buffer), format, dir, ctx);
}
