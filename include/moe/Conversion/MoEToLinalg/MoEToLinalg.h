//===- MoEToLinalg.h - moe -> linalg/tensor/scf patterns --------*- C++ -*-===//

#ifndef MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H
#define MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H

namespace mlir {
class ConversionTarget;
class RewritePatternSet;
} // namespace mlir

namespace moe {

/// Patterns lowering every moe op to linalg, tensor, scf, arith and math on
/// tensors. The route and dispatch patterns insert private kernel functions
/// into the enclosing module, so apply them from a module-level pass.
void populateMoEToLinalgPatterns(mlir::RewritePatternSet &patterns);

/// Marks the moe dialect illegal and what the patterns produce legal.
void configureMoEToLinalgTarget(mlir::ConversionTarget &target);

} // namespace moe

#endif // MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H
