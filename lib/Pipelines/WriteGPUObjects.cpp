//===- WriteGPUObjects.cpp - write a gpu.binary's object to a file --------===//
//
// lit tests run ptxas and cuobjdump on the PTX that gpu-module-to-binary
// embeds in the module; this pass is how they get it as a file.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/ToolOutputFile.h"

namespace moe {
#define GEN_PASS_DEF_MOEWRITEGPUOBJECTS
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

struct WriteGPUObjectsPass
    : moe::impl::MoEWriteGPUObjectsBase<WriteGPUObjectsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<gpu::ObjectAttr> objects;
    getOperation().walk([&](gpu::BinaryOp binary) {
      for (Attribute attr : binary.getObjects())
        objects.push_back(cast<gpu::ObjectAttr>(attr));
    });
    if (objects.size() != 1) {
      getOperation().emitError("moe-write-gpu-objects: expected one gpu "
                               "object, found ")
          << objects.size();
      return signalPassFailure();
    }
    std::string error;
    std::unique_ptr<llvm::ToolOutputFile> out = openOutputFile(file, &error);
    if (!out) {
      getOperation().emitError("moe-write-gpu-objects: ") << error;
      return signalPassFailure();
    }
    out->os() << objects.front().getObject().getValue();
    out->keep();
    markAllAnalysesPreserved();
  }
};

} // namespace
