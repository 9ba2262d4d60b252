//===- ShapeInference.h - onnx.node result types ----------------*- C++ -*-===//

#ifndef MOE_DIALECT_ONNX_TRANSFORMS_SHAPEINFERENCE_H
#define MOE_DIALECT_ONNX_TRANSFORMS_SHAPEINFERENCE_H

#include "mlir/Support/LLVM.h"

namespace mlir {
class Operation;
} // namespace mlir

namespace moe::onnx {

/// Infers the result types of every onnx.node under `root` in program
/// order (see the onnx-infer-shapes pass). Fails, after reporting each
/// node, if a known type contradicts the operator's semantics. With
/// `foldKnownInts`, integer results known in full become constants.
mlir::LogicalResult inferShapes(mlir::Operation *root,
                                bool foldKnownInts = false);

} // namespace moe::onnx

#endif // MOE_DIALECT_ONNX_TRANSFORMS_SHAPEINFERENCE_H
