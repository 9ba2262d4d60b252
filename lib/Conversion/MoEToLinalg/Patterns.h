//===- Patterns.h - the moe -> linalg pattern groups ------------*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_MOETOLINALG_PATTERNS_H
#define MOE_LIB_CONVERSION_MOETOLINALG_PATTERNS_H

namespace mlir {
class RewritePatternSet;
} // namespace mlir

namespace moe {
namespace detail {

/// moe.gate and moe.route.
void populateRoutingLoweringPatterns(mlir::RewritePatternSet &patterns);
/// moe.dispatch and moe.combine.
void populateDispatchLoweringPatterns(mlir::RewritePatternSet &patterns);
/// moe.dequantize.
void populateDequantizeLoweringPatterns(mlir::RewritePatternSet &patterns);
/// moe.grouped_matmul, moe.activation and moe.scatter_columns.
void populateExpertLoweringPatterns(mlir::RewritePatternSet &patterns);

/// Lowerings of several moe ops at once (a gated activation with its two
/// projections), applied before the op-by-op ones.
void populateFusedExpertLoweringPatterns(mlir::RewritePatternSet &patterns);

} // namespace detail
} // namespace moe

#endif // MOE_LIB_CONVERSION_MOETOLINALG_PATTERNS_H
