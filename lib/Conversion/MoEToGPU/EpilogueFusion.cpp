//===- EpilogueFusion.cpp - activation and combine on the GPU -------------===//
//
// The expert FFN's element-wise steps. A moe.activation right after its
// grouped matmul(s) is folded into their kernel's epilogue (the activation
// of a tile costs nothing next to its matmul, and the [rows, 2I] pre-
// activation never goes to memory); otherwise it is an element-wise kernel.
// moe.combine is a gather kernel, or with combine=epilogue fp32 atomics in
// the producing matmul's epilogue. The host side stays on tensors, like the
// grouped matmul's: one stream, one wait at the end.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Dialect/MoE/IR/MoE.h"

#include "HostCode.h"
#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;

namespace {

/// Whether the weights of `a` and `b` come in one form: both 16-bit, or
/// both packed by moe.dequantize ops of one bit width, block size and
/// operand types (one kernel signature reads both).
bool sameQuantization(GroupedMatmulOp a, GroupedMatmulOp b) {
  auto quantization = [](GroupedMatmulOp mm) {
    return mm.getTransposeRhs() ? mm.getRhs()[0].getDefiningOp<DequantizeOp>()
                                : DequantizeOp();
  };
  DequantizeOp qa = quantization(a), qb = quantization(b);
  if (!qa || !qb)
    return !qa && !qb && a.getTransposeRhs() == b.getTransposeRhs();
  return qa->getAttrDictionary() == qb->getAttrDictionary() &&
         qa->getOperandTypes() == qb->getOperandTypes();
}

/// The grouped matmuls whose epilogue can compute `op`: its input (and the
/// up projection of a separate layout), each stacked and used only by `op`,
/// sharing rows and offsets. Empty when there are none. The epilogue adds
/// their biases (gpt-oss's gate/up bias; onnxruntime MoE's fc1 and fc3
/// biases; with group_extents not past N_g); separate weights need both
/// biases or none.
SmallVector<GroupedMatmulOp, 2> fusibleMatmuls(ActivationOp op) {
  if (op.getWidths())
    return {};
  std::optional<GateLayout> layout = op.getGateLayout();
  auto producer = [&](Value v) {
    auto mm = v ? v.getDefiningOp<GroupedMatmulOp>() : GroupedMatmulOp();
    if (!mm || !mm->hasOneUse() || !mm.isStacked())
      return GroupedMatmulOp();
    return mm;
  };
  GroupedMatmulOp gate = producer(op.getInput());
  if (!gate)
    return {};
  int64_t n = cast<RankedTensorType>(gate.getType()).getDimSize(1);
  // A concatenated gate/up weight's group extents would cut its up half at
  // a per-group column: not fused. Gated epilogues store whole 8-column
  // chunks of the n / 2 outputs (the decode kernel's tail zeros).
  if (layout == GateLayout::Concatenated && gate.getGroupExtents())
    return {};
  if (layout && n % 16 != 0)
    return {};
  if (layout != GateLayout::Separate)
    return {gate};
  GroupedMatmulOp up = producer(op.getUp());
  if (!up || up == gate || up.getLhs() != gate.getLhs() ||
      up.getOffsets() != gate.getOffsets() ||
      up.getRhs()[0].getType() != gate.getRhs()[0].getType() ||
      up.getType() != gate.getType() ||
      up.getGroupExtentsAttr() != gate.getGroupExtentsAttr() ||
      !sameQuantization(gate, up) ||
      up.getBias().getTypes() != gate.getBias().getTypes())
    return {};
  return {gate, up};
}

/// The grouped matmul whose epilogue can add `op`'s (weighted, or for an
/// unweighted combine after a scale_rows dispatch, plain) rows into the
/// tokens (combine=epilogue), or null.
GroupedMatmulOp fusibleMatmul(CombineOp op, const MoEToGPUOptions &options) {
  if (options.combine != "epilogue")
    return {};
  auto mm = op.getRows().getDefiningOp<GroupedMatmulOp>();
  if (!mm || !mm->hasOneUse() || !mm.isStacked())
    return {};
  // Packed weights keep their decode kernel (a fused combine has only the
  // tile kernel); 16-bit [E, N, K] ones fuse as [E, K, N] ones do.
  if (mm.getTransposeRhs() && kernelWeightOperands(mm).size() != 1)
    return {};
  return mm;
}

MemRefType dynamicRows(Type type) {
  auto shaped = cast<ShapedType>(type);
  return MemRefType::get({ShapedType::kDynamic, shaped.getDimSize(1)},
                         shaped.getElementType());
}

Value rowsOf(ImplicitLocOpBuilder &b, Value buffer) {
  return memref::DimOp::create(b, buffer, 0);
}

/// Launches the element-wise activation kernel of `sig` on the buffers
/// `inputs`, writing the [rows, width] buffer `result`.
void launchActivation(KernelHost &host, gpu::GPUModuleOp module,
                      const ActivationSignature &sig, ValueRange inputs,
                      Value result, Value rows) {
  ImplicitLocOpBuilder &b = host.b;
  gpu::GPUFuncOp kernel = getOrBuildActivationKernel(module, sig);
  SmallVector<Value> args(inputs);
  args.push_back(result);
  Value total = arith::MulIOp::create(
      b, rows, arith::ConstantIndexOp::create(b, sig.width));
  Value one = arith::ConstantIndexOp::create(b, 1);
  host.launch(kernel, {ceilDivIndex(b, total, kElementwiseThreads), one, one},
              args);
}

/// The decode or the tile kernel of `kernels` by the row count, as
/// convert-moe-to-gpu chooses (selectGroupedMatmulKernel), on host.token's
/// stream (see KernelHost).
void launchSelected(KernelHost &host, const GroupedMatmulKernels &kernels,
                    ValueRange args, Value rows) {
  if (host.queuesLaunches())
    selectGroupedMatmulKernel(host.b, host.b.getLoc(), kernels, args, rows,
                              host.token, [](OpBuilder &, Value) {});
}

/// A grouped matmul without epilogue: the chip's tile kernel (wgmma on
/// sm_90a) or the decode kernel, chosen by the row count.
FailureOr<Value> launchPlainMatmul(KernelHost &host, GroupedMatmulOp op,
                                   const MoEToGPUOptions &options) {
  FailureOr<GroupedMatmulKernels> kernels =
      getGroupedMatmulKernels(op, options);
  if (failed(kernels))
    return failure();
  gpu::GPUFuncOp any = kernels->tile ? kernels->tile : kernels->decode;
  auto argTypes = any.getArgumentTypes();
  auto type = [&](unsigned i) { return cast<MemRefType>(argTypes[i]); };
  SmallVector<Value> args = {host.operand(op.getLhs(), type(0))};
  for (Value weight : kernelWeightOperands(op))
    args.push_back(host.operand(weight, type(args.size())));
  args.push_back(host.operand(op.getOffsets(), type(args.size())));
  Value rows = rowsOf(host.b, args[0]);
  Value out = host.result(op.getResult(), type(args.size()), rows);
  args.push_back(out);
  if (!op.getBias().empty())
    args.push_back(host.operand(op.getBias()[0], type(args.size())));
  launchSelected(host, *kernels, args, rows);
  return out;
}

/// The activation in the epilogue of the grouped matmul(s) of its input.
FailureOr<Value> launchFusedActivation(KernelHost &host, ActivationOp op,
                                       ArrayRef<GroupedMatmulOp> matmuls,
                                       const MoEToGPUOptions &options) {
  FailureOr<GroupedMatmulSignature> sig =
      getGroupedMatmulSignature(matmuls[0], options);
  FailureOr<gpu::GPUModuleOp> module = getKernelModule(op);
  if (failed(sig) || failed(module))
    return failure();
  sig->resultType = cast<RankedTensorType>(op.getType()).getElementType();
  sig->activation = ActivationParams::get(op);
  sig->splitWeights = matmuls.size() == 2;
  GroupedMatmulKernels kernels =
      getOrBuildGroupedMatmulKernels(op, *module, *sig, options);
  gpu::GPUFuncOp kernel = kernels.tile ? kernels.tile : kernels.decode;
  auto argTypes = kernel.getArgumentTypes();
  auto type = [&](unsigned i) { return cast<MemRefType>(argTypes[i]); };
  GroupedMatmulOp gate = matmuls[0];
  SmallVector<Value> args = {host.operand(gate.getLhs(), type(0))};
  for (GroupedMatmulOp mm : matmuls)
    for (Value weight : kernelWeightOperands(mm))
      args.push_back(host.operand(weight, type(args.size())));
  args.push_back(host.operand(gate.getOffsets(), type(args.size())));
  Value rows = rowsOf(host.b, args[0]);
  Value out = host.result(op.getResult(), type(args.size()), rows);
  args.push_back(out);
  for (GroupedMatmulOp mm : matmuls)
    if (!mm.getBias().empty())
      args.push_back(host.operand(mm.getBias()[0], type(args.size())));
  launchSelected(host, kernels, args, rows);
  return out;
}

/// The element-wise activation kernel.
FailureOr<Value> launchActivationOp(KernelHost &host, ActivationOp op) {
  FailureOr<gpu::GPUModuleOp> module = getKernelModule(op);
  if (failed(module))
    return failure();
  auto inputType = cast<RankedTensorType>(op.getInput().getType());
  auto resultType = cast<RankedTensorType>(op.getType());
  ActivationSignature sig{inputType.getElementType(),
                          resultType.getElementType(), inputType.getDimSize(1),
                          resultType.getDimSize(1), ActivationParams::get(op)};
  SmallVector<Value> inputs = {
      host.operand(op.getInput(), dynamicRows(inputType))};
  if (op.getUp())
    inputs.push_back(host.operand(op.getUp(), dynamicRows(inputType)));
  Value rows = rowsOf(host.b, inputs[0]);
  Value out = host.result(op.getResult(), dynamicRows(resultType), rows);
  launchActivation(host, *module, sig, inputs, out, rows);
  return out;
}

/// The scatter-columns kernel: a block per row (unique columns) or a thread
/// per row.
FailureOr<Value> launchScatterColumnsOp(KernelHost &host, ScatterColumnsOp op) {
  FailureOr<gpu::GPUModuleOp> module = getKernelModule(op);
  if (failed(module))
    return failure();
  auto sourceType = cast<RankedTensorType>(op.getSource().getType());
  auto columnsType = cast<RankedTensorType>(op.getColumns().getType());
  ScatterColumnsSignature sig{
      sourceType.getElementType(),
      columnsType.getElementType(),
      cast<RankedTensorType>(op.getOffsets().getType()).getElementType(),
      columnsType.getDimSize(0),
      sourceType.getDimSize(1),
      cast<RankedTensorType>(op.getType()).getDimSize(1),
      op.getUniqueColumns()};
  gpu::GPUFuncOp kernel = getOrBuildScatterColumnsKernel(*module, sig);
  auto argTypes = kernel.getArgumentTypes();
  auto type = [&](unsigned i) { return cast<MemRefType>(argTypes[i]); };
  SmallVector<Value> args = {host.operand(op.getSource(), type(0)),
                             host.operand(op.getDest(), type(1)),
                             host.operand(op.getColumns(), type(2)),
                             host.operand(op.getOffsets(), type(3))};
  Value rows = rowsOf(host.b, args[1]);
  args.push_back(host.result(op.getResult(), type(4), rows));
  Value one = arith::ConstantIndexOp::create(host.b, 1);
  host.launch(kernel,
              {ceilDivIndex(host.b, rows, sig.rowsPerBlock()), one, one}, args);
  return args.back();
}

/// The gather kernel: one block per token and column chunk.
FailureOr<Value> launchCombine(KernelHost &host, CombineOp op) {
  FailureOr<gpu::GPUModuleOp> module = getKernelModule(op);
  if (failed(module))
    return failure();
  auto mapType = cast<RankedTensorType>(op.getRowMap().getType());
  auto resultType = cast<RankedTensorType>(op.getType());
  CombineSignature sig{
      cast<RankedTensorType>(op.getRows().getType()).getElementType(),
      mapType.getElementType(),
      op.getWeights()
          ? cast<RankedTensorType>(op.getWeights().getType()).getElementType()
          : Type(),
      resultType.getElementType(),
      resultType.getDimSize(1),
      mapType.getDimSize(1)};
  gpu::GPUFuncOp kernel = getOrBuildCombineKernel(*module, sig);
  auto argTypes = kernel.getArgumentTypes();
  auto type = [&](unsigned i) { return cast<MemRefType>(argTypes[i]); };
  SmallVector<Value> args = {host.operand(op.getRows(), type(0)),
                             host.operand(op.getRowMap(), type(1))};
  if (op.getWeights())
    args.push_back(host.operand(op.getWeights(), type(2)));
  ImplicitLocOpBuilder &b = host.b;
  Value tokens = rowsOf(b, args[1]);
  Value out = host.result(op.getResult(), type(argTypes.size() - 1), tokens);
  args.push_back(out);
  int64_t perBlock = kElementwiseThreads * sig.vectorWidth();
  host.launch(
      kernel,
      {tokens,
       arith::ConstantIndexOp::create(b, (sig.width + perBlock - 1) / perBlock),
       arith::ConstantIndexOp::create(b, 1)},
      args);
  return out;
}

/// The combine in the epilogue of the grouped matmul making its rows:
/// slots = inverse row map, sums = 0, sums[token] += w * row (fp32
/// atomics), then sums converted to the result type (the verifier ties it
/// to the rows', 16-bit here).
FailureOr<Value> launchFusedCombine(KernelHost &host, CombineOp op,
                                    GroupedMatmulOp mm,
                                    const MoEToGPUOptions &options) {
  FailureOr<GroupedMatmulSignature> sig =
      getGroupedMatmulSignature(mm, options);
  FailureOr<gpu::GPUModuleOp> module = getKernelModule(op);
  if (failed(sig) || failed(module))
    return failure();
  auto mapType = cast<RankedTensorType>(op.getRowMap().getType());
  auto resultType = cast<RankedTensorType>(op.getType());
  ImplicitLocOpBuilder &b = host.b;
  Type f32 = b.getF32Type();
  sig->resultType = f32;
  sig->fusedCombine = true;
  if (Value weights = op.getWeights())
    sig->combineWeightType =
        cast<RankedTensorType>(weights.getType()).getElementType();
  sig->combineSlots = mapType.getDimSize(1);
  // The chip's tile kernel: wgmma on sm_90a for 16-bit weights.
  gpu::GPUFuncOp kernel = getOrBuildTileKernel(*module, *sig, options);
  gpu::GPUFuncOp slotsKernel = getOrBuildRowSlotsKernel(
      *module, mapType.getElementType(), sig->combineSlots);
  // The buffers' types (a wgmma kernel takes its TMA descriptors after).
  SmallVector<Type> argTypes = groupedMatmulArgumentTypes(*sig);
  auto type = [&](unsigned i) { return cast<MemRefType>(argTypes[i]); };
  unsigned numArgs = argTypes.size();
  Value lhs = host.operand(mm.getLhs(), type(0));
  Value rhs = host.operand(mm.getRhs()[0], type(1));
  Value offsets = host.operand(mm.getOffsets(), type(2));
  Value map = host.operand(op.getRowMap(),
                           cast<MemRefType>(slotsKernel.getArgumentTypes()[0]));
  // The row slots, then the routing weights if the combine has them.
  unsigned slotsArg = op.getWeights() ? numArgs - 2 : numArgs - 1;
  Value rows = rowsOf(b, lhs);
  Value tokens = rowsOf(b, map);
  Value one = arith::ConstantIndexOp::create(b, 1);

  Value slots = host.scratch(type(slotsArg), rows);
  host.fill(slots, b.getI32IntegerAttr(-1));
  Value slotCount = arith::MulIOp::create(
      b, tokens, arith::ConstantIndexOp::create(b, sig->combineSlots));
  host.launch(slotsKernel,
              {ceilDivIndex(b, slotCount, kElementwiseThreads), one, one},
              {map, slots});

  Value sums = host.scratch(type(3), tokens);
  host.fill(sums, b.getF32FloatAttr(0.0f));
  SmallVector<Value> args = {lhs, rhs, offsets, sums};
  if (!mm.getBias().empty())
    args.push_back(host.operand(mm.getBias()[0], type(4)));
  args.push_back(slots);
  if (op.getWeights())
    args.push_back(host.operand(op.getWeights(), type(numArgs - 1)));
  if (host.queuesLaunches())
    host.token =
        launchGroupedMatmul(b, b.getLoc(), kernel, args, rows, host.token);

  Value out = host.result(op.getResult(), dynamicRows(resultType), tokens);
  ActivationSignature convert{f32, resultType.getElementType(), sig->n, sig->n,
                              ActivationParams()};
  launchActivation(host, *module, convert, {sums}, out, tokens);
  return out;
}

/// Lowers a moe.activation or moe.combine (and the matmuls fused into it)
/// through launchMoEOp on tensors.
template <typename OpTy> struct LowerOnTensors : OpRewritePattern<OpTy> {
  LowerOnTensors(MLIRContext *ctx, const MoEToGPUOptions &options)
      : OpRewritePattern<OpTy>(ctx), options(options) {}

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    SmallVector<Operation *, 2> fused = getFusedProducers(op, options);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    TensorHost host(b);
    FailureOr<Value> out = launchMoEOp(host, op, options);
    if (failed(out))
      return failure();
    rewriter.replaceOp(op, host.finish({*out}, {op.getResult()}));
    for (Operation *producer : fused)
      rewriter.eraseOp(producer);
    return success();
  }

