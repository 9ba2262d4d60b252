//===- MoEPlugin.cpp - moe dialect and passes for a stock mlir-opt --------===//
//
//   mlir-opt --load-dialect-plugin=MoEPlugin.so --load-pass-plugin=MoEPlugin.so
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/ONNX/IR/ONNX.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MoE", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            registry->insert<moe::MoEDialect, moe::onnx::ONNXDialect>();
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MoEPasses", LLVM_VERSION_STRING, []() {
            moe::registerMoEPasses();
            moe::registerMoEConversionPasses();
          }};
}
