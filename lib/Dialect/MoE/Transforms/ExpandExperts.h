//===- ExpandExperts.h - moe.experts as grouped matmuls ---------*- C++ -*-===//
//
// The expansion of moe.experts, shared by --moe-expand-experts and by
// passes that replace some stage products by other grouped-matmul chains
// (--moe-compress-experts).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_DIALECT_MOE_TRANSFORMS_EXPANDEXPERTS_H
#define MOE_LIB_DIALECT_MOE_TRANSFORMS_EXPANDEXPERTS_H

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/IR/Builders.h"

namespace moe {

/// Builds the product of `lhs` with the weights (and biases) of `stage` of
/// `op`, of type `type` ([rows, widest output of the stage]).
using StageMatmulBuilder = llvm::function_ref<mlir::Value(
    mlir::OpBuilder &, mlir::Value lhs, unsigned stage,
    mlir::RankedTensorType type)>;

/// The operands of `stage` among `all` (`op`'s weights or biases): the
/// stacked tensor, or one tensor per expert.
llvm::SmallVector<mlir::Value>
getStageOperands(ExpertsOp op, mlir::ValueRange all, unsigned stage);

/// The grouped matmul of `op`'s `stage` weights as they are: the default
/// StageMatmulBuilder.
mlir::Value buildStageGroupedMatmul(mlir::OpBuilder &builder, ExpertsOp op,
                                    mlir::Value lhs, unsigned stage,
                                    mlir::RankedTensorType type);

/// `op`'s value computed as stage products around moe.activation, at the
/// builder's insertion point; `matmul` builds each stage's product (the
/// plain grouped matmul when null). `op` itself is left in place.
mlir::Value expandExperts(mlir::OpBuilder &builder, ExpertsOp op,
                          StageMatmulBuilder matmul = nullptr);

} // namespace moe

#endif // MOE_LIB_DIALECT_MOE_TRANSFORMS_EXPANDEXPERTS_H
