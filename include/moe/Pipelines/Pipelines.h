//===- Pipelines.h - end-to-end moe-opt pipelines ---------------*- C++ -*-===//

#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

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

/// Registers `--moe-cpu-pipeline` and the helper passes it uses.
void registerMoEPipelines();

/// Adds the dialects and external interface models (bufferization,
/// deallocation, tiling, to-LLVM) that the CPU pipeline needs to a registry.
void registerMoECPUPipelineDialects(mlir::DialectRegistry &registry);

} // namespace moe

#endif // MOE_PIPELINES_PIPELINES_H
