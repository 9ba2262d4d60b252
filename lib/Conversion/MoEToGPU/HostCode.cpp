//===- HostCode.cpp - tensor host code around the kernel launches ---------===//

#include "HostCode.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace moe::detail;

HostStream::HostStream(ImplicitLocOpBuilder &b)
    : b(b), token(gpu::WaitOp::create(
                      b, gpu::AsyncTokenType::get(b.getContext()), ValueRange())
                      .getAsyncToken()) {}

Value HostStream::alloc(Type type, ValueRange sizes) {
  auto op = gpu::AllocOp::create(b, cast<MemRefType>(type), token.getType(),
                                 ValueRange{token}, sizes, ValueRange(),
                                 /*hostShared=*/false);
  token = op.getAsyncToken();
  return op.getMemref();
}

void HostStream::freeAndWait(ValueRange buffers) {
  for (Value buffer : buffers)
    token =
        gpu::DeallocOp::create(b, token.getType(), ValueRange{token}, buffer)
            .getAsyncToken();
  gpu::WaitOp::create(b, Type(), ValueRange{token});
}

Value moe::detail::toKernelBuffer(ImplicitLocOpBuilder &b, Value tensor,
                                  Type type) {
  auto tensorType = cast<RankedTensorType>(tensor.getType());
  Value buffer = bufferization::ToBufferOp::create(
      b, MemRefType::get(tensorType.getShape(), tensorType.getElementType()),
      tensor, /*read_only=*/true);
  if (buffer.getType() != type)
    buffer = memref::CastOp::create(b, type, buffer);
  return buffer;
}

SmallVector<Value> moe::detail::toResults(ImplicitLocOpBuilder &b,
                                          ValueRange buffers,
                                          ValueRange results) {
  SmallVector<Value> tensors;
  for (auto [buffer, result] : llvm::zip(buffers, results)) {
    auto type = cast<MemRefType>(buffer.getType());
    Value tensor = bufferization::ToTensorOp::create(
        b, RankedTensorType::get(type.getShape(), type.getElementType()),
        buffer, /*restrict=*/true, /*writable=*/true);
    if (tensor.getType() != result.getType())
      tensor = tensor::CastOp::create(b, result.getType(), tensor);
    tensors.push_back(tensor);
  }
  return tensors;
}
