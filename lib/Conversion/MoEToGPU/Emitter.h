//===- Emitter.h - op-by-op builder helpers of the GPU kernels --*- C++ -*-===//
//
// Arithmetic, loads, shuffles and structured control flow with less noise,
// for the kernels that are built op by op (routing, dispatch, the grouped
// matmuls).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_EMITTER_H
#define MOE_LIB_CONVERSION_MOETOGPU_EMITTER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <limits>

namespace moe::detail {

using mlir::function_ref;
using mlir::SmallVector;
using mlir::Type;
using mlir::Value;
using mlir::ValueRange;

/// Arithmetic with less noise; `b` moves into nested regions.
struct Emitter {
  mlir::ImplicitLocOpBuilder &b;

  Value c(int64_t v) { return mlir::arith::ConstantIndexOp::create(b, v); }
  Value i32(int64_t v) {
    return mlir::arith::ConstantIntOp::create(b, b.getI32Type(), v);
  }
  Value f32(double v) {
    return mlir::arith::ConstantOp::create(b, b.getF32FloatAttr(float(v)));
  }
  Value ninf() { return f32(-std::numeric_limits<double>::infinity()); }
  Value add(Value x, Value y) { return mlir::arith::AddIOp::create(b, x, y); }
  Value sub(Value x, Value y) { return mlir::arith::SubIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return mlir::arith::MulIOp::create(b, x, y); }
  Value div(Value x, int64_t y) {
    return mlir::arith::DivUIOp::create(b, x, c(y));
  }
  Value rem(Value x, int64_t y) {
    return mlir::arith::RemUIOp::create(b, x, c(y));
  }
  Value cmpi(mlir::arith::CmpIPredicate p, Value x, Value y) {
    return mlir::arith::CmpIOp::create(b, p, x, y);
  }
  /// Unsigned minimum (indices and sizes).
  Value min(Value x, Value y) { return mlir::arith::MinUIOp::create(b, x, y); }
  Value ult(Value x, Value y) {
    return cmpi(mlir::arith::CmpIPredicate::ult, x, y);
  }
  Value uge(Value x, Value y) {
    return cmpi(mlir::arith::CmpIPredicate::uge, x, y);
  }
  Value eq(Value x, Value y) {
    return cmpi(mlir::arith::CmpIPredicate::eq, x, y);
  }
  Value i1(bool v) { return mlir::arith::ConstantIntOp::create(b, v, 1); }
  Value negate(Value cond) {
    return mlir::arith::XOrIOp::create(b, cond, i1(true));
  }
  Value both(Value x, Value y) { return mlir::arith::AndIOp::create(b, x, y); }
  Value either(Value x, Value y) { return mlir::arith::OrIOp::create(b, x, y); }
  Value select(Value cond, Value x, Value y) {
    return mlir::arith::SelectOp::create(b, cond, x, y);
  }
  Value toI32(Value index) {
    return mlir::arith::IndexCastOp::create(b, b.getI32Type(), index);
  }
  Value toIndex(Value v) {
    return mlir::arith::IndexCastOp::create(b, b.getIndexType(), v);
  }
  /// Casts of values known to be non-negative (index_castui).
  Value unsignedToI32(Value index) {
    return mlir::arith::IndexCastUIOp::create(b, b.getI32Type(), index);
  }
  Value unsignedToIndex(Value v) {
    return mlir::arith::IndexCastUIOp::create(b, b.getIndexType(), v);
  }
  Value addf(Value x, Value y) { return mlir::arith::AddFOp::create(b, x, y); }
  Value mulf(Value x, Value y) { return mlir::arith::MulFOp::create(b, x, y); }
  Value divf(Value x, Value y) { return mlir::arith::DivFOp::create(b, x, y); }
  Value subf(Value x, Value y) { return mlir::arith::SubFOp::create(b, x, y); }
  Value cmpf(mlir::arith::CmpFPredicate p, Value x, Value y) {
    return mlir::arith::CmpFOp::create(b, p, x, y);
  }
  /// `v` (a float scalar or vector) as f32.
  Value toF32(Value v) {
    Type f32Type = b.getF32Type();
    if (auto vec = mlir::dyn_cast<mlir::VectorType>(v.getType()))
      f32Type = mlir::VectorType::get(vec.getShape(), f32Type);
    if (v.getType() == f32Type)
      return v;
    if (mlir::getElementTypeOrSelf(v.getType()).getIntOrFloatBitWidth() < 32)
      return mlir::arith::ExtFOp::create(b, f32Type, v);
    return mlir::arith::TruncFOp::create(b, f32Type, v);
  }
  /// f32 `v` (a scalar or vector) as float type `t` (its elements).
  Value fromF32(Value v, Type t) {
    if (t.isF32())
      return v;
    Type to = t;
    if (auto vec = mlir::dyn_cast<mlir::VectorType>(v.getType()))
      to = mlir::VectorType::get(vec.getShape(), t);
    if (t.getIntOrFloatBitWidth() < 32)
      return mlir::arith::TruncFOp::create(b, to, v);
    return mlir::arith::ExtFOp::create(b, to, v);
  }
  Value load(Value mem, ValueRange idx) {
    return mlir::memref::LoadOp::create(b, mem, idx);
  }
  void store(Value v, Value mem, ValueRange idx) {
    mlir::memref::StoreOp::create(b, v, mem, idx);
  }
  Value shuffleXor(Value v, int32_t offset) {
    return mlir::gpu::ShuffleOp::create(b, v, offset, 32,
                                        mlir::gpu::ShuffleMode::XOR)
        .getShuffleResult();
  }

