//===- Common.h - helpers shared by the moe -> linalg patterns --*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_MOETOLINALG_COMMON_H
#define MOE_LIB_CONVERSION_MOETOLINALG_COMMON_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"

namespace moe {
namespace detail {

/// Converts a scalar between float types (extf/truncf) or integer types
/// (extsi/trunci); returns `value` when the types already agree.
mlir::Value convertScalar(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::Value value, mlir::Type type);

/// Element-wise conversion of a ranked tensor to `elementType` (a
/// linalg.generic), or `tensor` itself when nothing changes.
mlir::Value convertElements(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Value tensor, mlir::Type elementType);

/// Converts `tensor` to `type`: element type first, then a tensor.cast
/// between compatible shapes.
mlir::Value convertTo(mlir::OpBuilder &b, mlir::Location loc,
                      mlir::Value tensor, mlir::RankedTensorType type);

/// The same tensor with every dimension dynamic (the kernels' signatures).
mlir::Value castToDynamic(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::Value tensor);

/// `dim` of `tensor` as an index value.
mlir::Value dimValue(mlir::OpBuilder &b, mlir::Location loc, mlir::Value tensor,
                     int64_t dim);

/// A zero- (or `value`-) filled tensor of `type` whose dynamic dims are
/// `dynamicSizes`.
mlir::Value filledTensor(mlir::OpBuilder &b, mlir::Location loc,
                         mlir::RankedTensorType type,
                         mlir::ValueRange dynamicSizes,
                         mlir::TypedAttr value = {});

/// y[n, M] = a[n, K] * w (+ bias[M]) with w stored [K, M] or, transposed,
/// [M, K]: one linalg.generic contraction accumulating in `elt`, its init
/// the broadcast bias (or zeros). The row count stays dynamic. With
/// `zeroInit`, a [n, M] tensor of zeros (a slice of the caller's result),
/// the matmul accumulates into it instead of a fresh one, so that it
/// bufferizes in place.
mlir::Value emitMatmul(mlir::OpBuilder &b, mlir::Location loc, mlir::Value a,
                       mlir::Value w, bool transposed, mlir::Value bias,
                       mlir::Type elt, mlir::Value zeroInit = {});

/// A zero-filled tensor of `type` whose dynamic dim i is dim i of
/// `dimSources[i]` (entries for static dims are ignored and may be null).
mlir::Value zerosWithDimsOf(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::RankedTensorType type,
                            mlir::ArrayRef<mlir::Value> dimSources);

/// Reads offsets[i] of an integer tensor as an index.
mlir::Value extractIndex(mlir::OpBuilder &b, mlir::Location loc,
                         mlir::Value tensor, mlir::Value i);

/// Makes sure the module around `anchor` defines every function of the
/// kernel `source` (MLIR text) and returns the one named `name`.
mlir::FailureOr<mlir::func::FuncOp>
getOrInsertKernel(mlir::RewriterBase &rewriter, mlir::Operation *anchor,
                  llvm::StringRef name, llvm::StringRef source);

/// Kernel sources (Kernels.cpp). Dispatch kernels are instantiated for one
/// row element type (f32, f16, bf16, f64).
llvm::StringRef getRoutingKernels();
std::string getDispatchKernels(mlir::Type rowElementType);

} // namespace detail
} // namespace moe

#endif // MOE_LIB_CONVERSION_MOETOLINALG_COMMON_H
