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

/// The argument types of every grouped-matmul kernel of `sig` (the contract
/// above): lhs, rhs, offsets, result, then the bias if any.
inline llvm::SmallVector<mlir::Type>
groupedMatmulArgumentTypes(const GroupedMatmulSignature &sig) {
  int64_t dyn = mlir::ShapedType::kDynamic;
  llvm::SmallVector<mlir::Type> types = {
      mlir::MemRefType::get({dyn, sig.k}, sig.elementType),
      mlir::MemRefType::get({sig.groups, sig.k, sig.n}, sig.elementType),
      mlir::MemRefType::get({sig.groups + 1}, sig.offsetType),
      mlir::MemRefType::get({dyn, sig.n}, sig.resultType)};
  if (sig.biasType)
    types.push_back(mlir::MemRefType::get({sig.groups, sig.n}, sig.biasType));
  return types;
}

/// Shape of the weight-streaming decode kernel
/// (DecodeGroupedMatmulKernel.cpp): a block of kDecodeThreads threads owns one
/// group's kDecodeSlabN output columns, its warps split K, each lane keeps
/// kDecodeLoadsPerLane 16-byte weight loads in flight, and the rows are
/// taken kDecodeRowsPerPass at a time (more rows re-stream the weights).
constexpr int64_t kDecodeThreads = 256;
constexpr int64_t kDecodeSlabN = 64;
constexpr int64_t kDecodeRowsPerPass = 32;
constexpr int64_t kDecodeLoadsPerLane = 16;

/// The decode kernel for `sig` in `gpuModule`, built on first use; same
/// arguments as getOrBuildGroupedMatmulKernel's kernel. Launch it on
/// (ceil(N / kDecodeSlabN), max(1, min(rows, E + 1))) blocks.
mlir::gpu::GPUFuncOp
getOrBuildDecodeGroupedMatmulKernel(mlir::gpu::GPUModuleOp gpuModule,
                                    const GroupedMatmulSignature &sig);

} // namespace moe::detail

#endif // MOE_LIB_CONVERSION_MOETOGPU_KERNELS_H
