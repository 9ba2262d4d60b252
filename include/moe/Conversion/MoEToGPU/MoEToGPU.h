//===- MoEToGPU.h - moe -> gpu/nvgpu/nvvm kernels ---------------*- C++ -*-===//

#ifndef MOE_CONVERSION_MOETOGPU_MOETOGPU_H
#define MOE_CONVERSION_MOETOGPU_MOETOGPU_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir {
class RewritePatternSet;
} // namespace mlir

namespace moe {

class ActivationOp;
class CombineOp;
class ScatterColumnsOp;
class DispatchOp;
class DequantizeOp;
class GroupedMatmulOp;

/// What the GPU kernels are generated for.
struct MoEToGPUOptions {
  /// sm_80 or sm_90 (mma.sync kernels) or sm_90a (wgmma + TMA kernels, the
  /// mma.sync tile kernel for quantized weights; see docs/GPU.md).
  std::string chip = "sm_80";
  /// Tensor-core operand type the rows and weights must have: "bf16", "f16"
  /// or empty for whichever of the two the op has.
  std::string elementType;
  /// moe.combine: "kernel" (a gather kernel) or "epilogue" (fp32 atomics in
  /// the producing grouped matmul's epilogue, when it has one).
  std::string combine = "kernel";
  /// Grouped-matmul kernel the launches use: "auto" (the decode kernel for
  /// rows <= decodeGroupedMatmulMaxRows(E), else the tile kernel, chosen at
  /// run time), "tile" or "decode" (forced, for tests and benchmarks).
  std::string kernel = "auto";
  /// The sm_90a tile kernel's form: "auto" (128 x 256 tiles, warp-
  /// specialized, where the weights allow: 16-bit, not packed, at least 256
  /// columns; else 128 x 128) or
  /// "128x128" (forced, for comparisons).
  std::string wgmmaTile = "auto";
  /// The mma.sync tile kernel's form (sm_80, sm_90): "auto" (128 x 128
  /// tiles of 8 warps on a 4-stage ring for weights of at least 128
  /// columns, 64 outputs with gate/up pairs; else 64 x 64 on two stages) or
  /// "64x64" (forced, for comparisons).
  std::string mmaTile = "auto";
  /// Blocks per SM the 4-warp decode kernel is compiled for (nvvm.minctasm),
  /// or 0 for ptxas's choice (see isDecodeBlocksPerSMChoice).
  int64_t decodeBlocksPerSM = 0;
};

/// Kernel attribute `moe.tensor_map_params = N`: the kernel's last N
/// arguments are pointers to CUtensorMaps that it reads as
/// __grid_constant__ parameters. moe-gpu-tensor-map-params makes them
/// 128-byte by-value parameters once the kernel is an NVVM llvm.func, and
/// makes every launch pass the maps' bytes.
constexpr llvm::StringLiteral kTensorMapParamsAttr = "moe.tensor_map_params";

/// True if `blocks` is a value of MoEToGPUOptions::decodeBlocksPerSM: 0
/// (ptxas's choice) or 1-3 (a 128-thread block at 168 registers fits three
/// times).
bool isDecodeBlocksPerSMChoice(int64_t blocks);

/// True if `tile` is a value of MoEToGPUOptions::wgmmaTile.
bool isWgmmaTileChoice(llvm::StringRef tile);

/// True if `tile` is a value of MoEToGPUOptions::mmaTile.
bool isMmaTileChoice(llvm::StringRef tile);

/// True if `kernel` is a value of MoEToGPUOptions::kernel.
bool isGroupedMatmulKernelChoice(llvm::StringRef kernel);

/// The row count up to which "auto" launches the weight-streaming decode
/// kernel for E = `groups`: 16 rows per group on average (docs/GPU.md).
int64_t decodeGroupedMatmulMaxRows(int64_t groups);

/// True if `chip` is one the patterns generate kernels for.
bool isSupportedGPUChip(const std::string &chip);

/// Checks every field of `options` against the values its pass option may
/// take; the first bad one is reported on `op` as "<pass>: ..." (the
/// option's name, the values it takes, and the value given).
mlir::LogicalResult checkMoEToGPUOptions(mlir::Operation *op,
                                         llvm::StringRef pass,
                                         const MoEToGPUOptions &options);

/// Patterns replacing `moe.grouped_matmul` (stacked weights) by a launch of
/// a tensor-core kernel that they add to the `gpu.module` named
/// `moe_kernels` of the enclosing module (created on first use; the module
/// must then carry `gpu.container_module`). The host side stays on tensors:
/// operands go through `bufferization.to_buffer`, the result comes from a
/// `gpu.alloc` through `bufferization.to_tensor`.
void populateMoEToGPUPatterns(mlir::RewritePatternSet &patterns,
                              const MoEToGPUOptions &options);

/// Succeeds if `op` has a GPU form under `options`, else emits an error at
/// `op` saying why.
mlir::LogicalResult checkGroupedMatmulForGPU(GroupedMatmulOp op,
                                             const MoEToGPUOptions &options);

/// Why the decode kernel cannot read `op`'s packed weights as the
/// transposed rhs of a grouped matmul ("" if it can): 2, 4 or 8 bits, a
/// stacked [E, N, packed K] weight with K a multiple of 32 (16 for 8 bits), a
/// block size that is a multiple of 4, f32/f16/bf16 scales.
std::string quantizedWeightsUnsupportedReason(DequantizeOp op);

/// Succeed if the moe.activation / moe.combine op has a GPU kernel (fused
/// or not), else emit an error at `op` saying why.
mlir::LogicalResult checkActivationForGPU(ActivationOp op);
mlir::LogicalResult checkCombineForGPU(CombineOp op);
mlir::LogicalResult checkScatterColumnsForGPU(ScatterColumnsOp op);

/// True if `op` is lowered as part of its user's kernel (a fused activation
/// or, with combine=epilogue, a fused combine) rather than on its own.
bool isFusedIntoUser(GroupedMatmulOp op, const MoEToGPUOptions &options);

/// Where the kernels of one moe op get their buffers and their stream:
/// tensors and gpu.alloc in convert-moe-to-gpu, the caller's pointers and
/// workspace in the layer entries of moe-gpu-entry-points. A host queues
/// everything on one stream in program order, which also orders what follows
/// a run-time kernel choice (selectGroupedMatmulKernel): the launch's token
/// cannot leave its scf.if branch (the NVVM lowering takes no
/// !gpu.async.token through scf), so `token` stays the stream's.
class KernelHost {
public:
  KernelHost(mlir::ImplicitLocOpBuilder &b, mlir::Value stream)
      : b(b), token(stream) {}
  virtual ~KernelHost() = default;
  /// The buffer of `value` (a tensor operand of the op) as `type`.
  virtual mlir::Value operand(mlir::Value value, mlir::MemRefType type) = 0;
  /// The buffer the op's result `value` goes to: `rows` rows of `type`.
  virtual mlir::Value result(mlir::Value value, mlir::MemRefType type,
                             mlir::Value rows) = 0;
  /// A buffer that only the op's own kernels use (`rows` rows of `type`).
  virtual mlir::Value scratch(mlir::MemRefType type, mlir::Value rows) = 0;
  /// The host value of `value`, an index operand of the op (a dispatch's
  /// group_size): itself, or a layer entry's scalar argument.
  virtual mlir::Value index(mlir::Value value) { return value; }
  /// Queues a memset of `buffer` to `value` after what is queued.
  virtual void fill(mlir::Value buffer, mlir::TypedAttr value);
  /// Queues a launch of `kernel` (block size: its known_block_size).
  virtual void launch(mlir::gpu::GPUFuncOp kernel, mlir::gpu::KernelDim3 grid,
                      mlir::ValueRange args);
  /// False where only the buffers are wanted (a workspace-size function):
  /// helpers that build launches themselves skip them then.
  virtual bool queuesLaunches() const { return true; }

