//===- ONNXToMoE.h - raise MoE layers of ONNX graphs ------------*- C++ -*-===//

#ifndef MOE_CONVERSION_ONNXTOMOE_ONNXTOMOE_H
#define MOE_CONVERSION_ONNXTOMOE_ONNXTOMOE_H

namespace mlir {
class RewritePatternSet;
} // namespace mlir

namespace moe {

/// Patterns that raise recognized MoE layers of the onnx dialect to moe ops.
/// With `remarks`, decisions and near misses are reported as remarks.
void populateONNXToMoEPatterns(mlir::RewritePatternSet &patterns,
                               bool remarks = false);

} // namespace moe

#endif // MOE_CONVERSION_ONNXTOMOE_ONNXTOMOE_H
