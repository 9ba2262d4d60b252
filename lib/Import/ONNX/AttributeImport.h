//===- AttributeImport.h - ONNX attributes to MLIR attributes ---*- C++ -*-===//

#ifndef MOE_LIB_IMPORT_ONNX_ATTRIBUTEIMPORT_H
#define MOE_LIB_IMPORT_ONNX_ATTRIBUTEIMPORT_H

#include "TensorImporter.h"

#include "mlir/IR/Attributes.h"
#include "llvm/Support/Error.h"

#include "onnx/onnx_pb.h"

namespace moe::onnx_import {

/// Converts one node attribute as documented on onnx.node. Graph-valued and
/// sparse-tensor attributes, and references to function attributes, are not
/// supported yet. Tensors are inline when small.
llvm::Expected<mlir::Attribute>
convertAttribute(const ::onnx::AttributeProto &attr, TensorImporter &tensors,
                 mlir::MLIRContext *ctx);

} // namespace moe::onnx_import

#endif // MOE_LIB_IMPORT_ONNX_ATTRIBUTEIMPORT_H