  /// scf.for from lo to hi; `body` returns the yielded values.
  mlir::scf::ForOp
  loop(Value lo, Value hi, Value step, ValueRange inits,
       function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return mlir::scf::ForOp::create(
        b, lo, hi, step, inits,
        [&](mlir::OpBuilder &nb, mlir::Location loc, Value iv,
            ValueRange iter) {
          mlir::OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          mlir::scf::YieldOp::create(b, body(iv, iter));
        });
  }
  /// scf.if without results.
  void ifThen(Value cond, function_ref<void()> body) {
    auto op = mlir::scf::IfOp::create(b, cond, /*withElseRegion=*/false);
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(op.thenBlock()->getTerminator());
    body();
  }
  /// scf.if yielding `then()`'s values, else `otherwise`.
  SmallVector<Value> ifElse(Value cond, function_ref<SmallVector<Value>()> then,
                            ValueRange otherwise) {
    auto op = mlir::scf::IfOp::create(b, mlir::TypeRange(otherwise), cond,
                                      /*withElseRegion=*/true);
    {
      mlir::OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(op.thenBlock());
      mlir::scf::YieldOp::create(b, then());
      b.setInsertionPointToStart(op.elseBlock());
      mlir::scf::YieldOp::create(b, otherwise);
    }
    return SmallVector<Value>(op.getResults());
  }
};

/// Aligns every shared-memory buffer of `func` to 16 bytes, for kernels
/// with 16-byte accesses (cp.async, ldmatrix, st.shared.v4): without the
/// attribute the PTX declares a buffer with its element's alignment.
inline void alignWorkgroupAttributions(mlir::gpu::GPUFuncOp func) {
  mlir::Builder b(func.getContext());
  for (unsigned i = 0; i < func.getNumWorkgroupAttributions(); ++i)
    func.setWorkgroupAttributionAttr(
        i, mlir::LLVM::LLVMDialect::getAlignAttrName(),
        b.getI64IntegerAttr(16));
}

/// A kernel gpu.func named `name` with `known_block_size` (threads, 1, 1)
/// and workgroup attributions of the `smem` types; `b` is left at the start
/// of its body.
inline mlir::gpu::GPUFuncOp createKernelFunc(mlir::ImplicitLocOpBuilder &b,
                                             llvm::StringRef name,
                                             llvm::ArrayRef<Type> args,
                                             llvm::ArrayRef<Type> smem,
                                             int64_t threads) {
  auto func =
      mlir::gpu::GPUFuncOp::create(b, name, b.getFunctionType(args, {}),
                                   mlir::TypeRange(smem), mlir::TypeRange());
  func->setAttr(mlir::gpu::GPUDialect::getKernelFuncAttrName(),
                b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  return func;
}

/// Ends `func` with gpu.return and puts `b` back after it.
inline void finishKernelFunc(mlir::ImplicitLocOpBuilder &b,
                             mlir::gpu::GPUFuncOp func) {
  b.setInsertionPointToEnd(&func.getBody().front());
  mlir::gpu::ReturnOp::create(b);
  b.setInsertionPointAfter(func);
}

/// A shared-memory (workgroup) memref type.
inline Type workgroupMemRefType(mlir::MLIRContext *ctx,
                                llvm::ArrayRef<int64_t> shape, Type elt) {
  return mlir::MemRefType::get(shape, elt, mlir::MemRefLayoutAttrInterface(),
                               mlir::gpu::AddressSpaceAttr::get(
                                   ctx, mlir::gpu::AddressSpace::Workgroup));
}

} // namespace moe::detail

#endif // MOE_LIB_CONVERSION_MOETOGPU_EMITTER_H
