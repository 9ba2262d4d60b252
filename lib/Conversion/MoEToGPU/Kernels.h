//===- Kernels.h - GPU kernels of the moe ops -------------------*- C++ -*-===//

#ifndef MOE_LIB_CONVERSION_MOETOGPU_KERNELS_H
#define MOE_LIB_CONVERSION_MOETOGPU_KERNELS_H

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Conversion/MoEToLinalg/ActivationMath.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <optional>

#include <string>

namespace moe::detail {

/// The `moe_kernels` gpu.module of `module` (created on first use; the
/// module gets `gpu.container_module`).
mlir::gpu::GPUModuleOp getOrCreateKernelModule(mlir::ModuleOp module);

/// Tile shape of the sm_80 grouped matmul's small form: a block of 4 warps
/// (2 x 2) owns a kTileM x kTileN output tile, each warp 32 x 32 of it (2 x 4
/// mma tiles of 16 x 8), and walks K in kTileK steps. (The large form's
/// kernels say their tile: kRowTileAttr, kColumnTilesAttr.)
constexpr int64_t kTileM = 64;
constexpr int64_t kTileN = 64;
constexpr int64_t kTileK = 32;
constexpr int64_t kThreads = 128;

/// What one grouped-matmul kernel is specialized for.
struct GroupedMatmulSignature {
  mlir::Type elementType; // bf16 or f16: lhs and rhs
  mlir::Type resultType;  // any float: the fp32 accumulators are converted
  mlir::Type offsetType;  // i32 or i64
  /// null: no bias; else the [E, N] bias's float type (with
  /// `splitWeights` the gate weight's bias, and the up weight's follows:
  /// hasUpBias()).
  mlir::Type biasType;
  int64_t groups = 0, k = 0, n = 0;
  /// Fused activation (EpilogueFusion.cpp): applied to the fp32 tile before
  /// the store. Gated layouts pair each gate column with its up column in
  /// one thread: interleaved as the mma's column pairs, concatenated and
  /// separate by loading gate and up columns into alternate 8-column slices
  /// of the shared B tile. The result then has n / 2 columns (n with
  /// `splitWeights`, the gate and up weights being two [E, K, n] tensors,
  /// or [E, n, K] with `transposedRhs`).
  std::optional<moe::ActivationParams> activation;
  bool splitWeights = false;
  /// Separate gate and up weights each with an [E, n] bias of biasType.
  bool hasUpBias() const { return splitWeights && biasType; }
  /// Fused combine: the result is the tokens' fp32 output [T, n], and each
  /// row r adds weights[s / slots, s % slots] * row (the row alone when
  /// combineWeightType is null: an unweighted combine after a scale_rows
  /// dispatch) into token s / slots (s = rowSlots[r], skipped when
  /// negative) with fp32 atomics.
  bool fusedCombine = false;
  mlir::Type combineWeightType;
  int64_t combineSlots = 0;
  /// group_extents (K_0, N_0, K_1, N_1, ...; empty: every group is [k, n]):
  /// group g reads rows [0, K_g) and columns [0, N_g) of its weight (and
  /// bias), the rest of its result columns hold what zeros give.
  llvm::SmallVector<int64_t> extents;
  /// Weight-only quantized weights (a moe.dequantize feeding the matmul's
  /// transposed rhs, onnxruntime's QMoE layout): rhs is the packed bytes
  /// [E, n, k * bits / 8], followed by the scales and, with zeroPoints,
  /// the zero points, shaped as moe.dequantize takes them (with
  /// `splitWeights` the up weight's three follow). The kernels expand them
  /// on chip (the decode kernel in registers, the tile kernel into shared
  /// memory), so the weights stream from HBM packed.
  struct Quantized {
    int64_t bits = 0;
    /// 0: one scale per output column.
    int64_t blockSize = 0;
    mlir::Type scaleType;
    bool zeroPoints = false;
    /// Scales per output column with a block size: ceil(k / blockSize).
    int64_t scaleColumns(int64_t k) const {
      return (k + blockSize - 1) / blockSize;
    }
  };
  std::optional<Quantized> quantized;
  /// 16-bit weights stored [E, n, k] (the matmul's transpose_rhs: each
  /// output column's K values contiguous, nn.Linear's layout), read as they
  /// are; no group_extents.
  bool transposedRhs = false;
  /// Whether the kernels read the weights column by column along K
  /// (transposed or packed), not row by row along N.
  bool columnMajorWeights() const { return quantized || transposedRhs; }
  /// Values of K a lane reads of one packed row at a time: 32 (16 bytes of
  /// 4 bits, 8 of 2 bits) or 16 (16 bytes of 8 bits); K must be a multiple.
  static int64_t quantizedValuesPerLoad(int64_t bits) {
    return bits == 8 ? 16 : 32;
  }

