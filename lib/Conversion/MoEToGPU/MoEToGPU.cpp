//===- MoEToGPU.cpp - the convert-moe-to-gpu pass -------------------------===//
//
// Replaces moe.grouped_matmul by a launch of the tensor-core kernel of
// GroupedMatmulKernel.cpp. The host side stays on tensors so that the rest
// of the function (and one-shot bufferization after it) is untouched.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoE.h"

#include "HostCode.h"
#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moe {
#define GEN_PASS_DEF_CONVERTMOETOGPU
#include "moe/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace moe::detail;

static constexpr llvm::StringLiteral kGPUModuleName = "moe_kernels";

bool moe::isSupportedGPUChip(const std::string &chip) {
  return chip == "sm_80" || chip == "sm_90" || chip == "sm_90a";
}

LogicalResult moe::checkMoEToGPUOptions(Operation *op, StringRef pass,
                                        const MoEToGPUOptions &options) {
  auto fail = [&]() {
    InFlightDiagnostic diag = op->emitError(pass);
    diag << ": ";
    return diag;
  };
  if (!isSupportedGPUChip(options.chip))
    return fail() << "unsupported chip '" << options.chip
                  << "' (sm_80, sm_90 and sm_90a are)";
  StringRef elementType = options.elementType;
  if (!elementType.empty() && elementType != "bf16" && elementType != "f16")
    return fail() << "element-type must be bf16 or f16, not '" << elementType
                  << "'";
  if (options.combine != "kernel" && options.combine != "epilogue")
    return fail() << "combine must be kernel or epilogue, not '"
                  << options.combine << "'";
  if (!isGroupedMatmulKernelChoice(options.kernel))
    return fail() << "kernel must be auto, tile or decode, not '"
                  << options.kernel << "'";
  if (!isWgmmaTileChoice(options.wgmmaTile))
    return fail() << "wgmma-tile must be auto or 128x128, not '"
                  << options.wgmmaTile << "'";
  if (!isMmaTileChoice(options.mmaTile))
    return fail() << "mma-tile must be auto or 64x64, not '" << options.mmaTile
                  << "'";
  if (!isDecodeBlocksPerSMChoice(options.decodeBlocksPerSM))
    return fail() << "decode-blocks-per-sm must be 0 (ptxas's choice) or 1 "
                     "to 3, not "
                  << options.decodeBlocksPerSM;
  return success();
}

std::string moe::quantizedWeightsUnsupportedReason(moe::DequantizeOp op) {
  std::string reason;
  llvm::raw_string_ostream os(reason);
  auto weight = cast<RankedTensorType>(op.getWeight().getType());
  auto result = cast<RankedTensorType>(op.getType());
  Type scaleType =
      cast<RankedTensorType>(op.getScales().getType()).getElementType();
  int64_t bits = op.getBits(), blockSize = op.getBlockSize().value_or(0);
  // Each lane reads perLoad values of a packed row at a time (8 or 16
  // bytes), and a step of the mma 4 consecutive values of one block.
  int64_t perLoad = GroupedMatmulSignature::quantizedValuesPerLoad(bits);
  if (bits != 2 && bits != 4 && bits != 8)
    os << "the GPU kernel reads 2-, 4- or 8-bit quantized weights, not " << bits
       << "-bit ones";
  else if (weight.getRank() != 3 || !weight.hasStaticShape() ||
           !result.hasStaticShape())
    os << "quantized weights must be one static [E, N, packed K] tensor on "
          "the GPU";
  else if (result.getDimSize(2) % perLoad != 0)
    os << "K (" << result.getDimSize(2) << ") of " << bits
       << "-bit weights must be a multiple of " << perLoad
       << " on the GPU: the kernel reads " << perLoad
       << " values of a row at a time";
  else if (blockSize % 4 != 0)
    os << "block_size (" << blockSize
       << ") must be a multiple of 4 on the GPU: the kernel expands 4 "
          "consecutive values with one scale";
  else if (!isa<Float32Type, Float16Type, BFloat16Type>(scaleType))
    os << "scales must be f32, f16 or bf16 on the GPU, not " << scaleType;
  return reason;
}

