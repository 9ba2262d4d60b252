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

/// The grouped matmuls whose epilogue can compute `op`: its input (and the
/// up projection of a separate layout), each bias-free, stacked and used
/// only by `op`, sharing rows and offsets. Empty when there are none.
SmallVector<GroupedMatmulOp, 2> fusibleMatmuls(ActivationOp op) {
  if (op.getWidths())
    return {};
  auto producer = [&](Value v) {
    auto mm = v ? v.getDefiningOp<GroupedMatmulOp>() : GroupedMatmulOp();
    if (!mm || !mm->hasOneUse() || !mm.getBias().empty() || !mm.isStacked() ||
        mm.getTransposeRhs())
      return GroupedMatmulOp();
    return mm;
  };
  GroupedMatmulOp gate = producer(op.getInput());
  if (!gate)
    return {};
  std::optional<GateLayout> layout = op.getGateLayout();
  int64_t n = cast<RankedTensorType>(gate.getType()).getDimSize(1);
  if (layout == GateLayout::Concatenated && (n % 16 != 0))
    return {};
  if (layout != GateLayout::Separate)
    return {gate};
  GroupedMatmulOp up = producer(op.getUp());
  if (!up || up == gate || up.getLhs() != gate.getLhs() ||
      up.getOffsets() != gate.getOffsets() ||
      up.getRhs()[0].getType() != gate.getRhs()[0].getType() ||
      up.getType() != gate.getType())
    return {};
  return {gate, up};
}

/// The grouped matmul whose epilogue can add `op`'s weighted rows into the
/// tokens (combine=epilogue), or null.
GroupedMatmulOp fusibleMatmul(CombineOp op, const MoEToGPUOptions &options) {
  if (options.combine != "epilogue")
    return {};
  auto mm = op.getRows().getDefiningOp<GroupedMatmulOp>();
  if (!mm || !mm->hasOneUse() || !mm.isStacked() || mm.getTransposeRhs())
    return {};
  return mm;
}

/// Host code on tensors around a sequence of launches on one stream:
/// operands become buffers, results come from gpu.alloc, scratch buffers are
/// freed in stream order, and one wait ends it so that host code may read
/// the results.
class TensorLaunches {
public:
  explicit TensorLaunches(ImplicitLocOpBuilder &b) : b(b) {
    token = gpu::WaitOp::create(b, tokenType(), ValueRange()).getAsyncToken();
  }

  Value input(Value tensor, Type memrefType) {
    return toKernelBuffer(b, tensor, memrefType);
  }

  Value alloc(Type memrefType, ValueRange dynamicSizes) {
    auto op =
        gpu::AllocOp::create(b, memrefType, tokenType(), ValueRange{token},
                             dynamicSizes, ValueRange(), /*hostShared=*/false);
    token = op.getAsyncToken();
    return op.getMemref();
  }

  Value scratch(Type memrefType, ValueRange dynamicSizes) {
    Value buffer = alloc(memrefType, dynamicSizes);
    scratchBuffers.push_back(buffer);
    return buffer;
  }

  void fill(Value buffer, Attribute value) {
    Value v = arith::ConstantOp::create(b, cast<TypedAttr>(value));
    token = gpu::MemsetOp::create(b, tokenType(), ValueRange{token}, buffer, v)
                .getAsyncToken();
  }

  /// A launch on a 1-D or 2-D grid of the kernel's known block size.
  void launch(gpu::GPUFuncOp kernel, Value gridX, Value gridY,
              ValueRange args) {
    Value one = arith::ConstantIndexOp::create(b, 1);
    Value threads =
        arith::ConstantIndexOp::create(b, (*kernel.getKnownBlockSize())[0]);
    token =
        gpu::LaunchFuncOp::create(b, kernel, gpu::KernelDim3{gridX, gridY, one},
                                  gpu::KernelDim3{threads, one, one}, Value(),
                                  args, tokenType(), ValueRange{token})
            .getAsyncToken();
  }

  void launchGroupedMatmul(gpu::GPUFuncOp kernel, ValueRange args, Value rows) {
    token = moe::launchGroupedMatmul(b, b.getLoc(), kernel, args, rows, token);
  }

  /// Frees the scratch buffers, waits, and returns `buffer` as a tensor of
  /// `type`.
  Value finish(Value buffer, RankedTensorType type) {
    for (Value s : scratchBuffers)
      token = gpu::DeallocOp::create(b, tokenType(), ValueRange{token}, s)
                  .getAsyncToken();
    gpu::WaitOp::create(b, Type(), ValueRange{token});
    auto memrefType = cast<MemRefType>(buffer.getType());
    Value result = bufferization::ToTensorOp::create(
        b,
        RankedTensorType::get(memrefType.getShape(),
                              memrefType.getElementType()),
        buffer, /*restrict=*/true, /*writable=*/true);
    if (result.getType() != type)
      result = tensor::CastOp::create(b, type, result);
    return result;
  }

  ImplicitLocOpBuilder &b;

private:
  Type tokenType() { return gpu::AsyncTokenType::get(b.getContext()); }