  MoEToGPUOptions options;
};

} // namespace

/// The element-wise kernels compute in f32: no f64 anywhere.
static LogicalResult checkF32Compute(Operation *op, TypeRange types) {
  for (Type t : types)
    if (getElementTypeOrSelf(t).getIntOrFloatBitWidth() > 32)
      return op->emitOpError("the GPU kernels compute in f32; ")
             << getElementTypeOrSelf(t) << " is not supported";
  return success();
}

LogicalResult moe::checkActivationForGPU(ActivationOp op) {
  if (op.getWidths())
    return op.emitOpError(
        "the GPU lowering has no per-group widths yet (heterogeneous "
        "experts): --moe-prepare-gpu-layers makes the activation uniform "
        "when its users are padded matmuls reading at most each group's "
        "width");
  auto inputType = cast<RankedTensorType>(op.getInput().getType());
  auto resultType = cast<RankedTensorType>(op.getType());
  if (inputType.isDynamicDim(1) || resultType.isDynamicDim(1))
    return op.emitOpError("the GPU lowering needs static widths");
  return checkF32Compute(op, {inputType, resultType});
}

LogicalResult moe::checkCombineForGPU(CombineOp op) {
  auto rowsType = cast<RankedTensorType>(op.getRows().getType());
  auto resultType = cast<RankedTensorType>(op.getType());
  auto mapType = cast<RankedTensorType>(op.getRowMap().getType());
  if (rowsType.isDynamicDim(1) || resultType.isDynamicDim(1) ||
      mapType.isDynamicDim(1))
    return op.emitOpError("the GPU lowering needs a static hidden size and "
                          "slot count");
  SmallVector<Type> types = {rowsType, resultType};
  if (op.getWeights())
    types.push_back(op.getWeights().getType());
  return checkF32Compute(op, types);
}