/// How the kernels read `dequantize`, the rhs of `op` (whose
/// signature `sig` is otherwise complete), or an error saying why it cannot.
static FailureOr<GroupedMatmulSignature::Quantized>
getQuantizedWeights(moe::GroupedMatmulOp op, moe::DequantizeOp dequantize,
                    const GroupedMatmulSignature &sig) {
  std::string reason = moe::quantizedWeightsUnsupportedReason(dequantize);
  if (!reason.empty())
    return op.emitOpError(reason);
  if (!sig.extents.empty())
    return op.emitOpError("quantized weights cannot have group_extents on "
                          "the GPU");
  GroupedMatmulSignature::Quantized q;
  q.bits = dequantize.getBits();
  q.blockSize = dequantize.getBlockSize().value_or(0);
  q.scaleType =
      cast<RankedTensorType>(dequantize.getScales().getType()).getElementType();
  q.zeroPoints = bool(dequantize.getZeroPoints());
  return q;
}

/// The signature of the kernel `op` needs, or an error saying why there is
/// none. Checked before anything is rewritten.
static FailureOr<GroupedMatmulSignature>
getSignature(moe::GroupedMatmulOp op, const moe::MoEToGPUOptions &options) {
  if (!op.isStacked())
    return op.emitOpError(
        "the GPU lowering needs one stacked [E, K, N] weight tensor: run "
        "--moe-prepare-gpu-layers, which stacks per-group weights (and pads "
        "groups of different shapes, with group_extents)");
  // Quantized [E, N, packed K] weights are read packed; an expansion to
  // [E, K, N] weights is computed where it is (on the host).
  auto dequantize = op.getTransposeRhs()
                        ? op.getRhs()[0].getDefiningOp<moe::DequantizeOp>()
                        : moe::DequantizeOp();
  auto lhsType = cast<RankedTensorType>(op.getLhs().getType());
  auto rhsType = cast<RankedTensorType>(op.getRhs()[0].getType());
  if (op.getTransposeRhs()) {
    // Seen as [E, K, N] from here on, as the kernel computes it.
    SmallVector<int64_t> shape(rhsType.getShape());
    if (shape.size() == 3)
      std::swap(shape[1], shape[2]);
    rhsType = RankedTensorType::get(shape, rhsType.getElementType());
  }
  auto resultType = cast<RankedTensorType>(op.getType());
  Type elt = lhsType.getElementType();
  if (!elt.isBF16() && !elt.isF16())
    return op.emitOpError("element type ")
           << elt << " has no m16n8k16 tensor-core form: the GPU lowering "
           << "takes bf16 or f16 rows and weights";
  if (rhsType.getElementType() != elt)
    return op.emitOpError("rows (")
           << elt << ") and weights (" << rhsType.getElementType()
           << ") must have the same element type";
  if (!options.elementType.empty()) {
    std::string name;
    llvm::raw_string_ostream os(name);
    os << elt;
    if (name != options.elementType)
      return op.emitOpError("operands are ")
             << elt << " but element-type=" << options.elementType
             << " was asked for (convert the rows and weights first)";
  }
  if (!rhsType.hasStaticShape() || lhsType.isDynamicDim(1) ||
      resultType.isDynamicDim(1))
    return op.emitOpError("the GPU lowering needs static K and N (only the "
                          "row count may be dynamic)");
  int64_t k = rhsType.getDimSize(1), n = rhsType.getDimSize(2);
  if (lhsType.getDimSize(1) != k || resultType.getDimSize(1) != n)
    return op.emitOpError("the GPU lowering needs rows of K = ")
           << k << " columns and a result of N = " << n << " columns";
  if (k % 8 != 0 || n % 8 != 0)
    return op.emitOpError("K (")
           << k << ") and N (" << n
           << ") must be multiples of 8: the kernel copies 16-byte chunks";
  GroupedMatmulSignature sig;
  sig.elementType = elt;
  sig.resultType = resultType.getElementType();
  sig.offsetType =
      cast<RankedTensorType>(op.getOffsets().getType()).getElementType();
  if (!op.getBias().empty())
    sig.biasType =
        cast<RankedTensorType>(op.getBias()[0].getType()).getElementType();
  sig.groups = rhsType.getDimSize(0);
  sig.k = k;
  sig.n = n;
  if (std::optional<ArrayRef<int64_t>> extents = op.getGroupExtents())
    sig.extents.assign(extents->begin(), extents->end());
  if (dequantize) {
    FailureOr<GroupedMatmulSignature::Quantized> quantized =
        getQuantizedWeights(op, dequantize, sig);
    if (failed(quantized))
      return failure();
    sig.quantized = *quantized;
  } else if (op.getTransposeRhs()) {
    if (!sig.extents.empty())
      return op.emitOpError("transposed [E, N, K] weights cannot have "
                            "group_extents on the GPU (transpose them)");
    sig.transposedRhs = true;
  }
  return sig;
}