  Value token;
  SmallVector<Value> scratchBuffers;
};

Value ceilDiv(ImplicitLocOpBuilder &b, Value x, int64_t d) {
  Value dv = arith::ConstantIndexOp::create(b, d);
  return arith::DivUIOp::create(
      b, arith::AddIOp::create(b, x, arith::ConstantIndexOp::create(b, d - 1)),
      dv);
}

MemRefType dynamicRows(RankedTensorType type) {
  return MemRefType::get({ShapedType::kDynamic, type.getDimSize(1)},
                         type.getElementType());
}

/// Launches the element-wise activation kernel of `sig` on `inputs`
/// (tensors, or buffers already), writing the [rows, width] `result`.
void launchActivation(TensorLaunches &host, gpu::GPUModuleOp module,
                      const ActivationSignature &sig, ValueRange inputs,
                      Value result, Value rows) {
  gpu::GPUFuncOp kernel = getOrBuildActivationKernel(module, sig);
  SmallVector<Value> args;
  for (auto [value, type] : llvm::zip(inputs, kernel.getArgumentTypes()))
    args.push_back(isa<MemRefType>(value.getType()) ? value
                                                    : host.input(value, type));
  args.push_back(result);
  ImplicitLocOpBuilder &b = host.b;
  Value total = arith::MulIOp::create(
      b, rows, arith::ConstantIndexOp::create(b, sig.width));
  host.launch(kernel, ceilDiv(b, total, kElementwiseThreads),
              arith::ConstantIndexOp::create(b, 1), args);
}

/// moe.activation fused into the epilogue of the grouped matmul(s) that
/// produce its input.
struct FuseActivation : OpRewritePattern<ActivationOp> {
  FuseActivation(MLIRContext *ctx, const MoEToGPUOptions &options)
      : OpRewritePattern(ctx, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(ActivationOp op,
                                PatternRewriter &rewriter) const override {
    SmallVector<GroupedMatmulOp, 2> matmuls = fusibleMatmuls(op);
    if (matmuls.empty())
      return rewriter.notifyMatchFailure(op, "no fusible grouped matmul");
    FailureOr<GroupedMatmulSignature> sig =
        getGroupedMatmulSignature(matmuls[0], options);
    FailureOr<gpu::GPUModuleOp> module = getKernelModule(op);
    if (failed(sig) || failed(module))
      return failure();
    auto resultType = cast<RankedTensorType>(op.getType());
    sig->resultType = resultType.getElementType();
    sig->activation = ActivationParams::get(op);
    sig->splitWeights = matmuls.size() == 2;
    gpu::GPUFuncOp kernel = getOrBuildGroupedMatmulKernel(*module, *sig);

    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    TensorLaunches host(b);
    auto argTypes = kernel.getArgumentTypes();
    GroupedMatmulOp gate = matmuls[0];
    SmallVector<Value> args = {host.input(gate.getLhs(), argTypes[0])};
    for (GroupedMatmulOp mm : matmuls)
      args.push_back(host.input(mm.getRhs()[0], argTypes[args.size()]));
    args.push_back(host.input(gate.getOffsets(), argTypes[args.size()]));
    Value rows = memref::DimOp::create(b, args[0], 0);
    Value out = host.alloc(argTypes[args.size()], ValueRange{rows});
    args.push_back(out);
    host.launchGroupedMatmul(kernel, args, rows);
    rewriter.replaceOp(op, host.finish(out, resultType));
    for (GroupedMatmulOp mm : matmuls)
      rewriter.eraseOp(mm);
    return success();
  }

  MoEToGPUOptions options;
};

/// A moe.activation that is not fused: the element-wise kernel.
struct LowerActivation : OpRewritePattern<ActivationOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ActivationOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<gpu::GPUModuleOp> module = getKernelModule(op);
    if (failed(module))
      return failure();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    auto resultType = cast<RankedTensorType>(op.getType());
    ActivationSignature sig{inputType.getElementType(),
                            resultType.getElementType(),
                            inputType.getDimSize(1), resultType.getDimSize(1),
                            ActivationParams::get(op)};
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    TensorLaunches host(b);
    SmallVector<Value> inputs = {op.getInput()};
    if (op.getUp())
      inputs.push_back(op.getUp());
    Value rows = tensor::DimOp::create(b, op.getInput(), 0);
    Value out = host.alloc(dynamicRows(resultType), ValueRange{rows});
    launchActivation(host, *module, sig, inputs, out, rows);
    rewriter.replaceOp(op, host.finish(out, resultType));
    return success();
  }
};

