//===- ConstantSlicing.h - keep some indices of a constant weight -*- C++ -*-//
//
// Pruning and merging rewrite weights: the experts (router rows, stacked
// weight slices) that stay are copied into a new constant, so that the old
// weight, once unused, can be dropped and its bytes are not carried along.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_DIALECT_MOE_TRANSFORMS_CONSTANTSLICING_H
#define MOE_LIB_DIALECT_MOE_TRANSFORMS_CONSTANTSLICING_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

#include <vector>

namespace moe {

/// True when `value` is a constant whose bytes `sliceConstant` can read.
bool isSliceableConstant(mlir::Value value);

/// A new constant (beside `value`'s) holding the indices `keep` of
/// dimension `dim` of the constant `value`, in that order. A resource-backed
/// weight stays a resource, named after the old one plus `suffix`.
mlir::Value sliceConstant(mlir::OpBuilder &builder, mlir::Value value,
                          int64_t dim, llvm::ArrayRef<int64_t> keep,
                          llvm::StringRef suffix);

/// The elements of a constant with f32, f16 or bf16 elements, widened to
/// f32, row-major (splats expanded). Failure when `value` is not such a
/// readable constant. Passes that compute new weights (merging,
/// compression) read their inputs with this.
mlir::FailureOr<std::vector<float>> readFloatConstant(mlir::Value value);

/// A new constant beside `like`'s defining constant, of `type` (f32, f16 or
/// bf16 elements; values rounded to nearest even), holding `values`
/// row-major. It is a resource named `name` when `like` is resource-backed
/// (so that printing elides it and the CPU pipeline binds it as a runtime
/// parameter), a dense attribute otherwise.
mlir::Value createFloatConstant(mlir::OpBuilder &builder, mlir::Value like,
                                mlir::RankedTensorType type,
                                llvm::ArrayRef<float> values,
                                llvm::StringRef name);

/// Erases `value`'s defining constant when nothing uses it any more.
void eraseIfUnused(mlir::Value value);

} // namespace moe

#endif // MOE_LIB_DIALECT_MOE_TRANSFORMS_CONSTANTSLICING_H