FailureOr<GroupedMatmulSignature>
moe::detail::getGroupedMatmulSignature(moe::GroupedMatmulOp op,
                                       const moe::MoEToGPUOptions &options) {
  return getSignature(op, options);
}

SmallVector<Value, 3>
moe::detail::kernelWeightOperands(moe::GroupedMatmulOp op) {
  Value rhs = op.getRhs()[0];
  auto dequantize = rhs.getDefiningOp<moe::DequantizeOp>();
  if (!dequantize || !op.getTransposeRhs())
    return {rhs};
  SmallVector<Value, 3> operands = {dequantize.getWeight(),
                                    dequantize.getScales()};
  if (Value zeroPoints = dequantize.getZeroPoints())
    operands.push_back(zeroPoints);
  return operands;
}

FailureOr<gpu::GPUModuleOp> moe::detail::getKernelModule(Operation *op) {
  auto module = op->getParentOfType<ModuleOp>();
  if (!module)
    return op->emitOpError("the GPU lowering needs an enclosing module");
  return getOrCreateKernelModule(module);
}

LogicalResult moe::checkGroupedMatmulForGPU(moe::GroupedMatmulOp op,
                                            const MoEToGPUOptions &options) {
  return getSignature(op, options);
}

gpu::GPUFuncOp
moe::detail::getOrBuildTileKernel(gpu::GPUModuleOp gpuModule,
                                  const GroupedMatmulSignature &sig,
                                  const MoEToGPUOptions &options) {
  if (options.chip == "sm_90a")
    return getOrBuildWgmmaGroupedMatmulKernel(
        gpuModule, sig, options.wgmmaTile == "auto" && wgmmaWideTileFits(sig));
  return getOrBuildGroupedMatmulKernel(
      gpuModule, sig, options.mmaTile == "auto" && mmaLargeTileFits(sig));
}

gpu::GPUModuleOp moe::detail::getOrCreateKernelModule(ModuleOp module) {
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  auto gpuModule = module.lookupSymbol<gpu::GPUModuleOp>(kGPUModuleName);
  if (!gpuModule) {
    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    gpuModule = gpu::GPUModuleOp::create(b, module.getLoc(), kGPUModuleName);
  }
  return gpuModule;
}

/// The TMA descriptor (a device pointer to a CUtensorMap) of `buffer`, seen
/// as a 2-D [rows, columns] memref, for a map of `mapType`.
static Value createTensorMap(ImplicitLocOpBuilder &b, Value buffer,
                             Type mapType) {
  auto type = cast<MemRefType>(buffer.getType());
  if (type.getRank() == 3) // [E, K, N] -> [E * K, N]
    buffer = memref::CollapseShapeOp::create(
        b, buffer, SmallVector<ReassociationIndices>{{0, 1}, {2}});
  Value unranked = memref::CastOp::create(
      b, UnrankedMemRefType::get(type.getElementType(), type.getMemorySpace()),
      buffer);
  auto box = cast<nvgpu::TensorMapDescriptorType>(mapType).getTensor();
  SmallVector<Value> boxSizes;
  for (int64_t size : box.getShape())
    boxSizes.push_back(arith::ConstantIndexOp::create(b, size));
  Value map =
      nvgpu::TmaCreateDescriptorOp::create(b, mapType, unranked, boxSizes);
  return UnrealizedConversionCastOp::create(
             b, LLVM::LLVMPointerType::get(b.getContext()), map)
      .getResult(0);
}

