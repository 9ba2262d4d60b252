//===- TypeImport.h - ONNX types to MLIR types ------------------*- C++ -*-===//

#ifndef MOE_LIB_IMPORT_ONNX_TYPEIMPORT_H
#define MOE_LIB_IMPORT_ONNX_TYPEIMPORT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/Error.h"

#include "onnx/onnx_pb.h"

namespace moe::onnx_import {

/// An ONNX element type the importer supports.
struct ElementType {
  mlir::Type type;
  /// Bytes per element in raw_data (bool: one byte).
  unsigned byteWidth;
};

/// Maps TensorProto.DataType `dataType`. Signed integers become signless
/// (arith's convention), unsigned ones `ui<N>` so that signedness survives.
llvm::Expected<ElementType> convertElementType(int32_t dataType,
                                               mlir::MLIRContext *ctx);

/// An imported value type and, for tensors with symbolic dimensions, one
/// string per dimension (the dim_param or "").
struct ValueType {
  mlir::Type type;
  mlir::ArrayAttr dimParams;
};

/// Maps a TypeProto: tensors become builtin tensors (unknown and symbolic
/// dimensions are dynamic, no shape is unranked). Other kinds (sequence,
/// map, optional, sparse) are not supported yet.
llvm::Expected<ValueType> convertType(const ::onnx::TypeProto &type,
                                      mlir::MLIRContext *ctx);

} // namespace moe::onnx_import

#endif // MOE_LIB_IMPORT_ONNX_TYPEIMPORT_H
