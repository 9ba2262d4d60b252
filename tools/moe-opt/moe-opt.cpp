//===- moe-opt.cpp - the moe-opt driver -----------------------------------===//
//
// mlir-opt with the moe dialect and every moe-opt pass registered.
//
//===----------------------------------------------------------------------===//

#include "moe/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  moe::registerAllDialects(registry);
  moe::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "moe-opt: the Mixture-of-Experts compiler\n",
                        registry));
}