/// The device's SM count (moe_gpu_multiprocessor_count, from the runtime),
/// as an index: the persistent kernels' grids.
static Value multiprocessorCount(ImplicitLocOpBuilder &b) {
  constexpr StringLiteral kName = "moe_gpu_multiprocessor_count";
  auto module =
      b.getInsertionBlock()->getParentOp()->getParentOfType<ModuleOp>();
  auto callee = module.lookupSymbol<func::FuncOp>(kName);
  if (!callee) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    callee =
        func::FuncOp::create(b, kName, b.getFunctionType({}, {b.getI32Type()}));
    callee.setPrivate();
  }
  Value count = func::CallOp::create(b, callee, ValueRange()).getResult(0);
  return arith::IndexCastUIOp::create(b, b.getIndexType(), count);
}

/// The i32 bytes of dynamic shared memory `kernel`'s launch asks for
/// (kDynamicSharedMemoryAttr), or null for a kernel without any.
static Value dynamicSharedMemory(ImplicitLocOpBuilder &b,
                                 gpu::GPUFuncOp kernel) {
  auto bytes = kernel->getAttrOfType<IntegerAttr>(kDynamicSharedMemoryAttr);
  return bytes ? arith::ConstantIntOp::create(b, bytes.getInt(), 32) : Value();
}

/// Launches the sm_90a kernel: the buffers plus the TMA descriptors of the
/// rows and of each weight (buffers 1 .. maps - 1), 128-row tiles, and the
/// column tiles, threads and dynamic shared memory the kernel says.
static Value launchWgmmaGroupedMatmul(ImplicitLocOpBuilder &b,
                                      gpu::GPUFuncOp kernel, ValueRange buffers,
                                      Value rows, Value asyncDependency) {
  auto rhsType = cast<MemRefType>(kernel.getArgumentTypes()[1]);
  int64_t groups = rhsType.getDimSize(0);
  int64_t maps =
      kernel->getAttrOfType<IntegerAttr>(moe::kTensorMapParamsAttr).getInt();
  // The rows' element type (packed weights are bytes).
  Type elt = cast<MemRefType>(kernel.getArgumentTypes()[0]).getElementType();
  MLIRContext *ctx = b.getContext();
  SmallVector<Value> args(buffers);
  args.push_back(createTensorMap(b, buffers[0], wgmmaRowsMapType(ctx, elt)));
  for (int64_t i = 1; i < maps; ++i)
    args.push_back(
        createTensorMap(b, buffers[i], wgmmaWeightsMapType(ctx, elt)));
  // Same bound as the sm_80 launch, for 128-row tiles.
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  Value gridX =
      c(kernel->getAttrOfType<IntegerAttr>(kColumnTilesAttr).getInt());
  Value gridY = rowTileBound(b, rows, groups, kWgmmaTileM);
  if (moe::isWarpSpecializedKernel(kernel)) {
    // Persistent: a block per SM at most, each walking the tiles.
    Value tiles = arith::MulIOp::create(b, gridX, gridY);
    gridX = arith::MinUIOp::create(b, tiles, multiprocessorCount(b));
    gridY = c(1);
  }
  // A descriptor that could not be encoded (null; e.g. a misaligned buffer,
  // the reason recorded by the runtime) must not reach the kernel: the grid
  // is then empty, which mgpuLaunchKernel skips.
  Value null = LLVM::ZeroOp::create(b, LLVM::LLVMPointerType::get(ctx));
  Value mapsOk;
  for (Value map : ArrayRef<Value>(args).take_back(maps)) {
    Value ok = LLVM::ICmpOp::create(b, LLVM::ICmpPredicate::ne, map, null);
    mapsOk = mapsOk ? arith::AndIOp::create(b, mapsOk, ok) : ok;
  }
  gridY = arith::SelectOp::create(b, mapsOk, gridY, c(0));
  int64_t threads = (*kernel.getKnownBlockSize())[0];
  auto launch = gpu::LaunchFuncOp::create(
      b, kernel, gpu::KernelDim3{gridX, gridY, c(1)},
      gpu::KernelDim3{c(threads), c(1), c(1)}, dynamicSharedMemory(b, kernel),
      args, gpu::AsyncTokenType::get(ctx), ValueRange{asyncDependency});
  return launch.getAsyncToken();
}

