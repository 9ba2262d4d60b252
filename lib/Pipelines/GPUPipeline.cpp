//===- GPUPipeline.cpp - moe ops to a launched, serialized GPU kernel -----===//
//
// convert-moe-to-gpu puts the kernels in a gpu.module and leaves the host on
// tensors; one-shot bufferization then makes the host memrefs, and
// upstream's gpu-lower-to-nvvm-pipeline does the rest: kernels to NVVM, host
// launches to mgpu* calls, and gpu-module-to-binary through LLVM's NVPTX
// backend (format=isa needs no CUDA toolkit, so CI can run it), with
// moe-gpu-tensor-map-params and (sm_90 and later) moe-gpu-dependent-launch
// before the serialization.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Pipelines/Passes.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Conversion/GPUCommon/GPUToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void moe::buildMoEGPUPipeline(OpPassManager &pm,
                              const MoEGPUPipelineOptions &options) {
  if (options.entryPoints) {
    MoEGPUEntryPointsOptions entries;
    entries.chip = options.chip;
    entries.combine = options.combine;
    entries.kernel = options.kernel;
    entries.wgmmaTile = options.wgmmaTile;
    entries.mmaTile = options.mmaTile;
    entries.decodeBlocksPerSM = options.decodeBlocksPerSM;
    pm.addPass(createMoEGPUEntryPoints(entries));
  }
  ConvertMoEToGPUOptions toGPU;
  toGPU.chip = options.chip;
  toGPU.elementType = options.elementType;
  toGPU.combine = options.combine;
  toGPU.kernel = options.kernel;
  toGPU.wgmmaTile = options.wgmmaTile;
  toGPU.mmaTile = options.mmaTile;
  toGPU.decodeBlocksPerSM = options.decodeBlocksPerSM;
  pm.addPass(createConvertMoEToGPU(toGPU));

  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Upstream's gpu-lower-to-nvvm-pipeline (MLIR 22, as its
  // --dump-pass-pipeline prints it), spelled out so that
  // moe-gpu-tensor-map-params runs between the kernels' and the host's
  // lowering and the serialization.
  pm.addPass(createConvertNVGPUToNVVMPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertNVVMToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  // PTX 8.0 is the first with sm_90a; CUDA 12.0's ptxas and later read it.
  target.features = "+ptx80";
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createArithToLLVMConversionPass());
  ConvertIndexToLLVMPassOptions index;
  index.indexBitwidth = 64;
  pm.addPass(createConvertIndexToLLVMPass(index));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  ConvertGpuOpsToNVVMOpsOptions kernels;
  kernels.indexBitwidth = 64;
  OpPassManager &gpuModules = pm.nest<gpu::GPUModuleOp>();
  gpuModules.addPass(createConvertGpuOpsToNVVMOps(kernels));
  gpuModules.addPass(createCanonicalizerPass());
  gpuModules.addPass(createCSEPass());
  gpuModules.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createMoEGPUTensorMapParams());
  if (options.dependentLaunch && chipHasDependentLaunch(options.chip))
    pm.addPass(createMoEGPUDependentLaunch());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  pm.addPass(createGpuModuleToBinaryPass(binary));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());

  if (!options.ptxFile.empty()) {
    MoEWriteGPUObjectsOptions write;
    write.file = options.ptxFile;
    pm.addPass(createMoEWriteGPUObjects(write));
  }
}

void moe::registerMoEGPUPipelineDialects(DialectRegistry &registry) {
  registry.insert<gpu::GPUDialect, LLVM::LLVMDialect, NVVM::NVVMDialect,
                  nvgpu::NVGPUDialect, vector::VectorDialect>();
  // Kernel and host lowering find their patterns through these interfaces.
  gpu::registerConvertGpuToLLVMInterface(registry);
  NVVM::registerConvertGpuToNVVMInterface(registry);
  registerConvertNVVMToLLVMInterface(registry);
  // gpu-module-to-binary serializes through #nvvm.target and LLVM IR.
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
}
