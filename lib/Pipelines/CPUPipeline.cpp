//===- CPUPipeline.cpp - tensors to the LLVM dialect for the CPU ----------===//
//
// One path from value-semantics IR to LLVM: bufferize once over the whole
// module (function boundaries included, so dynamic shapes flow through calls),
// let the ownership-based deallocation pipeline free every temporary, then
// lower loops and memrefs to LLVM. The order of the LLVM conversions follows
// upstream's test-lower-to-llvm: everything that produces affine/arith/scf
// (vector-to-scf, linalg-to-loops, expand-strided-metadata) runs before the
// passes that remove those dialects.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Dialect/ONNX/Transforms/Passes.h"
#include "moe/Pipelines/Passes.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void moe::populateMoEFrontPasses(OpPassManager &pm,
                                 const MoECPUPipelineOptions &options) {
  // Imported ONNX graphs: type every node, then lower what was not raised
  // to moe ops (raising goes between these two, on typed nodes).
  pm.addPass(onnx::createONNXInferShapes());
  pm.addPass(createONNXRaiseMoE());
  pm.addPass(createConvertONNXToLinalg());
  // moe ops become linalg/tensor/scf plus calls of the routing and dispatch
  // kernels; inlining the kernels lets canonicalization fold the branches the
  // ops' attributes rule out. Everything after this point only sees upstream
  // dialects on tensors.
  if (options.fuseGating)
    pm.addPass(createMoEFuseGating());
  // Column panels are packed once by the runner only where constants become
  // parameters that moe-pack-parameters packs; elsewhere their change of
  // layout would run in every call.
  if (options.packPanels && options.packParameters &&
      options.parameterMinBytes >= 0) {
    pm.addPass(createMoEExpandExperts());
    pm.addPass(createMoEPackPanels());
  }
  pm.addPass(createConvertMoEToLinalg());
  pm.addPass(createInlinerPass());
  pm.addPass(createSymbolDCEPass());
}

/// Tensor-level clean-up and (optionally) codegen of the matmul-like ops.
static void addTensorPasses(OpPassManager &pm,
                            const moe::MoECPUPipelineOptions &options) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (options.vectorize) {
    moe::MoETileAndVectorizeOptions tiling;
    tiling.tileSizes.assign(options.tileSizes.begin(), options.tileSizes.end());
    tiling.prefetchWeights = options.prefetchWeights;
    pm.addNestedPass<func::FuncOp>(moe::createMoETileAndVectorize(tiling));
    pm.addNestedPass<func::FuncOp>(moe::createMoEApproximateMath());
    pm.addPass(createCanonicalizerPass());
  }
}

static void addBufferizationPasses(OpPassManager &pm) {
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  // Identity layouts at the boundary: a runner passes and receives plain
  // row-major buffers; a result that is a strided view is copied instead.
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  bufferize.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(bufferization::createBufferHoistingPass());
  pm.addNestedPass<func::FuncOp>(bufferization::createBufferLoopHoistingPass());
  // Ownership-based deallocation frees every temporary and clones any result
  // the function does not own (an argument, a constant global), so each
  // returned buffer is a fresh allocation that belongs to the caller.
  bufferization::buildBufferDeallocationPipeline(pm);
  // The clones that deallocation inserted become memref.alloc + memref.copy.
  pm.addPass(createConvertBufferizationToMemRefPass());
}

static void addLoopPasses(OpPassManager &pm) {
  // n-D transfers unroll into 1-D ones, which LLVM has masked loads for.
  pm.addPass(createConvertVectorToSCFPass(
      VectorTransferToSCFOptions().enableFullUnroll().setTargetRank(1)));
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

static void addLLVMConversionPasses(OpPassManager &pm,
                                    const moe::MoECPUPipelineOptions &options) {
  // A failed run-time check calls moe_runtime_error (moe-run's), not abort.
  if (!options.runtimeErrorFunction.empty())
    pm.addPass(moe::createMoEReportFailedChecks(
        moe::MoEReportFailedChecksOptions{options.runtimeErrorFunction}));
  // No bf16 arithmetic on the host and no __truncsfbf2 in Debian's libgcc:
  // compute bf16 in f32 and expand the conversions into integer ops.
  math::MathExtendToSupportedTypesOptions mathExtend;
  pm.addPass(math::createMathExtendToSupportedTypes(mathExtend));
  arith::ArithEmulateUnsupportedFloatsOptions emulate;
  emulate.sourceTypeStrs = {"bf16"};
  emulate.targetTypeStr = "f32";
  pm.addPass(arith::createArithEmulateUnsupportedFloats(emulate));
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));

  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  // A register tile of outer products (broadcast + FMA per K step) instead
  // of one horizontal reduction per output element.
  vectorToLLVM.vectorContractLowering =
      vector::VectorContractLowering::OuterProduct;
  // Register transposes of operand tiles become shuffles of whole rows.
  vectorToLLVM.vectorTransposeLowering =
      vector::VectorTransposeLowering::Shuffle1D;
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  pm.addNestedPass<func::FuncOp>(createConvertMathToLLVMPass());
  // What LLVM has no intrinsic for (erf, tanh, ...) becomes a libm call.
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void moe::buildMoECPUPipeline(OpPassManager &pm,
                              const MoECPUPipelineOptions &options) {
  populateMoEFrontPasses(pm, options);
  // Before the entry signatures are recorded: parameters are arguments.
  pm.addPass(createMoEConstantsToParameters(
      MoEConstantsToParametersOptions{options.parameterMinBytes}));
  if (options.packParameters)
    pm.addPass(createMoEPackParameters());
  pm.addPass(createMoEPrepareEntryPoints());
  addTensorPasses(pm, options);
  addBufferizationPasses(pm);
  addLoopPasses(pm);
  addLLVMConversionPasses(pm, options);
}

void moe::registerMoEPipelines() {
  registerMoEPipelinesPasses();
  PassPipelineRegistration<MoECPUPipelineOptions>(
      "moe-cpu-pipeline",
      "Lower func/linalg/tensor/scf/arith/math on tensors to the LLVM "
      "dialect for the CPU (C-callable entry points, see moe-run)",
      buildMoECPUPipeline);
  PassPipelineRegistration<MoEGPUPipelineOptions>(
      "moe-gpu-pipeline",
      "Lower moe ops to NVIDIA GPU kernels (tensor cores) in a gpu.binary "
      "and host code launching them through the mgpu* runtime",
      buildMoEGPUPipeline);
}