/// Launches `kernel` on `buffers` over (gridX, gridY) blocks of `threads`
/// threads after `asyncDependency`; returns the launch's token.
static Value launchOnGrid(ImplicitLocOpBuilder &b, gpu::GPUFuncOp kernel,
                          Value gridX, Value gridY, Value threads,
                          ValueRange buffers, Value asyncDependency,
                          Value gridZ = Value(),
                          Value dynamicSharedMemory = Value()) {
  Value one = arith::ConstantIndexOp::create(b, 1);
  auto launch = gpu::LaunchFuncOp::create(
      b, kernel, gpu::KernelDim3{gridX, gridY, gridZ ? gridZ : one},
      gpu::KernelDim3{threads, one, one}, dynamicSharedMemory, buffers,
      gpu::AsyncTokenType::get(b.getContext()), ValueRange{asyncDependency});
  return launch.getAsyncToken();
}

bool moe::isWgmmaKernel(gpu::GPUFuncOp kernel) {
  return kernel->hasAttr(kWgmmaKernelAttr);
}

bool moe::isWarpSpecializedKernel(gpu::GPUFuncOp kernel) {
  return kernel->hasAttr(kPersistentGridAttr);
}

gpu::KernelDim3 moe::detail::groupedMatmulGrid(ImplicitLocOpBuilder &b,
                                               gpu::GPUFuncOp kernel,
                                               Value rows) {
  auto rhsType = cast<MemRefType>(kernel.getArgumentTypes()[1]);
  int64_t groups = rhsType.getDimSize(0), n = rhsType.getDimSize(2);
  // Grid: x over the N tiles; y bounds the row tiles of all groups plus
  // the tail (rowTileBound). Kernels with a fused gated activation say
  // their column tiles (kColumnTilesAttr).
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  int64_t columnTiles = (n + kTileN - 1) / kTileN;
  if (auto tiles = kernel->getAttrOfType<IntegerAttr>(kColumnTilesAttr))
    columnTiles = tiles.getInt();
  int64_t tileRows = kTileM;
  if (auto attr = kernel->getAttrOfType<IntegerAttr>(kRowTileAttr))
    tileRows = attr.getInt();
  return {c(columnTiles), rowTileBound(b, rows, groups, tileRows), c(1)};
}

std::pair<Value, Value> moe::detail::upBiasAt(ImplicitLocOpBuilder &b,
                                              const GroupedMatmulSignature &sig,
                                              Value bias, Value upBias,
                                              Value col) {
  if (upBias)
    return {upBias, col};
  return {bias, arith::AddIOp::create(
                    b, col, arith::ConstantIndexOp::create(b, sig.n / 2))};
}

Value moe::detail::rowTileBound(ImplicitLocOpBuilder &b, Value rows,
                                int64_t groups, int64_t tileRows) {
  Value slack =
      arith::ConstantIndexOp::create(b, (groups + 1) * (tileRows - 1));
  return arith::DivUIOp::create(b, arith::AddIOp::create(b, rows, slack),
                                arith::ConstantIndexOp::create(b, tileRows));
}

Value moe::launchGroupedMatmul(OpBuilder &builder, Location loc,
                               gpu::GPUFuncOp kernel, ValueRange buffers,
                               Value rows, Value asyncDependency) {
  ImplicitLocOpBuilder b(loc, builder);
  if (isWgmmaKernel(kernel))
    return launchWgmmaGroupedMatmul(b, kernel, buffers, rows, asyncDependency);
  gpu::KernelDim3 grid = groupedMatmulGrid(b, kernel, rows);
  int64_t threads = (*kernel.getKnownBlockSize())[0];
  return launchOnGrid(b, kernel, grid.x, grid.y,
                      arith::ConstantIndexOp::create(b, threads), buffers,
                      asyncDependency, /*gridZ=*/Value(),
                      dynamicSharedMemory(b, kernel));
}

bool moe::isWgmmaTileChoice(StringRef tile) {
  return tile == "auto" || tile == "128x128";
}

bool moe::isMmaTileChoice(StringRef tile) {
  return tile == "auto" || tile == "64x64";
}

bool moe::isDecodeBlocksPerSMChoice(int64_t blocks) {
  return blocks >= 0 && blocks <= 3;
}

bool moe::isGroupedMatmulKernelChoice(StringRef kernel) {
  return kernel == "auto" || kernel == "tile" || kernel == "decode";
}

