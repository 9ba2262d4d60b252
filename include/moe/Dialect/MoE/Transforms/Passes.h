//===- Passes.h - moe dialect passes ----------------------------*- C++ -*-===//

#ifndef MOE_DIALECT_MOE_TRANSFORMS_PASSES_H
#define MOE_DIALECT_MOE_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
} // namespace mlir

namespace moe {

/// moe.experts -> moe.grouped_matmul + moe.activation + moe.grouped_matmul.
void populateExpandExpertsPatterns(mlir::RewritePatternSet &patterns);

/// moe.gate + moe.route (sole user of the logits) -> moe.fused_route.
void populateFuseGatingPatterns(mlir::RewritePatternSet &patterns);

#define GEN_PASS_DECL
#include "moe/Dialect/MoE/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "moe/Dialect/MoE/Passes.h.inc"

} // namespace moe

#endif // MOE_DIALECT_MOE_TRANSFORMS_PASSES_H
