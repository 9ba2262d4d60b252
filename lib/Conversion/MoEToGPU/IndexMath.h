//===- IndexMath.h - index arithmetic for kernel builders ------*- C++ -*-===//
//
// The GPU kernels are built op by op; their index arithmetic reads better
// as m.add(x, m.mul(y, m.c(4))) than as chains of create calls.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_INDEXMATH_H
#define MOE_LIB_CONVERSION_MOETOGPU_INDEXMATH_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace moe::detail {

/// Unsigned index (and i32) arithmetic at `b`'s insertion point.
struct IndexMath {
  mlir::ImplicitLocOpBuilder &b;

  mlir::Value c(int64_t v) {
    return mlir::arith::ConstantIndexOp::create(b, v);
  }
  mlir::Value i32(int64_t v) {
    return mlir::arith::ConstantIntOp::create(b, v, 32);
  }
  mlir::Value add(mlir::Value x, mlir::Value y) {
    return mlir::arith::AddIOp::create(b, x, y);
  }
  mlir::Value sub(mlir::Value x, mlir::Value y) {
    return mlir::arith::SubIOp::create(b, x, y);
  }
  mlir::Value mul(mlir::Value x, mlir::Value y) {
    return mlir::arith::MulIOp::create(b, x, y);
  }
  mlir::Value div(mlir::Value x, int64_t y) {
    return mlir::arith::DivUIOp::create(b, x, c(y));
  }
  mlir::Value rem(mlir::Value x, int64_t y) {
    return mlir::arith::RemUIOp::create(b, x, c(y));
  }
  mlir::Value min(mlir::Value x, mlir::Value y) {
    return mlir::arith::MinUIOp::create(b, x, y);
  }
  mlir::Value cmp(mlir::arith::CmpIPredicate p, mlir::Value x, mlir::Value y) {
    return mlir::arith::CmpIOp::create(b, p, x, y);
  }
  mlir::Value ult(mlir::Value x, mlir::Value y) {
    return cmp(mlir::arith::CmpIPredicate::ult, x, y);
  }
  mlir::Value uge(mlir::Value x, mlir::Value y) {
    return cmp(mlir::arith::CmpIPredicate::uge, x, y);
  }
  mlir::Value eq(mlir::Value x, mlir::Value y) {
    return cmp(mlir::arith::CmpIPredicate::eq, x, y);
  }
  mlir::Value both(mlir::Value x, mlir::Value y) {
    return mlir::arith::AndIOp::create(b, x, y);
  }
  mlir::Value select(mlir::Value cond, mlir::Value x, mlir::Value y) {
    return mlir::arith::SelectOp::create(b, cond, x, y);
  }
  mlir::Value toI32(mlir::Value x) {
    return mlir::arith::IndexCastUIOp::create(b, b.getI32Type(), x);
  }
  mlir::Value toIndex(mlir::Value x) {
    return mlir::arith::IndexCastUIOp::create(b, b.getIndexType(), x);
  }
  /// Runs `body` under `cond` (no results).
  template <typename Body> void when(mlir::Value cond, Body body) {
    auto ifOp = mlir::scf::IfOp::create(b, cond, /*withElseRegion=*/false);
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    body();
  }
};

} // namespace moe::detail

#endif // MOE_LIB_CONVERSION_MOETOGPU_INDEXMATH_H