// The decode kernel streams each used expert's weights once per
// kDecodeRowsPerPass (32) rows of its group; the tile kernels once per row
// tile (64 or 128 rows). Both are bandwidth-bound below the ridge (bf16
// weights: 2 * rows FLOP per 2 bytes, the H200's ~990 TFLOP/s over ~4.8 TB/s is
// ~200 rows per group), so the decode kernel wins while a group's rows fit one
// pass. At 16 rows per group on average the fullest group stays below 32 for
// random top-k routing (Mixtral E = 8, T = 64: 128 rows, binomial sd ~3.7), and
// every T <= 64 decode step of the benchmark's models is at or below it
// (rows = T * k <= 16 * E needs k <= E / 4: Mixtral 2 of 8, Qwen3 8 of 128,
// DeepSeek-V3 8 of 256).
int64_t moe::decodeGroupedMatmulMaxRows(int64_t groups) { return 16 * groups; }

FailureOr<moe::GroupedMatmulKernels>
moe::getGroupedMatmulKernels(moe::GroupedMatmulOp op,
                             const MoEToGPUOptions &options) {
  FailureOr<gpu::GPUModuleOp> gpuModule = getKernelModule(op);
  if (failed(gpuModule))
    return failure();
  FailureOr<GroupedMatmulSignature> sig = getSignature(op, options);
  if (failed(sig))
    return failure();
  return getOrBuildGroupedMatmulKernels(op, *gpuModule, *sig, options);
}

moe::GroupedMatmulKernels moe::detail::getOrBuildGroupedMatmulKernels(
    Operation *op, gpu::GPUModuleOp gpuModule,
    const GroupedMatmulSignature &sig, const MoEToGPUOptions &options) {
  GroupedMatmulKernels kernels;
  // The tile kernel of the chip (getOrBuildTileKernel) unless
  // kernel=decode, the decode kernel unless kernel=tile or the signature has
  // a fused combine (no decode form).
  if (options.kernel != "decode" || sig.fusedCombine) {
    kernels.tile = getOrBuildTileKernel(gpuModule, sig, options);
  }
  if (options.kernel != "tile" && !sig.fusedCombine)
    kernels.decode = getOrBuildDecodeGroupedMatmulKernel(
        gpuModule, sig, options.decodeBlocksPerSM);
  return kernels;
}

/// The decode kernel's grid for `rows` (see Kernels.h).
static gpu::KernelDim3 decodeGrid(ImplicitLocOpBuilder &b,
                                  gpu::GPUFuncOp kernel, Value rows) {
  auto rhsType = cast<MemRefType>(kernel.getArgumentTypes()[1]);
  int64_t groups = rhsType.getDimSize(0), n = rhsType.getDimSize(2);
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  // y: one block row per non-empty row range (E groups and the tail); each
  // has a row, so there are at most min(rows, E + 1); at least 1 (an empty
  // grid is a launch error).
  Value gridY = arith::MaxUIOp::create(
      b, arith::MinUIOp::create(b, rows, c(groups + 1)), c(1));
  // x: the slabs, or the kernel's column tiles (gated epilogues own half a
  // slab's columns).
  int64_t columnTiles = (n + kDecodeSlabN - 1) / kDecodeSlabN;
  if (auto tiles = kernel->getAttrOfType<IntegerAttr>(kColumnTilesAttr))
    columnTiles = tiles.getInt();
  // z: the passes of kDecodeRowsPerPass rows of a group, shared by z blocks
  // so that all groups' passes fill the GPU, ceil(rows / (32 (E + 1))) >= 1
  // (1 while rows <= 32 (E + 1): every rows <= 16 E that "auto" sends here).
  Value gridZ = arith::MaxUIOp::create(
      b, ceilDivIndex(b, rows, kDecodeRowsPerPass * (groups + 1)), c(1));
  return {c(columnTiles), gridY, gridZ};
}

/// Launches the decode kernel form `kernel` on `grid` (decodeGrid's).
static Value launchDecodeForm(ImplicitLocOpBuilder &b, gpu::GPUFuncOp kernel,
                              gpu::KernelDim3 grid, ValueRange buffers,
                              Value asyncDependency) {
  Value threads =
      arith::ConstantIndexOp::create(b, (*kernel.getKnownBlockSize())[0]);
  return launchOnGrid(b, kernel, grid.x, grid.y, threads, buffers,
                      asyncDependency, grid.z);
}

