//===- InitAll.cpp - register every moe-opt dialect and pass --------------===//

#include "moe/InitAll.h"

#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void moe::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<moe::MoEDialect, mlir::arith::ArithDialect,
                  mlir::func::FuncDialect, mlir::tensor::TensorDialect>();
}

void moe::registerAllPasses() {
  mlir::registerTransformsPasses();
  moe::registerMoEPasses();
}
