//===- GPULayerEntries.h - C entries running a whole layer ------*- C++ -*-===//

#ifndef MOE_LIB_PIPELINES_GPULAYERENTRIES_H
#define MOE_LIB_PIPELINES_GPULAYERENTRIES_H

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace moe::detail {

/// The unit attribute that makes a function of the module a layer entry.
constexpr llvm::StringLiteral kLayerAttr = "moe.gpu_layer";

/// A dense row-major memref of `type` over the raw pointer `ptr`, with
/// `rows` (an i64) as its dynamic leading size.
mlir::Value wrapPointer(mlir::ImplicitLocOpBuilder &b, mlir::Value ptr,
                        mlir::MemRefType type, mlir::Value rows);

/// Succeeds if `func` can become a layer entry, else emits an error at the
/// offending op or argument.
mlir::LogicalResult checkLayer(mlir::func::FuncOp func,
                               const MoEToGPUOptions &options);

/// Adds moe_gpu_layer_forward / _workspace / _info and moe_gpu_layer_names
/// for `layers` (checked with checkLayer) to `module`.
mlir::LogicalResult buildLayerEntries(mlir::ModuleOp module,
                                      llvm::ArrayRef<mlir::func::FuncOp> layers,
                                      const MoEToGPUOptions &options);

} // namespace moe::detail

#endif // MOE_LIB_PIPELINES_GPULAYERENTRIES_H