void moe::selectGroupedMatmulKernel(
    OpBuilder &builder, Location loc, const GroupedMatmulKernels &kernels,
    ValueRange buffers, Value rows, Value asyncDependency,
    function_ref<void(OpBuilder &, Value)> afterLaunch) {
  ImplicitLocOpBuilder b(loc, builder);
  auto launchTile = [&](OpBuilder &nb) {
    afterLaunch(nb, launchGroupedMatmul(nb, loc, kernels.tile, buffers, rows,
                                        asyncDependency));
  };
  // The decode kernel, or its wide form when the grid leaves an SM at most
  // one block (see kDecodeWideWarps).
  auto launchDecode = [&](OpBuilder &nb) {
    gpu::GPUFuncOp kernel = kernels.decode;
    ImplicitLocOpBuilder ib(loc, nb);
    gpu::KernelDim3 grid = decodeGrid(ib, kernel, rows);
    auto wideName = kernel->getAttrOfType<FlatSymbolRefAttr>(kWideFormAttr);
    if (!wideName)
      return afterLaunch(
          nb, launchDecodeForm(ib, kernel, grid, buffers, asyncDependency));
    Value blocks = arith::MulIOp::create(
        ib, arith::MulIOp::create(ib, grid.x, grid.y), grid.z);
    Value fewBlocks = arith::CmpIOp::create(ib, arith::CmpIPredicate::ule,
                                            blocks, multiprocessorCount(ib));
    auto ifOp = scf::IfOp::create(ib, fewBlocks, /*withElseRegion=*/true);
    auto wide =
        SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(kernel, wideName);
    for (auto [block, form] : {std::pair(ifOp.thenBlock(), wide),
                               std::pair(ifOp.elseBlock(), kernel)}) {
      OpBuilder bb = OpBuilder::atBlockTerminator(block);
      ImplicitLocOpBuilder fb(loc, bb);
      afterLaunch(bb,
                  launchDecodeForm(fb, form, grid, buffers, asyncDependency));
    }
  };
  if (!kernels.decode)
    return launchTile(b);
  if (!kernels.tile)
    return launchDecode(b);
  int64_t groups =
      cast<MemRefType>(gpu::GPUFuncOp(kernels.decode).getArgumentTypes()[1])
          .getDimSize(0);
  Value small = arith::CmpIOp::create(
      b, arith::CmpIPredicate::ule, rows,
      arith::ConstantIndexOp::create(b, decodeGroupedMatmulMaxRows(groups)));
  auto ifOp = scf::IfOp::create(b, small, /*withElseRegion=*/true);
  OpBuilder thenBuilder = ifOp.getThenBodyBuilder();
  launchDecode(thenBuilder);
  OpBuilder elseBuilder = ifOp.getElseBodyBuilder();
  launchTile(elseBuilder);
}