LogicalResult moe::checkScatterColumnsForGPU(ScatterColumnsOp op) {
  auto sourceType = cast<RankedTensorType>(op.getSource().getType());
  auto resultType = cast<RankedTensorType>(op.getType());
  if (sourceType.isDynamicDim(1) || resultType.isDynamicDim(1))
    return op.emitOpError("the GPU lowering needs static widths");
  return checkF32Compute(op, {sourceType, resultType});
}

bool moe::isFusedIntoUser(GroupedMatmulOp op, const MoEToGPUOptions &options) {
  if (!op->hasOneUse())
    return false;
  Operation *user = *op->getUsers().begin();
  if (auto act = dyn_cast<ActivationOp>(user))
    return llvm::is_contained(fusibleMatmuls(act), op);
  if (auto combine = dyn_cast<CombineOp>(user))
    return fusibleMatmul(combine, options) == op;
  return false;
}

SmallVector<Operation *, 2>
moe::getFusedProducers(Operation *op, const MoEToGPUOptions &options) {
  SmallVector<Operation *, 2> producers;
  if (auto act = dyn_cast<ActivationOp>(op))
    for (GroupedMatmulOp mm : fusibleMatmuls(act))
      producers.push_back(mm);
  if (auto combine = dyn_cast<CombineOp>(op))
    if (GroupedMatmulOp mm = fusibleMatmul(combine, options))
      producers.push_back(mm);
  return producers;
}

