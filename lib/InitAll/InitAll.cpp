//===- InitAll.cpp - register every moe-opt dialect and pass --------------===//

#include "moe/InitAll.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/ONNX/IR/ONNX.h"
#include "moe/Dialect/ONNX/Transforms/Passes.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

void moe::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<moe::MoEDialect, moe::onnx::ONNXDialect,
                  mlir::arith::ArithDialect, mlir::func::FuncDialect,
                  mlir::linalg::LinalgDialect, mlir::math::MathDialect,
                  mlir::memref::MemRefDialect, mlir::scf::SCFDialect,
                  mlir::tensor::TensorDialect>();
  moe::registerMoECPUPipelineDialects(registry);
  moe::registerMoEGPUPipelineDialects(registry);
}

void moe::registerAllPasses() {
  mlir::registerTransformsPasses();
  moe::registerMoEPasses();
  moe::registerMoEConversionPasses();
  moe::onnx::registerONNXPasses();
  moe::registerMoEPipelines();
}