namespace {

struct LowerGroupedMatmul : OpRewritePattern<moe::GroupedMatmulOp> {
  LowerGroupedMatmul(MLIRContext *ctx, const moe::MoEToGPUOptions &options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(moe::GroupedMatmulOp op,
                                PatternRewriter &rewriter) const override {
    auto module = op->getParentOfType<ModuleOp>();
    if (!module ||
        !module->hasAttr(gpu::GPUDialect::getContainerModuleAttrName()))
      return rewriter.notifyMatchFailure(op, "not in a gpu.container_module");
    if (moe::isFusedIntoUser(op, options))
      return rewriter.notifyMatchFailure(op, "lowered with its user");
    FailureOr<moe::GroupedMatmulKernels> kernels =
        moe::getGroupedMatmulKernels(op, options);
    if (failed(kernels))
      return failure();
    gpu::GPUFuncOp kernel = kernels->tile ? kernels->tile : kernels->decode;

    Location loc = op.getLoc();
    ImplicitLocOpBuilder b(loc, rewriter);
    auto toBuffer = [&](Value tensor, Type memrefType) {
      return toKernelBuffer(b, tensor, memrefType);
    };
    auto argTypes = kernel.getArgumentTypes();
    Value lhs = toBuffer(op.getLhs(), argTypes[0]);
    SmallVector<Value> args = {lhs};
    for (Value weight : kernelWeightOperands(op))
      args.push_back(toBuffer(weight, argTypes[args.size()]));
    args.push_back(toBuffer(op.getOffsets(), argTypes[args.size()]));
    Value rows = memref::DimOp::create(b, lhs, 0);
    auto resultType = cast<RankedTensorType>(op.getType());
    auto outType = cast<MemRefType>(argTypes[args.size()]);
    // Stream-ordered: allocation, launch, then a wait so that host code may
    // read the result tensor (a layer kept on the device will drop the wait).
    // gpu-to-llvm lowers only the async form of gpu.alloc.
    Type tokenType = gpu::AsyncTokenType::get(b.getContext());
    Value start =
        gpu::WaitOp::create(b, tokenType, ValueRange()).getAsyncToken();
    auto alloc = gpu::AllocOp::create(b, outType, tokenType, ValueRange{start},
                                      ValueRange{rows}, ValueRange(),
                                      /*hostShared=*/false);
    Value out = alloc.getMemref();
    args.push_back(out);
    if (!op.getBias().empty())
      args.push_back(toBuffer(op.getBias()[0], argTypes[args.size()]));
    // The wait goes with each launch: the selection's branches yield no
    // token.
    moe::selectGroupedMatmulKernel(
        b, loc, *kernels, args, rows, alloc.getAsyncToken(),
        [&](OpBuilder &nb, Value done) {
          gpu::WaitOp::create(nb, loc, Type(), ValueRange{done});
        });
    Value result = bufferization::ToTensorOp::create(
        b, RankedTensorType::get(outType.getShape(), outType.getElementType()),
        out, /*restrict=*/true, /*writable=*/true);
    if (result.getType() != resultType)
      result = tensor::CastOp::create(b, resultType, result);
    auto dequantize = op.getRhs()[0].getDefiningOp<moe::DequantizeOp>();
    rewriter.replaceOp(op, result);
    // The kernel read the packed weights: an expansion left unused goes.
    if (dequantize && dequantize->use_empty())
      rewriter.eraseOp(dequantize);
    return success();
  }

  moe::MoEToGPUOptions options;
};

struct ConvertMoEToGPUPass
    : moe::impl::ConvertMoEToGPUBase<ConvertMoEToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    moe::MoEToGPUOptions options{
        chip,      elementType, combine,          kernel,
        wgmmaTile, mmaTile,     decodeBlocksPerSM};
    if (failed(
            moe::checkMoEToGPUOptions(module, "convert-moe-to-gpu", options)))
      return signalPassFailure();
    // Check every op first, so that a rejected op leaves the module as it
    // was and each error names its op.
    bool ok = true;
    module.walk([&](moe::GroupedMatmulOp op) {
      ok &= succeeded(moe::checkGroupedMatmulForGPU(op, options));
    });
    module.walk([&](Operation *op) {
      if (isa<moe::FusedRouteOp, moe::RouteOp, moe::GateOp>(op))
        ok &= succeeded(moe::checkRoutingForGPU(op));
      else if (auto dispatch = dyn_cast<moe::DispatchOp>(op))
        ok &= succeeded(moe::checkDispatchForGPU(dispatch));
      else if (auto act = dyn_cast<moe::ActivationOp>(op))
        ok &= succeeded(moe::checkActivationForGPU(act));
      else if (auto comb = dyn_cast<moe::CombineOp>(op))
        ok &= succeeded(moe::checkCombineForGPU(comb));
      else if (auto scatter = dyn_cast<moe::ScatterColumnsOp>(op))
        ok &= succeeded(moe::checkScatterColumnsForGPU(scatter));
    });
    if (!ok)
      return signalPassFailure();
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(&getContext()));
    RewritePatternSet patterns(&getContext());
    moe::populateMoEToGPUPatterns(patterns, options);
    // Only the moe ops that are there now are rewritten, without folding, so
    // that the rest of the module is left exactly as it was. The kernels are
    // built outside the rewriter, in the gpu.module, which the driver never
    // needs to visit.
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingOps);
    config.enableFolding(false);
    if (failed(applyPatternsGreedily(module, std::move(patterns), config)))
      return signalPassFailure();
  }
};

} // namespace

void moe::populateMoEToGPUPatterns(RewritePatternSet &patterns,
                                   const MoEToGPUOptions &options) {
  patterns.add<LowerGroupedMatmul>(patterns.getContext(), options);
  populateRoutingToGPUPatterns(patterns);
  populateDispatchToGPUPatterns(patterns);
  populateEpiloguePatterns(patterns, options);
}