/// moe.combine as the gather kernel.
struct LowerCombine : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    FailureOr<gpu::GPUModuleOp> module = getKernelModule(op);
    if (failed(module))
      return failure();
    auto rowsType = cast<RankedTensorType>(op.getRows().getType());
    auto mapType = cast<RankedTensorType>(op.getRowMap().getType());
    auto weightType = cast<RankedTensorType>(op.getWeights().getType());
    auto resultType = cast<RankedTensorType>(op.getType());
    CombineSignature sig{
        rowsType.getElementType(),   mapType.getElementType(),
        weightType.getElementType(), resultType.getElementType(),
        resultType.getDimSize(1),    mapType.getDimSize(1)};
    gpu::GPUFuncOp kernel = getOrBuildCombineKernel(*module, sig);
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    TensorLaunches host(b);
    auto argTypes = kernel.getArgumentTypes();
    SmallVector<Value> args = {host.input(op.getRows(), argTypes[0]),
                               host.input(op.getRowMap(), argTypes[1]),
                               host.input(op.getWeights(), argTypes[2])};
    Value tokens = memref::DimOp::create(b, args[1], 0);
    Value out = host.alloc(argTypes[3], ValueRange{tokens});
    args.push_back(out);
    int64_t perBlock = kElementwiseThreads * sig.vectorWidth();
    host.launch(kernel, tokens,
                arith::ConstantIndexOp::create(b, (sig.width + perBlock - 1) /
                                                      perBlock),
                args);
    rewriter.replaceOp(op, host.finish(out, resultType));
    return success();
  }
};

/// moe.combine in the epilogue of the grouped matmul that makes its rows:
/// slots = inverse row map, sums = 0, sums[token] += w * row (fp32
/// atomics), then sums converted to the result type.
struct FuseCombine : OpRewritePattern<CombineOp> {
  FuseCombine(MLIRContext *ctx, const MoEToGPUOptions &options)
      : OpRewritePattern(ctx, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    GroupedMatmulOp mm = fusibleMatmul(op, options);
    if (!mm)
      return rewriter.notifyMatchFailure(op, "combine=kernel or no matmul");
    FailureOr<GroupedMatmulSignature> sig =
        getGroupedMatmulSignature(mm, options);
    FailureOr<gpu::GPUModuleOp> module = getKernelModule(op);
    if (failed(sig) || failed(module))
      return failure();
    auto mapType = cast<RankedTensorType>(op.getRowMap().getType());
    auto weightType = cast<RankedTensorType>(op.getWeights().getType());
    auto resultType = cast<RankedTensorType>(op.getType());
    Type f32 = rewriter.getF32Type();
    sig->resultType = f32;
    sig->combineWeightType = weightType.getElementType();
    sig->combineSlots = mapType.getDimSize(1);
    gpu::GPUFuncOp kernel = getOrBuildGroupedMatmulKernel(*module, *sig);
    gpu::GPUFuncOp slotsKernel = getOrBuildRowSlotsKernel(
        *module, mapType.getElementType(), sig->combineSlots);

    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    TensorLaunches host(b);
    auto argTypes = kernel.getArgumentTypes();
    Value lhs = host.input(mm.getLhs(), argTypes[0]);
    Value rhs = host.input(mm.getRhs()[0], argTypes[1]);
    Value offsets = host.input(mm.getOffsets(), argTypes[2]);
    Value map = host.input(op.getRowMap(), slotsKernel.getArgumentTypes()[0]);
    Value weights = host.input(op.getWeights(), argTypes.back());
    Value rows = memref::DimOp::create(b, lhs, 0);
    Value tokens = memref::DimOp::create(b, map, 0);

    Value slots = host.scratch(argTypes[argTypes.size() - 2], {rows});
    host.fill(slots, b.getI32IntegerAttr(-1));
    Value slotCount = arith::MulIOp::create(
        b, tokens, arith::ConstantIndexOp::create(b, sig->combineSlots));
    host.launch(slotsKernel, ceilDiv(b, slotCount, kElementwiseThreads),
                arith::ConstantIndexOp::create(b, 1), {map, slots});

    // The verifier ties the result type to the rows' (the matmul's, 16-bit):
    // the f32 sums always go through a conversion.
    Value sums = host.scratch(argTypes[3], {tokens});
    host.fill(sums, b.getF32FloatAttr(0.0f));
    SmallVector<Value> args = {lhs, rhs, offsets, sums};
    if (!mm.getBias().empty())
      args.push_back(host.input(mm.getBias()[0], argTypes[4]));
    args.append({slots, weights});
    host.launchGroupedMatmul(kernel, args, rows);
    Value out = host.alloc(dynamicRows(resultType), {tokens});
    ActivationSignature convert{f32, resultType.getElementType(), sig->n,
                                sig->n, ActivationParams()};
    launchActivation(host, *module, convert, {sums}, out, tokens);
    rewriter.replaceOp(op, host.finish(out, resultType));
    rewriter.eraseOp(mm);
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
    return op.emitOpError("the GPU lowering has no per-group widths yet "
                          "(heterogeneous experts)");
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
  return checkF32Compute(op, {rowsType, resultType, op.getWeights().getType()});
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

void moe::detail::populateEpiloguePatterns(RewritePatternSet &patterns,
                                           const MoEToGPUOptions &options) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<FuseActivation, FuseCombine>(ctx, options);
  patterns.add<LowerActivation, LowerCombine>(ctx);
}
