//===- Kernels.h - GPU kernels of the moe ops -------------------*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_KERNELS_H
#define MOE_LIB_CONVERSION_MOETOGPU_KERNELS_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace moe::detail {

/// Tile shape of the sm_80 grouped matmul: a block of 4 warps (2 x 2) owns a
/// kTileM x kTileN output tile, each warp 32 x 32 of it (2 x 4 mma tiles of
/// 16 x 8), and walks K in kTileK steps.
constexpr int64_t kTileM = 64;
constexpr int64_t kTileN = 64;
constexpr int64_t kTileK = 32;
constexpr int64_t kThreads = 128;

/// What one grouped-matmul kernel is specialized for.
struct GroupedMatmulSignature {
  mlir::Type elementType; // bf16 or f16: lhs and rhs
  mlir::Type resultType;  // any float: the fp32 accumulators are converted
  mlir::Type offsetType;  // i32 or i64
  mlir::Type biasType;    // null: no bias; else the [E, N] bias's float type
  int64_t groups, k, n;
};

/// Returns the kernel for `sig` in `gpuModule`, building it on first use.
/// Kernel arguments: lhs memref<?xKxT>, rhs memref<ExKxNxT>,
/// offsets memref<E+1 x iN>, result memref<?xNxR>, then bias memref<ExNxB>
/// if the signature has one.
mlir::gpu::GPUFuncOp
getOrBuildGroupedMatmulKernel(mlir::gpu::GPUModuleOp gpuModule,
                              const GroupedMatmulSignature &sig);

} // namespace moe::detail

#endif // MOE_LIB_CONVERSION_MOETOGPU_KERNELS_H