  bool isGated() const { return activation && activation->isGated(); }
  /// Columns of the result.
  int64_t resultColumns() const;
};

/// "_combine<slots>_<weight type or unweighted>" naming a fused combine in
/// the matmul kernels' names, "" without.
std::string combineSuffix(const GroupedMatmulSignature &sig);

/// buffer[index] += v (f32, relaxed atomic) of a flat-indexed f32 memref:
/// the fused combine's adds into the tokens' sums.
void atomicAddF32(mlir::ImplicitLocOpBuilder &b, mlir::Value buffer,
                  mlir::Value index, mlir::Value v);

/// "_<tag><hash of values>", naming a constant table in kernel names ("" for
/// no values).
std::string tableSuffix(llvm::StringRef tag, llvm::ArrayRef<int64_t> values);

/// `values` as a constant i32 table of `gpuModule` named `prefix` +
/// tableSuffix(tag, values) (added on first use), read at `b`.
mlir::Value constantTable(mlir::ImplicitLocOpBuilder &b,
                          mlir::gpu::GPUModuleOp gpuModule,
                          llvm::StringRef prefix, llvm::StringRef tag,
                          llvm::ArrayRef<int64_t> values);

/// "_x<hash>" naming the extents of `sig` in its kernels' names, "" without.
std::string groupExtentsSuffix(const GroupedMatmulSignature &sig);

/// {K_g, N_g} of group `group` (< E, an index) as indices: constants without
/// extents, else loads from a constant table that the first use adds to
/// `gpuModule` (the kernel's).
std::pair<mlir::Value, mlir::Value>
groupExtents(mlir::ImplicitLocOpBuilder &b, mlir::gpu::GPUModuleOp gpuModule,
             const GroupedMatmulSignature &sig, mlir::Value group);

/// Kernel attribute: the launch's grid.x (column tiles), set on every kernel
/// whose grid.x is not ceil(n / kTileN) of its rhs.
constexpr llvm::StringLiteral kColumnTilesAttr = "moe.column_tiles";

/// `v` (a float or a vector of floats) with element type `type` (extf,
/// truncf or nothing); bf16 and f16 of the same width never meet here.
mlir::Value castFloat(mlir::ImplicitLocOpBuilder &b, mlir::Value v,
                      mlir::Type type);

/// |x| of an f32 as a cleared sign bit (math.absf and llvm.fabs would call
/// libdevice in a kernel).
mlir::Value absF32(mlir::ImplicitLocOpBuilder &b, mlir::Value x);

/// Rewrites the math ops of `func` (exp, erf, tanh, log1p, ...) into
/// polynomial arithmetic and fma into llvm.intr.fma, so that no kernel
/// needs libdevice.
void expandKernelMath(mlir::gpu::GPUFuncOp func);

/// Returns the kernel for `sig` in `gpuModule`, building it on first use.
/// Kernel arguments: lhs memref<?xKxT>, rhs memref<ExKxNxT>,
/// offsets memref<E+1 x iN>, result memref<?xNxR>, then bias memref<ExNxB>
/// if the signature has one. With `splitWeights` the up weight follows rhs;
/// with a combine, row slots memref<?xi32> and weights memref<?xSLOTSxW>
/// come last.
/// The 128 x 128 tile of 8 warps with a 4-stage ring if `large` (which
/// mmaLargeTileFits must allow), else the 64 x 64 one of 4 warps with two.
mlir::gpu::GPUFuncOp
getOrBuildGroupedMatmulKernel(mlir::gpu::GPUModuleOp gpuModule,
                              const GroupedMatmulSignature &sig, bool large);

/// Whether the mma.sync kernel's 128 x 128 tile reads `sig`'s weights: any
/// with at least one whole tile of columns (128, or 64 outputs with gate and
/// up in slice pairs).
bool mmaLargeTileFits(const GroupedMatmulSignature &sig);

/// Kernel attribute: the rows of the launch's row tiles, on every kernel
/// whose tiles are not kTileM rows (the sm_80 large tile).
constexpr llvm::StringLiteral kRowTileAttr = "moe.row_tile";

/// Bytes of shared memory a block may declare statically.
constexpr int64_t kStaticSharedMemoryLimit = 48 * 1024;

/// The signature of the kernel `op` needs (no epilogue), or an error at `op`
/// saying why there is none.
mlir::FailureOr<GroupedMatmulSignature>
getGroupedMatmulSignature(GroupedMatmulOp op, const MoEToGPUOptions &options);

/// The values `op`'s kernel takes for its weights: the stacked rhs, or for
/// quantized weights the packed bytes, scales and zero points (if any) of
/// the moe.dequantize that makes it.
llvm::SmallVector<mlir::Value, 3> kernelWeightOperands(GroupedMatmulOp op);

/// The `moe_kernels` gpu.module of `op`'s module, created on first use (the
/// module gets gpu.container_module); an error at `op` without a module.
mlir::FailureOr<mlir::gpu::GPUModuleOp> getKernelModule(mlir::Operation *op);

/// A bound on the `tileRows`-row tiles of `groups` groups plus the tail
/// (rows past offsets[E]), whatever the offsets are: a range of n rows has
/// ceil(n / tileRows) tiles, so their sum over E + 1 ranges is at most
/// (rows + (E + 1) * (tileRows - 1)) / tileRows. The row tiles' grid (the
/// host) and the persistent kernels' tile walk share it.
mlir::Value rowTileBound(mlir::ImplicitLocOpBuilder &b, mlir::Value rows,
                         int64_t groups, int64_t tileRows);

/// Where a gated epilogue whose gate and up come from two places finds the
/// up bias of output column `col`: (buffer, column) = column `col` of
/// `upBias` (separate weights), else column N / 2 + `col` of `bias` (one
/// concatenated weight).
std::pair<mlir::Value, mlir::Value>
upBiasAt(mlir::ImplicitLocOpBuilder &b, const GroupedMatmulSignature &sig,
         mlir::Value bias, mlir::Value upBias, mlir::Value col);

/// The grid of a grouped-matmul kernel for `rows` rows (an index).
mlir::gpu::KernelDim3 groupedMatmulGrid(mlir::ImplicitLocOpBuilder &b,
                                        mlir::gpu::GPUFuncOp kernel,
                                        mlir::Value rows);

/// The activation and combine patterns (EpilogueFusion.cpp).
void populateEpiloguePatterns(mlir::RewritePatternSet &patterns,
                              const MoEToGPUOptions &options);

/// Threads per block of the element-wise kernels (activation, combine).
constexpr int64_t kElementwiseThreads = 256;

/// result[r, j] = act(input[r, j']) (gated: act(gate, up) from the layout's
/// columns) in f32, for rows x `sig.width` elements, one per thread of a
/// 1-D grid of kElementwiseThreads. Arguments: input memref<?xWinxT>, up
/// memref<?xWinxT> (separate layout only), result memref<?xWxR>.
struct ActivationSignature {
  mlir::Type inputType, resultType;
  int64_t inputWidth, width;
  moe::ActivationParams params;
};
mlir::gpu::GPUFuncOp getOrBuildActivationKernel(mlir::gpu::GPUModuleOp module,
                                                const ActivationSignature &sig);

/// result[t, :] = sum_s weights[t, s] * rows[row_map[t, s], :] over slots
/// with row_map >= 0, in f32. Block (t, y) owns token t and
/// kElementwiseThreads * vec columns from y on. Arguments: rows
/// memref<?xHxT>, row_map memref<?xSxI>, weights memref<?xSxW>, result
/// memref<?xHxR>.
struct CombineSignature {
  /// weightType is null for an unweighted combine (no weights argument).
  mlir::Type rowType, mapType, weightType, resultType;
  int64_t width, slots;
  /// Columns per thread: 8 (one 16-byte load of 16-bit rows) or 1.
  int64_t vectorWidth() const;
};
mlir::gpu::GPUFuncOp getOrBuildCombineKernel(mlir::gpu::GPUModuleOp module,
                                             const CombineSignature &sig);

/// result = dest, then result[r, columns[g, j]] += source[r, j] (in f32,
/// rounded to the element type after each add) for every row r of group g
/// and every j with columns[g, j] >= 0, in order of j. Launch on
/// scatterColumnsBlocks(rows) blocks of kElementwiseThreads. Arguments:
/// source memref<?xMxT>, dest memref<?xWxT>, columns memref<ExMxC>, offsets
/// memref<E+1xO>, result memref<?xWxT>.
struct ScatterColumnsSignature {
  mlir::Type elementType, columnType, offsetType;
  int64_t groups, sourceWidth, width;
  /// No group repeats a column (moe.scatter_columns unique_columns): a
  /// block per row adds its columns in parallel. Else a thread per row adds
  /// them in order.
  bool uniqueColumns = false;
  /// Rows per block.
  int64_t rowsPerBlock() const;
};
inline llvm::SmallVector<mlir::Type>
scatterColumnsArgumentTypes(const ScatterColumnsSignature &sig) {
  int64_t dyn = mlir::ShapedType::kDynamic;
  return {mlir::MemRefType::get({dyn, sig.sourceWidth}, sig.elementType),
          mlir::MemRefType::get({dyn, sig.width}, sig.elementType),
          mlir::MemRefType::get({sig.groups, sig.sourceWidth}, sig.columnType),
          mlir::MemRefType::get({sig.groups + 1}, sig.offsetType),
          mlir::MemRefType::get({dyn, sig.width}, sig.elementType)};
}
mlir::gpu::GPUFuncOp
getOrBuildScatterColumnsKernel(mlir::gpu::GPUModuleOp module,
                               const ScatterColumnsSignature &sig);

/// slots[row_map[t, s]] = t * S + s for every slot with 0 <= row_map < rows
/// (the inverse of the row map, for the fused combine); slots must hold -1
/// before. One thread per slot. Arguments: row_map memref<?xSxI>, slots
/// memref<?xi32>.
mlir::gpu::GPUFuncOp getOrBuildRowSlotsKernel(mlir::gpu::GPUModuleOp module,
                                              mlir::Type mapType,
                                              int64_t slots);

/// The argument types of every grouped-matmul kernel of `sig` (the contract
/// of getOrBuildGroupedMatmulKernel): lhs, rhs (quantized: bytes, scales,
/// zero points), the up weight with `splitWeights` (the same), offsets, result
/// (fp32 token rows with a combine), the bias if any (and the up weight's),
/// then a combine's row slots and weights.
inline llvm::SmallVector<mlir::Type>
groupedMatmulArgumentTypes(const GroupedMatmulSignature &sig) {
  mlir::MLIRContext *ctx = sig.elementType.getContext();
  int64_t dyn = mlir::ShapedType::kDynamic;
  auto rhsType = mlir::MemRefType::get(
      sig.transposedRhs ? llvm::ArrayRef<int64_t>{sig.groups, sig.n, sig.k}
                        : llvm::ArrayRef<int64_t>{sig.groups, sig.k, sig.n},
      sig.elementType);
  llvm::SmallVector<mlir::Type> types = {
      mlir::MemRefType::get({dyn, sig.k}, sig.elementType)};
  // Each weight (gate, then up with `splitWeights`): the stacked rhs, or
  // for quantized weights the packed bytes, scales and zero points.
  for (int weight = 0; weight < (sig.splitWeights ? 2 : 1); ++weight) {
    if (!sig.quantized) {
      types.push_back(rhsType);
      continue;
    }
    const GroupedMatmulSignature::Quantized &q = *sig.quantized;
    mlir::Type i8 = mlir::IntegerType::get(ctx, 8);
    // Block-wise: scales [E, n, blocks]; else [E, n]. Zero points are
    // packed along the scales' last dim.
    llvm::SmallVector<int64_t> scales = {sig.groups, sig.n};
    if (q.blockSize)
      scales.push_back(q.scaleColumns(sig.k));
    types.push_back(
        mlir::MemRefType::get({sig.groups, sig.n, sig.k * q.bits / 8}, i8));
    types.push_back(mlir::MemRefType::get(scales, q.scaleType));
    if (q.zeroPoints) {
      scales.back() = (scales.back() * q.bits + 7) / 8;
      types.push_back(mlir::MemRefType::get(scales, i8));
    }
  }
  types.push_back(mlir::MemRefType::get({sig.groups + 1}, sig.offsetType));
  types.push_back(mlir::MemRefType::get(
      {dyn, sig.resultColumns()},
      sig.fusedCombine ? mlir::Float32Type::get(ctx) : sig.resultType));
  if (sig.biasType)
    types.append(sig.hasUpBias() ? 2 : 1,
                 mlir::MemRefType::get({sig.groups, sig.n}, sig.biasType));
  if (sig.fusedCombine)
    types.push_back(
        mlir::MemRefType::get({dyn}, mlir::IntegerType::get(ctx, 32)));
  if (sig.combineWeightType)
    types.push_back(
        mlir::MemRefType::get({dyn, sig.combineSlots}, sig.combineWeightType));
  return types;
}

/// Shape of the weight-streaming decode kernel
/// (DecodeGroupedMatmulKernel.cpp): a block of kDecodeThreads threads owns one
/// group's kDecodeSlabN output columns, its warps split K (4 warps: at ~168
/// registers three blocks share an SM, so few blocks still fit one wave),
/// each lane keeps kDecodeLoadsPerLane 16-byte weight loads in flight, and
/// the rows are taken kDecodeRowsPerPass at a time (more rows re-stream the
/// weights).
constexpr int64_t kDecodeThreads = 128;
constexpr int64_t kDecodeSlabN = 64;
constexpr int64_t kDecodeRowsPerPass = 32;
constexpr int64_t kDecodeLoadsPerLane = 16;

/// Decode kernel attribute `moe.wide_form = @name`: the kernel's form with
/// kDecodeWideWarps warps, launched instead when the grid has no more blocks
/// than the GPU has SMs.
constexpr llvm::StringLiteral kWideFormAttr = "moe.wide_form";

/// Warps of the decode kernel's wide form. A launch with no more blocks
/// than the GPU has SMs leaves each SM one 4-warp block, a fraction of the
/// loads it can keep in flight (e.g. Mixtral's down projection of one
/// token: 64 slabs x 2 experts on 132 SMs), so the host launches the wide
/// form then, whose extra warps split K further. Eight: 256 threads fit an
/// SM at up to 255 registers, so the form says one block an SM
/// (nvvm.minctasm = 1) and ptxas issues all 24 of a lane's loads before its
/// first mma (200 registers for the 16-bit forms); with 384 threads
/// (.maxntid) ptxas keeps the 16-bit kernel at 138 registers with 8 loads
/// ahead.
constexpr int64_t kDecodeWideWarps = 8;

/// The decode kernel for `sig` in `gpuModule`, built on first use with its
/// wide form (kWideFormAttr; none for packed weights whose scales change
/// within a lane's chunk of K, which leave it no registers); same arguments
/// as getOrBuildGroupedMatmulKernel's kernel. Launch it on (ceil(N /
/// kDecodeSlabN), max(1, min(rows, E + 1)), max(1, ceil(rows /
/// (kDecodeRowsPerPass * (E + 1))))) blocks of kDecodeThreads threads, or
/// the wide form when those blocks are no more than the SMs. `blocksPerSM`
/// > 0: the 4-warp form's nvvm.minctasm (ptxas then fits its registers to
/// that many blocks an SM).
mlir::gpu::GPUFuncOp
getOrBuildDecodeGroupedMatmulKernel(mlir::gpu::GPUModuleOp gpuModule,
                                    const GroupedMatmulSignature &sig,
                                    int64_t blocksPerSM = 0);

/// Tile shape of the sm_90a grouped matmul (WgmmaGroupedMatmulKernel.cpp):
/// a block owns kWgmmaTileM output rows and walks K in kWgmmaTileK steps,
/// each step one 128-byte-swizzled TMA box of rows and 64-column boxes of
/// weights. Its columns and threads depend on the form (128 columns and one
/// warpgroup, or 256 columns and three warpgroups: wgmmaThreads).
constexpr int64_t kWgmmaTileM = 128;
constexpr int64_t kWgmmaTileN = 128;
constexpr int64_t kWgmmaTileK = 64;
constexpr int64_t kWgmmaThreads = 128;

/// Attribute marking the sm_90a kernels: their launch adds two TMA
/// descriptors (see getOrBuildWgmmaGroupedMatmulKernel) and dynamic shared
/// memory (kDynamicSharedMemoryAttr).
constexpr llvm::StringLiteral kWgmmaKernelAttr = "moe.wgmma_kernel";
/// Marks a kernel whose blocks walk the tiles (the warp-specialized wgmma
/// form): its grid is the smaller of its tile bound and the SM count.
constexpr llvm::StringLiteral kPersistentGridAttr = "moe.persistent_grid";
/// Bytes of dynamic shared memory a kernel's launch must ask for.
constexpr llvm::StringLiteral kDynamicSharedMemoryAttr =
    "moe.dynamic_shared_memory";

/// The tile kernel of `options.chip` for `sig`: the wgmma kernel on sm_90a
/// for 16-bit weights ([E, K, N] or [E, N, K]), else the mma.sync kernel.
mlir::gpu::GPUFuncOp getOrBuildTileKernel(mlir::gpu::GPUModuleOp gpuModule,
                                          const GroupedMatmulSignature &sig,
                                          const MoEToGPUOptions &options);

/// The kernels launched for `sig` under `options.kernel` (see
/// moe::getGroupedMatmulKernels): the tile kernel (getOrBuildTileKernel)
/// unless kernel=decode, the decode kernel unless kernel=tile; a fused
/// combine has only the tile kernel.
moe::GroupedMatmulKernels getOrBuildGroupedMatmulKernels(
    mlir::Operation *op, mlir::gpu::GPUModuleOp gpuModule,
    const GroupedMatmulSignature &sig, const MoEToGPUOptions &options);

/// Whether the warp-specialized 128 x 256 form of the wgmma kernel reads
/// `sig`'s weights: 16-bit ones (not packed: the threads would expand them)
/// with at least one whole tile of columns (256 weight columns, 128 outputs
/// with gate/up boxes).
bool wgmmaWideTileFits(const GroupedMatmulSignature &sig);

/// Returns the sm_90a wgmma kernel for `sig` in `gpuModule`, building it on
/// first use: the 128 x 256 warp-specialized form if `wide` (which
/// wgmmaWideTileFits must allow), else the 128 x 128 one. Kernel arguments:
/// those of getOrBuildGroupedMatmulKernel, then two !llvm.ptr (three with
/// `splitWeights`: the up weights' last; one for packed weights, which the
/// threads expand): the TMA descriptors (CUtensorMaps, passed by value: see
/// kTensorMapParamsAttr) of the rows ([rows, K], box kWgmmaTileM x
/// kWgmmaTileK) and of the weights viewed as [E * K, N], or [E * N, K] with
/// `transposedRhs` (box 64 x 64), all 128-byte swizzled with zero fill out
/// of bounds. The launch takes its threads from the kernel's known block
/// size, its column tiles from kColumnTilesAttr and its dynamic shared
/// memory from kDynamicSharedMemoryAttr.
mlir::gpu::GPUFuncOp
getOrBuildWgmmaGroupedMatmulKernel(mlir::gpu::GPUModuleOp gpuModule,
                                   const GroupedMatmulSignature &sig,
                                   bool wide);

/// The TMA descriptor types of the wgmma kernel's rows and weights.
mlir::Type wgmmaRowsMapType(mlir::MLIRContext *ctx, mlir::Type elementType);
mlir::Type wgmmaWeightsMapType(mlir::MLIRContext *ctx, mlir::Type elementType);
/// Routing kernel shape: a block of kRouteThreads threads (one warp per
/// token) routes kRouteTokens tokens; the router GEMV gives each warp one
/// expert at a time.
constexpr int64_t kRouteThreads = 256;
constexpr int64_t kRouteTokens = kRouteThreads / 32;
/// Experts a warp computes at once (each token row it loads serves them
/// all); a slice holds a multiple of kRouteTokens * kRouteExpertsPerWarp.
constexpr int64_t kRouteExpertsPerWarp = 2;

/// What one routing kernel is specialized for: moe.fused_route (router
/// linear layer + routing) or, with a null inputType, moe.route on logits.
struct RoutingSignature {
  mlir::Type inputType;  // x [T, H]; null: the kernel reads logits
  mlir::Type weightType; // router [E, H] ([H, E] if transposed)
  mlir::Type routerBiasType;
  mlir::Type logitsType; // moe.route's logits [T, E]
  mlir::Type selectionBiasType;
  mlir::Type weightsType, idsType; // results [T, k]
  bool transposed = false;
  int64_t experts = 0, hidden = 0, k = 0;
  int score = 0; // 0 softmax, 1 sigmoid, 2 softmax_after_topk, 3 sparsemixer
  double jitterEps = 0; // sparsemixer's
  bool renormalize = false, renormalizeClamp = false;
  double epsilon = 0, scale = 1;
  int64_t groups = 0, topkGroups = 0, groupTopk = 2;
  bool topP = false;
  double topPValue = 1;
  bool skip = false;
  double skipRatio = 0;
  /// expert_mask (empty: none): false experts count as -inf logits.
  llvm::SmallVector<bool> expertMask;
  /// Expert slices per token tile (grid.y); > 1 means the logits go
  /// through a global workspace [T, E] f32 and a per-tile arrival counter,
  /// and the last block of a tile routes it.
  int64_t slices = 1;
  /// Experts per slice (a multiple of 8 warps * kRouteExpertsPerWarp).
  int64_t sliceExperts = 0;
  /// Expert choice: the kernel only scores (softmax or sigmoid) and writes
  /// the f32 scores [E, T] in place of weights and ids (k is 0); the
  /// selection kernel (getOrBuildExpertChoiceKernel) then picks each
  /// expert's tokens.
  bool expertChoice = false;
  double capacityFactor = 0;
};

/// Row stride of the routing workspace: E rounded up to 32 floats, so that
/// each tile's rows fill whole 128-byte lines. The last block of a tile
/// reads them through L1, which must hold no line another tile's blocks
/// were still writing when it was cached.
inline int64_t routingWorkspaceStride(int64_t experts) {
  return (experts + 31) / 32 * 32;
}

/// Returns the routing kernel for `sig` in `gpuModule`, building it on first
/// use. Arguments: input [?, H], weight, router bias [E] (if any) -- or
/// logits [?, E] without inputType --, then selection bias [E] (if any),
/// weights [?, k], ids [?, k] (expert choice: the scores [E * T] f32 in
/// their place), and with sig.slices > 1 the workspace
/// memref<?xf32> (T * routingWorkspaceStride(E)) and the counters memref<?xi32>
/// (one per tile of kRouteTokens tokens, zero before the first launch; the
/// kernel leaves them zero).
mlir::gpu::GPUFuncOp getOrBuildRoutingKernel(mlir::gpu::GPUModuleOp gpuModule,
                                             const RoutingSignature &sig);

/// Expert-choice selection (ExpertChoiceKernels.cpp): one block of
/// kChoiceThreads per expert takes its C best tokens from the routing
/// kernel's scores, ties to the lower token, in descending order as the CPU
/// kernel lists them. Up to kChoiceSharedSort tokens are sorted in shared
/// memory, more in the global scratch.
constexpr int64_t kChoiceThreads = 1024;
constexpr int64_t kChoiceSharedSort = 4096;

/// Arguments: scores memref<?xf32> ([E, T], expert-major), gate
/// memref<?xExW> (the dense weights, zero before the launch: only the chosen
/// entries are written), ids memref<?xI> (E * C, expert-major), scratch
/// memref<?xi64> (2 * E * C keys, used when the sort length, C rounded up
/// to a power of 2, exceeds kChoiceSharedSort). Launch on E blocks.
mlir::gpu::GPUFuncOp
getOrBuildExpertChoiceKernel(mlir::gpu::GPUModuleOp gpuModule, int64_t experts,
                             mlir::Type weightsType, mlir::Type idsType);

/// Dispatch kernels: warps own chunks of kDispatchChunk consecutive slots
/// of the flattened [T, k] ids, 8 warps a block.
constexpr int64_t kDispatchChunk = 256;
constexpr int64_t kDispatchThreads = 256;
constexpr int64_t kDispatchWarps = kDispatchThreads / 32;
constexpr int64_t kGatherThreads = 128;

/// What one set of dispatch kernels is specialized for (token choice,
/// dropless or in-order capacity).
struct DispatchSignature {
  mlir::Type rowType;    // input and gathered rows
  mlir::Type idsType;    // i32 or i64
  mlir::Type offsetType; // i32 or i64
  mlir::Type mapType;    // row map: i32 or i64
  int64_t experts = 0, k = 0, hidden = 0;
  int64_t capacity = -1; // < 0: dropless
  /// The routing weights' element type when the gather scales each row by
  /// its slot's weight (moe.dispatch scale_rows); null: rows are copied.
  mlir::Type scaleType;
  /// expert_map (empty: none): slot ids in [0, size) are renamed to
  /// expertMap[id] before counting (merged experts).
  llvm::SmallVector<int64_t> expertMap;
  /// Expert choice: ids [E, C] of tokens (flattened), row map [T, E]; the
  /// clear and map kernels replace count, scan and scatter, and the gather
  /// is the one of k = 1 (a row's slot is its token).
  bool expertChoice = false;
  /// group_size (in-order capacity per group of G tokens, G a run-time
  /// index argument of count, scan and scatter): the chunks are cut per
  /// group (dispatchChunkRange), the scan ranks within each group and also
  /// writes, per chunk and expert, the rows its expert kept in earlier
  /// groups (the `kept` buffer, [chunks * E] i32, after offsets for the
  /// scan and after source for the scatter).
  bool grouped = false;
  /// drop_policy by_weight (with a capacity): each expert keeps its
  /// `capacity` heaviest slots (ties to the earlier slot). The scores kernel
  /// writes each slot's routing weight (of `weightType`, as f32) to its
  /// expert's column of an [E, T * k] score matrix (-inf elsewhere), the
  /// expert-choice selection picks each column's top `capacity`, and the
  /// mark kernel flags the chosen slots of the column's own expert in a
  /// `keep` buffer ([T * k] i32, zero before) that count and scatter read
  /// as their last argument: the rest is a dispatch of the kept slots.
  bool byWeight = false;
  mlir::Type weightType;
};

/// The chunks of the flattened [T, k] slots that the count and scatter
/// kernels walk, one per warp: ceil(T * k / kDispatchChunk), or with groups
/// of G tokens ceil(T / G) * ceil(G * k / kDispatchChunk) (no chunk spans
/// two groups). Indices.
mlir::Value dispatchChunks(mlir::ImplicitLocOpBuilder &b, mlir::Value tokens,
                           int64_t k, mlir::Value groupSize);

/// The dispatch kernels of `sig` (moe::DispatchKernels), built on first use.
moe::DispatchKernels getOrBuildDispatchKernels(mlir::gpu::GPUModuleOp gpuModule,
                                               const DispatchSignature &sig);

/// The gather kernel alone of getOrBuildDispatchKernels.
mlir::gpu::GPUFuncOp getOrBuildDispatchGather(mlir::gpu::GPUModuleOp gpuModule,
                                              const DispatchSignature &sig);

/// The expert-choice dispatch kernels of `sig` (ExpertChoiceKernels.cpp):
/// clear (row_map memref<?xExM>; ceil(T * E / 256) blocks of 256), map (ids
/// memref<?xI> (E * C), offsets, row_map, source memref<?xi32>;
/// ceil((E * C + 1) / 256) blocks of 256) and the gather of k = 1 (E * C
/// blocks).
moe::DispatchKernels
getOrBuildExpertChoiceDispatchKernels(mlir::gpu::GPUModuleOp gpuModule,
                                      const DispatchSignature &sig);

} // namespace moe::detail

#endif // MOE_LIB_CONVERSION_MOETOGPU_KERNELS_H
