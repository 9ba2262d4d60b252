//===- HostCode.cpp - tensor host code around the kernel launches ---------===//

#include "HostCode.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace moe::detail;

Value moe::detail::toKernelBuffer(ImplicitLocOpBuilder &b, Value tensor,
                                  Type type) {
  auto tensorType = cast<RankedTensorType>(tensor.getType());
  Value buffer = bufferization::ToBufferOp::create(
      b, MemRefType::get(tensorType.getShape(), tensorType.getElementType()),
      tensor, /*read_only=*/true);
  if (cast<MemRefType>(type).getRank() == 1 && tensorType.getRank() == 2)
    buffer = memref::CollapseShapeOp::create(
        b, buffer, ArrayRef<ReassociationIndices>{{0, 1}});
  if (buffer.getType() != type)
    buffer = memref::CastOp::create(b, type, buffer);
  return buffer;
}

Value moe::detail::ceilDivIndex(ImplicitLocOpBuilder &b, Value x, int64_t d) {
  if (d == 1)
    return x;
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  return arith::DivUIOp::create(b, arith::AddIOp::create(b, x, c(d - 1)), c(d));
}

TensorHost::TensorHost(ImplicitLocOpBuilder &b)
    : KernelHost(
          b, gpu::WaitOp::create(b, gpu::AsyncTokenType::get(b.getContext()),
                                 ValueRange())
                 .getAsyncToken()) {}

Value TensorHost::operand(Value value, MemRefType type) {
  return toKernelBuffer(b, value, type);
}

Value TensorHost::result(Value, MemRefType type, Value rows) {
  return alloc(type, rows);
}

Value TensorHost::scratch(MemRefType type, Value rows) {
  Value buffer = alloc(type, rows);
  scratchBuffers.push_back(buffer);
  return buffer;
}

SmallVector<Value> TensorHost::finish(ValueRange buffers, ValueRange results) {
  Type tokenType = gpu::AsyncTokenType::get(b.getContext());
  for (Value s : scratchBuffers)
    token = gpu::DeallocOp::create(b, tokenType, ValueRange{token}, s)
                .getAsyncToken();
  gpu::WaitOp::create(b, Type(), ValueRange{token});
  SmallVector<Value> tensors;
  for (auto [buffer, result] : llvm::zip(buffers, results)) {
    auto resultType = cast<RankedTensorType>(result.getType());
    if (cast<MemRefType>(buffer.getType()).getRank() == 1 &&
        resultType.getRank() == 2) {
      int64_t lead = resultType.getDimSize(0);
      Value size = memref::DimOp::create(b, buffer, 0);
      Value inner = arith::DivUIOp::create(
          b, size, arith::ConstantIndexOp::create(b, lead));
      buffer = memref::ExpandShapeOp::create(
          b,
          MemRefType::get({lead, ShapedType::kDynamic},
                          resultType.getElementType()),
          buffer, ArrayRef<ReassociationIndices>{{0, 1}},
          ArrayRef<OpFoldResult>{b.getIndexAttr(lead), inner});
    }
    auto type = cast<MemRefType>(buffer.getType());
    Value tensor = bufferization::ToTensorOp::create(
        b, RankedTensorType::get(type.getShape(), type.getElementType()),
        buffer, /*restrict=*/true, /*writable=*/true);
    if (tensor.getType() != resultType)
      tensor = tensor::CastOp::create(b, resultType, tensor);
    tensors.push_back(tensor);
  }
  return tensors;
}

Value TensorHost::alloc(MemRefType type, Value rows) {
  auto op = gpu::AllocOp::create(
      b, type, gpu::AsyncTokenType::get(b.getContext()), ValueRange{token},
      type.isDynamicDim(0) ? ValueRange{rows} : ValueRange(), ValueRange(),
      /*hostShared=*/false);
  token = op.getAsyncToken();
  return op.getMemref();
}
