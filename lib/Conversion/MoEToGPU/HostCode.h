//===- HostCode.h - tensor host code around the kernel launches -*- C++ -*-===//
//
// The host side the routing and dispatch lowerings share: operands to
// buffers, stream-ordered allocations and frees, one wait, results back to
// tensors of the op's types.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_HOSTCODE_H
#define MOE_LIB_CONVERSION_MOETOGPU_HOSTCODE_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace moe::detail {

/// A stream (async token chain) with allocations on it.
struct HostStream {
  mlir::ImplicitLocOpBuilder &b;
  mlir::Value token;

  /// Starts a new stream (gpu.wait async).
  explicit HostStream(mlir::ImplicitLocOpBuilder &b);
  /// gpu.alloc of `type` with `sizes` for its dynamic dimensions.
  mlir::Value alloc(mlir::Type type, mlir::ValueRange sizes);
  /// gpu.dealloc of each buffer, then a host wait for the stream.
  void freeAndWait(mlir::ValueRange buffers);
};

/// `tensor` as a read-only memref of `type` (a cast drops static sizes).
mlir::Value toKernelBuffer(mlir::ImplicitLocOpBuilder &b, mlir::Value tensor,
                           mlir::Type type);

/// Each buffer as a tensor of the type of the matching `results`.
llvm::SmallVector<mlir::Value> toResults(mlir::ImplicitLocOpBuilder &b,
                                         mlir::ValueRange buffers,
                                         mlir::ValueRange results);

} // namespace moe::detail

#endif // MOE_LIB_CONVERSION_MOETOGPU_HOSTCODE_H
