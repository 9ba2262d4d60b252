//===- HostCode.h - tensor host code around the kernel launches -*- C++ -*-===//
//
// convert-moe-to-gpu's host side: the KernelHost whose buffers come from
// tensors (operands through bufferization.to_buffer, results and scratch
// from gpu.alloc on one stream) and that ends with one wait, so that host
// code may read the results as tensors again.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_HOSTCODE_H
#define MOE_LIB_CONVERSION_MOETOGPU_HOSTCODE_H

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace moe::detail {

/// ceil(x / d) of an index (x itself for d = 1): the launches' grids.
mlir::Value ceilDivIndex(mlir::ImplicitLocOpBuilder &b, mlir::Value x,
                         int64_t d);

/// `tensor` as a read-only memref of `type` (a cast drops static sizes; a
/// rank-1 `type` flattens a rank-2 tensor).
mlir::Value toKernelBuffer(mlir::ImplicitLocOpBuilder &b, mlir::Value tensor,
                           mlir::Type type);

class TensorHost : public KernelHost {
public:
  explicit TensorHost(mlir::ImplicitLocOpBuilder &b);

  mlir::Value operand(mlir::Value value, mlir::MemRefType type) override;
  mlir::Value result(mlir::Value value, mlir::MemRefType type,
                     mlir::Value rows) override;
  mlir::Value scratch(mlir::MemRefType type, mlir::Value rows) override;

  /// Frees the scratch buffers, waits, and returns each buffer as a tensor
  /// of the type of the matching `results` (a flat buffer of a rank-2
  /// result is unflattened, its leading size static).
  llvm::SmallVector<mlir::Value> finish(mlir::ValueRange buffers,
                                        mlir::ValueRange results);

private:
  mlir::Value alloc(mlir::MemRefType type, mlir::Value rows);

  llvm::SmallVector<mlir::Value> scratchBuffers;
};

} // namespace moe::detail

#endif // MOE_LIB_CONVERSION_MOETOGPU_HOSTCODE_H
