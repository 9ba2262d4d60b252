//===- ONNXToLinalg.h - onnx -> linalg/tensor/arith/math --------*- C++ -*-===//

#ifndef MOE_CONVERSION_ONNXTOLINALG_ONNXTOLINALG_H
#define MOE_CONVERSION_ONNXTOLINALG_ONNXTOLINALG_H

#include "mlir/Support/LLVM.h"

namespace mlir {
class ConversionTarget;
class Operation;
class RewritePatternSet;
} // namespace mlir

namespace moe {

/// Conversion patterns lowering typed onnx.node ops (results are ranked
/// tensors, see onnx-infer-shapes) and onnx.constant to linalg, tensor,
/// arith and math on tensors. One pattern per operator type.
void populateONNXToLinalgPatterns(mlir::RewritePatternSet &patterns);

/// Marks onnx.node and onnx.constant illegal and what the patterns produce
/// legal. onnx.none stays legal: it is erased once nothing uses it.
void configureONNXToLinalgTarget(mlir::ConversionTarget &target);

/// Reports every onnx.node under `root` that the patterns cannot lower
/// (unknown operator, untyped value), naming the node. Fails if any.
mlir::LogicalResult checkONNXLowerable(mlir::Operation *root);

} // namespace moe

#endif // MOE_CONVERSION_ONNXTOLINALG_ONNXTOLINALG_H
