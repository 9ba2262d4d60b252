//===- Kernels.h - GPU kernels of the moe ops -------------------*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_KERNELS_H
#define MOE_LIB_CONVERSION_MOETOGPU_KERNELS_H

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Conversion/MoEToLinalg/ActivationMath.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <optional>

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
  /// Fused activation (EpilogueFusion.cpp): applied to the fp32 tile before
  /// the store. Gated layouts pair each gate column with its up column in
  /// one thread: interleaved as the mma's column pairs, concatenated and
  /// separate by loading gate and up columns into alternate 8-column slices
  /// of the shared B tile. The result then has n / 2 columns (n with
  /// `splitWeights`, the gate and up weights being two [E, K, n] tensors).
  std::optional<moe::ActivationParams> activation;
  bool splitWeights = false;
  /// Fused combine: the result is the tokens' fp32 output [T, n], and each
  /// row r adds weights[s / slots, s % slots] * row into token s / slots
  /// (s = rowSlots[r], skipped when negative) with fp32 atomics.
  mlir::Type combineWeightType;
  int64_t combineSlots = 0;

  bool isGated() const { return activation && activation->isGated(); }
  /// Columns of the result.
  int64_t resultColumns() const;
};

/// Kernel attribute: the launch's grid.x (column tiles), set on every kernel
/// whose grid.x is not ceil(n / kTileN) of its rhs.
constexpr llvm::StringLiteral kColumnTilesAttr = "moe.column_tiles";

/// `v` (a float or a vector of floats) with element type `type` (extf,
/// truncf or nothing); bf16 and f16 of the same width never meet here.
mlir::Value castFloat(mlir::ImplicitLocOpBuilder &b, mlir::Value v,
                      mlir::Type type);

/// Rewrites the math ops of `func` (exp, erf, tanh, log1p, ...) into
/// polynomial arithmetic and fma into llvm.intr.fma, so that no kernel
/// needs libdevice.
void expandKernelMath(mlir::gpu::GPUFuncOp func);

/// Returns the kernel for `sig` in `gpuModule`, building it on first use.
/// Kernel arguments: lhs memref<?xKxT>, rhs memref<ExKxNxT>,
/// offsets memref<E+1 x iN>, result memref<?xNxR>, then bias memref<ExNxB>
/// if the signature has one. With `splitWeights` the up weight follows rhs;
/// with a combine, row slots memref<?xi32> and weights memref<?xSLOTSxW>
/// come last.
mlir::gpu::GPUFuncOp
getOrBuildGroupedMatmulKernel(mlir::gpu::GPUModuleOp gpuModule,
                              const GroupedMatmulSignature &sig);

/// The signature of the kernel `op` needs (no epilogue), or an error at `op`
/// saying why there is none.
mlir::FailureOr<GroupedMatmulSignature>
getGroupedMatmulSignature(GroupedMatmulOp op, const MoEToGPUOptions &options);

/// The `moe_kernels` gpu.module of `op`'s module, created on first use (the
/// module gets gpu.container_module); an error at `op` without a module.
mlir::FailureOr<mlir::gpu::GPUModuleOp> getKernelModule(mlir::Operation *op);

/// The grid of a grouped-matmul kernel for `rows` rows (an index).
mlir::gpu::KernelDim3 groupedMatmulGrid(mlir::ImplicitLocOpBuilder &b,
                                        mlir::gpu::GPUFuncOp kernel,
                                        mlir::Value rows);

/// `tensor` as a read-only buffer of the kernel argument type `memrefType`
/// (bufferization.to_buffer, then a cast to the dynamic row count).
mlir::Value toKernelBuffer(mlir::ImplicitLocOpBuilder &b, mlir::Value tensor,
                           mlir::Type memrefType);

/// The activation and combine patterns (EpilogueFusion.cpp).
void populateEpiloguePatterns(mlir::RewritePatternSet &patterns,
                              const MoEToGPUOptions &options);

/// Threads per block of the element-wise kernels (activation, combine).
constexpr int64_t kElementwiseThreads = 256;

/// result[r, j] = act(input[r, j']) (gated: act(gate, up) from the layout's
/// columns) in f32, for rows x `sig.width` elements, one per thread of a
/// 1-D grid of kElementwiseThreads. Arguments: input memref<?xWinxT>, up
/// memref<?xWinxT> (separate layout only), result memref<?xWxR>.
struct ActivationSignature {
  mlir::Type inputType, resultType;
  int64_t inputWidth, width;
  moe::ActivationParams params;
};
mlir::gpu::GPUFuncOp getOrBuildActivationKernel(mlir::gpu::GPUModuleOp module,
                                                const ActivationSignature &sig);

/// result[t, :] = sum_s weights[t, s] * rows[row_map[t, s], :] over slots
/// with row_map >= 0, in f32. Block (t, y) owns token t and
/// kElementwiseThreads * vec columns from y on. Arguments: rows
/// memref<?xHxT>, row_map memref<?xSxI>, weights memref<?xSxW>, result
/// memref<?xHxR>.
struct CombineSignature {
  mlir::Type rowType, mapType, weightType, resultType;
  int64_t width, slots;
  /// Columns per thread: 8 (one 16-byte load of 16-bit rows) or 1.
  int64_t vectorWidth() const;
};
mlir::gpu::GPUFuncOp getOrBuildCombineKernel(mlir::gpu::GPUModuleOp module,
                                             const CombineSignature &sig);

/// slots[row_map[t, s]] = t * S + s for every slot with 0 <= row_map < rows
/// (the inverse of the row map, for the fused combine); slots must hold -1
/// before. One thread per slot. Arguments: row_map memref<?xSxI>, slots
/// memref<?xi32>.
mlir::gpu::GPUFuncOp getOrBuildRowSlotsKernel(mlir::gpu::GPUModuleOp module,
                                              mlir::Type mapType,
                                              int64_t slots);

} // namespace moe::detail

#endif // MOE_LIB_CONVERSION_MOETOGPU_KERNELS_H
