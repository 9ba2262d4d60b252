//===- DependentLaunch.cpp - kernels that may launch before the last ends -===//
//
// Programmatic dependent launch (sm_90 and later): a kernel launched with
// programmatic stream serialization may be launched while the kernel before
// it on the stream still runs, and its griddepcontrol.wait holds its threads
// until that kernel has completed and its writes are visible. The wait comes
// first in every kernel, so no kernel can read a predecessor's unfinished
// results whatever it does; what overlaps is the launch and the placing of
// blocks, the gap between the short kernels of a decode step.
// launch_dependents comes after the wait: a grid's successor is launched only
// once the grid's own predecessor has finished, so the blocks waiting on the
// SMs at any time are those of one grid, placed after every block of the
// running grid was. The runtime (mgpuLaunchKernel) launches the kernels of a
// module that carries kDependentLaunchMarkerName that way.
//
//===----------------------------------------------------------------------===//

#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace moe {
#define GEN_PASS_DEF_MOEGPUDEPENDENTLAUNCH
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

bool moe::chipHasDependentLaunch(llvm::StringRef chip) {
  if (!chip.consume_front("sm_"))
    return false;
  llvm::StringRef digits = chip.take_while(llvm::isDigit);
  unsigned version = 0;
  return !digits.empty() && !digits.getAsInteger(10, version) && version >= 90;
}

namespace {

bool isKernel(Operation *op) {
  if (auto func = dyn_cast<gpu::GPUFuncOp>(op))
    return func.isKernel();
  auto func = dyn_cast<LLVM::LLVMFuncOp>(op);
  return func && !func.isExternal() &&
         (func->hasAttr(NVVM::NVVMDialect::getKernelFuncAttrName()) ||
          func->hasAttr(gpu::GPUDialect::getKernelFuncAttrName()));
}

/// Checks that every NVVM target of `module` has griddepcontrol.
LogicalResult checkTargets(gpu::GPUModuleOp module) {
  ArrayAttr targets = module.getTargetsAttr();
  bool any = false;
  for (Attribute attr : targets ? targets.getValue() : ArrayRef<Attribute>()) {
    auto target = dyn_cast<NVVM::NVVMTargetAttr>(attr);
    if (!target)
      continue;
    any = true;
    if (!moe::chipHasDependentLaunch(target.getChip()))
      return module.emitError("moe-gpu-dependent-launch: gpu.module @")
             << module.getName() << " targets " << target.getChip()
             << ": griddepcontrol (programmatic dependent launch) needs "
                "sm_90 or later";
  }
  if (!any)
    return module.emitError("moe-gpu-dependent-launch: gpu.module @")
           << module.getName()
           << " has no #nvvm.target (run gpu-nvvm-attach-target first)";
  return success();
}

struct DependentLaunchPass
    : moe::impl::MoEGPUDependentLaunchBase<DependentLaunchPass> {
  void runOnOperation() override {
    for (auto module : getOperation().getOps<gpu::GPUModuleOp>()) {
      if (failed(checkTargets(module)))
        return signalPassFailure();
      // Already done (the marker is added last).
      if (module.lookupSymbol(moe::kDependentLaunchMarkerName))
        continue;
      for (Operation &op : module.getBody()->getOperations()) {
        if (!isKernel(&op))
          continue;
        Block &entry = op.getRegion(0).front();
        OpBuilder b = OpBuilder::atBlockBegin(&entry);
        NVVM::GriddepcontrolOp::create(b, op.getLoc(),
                                       NVVM::GridDepActionKind::wait);
        NVVM::GriddepcontrolOp::create(
            b, op.getLoc(), NVVM::GridDepActionKind::launch_dependents);
      }
      OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
      Type i8 = b.getI8Type();
      LLVM::GlobalOp::create(
          b, module.getLoc(), i8, /*isConstant=*/true, LLVM::Linkage::External,
          moe::kDependentLaunchMarkerName, b.getIntegerAttr(i8, 1),
          /*alignment=*/1,
          /*addrSpace=*/
          static_cast<unsigned>(NVVM::NVVMMemorySpace::Global));
    }
  }
};

} // namespace