FailureOr<Value> moe::launchMoEOp(KernelHost &host, Operation *op,
                                  const MoEToGPUOptions &options) {
  if (auto mm = dyn_cast<GroupedMatmulOp>(op))
    return launchPlainMatmul(host, mm, options);
  if (auto act = dyn_cast<ActivationOp>(op)) {
    SmallVector<GroupedMatmulOp, 2> matmuls = fusibleMatmuls(act);
    if (!matmuls.empty())
      return launchFusedActivation(host, act, matmuls, options);
    return launchActivationOp(host, act);
  }
  if (auto combine = dyn_cast<CombineOp>(op)) {
    if (GroupedMatmulOp mm = fusibleMatmul(combine, options))
      return launchFusedCombine(host, combine, mm, options);
    return launchCombine(host, combine);
  }
  if (auto scatter = dyn_cast<ScatterColumnsOp>(op))
    return launchScatterColumnsOp(host, scatter);
  return op->emitOpError("has no GPU kernel");
}

void KernelHost::fill(Value buffer, TypedAttr value) {
  Value v = arith::ConstantOp::create(b, value);
  token = gpu::MemsetOp::create(b, gpu::AsyncTokenType::get(b.getContext()),
                                ValueRange{token}, buffer, v)
              .getAsyncToken();
}

void KernelHost::launch(gpu::GPUFuncOp kernel, gpu::KernelDim3 grid,
                        ValueRange args) {
  Value one = arith::ConstantIndexOp::create(b, 1);
  Value threads =
      arith::ConstantIndexOp::create(b, (*kernel.getKnownBlockSize())[0]);
  token = gpu::LaunchFuncOp::create(
              b, kernel, grid, gpu::KernelDim3{threads, one, one}, Value(),
              args, gpu::AsyncTokenType::get(b.getContext()), ValueRange{token})
              .getAsyncToken();
}

void moe::detail::populateEpiloguePatterns(RewritePatternSet &patterns,
                                           const MoEToGPUOptions &options) {
  patterns.add<LowerOnTensors<ActivationOp>, LowerOnTensors<CombineOp>,
               LowerOnTensors<ScatterColumnsOp>>(patterns.getContext(),
                                                 options);
}
