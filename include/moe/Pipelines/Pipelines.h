//===- Pipelines.h - end-to-end moe-opt pipelines ---------------*- C++ -*-===//

#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

#include "moe/Pipelines/Passes.h"

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class DialectRegistry;
class OpPassManager;
} // namespace mlir

namespace moe {

struct MoECPUPipelineOptions
    : public mlir::PassPipelineOptions<MoECPUPipelineOptions> {
  Option<bool> vectorize{
      *this, "vectorize",
      llvm::cl::desc("Tile and vectorize matmul-like linalg ops (otherwise "
                     "every linalg op becomes scalar loops)"),
      llvm::cl::init(true)};
  Option<bool> fuseGating{
      *this, "fuse-gating",
      llvm::cl::desc("Compute router logits and routing in one kernel "
                     "(moe-fuse-gating)"),
      llvm::cl::init(true)};
  Option<int64_t> parameterMinBytes{
      *this, "parameter-min-bytes",
      llvm::cl::desc("Constants of at least this many bytes become trailing "
                     "parameter arguments of the entry points instead of "
                     "globals (moe-constants-to-parameters); negative: none"),
      llvm::cl::init(65536)};
  Option<bool> packParameters{
      *this, "pack-parameters",
      llvm::cl::desc(
          "Store parameters that matmuls read transposed in the "
          "plain layout, packed by the runner (moe-pack-parameters)"),
      llvm::cl::init(true)};
  Option<bool> packPanels{
      *this, "pack-panels",
      llvm::cl::desc("Store the constant weights of widening grouped matmuls "
                     "in column panels (moe-pack-panels; needs "
                     "pack-parameters)"),
      llvm::cl::init(true)};
  Option<bool> prefetchWeights{
      *this, "prefetch-weights",
      llvm::cl::desc("Prefetch the next cache block of a matmul's weight "
                     "into L2 while the current one is in use "
                     "(moe-tile-and-vectorize)"),
      llvm::cl::init(true)};
  ListOption<int64_t> tileSizes{
      *this, "tile-sizes",
      llvm::cl::desc("Register tile sizes of the M, N and K loops of a "
                     "matmul (moe-tile-and-vectorize); empty: its default")};
  Option<std::string> runtimeErrorFunction{
      *this, "runtime-error-function",
      llvm::cl::desc("C function (void(const char *), not returning) that a "
                     "failed run-time check calls with its message "
                     "(moe-report-failed-checks; moe-run defines the "
                     "default); empty: upstream's puts and abort"),
      llvm::cl::init(kRuntimeErrorFunctionName.str())};
};

/// The front-end lowerings that run first in the CPU pipeline (onnx and moe
/// dialects to linalg); the rest of the pipeline only sees
/// func/linalg/tensor/scf/arith/math on tensors.
void populateMoEFrontPasses(mlir::OpPassManager &pm,
                            const MoECPUPipelineOptions &options);

/// `--moe-cpu-pipeline`: tensors (func, linalg, tensor, scf, arith, math) to
/// the LLVM dialect, ready for mlir::ExecutionEngine or mlir-translate. Public
/// functions become C-callable entry points (see moe-prepare-entry-points):
/// arguments are read-only, results are fresh buffers the caller frees.
void buildMoECPUPipeline(mlir::OpPassManager &pm,
                         const MoECPUPipelineOptions &options);

struct MoEGPUPipelineOptions
    : public mlir::PassPipelineOptions<MoEGPUPipelineOptions> {
  Option<std::string> chip{
      *this, "chip", llvm::cl::desc("Target chip: sm_80, sm_90 or sm_90a"),
      llvm::cl::init("sm_80")};
  Option<std::string> elementType{
      *this, "element-type",
      llvm::cl::desc("Tensor-core operand type: bf16, f16, or empty for the "
                     "ops' own"),
      llvm::cl::init("")};
  Option<std::string> combine{
      *this, "combine",
      llvm::cl::desc("moe.combine as a gather kernel (kernel) or in the "
                     "grouped matmul's epilogue (epilogue)"),
      llvm::cl::init("kernel")};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("gpu-module-to-binary format: isa (PTX, needs no CUDA "
                     "toolkit), bin (cubin, runs ptxas) or fatbin"),
      llvm::cl::init("isa")};
  Option<std::string> ptxFile{
      *this, "ptx-file",
      llvm::cl::desc("Also write the binary's object (PTX for format=isa) to "
                     "this file (moe-write-gpu-objects)"),
      llvm::cl::init("")};
  Option<std::string> kernel{
      *this, "kernel",
      llvm::cl::desc("Grouped-matmul kernel: auto (decode kernel for rows "
                     "<= 16 * E, else the tile kernel, chosen at run time), "
                     "tile or decode"),
      llvm::cl::init("auto")};
  Option<std::string> wgmmaTile{
      *this, "wgmma-tile",
      llvm::cl::desc("sm_90a tile kernel: auto (128x256, warp-specialized, "
                     "where the weights allow) or 128x128"),
      llvm::cl::init("auto")};
  Option<std::string> mmaTile{
      *this, "mma-tile",
      llvm::cl::desc("sm_80/sm_90 tile kernel: auto (128x128 tiles of 8 "
                     "warps on a 4-stage ring where the weights allow) or "
                     "64x64"),
      llvm::cl::init("auto")};
  Option<int64_t> decodeBlocksPerSM{
      *this, "decode-blocks-per-sm",
      llvm::cl::desc("Blocks per SM the 4-warp decode kernel is compiled for "
                     "(nvvm.minctasm; 0: ptxas's choice), for comparisons"),
      llvm::cl::init(0)};
  Option<bool> dependentLaunch{
      *this, "dependent-launch",
      llvm::cl::desc("On sm_90 and later, begin every kernel with "
                     "griddepcontrol.wait so that the runtime may launch it "
                     "while the kernel before it drains "
                     "(moe-gpu-dependent-launch)"),
      llvm::cl::init(true)};
  Option<bool> entryPoints{
      *this, "entry-points",
      llvm::cl::desc("Replace the module's functions by the C entry points "
                     "of include/moe-c/GPU.h (moe-gpu-entry-points), for a "
                     "library built ahead of time (moe-gpu-aot)"),
      llvm::cl::init(false)};
};

/// `--moe-gpu-pipeline`: moe ops on tensors to host code in the LLVM dialect
/// that launches kernels through the mgpu* runtime, with the kernels in a
/// `gpu.binary` (PTX or cubin for `chip`).
void buildMoEGPUPipeline(mlir::OpPassManager &pm,
                         const MoEGPUPipelineOptions &options);

/// Adds the dialects, interface models and LLVM IR translations the GPU
/// pipeline needs (kernel serialization goes through LLVM's NVPTX backend).
void registerMoEGPUPipelineDialects(mlir::DialectRegistry &registry);

/// Registers `--moe-cpu-pipeline` and the helper passes it uses.
void registerMoEPipelines();

/// Adds the dialects and external interface models (bufferization,
/// deallocation, tiling, to-LLVM) that the CPU pipeline needs to a registry.
void registerMoECPUPipelineDialects(mlir::DialectRegistry &registry);

} // namespace moe

#endif // MOE_PIPELINES_PIPELINES_H