  mlir::ImplicitLocOpBuilder &b;
  /// The stream (an async token) the next memset or launch waits for.
  mlir::Value token;
};

/// Queues the kernels of `op` (moe.grouped_matmul, moe.activation,
/// moe.combine or moe.scatter_columns, including the producers folded into its
/// kernel, see isFusedIntoUser) on `host`, and returns the buffer of its
/// result. The op must have passed the check*ForGPU functions.
mlir::FailureOr<mlir::Value> launchMoEOp(KernelHost &host, mlir::Operation *op,
                                         const MoEToGPUOptions &options);

/// Queues the routing kernel of a moe.fused_route or moe.route on `host`;
/// returns the buffers of its weights and indices.
mlir::FailureOr<llvm::SmallVector<mlir::Value>>
launchRoutingOp(KernelHost &host, mlir::Operation *op);

/// Queues the dispatch kernels of `op` on `host` (its counts and source
/// scratch from host.scratch); returns the buffers of rows, offsets and the
/// row map.
mlir::FailureOr<llvm::SmallVector<mlir::Value>>
launchDispatchOp(KernelHost &host, DispatchOp op);

/// The grouped matmuls whose work `op`'s kernels do (fused producers).
llvm::SmallVector<mlir::Operation *, 2>
getFusedProducers(mlir::Operation *op, const MoEToGPUOptions &options);

/// The kernels `op` launches under `options.kernel`: the tile kernel, the
/// decode kernel or both (a null one is not used), in the `moe_kernels`
/// gpu.module of the enclosing module (both built on first use; the module
/// gets `gpu.container_module`). Fails with an error at `op` when the op has
/// no GPU form, leaving the module unchanged. For callers that build their
/// own host code (e.g. moe-gpu-entry-points).
struct GroupedMatmulKernels {
  mlir::gpu::GPUFuncOp tile, decode;
};
mlir::FailureOr<GroupedMatmulKernels>
getGroupedMatmulKernels(GroupedMatmulOp op, const MoEToGPUOptions &options);

/// Launches one of `kernels` on `buffers` after `asyncDependency`: with
/// both, `scf.if rows <= decodeGroupedMatmulMaxRows(E)` picks the decode
/// kernel, else the tile kernel (the host knows only the row count); the
/// decode kernel's 8-warp form where its grid has no more blocks than the
/// device has SMs (moe_gpu_multiprocessor_count). `afterLaunch` is called
/// after each launch, in its block, with the launch's token.
void selectGroupedMatmulKernel(
    mlir::OpBuilder &builder, mlir::Location loc,
    const GroupedMatmulKernels &kernels, mlir::ValueRange buffers,
    mlir::Value rows, mlir::Value asyncDependency,
    llvm::function_ref<void(mlir::OpBuilder &, mlir::Value)> afterLaunch);
/// True if `kernel` is the sm_90a wgmma + TMA kernel (else the mma.sync one).
bool isWgmmaKernel(mlir::gpu::GPUFuncOp kernel);
/// True if `kernel` is the persistent warp-specialized form of the wgmma
/// kernel (128 x 256 tiles; one block per SM walks several).
bool isWarpSpecializedKernel(mlir::gpu::GPUFuncOp kernel);

/// Launches `kernel` after `asyncDependency` (a stream) on its grid for
/// `rows` (an index, the row count of `buffers[0]`); `buffers` are the
/// kernel's memref arguments. Returns the launch's async token.
mlir::Value launchGroupedMatmul(mlir::OpBuilder &builder, mlir::Location loc,
                                mlir::gpu::GPUFuncOp kernel,
                                mlir::ValueRange buffers, mlir::Value rows,
                                mlir::Value asyncDependency);

/// Patterns replacing `moe.fused_route` and `moe.route` (token choice and
/// top_p) by a launch of the routing kernel (LowerRouting.cpp); also added
/// by populateMoEToGPUPatterns.
void populateRoutingToGPUPatterns(mlir::RewritePatternSet &patterns);

/// Succeeds if `op` (moe.fused_route, moe.route or moe.gate) has a GPU form,
/// else emits an error at `op` saying why.
mlir::LogicalResult checkRoutingForGPU(mlir::Operation *op);

/// The routing kernel of a moe.fused_route or moe.route, built on first use
/// in the `moe_kernels` gpu.module; fails with an error at `op` like
/// checkRoutingForGPU.
mlir::FailureOr<mlir::gpu::GPUFuncOp> getRoutingKernel(mlir::Operation *op);

/// grid.y of a routing kernel: its expert slices. With more than one, the
/// kernel's last two arguments are the logits workspace (T rows of E
/// rounded up to 32, f32) and the
/// per-tile arrival counters (ceil(T / 8) i32, zero before the first launch
/// and left zero by every launch).
int64_t getRoutingSlices(mlir::gpu::GPUFuncOp kernel);

/// Launches the routing `kernel` for `tokens` tokens after
/// `asyncDependency`; returns the launch's async token.
mlir::Value launchRouting(mlir::OpBuilder &builder, mlir::Location loc,
                          mlir::gpu::GPUFuncOp kernel, mlir::ValueRange buffers,
                          mlir::Value tokens, mlir::Value asyncDependency);

/// The four dispatch kernels, launched in this order on one stream:
///  count   (ids [?, k], counts [chunks * E] i32): per-chunk histograms;
///  scan    (ids, counts, offsets [E + 1]): one block; counts become each
///          chunk's first rank per expert, offsets the prefix sum of the
///          (capped) totals;
///  scatter (ids, counts, offsets, row_map [?, k], source [T * k] i32):
///          stable ranks by token then slot, the row map and the token of
///          each row;
///  gather  (input [?, H], offsets, source, rows [?, H]): one block per
///          row, rows past offsets[E] zeroed.
/// Expert choice has clear and map (see ExpertChoiceKernels.cpp) instead of
/// count, scan and scatter.
struct DispatchKernels {
  mlir::gpu::GPUFuncOp count, scan, scatter, gather;
  /// count, scan and scatter as one block, for at most kDispatchWarps chunks
  /// (token choice without groups or by_weight; null otherwise).
  mlir::gpu::GPUFuncOp rank;
  mlir::gpu::GPUFuncOp clear, map;
  /// drop_policy by_weight: the slots' scores, the expert-choice selection
  /// and the marking of the kept slots, before count.
  mlir::gpu::GPUFuncOp weightScores, select, weightMark;
};

/// Patterns replacing token-choice `moe.dispatch` (dropless or in-order
/// capacity) by the launches of the dispatch kernels; also added by
/// populateMoEToGPUPatterns.
void populateDispatchToGPUPatterns(mlir::RewritePatternSet &patterns);

/// Succeeds if `op` has a GPU form, else emits an error at `op` saying why.
mlir::LogicalResult checkDispatchForGPU(DispatchOp op);

/// The dispatch kernels of `op` in the `moe_kernels` gpu.module (built on
/// first use); fails with an error at `op` like checkDispatchForGPU.
mlir::FailureOr<DispatchKernels> getDispatchKernels(DispatchOp op);

/// Launches the four dispatch kernels for `tokens` tokens after
/// `asyncDependency`; `buffers` are input [T, H], ids [T, k], counts
/// (dispatchChunks * E i32), offsets [E + 1], row_map [T, k], source
/// (T * k i32) and rows [T * k, H]; `scales` [T, k] are the routing weights
/// of a scale_rows dispatch (else null); `groupSize` (an index >= 1) and
/// `kept` (dispatchChunks * E i32) those of a group_size dispatch, `keep`
/// (T * k i32) the kept slots of a by_weight one (else null). Returns the
/// last launch's token.
mlir::Value launchDispatch(mlir::OpBuilder &builder, mlir::Location loc,
                           const DispatchKernels &kernels,
                           mlir::ValueRange buffers, mlir::Value tokens,
                           mlir::Value asyncDependency, mlir::Value scales = {},
                           mlir::Value groupSize = {}, mlir::Value kept = {},
                           mlir::Value keep = {});

} // namespace moe

#endif // MOE_CONVERSION_MOETOGPU_MOETOGPU_H
