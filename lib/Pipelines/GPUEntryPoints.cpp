//===- GPUEntryPoints.cpp - C entry points for an AOT GPU library --------===//
//
// A library built ahead of time is called from C, C++ or Python with raw
// device pointers and the caller's stream (include/moe-c/GPU.h). The tensor
// host code of convert-moe-to-gpu allocates its result and waits; here the
// kernels are launched on the caller's buffers and stream instead, and the
// memref descriptors are built from the pointers in the LLVM dialect (an
// unrealized cast that the LLVM lowering folds away).
//
//===----------------------------------------------------------------------===//

#include "GPULayerEntries.h"

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Dialect/MoE/IR/MoE.h"
#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace moe {
#define GEN_PASS_DEF_MOEGPUENTRYPOINTS
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;
using moe::detail::wrapPointer;

Value moe::detail::wrapPointer(ImplicitLocOpBuilder &b, Value ptr,
                               MemRefType type, Value rows) {
  int64_t rank = type.getRank();
  Type i64 = b.getI64Type();
  auto array = LLVM::LLVMArrayType::get(i64, rank);
  auto descType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), {ptr.getType(), ptr.getType(), i64, array, array});
  auto c = [&](int64_t v) {
    return LLVM::ConstantOp::create(b, i64, b.getI64IntegerAttr(v));
  };
  Value desc = LLVM::PoisonOp::create(b, descType);
  desc = LLVM::InsertValueOp::create(b, desc, ptr, ArrayRef<int64_t>{0});
  desc = LLVM::InsertValueOp::create(b, desc, ptr, ArrayRef<int64_t>{1});
  desc = LLVM::InsertValueOp::create(b, desc, c(0), ArrayRef<int64_t>{2});
  int64_t stride = 1;
  for (int64_t d = rank - 1; d >= 0; --d) {
    Value size = type.isDynamicDim(d) ? rows : c(type.getDimSize(d));
    desc = LLVM::InsertValueOp::create(b, desc, size, ArrayRef<int64_t>{3, d});
    desc = LLVM::InsertValueOp::create(b, desc, c(stride),
                                       ArrayRef<int64_t>{4, d});
    if (d > 0)
      stride *= type.getDimSize(d);
  }
  return UnrealizedConversionCastOp::create(b, type, desc).getResult(0);
}

namespace {

/// Element type codes of the C ABI (include/moe-c/GPU.h).
constexpr int32_t kBF16 = 0;
constexpr int32_t kF16 = 1;

struct Entry {
  /// The routing kernel, or the grouped matmul's tile kernel (null when
  /// kernel=decode).
  gpu::GPUFuncOp kernel;
  int32_t dtype;
  int64_t experts, k, n;
  /// Routing kernels only: which [E] biases the kernel takes.
  bool routerBias = false, selectionBias = false;
  /// Grouped matmuls only: the decode kernel (null when kernel=tile).
  gpu::GPUFuncOp decode = {};
  /// Dispatch entries only (key: dtype, experts, hidden, k); last, so that
  /// positional initializers of the other entries never reach it.
  moe::DispatchKernels dispatch = {};
};

/// A routing kernel's C key: (dtype, experts, hidden, k) in the fields of
/// Entry (k = hidden, n = k).
constexpr int32_t kF32 = 2;

/// `dtype == entry.dtype && experts == E && k == K && n == N`.
Value matches(ImplicitLocOpBuilder &b, const Entry &entry, ValueRange key) {
  Value dtype = arith::ConstantIntOp::create(b, entry.dtype, 32);
  Value all = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, key[0], dtype);
  int64_t dims[] = {entry.experts, entry.k, entry.n};
  for (auto [value, dim] : llvm::zip(key.drop_front(), dims)) {
    Value eq = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, value,
                                     arith::ConstantIntOp::create(b, dim, 64));
    all = arith::AndIOp::create(b, all, eq);
  }
  return all;
}

/// if (matches entries[0]) { onMatch(entries[0]) } else if ... else { 1 }.
template <typename OnMatch>
Value buildChain(ImplicitLocOpBuilder &b, ArrayRef<Entry> entries,
                 ValueRange key, OnMatch onMatch) {
  Type i32 = b.getI32Type();
  if (entries.empty())
    return arith::ConstantIntOp::create(b, 1, 32);
  auto ifOp = scf::IfOp::create(b, i32, matches(b, entries.front(), key),
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, onMatch(entries.front()));
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, buildChain(b, entries.drop_front(), key, onMatch));
  }
  return ifOp.getResult(0);
}

struct GPUEntryPointsPass
    : moe::impl::MoEGPUEntryPointsBase<GPUEntryPointsPass> {
  using Base::Base;

  /// The C ABI's checks on top of the kernel's own (bias, offset type),
  /// with an error at `op`.
  static LogicalResult checkABI(moe::GroupedMatmulOp op) {
    if (!op.getBias().empty())
      return op.emitOpError("moe-gpu-entry-points: grouped matmuls with a "
                            "bias have no C entry point yet");
    if (op.getTransposeRhs())
      return op.emitOpError("moe-gpu-entry-points: the C entry point takes "
                            "[E, K, N] weights (quantized ones only in a "
                            "layer entry: run --moe-prepare-gpu-layers)");
    auto offsets = cast<ShapedType>(op.getOffsets().getType());
    if (!offsets.getElementType().isInteger(64))
      return op.emitOpError("moe-gpu-entry-points: the C entry point takes "
                            "i64 offsets, not ")
             << offsets.getElementType();
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!moe::isSupportedGPUChip(chip)) {
      module.emitError("moe-gpu-entry-points: unsupported chip '")
          << chip << "' (sm_80, sm_90 and sm_90a are)";
      return signalPassFailure();
    }
    // The ops of layer functions are compiled into their layer entry; the
    // other functions' name the standalone entries.
    SmallVector<moe::GroupedMatmulOp> ops;
    SmallVector<moe::FusedRouteOp> routes;
    SmallVector<moe::DispatchOp> dispatches;
    SmallVector<func::FuncOp> layers;
    for (func::FuncOp func : module.getOps<func::FuncOp>()) {
      if (func->hasAttr(moe::detail::kLayerAttr)) {
        layers.push_back(func);
        continue;
      }
      func.walk([&](moe::GroupedMatmulOp op) { ops.push_back(op); });
      func.walk([&](moe::FusedRouteOp op) { routes.push_back(op); });
      func.walk([&](moe::DispatchOp op) { dispatches.push_back(op); });
      // A whole MoE layer outside a layer function is most likely a model
      // that was not prepared: say what becomes of it.
      func.walk([&](moe::CombineOp op) {
        op.emitWarning("moe-gpu-entry-points: this MoE layer is not in a "
                       "moe.gpu_layer function, so it gets no "
                       "moe_layer_forward entry (only standalone entries "
                       "for its grouped matmuls, routing and dispatch); run "
                       "--moe-prepare-gpu-layers first to compile it as one");
      });
    }
    if (ops.empty() && routes.empty() && dispatches.empty() && layers.empty()) {
      module.emitError("moe-gpu-entry-points: the module has no "
                       "moe.grouped_matmul to compile (nor a "
                       "moe.fused_route, moe.dispatch or moe.gpu_layer "
                       "function)");
      return signalPassFailure();
    }
    // Check everything before building anything, so that a refusal leaves
    // the module as it was.
    moe::MoEToGPUOptions options{
        chip,    /*elementType=*/"", combine, kernel, wgmmaTile,
        mmaTile, decodeBlocksPerSM};
    if (failed(
            moe::checkMoEToGPUOptions(module, "moe-gpu-entry-points", options)))
      return signalPassFailure();
    bool ok = true;
    for (moe::GroupedMatmulOp op : ops)
      ok &= succeeded(checkABI(op)) &&
            succeeded(moe::checkGroupedMatmulForGPU(op, options));
    for (moe::FusedRouteOp op : routes)
      ok &= succeeded(checkRouteABI(op)) &&
            succeeded(moe::checkRoutingForGPU(op));
    for (moe::DispatchOp op : dispatches)
      ok &= succeeded(checkDispatchABI(op)) &&
            succeeded(moe::checkDispatchForGPU(op));
    for (func::FuncOp func : layers)
      ok &= succeeded(moe::detail::checkLayer(func, options));
    if (!ok ||
        failed(checkDistinctKeys(ArrayRef<moe::DispatchOp>(dispatches),
                                 dispatchKey, "dispatches", "moe_dispatch")))
      return signalPassFailure();
    FailureOr<SmallVector<Entry>> routeEntries = collectRoutes(routes);
    if (failed(routeEntries))
      return signalPassFailure();
    FailureOr<SmallVector<Entry>> dispatchEntries =
        collectDispatches(dispatches);
    if (failed(dispatchEntries))
      return signalPassFailure();

    SmallVector<Entry> entries;
    llvm::DenseSet<Operation *> seen;
    for (moe::GroupedMatmulOp op : ops) {
      FailureOr<moe::GroupedMatmulKernels> kernels =
          moe::getGroupedMatmulKernels(op, options);
      if (failed(kernels))
        return signalPassFailure();
      gpu::GPUFuncOp any = kernels->tile ? kernels->tile : kernels->decode;
      if (!seen.insert(any).second)
        continue;
      auto rhs = cast<MemRefType>(any.getArgumentTypes()[1]);
      Entry entry{kernels->tile, rhs.getElementType().isBF16() ? kBF16 : kF16,
                  rhs.getDimSize(0), rhs.getDimSize(1), rhs.getDimSize(2)};
      // By name: Entry grows fields for other entry points.
      entry.decode = kernels->decode;
      entries.push_back(entry);
    }
    SmallVector<func::FuncOp> functions(module.getOps<func::FuncOp>());
    if (failed(moe::detail::buildLayerEntries(module, layers, options)))
      return signalPassFailure();
    for (func::FuncOp func : functions)
      func.erase();
    buildDispatch(module, entries);
    buildLookup(module, entries);
    buildKernelKind(module, entries);
    buildRouteDispatch(module, *routeEntries);
    buildRouteLookup(module, *routeEntries);
    buildDispatchLaunch(module, *dispatchEntries);
    // moe_gpu_dispatch_lookup(dtype, experts, hidden, k): 1 if compiled.
    buildLookup(module, *dispatchEntries, "moe_gpu_dispatch_lookup");
    buildChipName(module);
  }

  static int32_t dtypeCode(Type elt) {
    return elt.isBF16() ? kBF16 : elt.isF16() ? kF16 : kF32;
  }

  /// The C key of a dispatch: (row type, experts, hidden, k).
  static std::tuple<Type, int64_t, int64_t, int64_t>
  dispatchKey(moe::DispatchOp op) {
    auto input = cast<ShapedType>(op.getInput().getType());
    return {input.getElementType(), int64_t(op.getNumExperts()),
            input.getDimSize(1),
            cast<ShapedType>(op.getIndices().getType()).getDimSize(1)};
  }

  /// Refuses two ops under one C key that are not the same op (attributes
  /// and types), before anything is built.
  template <typename OpT, typename KeyFn>
  static LogicalResult checkDistinctKeys(ArrayRef<OpT> ops, KeyFn key,
                                         StringRef what, StringRef entry) {
    for (auto [i, op] : llvm::enumerate(ops))
      for (OpT earlier : ops.take_front(i))
        if (key(earlier) == key(op) &&
            (earlier->getAttrDictionary() != op->getAttrDictionary() ||
             earlier->getOperandTypes() != op->getOperandTypes() ||
             earlier->getResultTypes() != op->getResultTypes()))
          return OpT(op).emitOpError("moe-gpu-entry-points: two ")
                 << what
                 << " with the same (dtype, experts, hidden, k) but "
                    "different attributes; "
                 << entry << " could not tell them apart";
    return success();
  }

  /// The dispatch C ABI (moe_dispatch): bf16/f16/f32 rows, i64 ids,
  /// offsets and row map.
  static LogicalResult checkDispatchABI(moe::DispatchOp op) {
    auto elt = [](Value v) {
      return cast<ShapedType>(v.getType()).getElementType();
    };
    Type rows = elt(op.getInput());
    if (op.getExpertChoice())
      return op.emitOpError("moe-gpu-entry-points: moe_dispatch takes [T, k] "
                            "token-choice ids; an expert-choice dispatch runs "
                            "in a layer entry");
    if (op.getScaleRows())
      return op.emitOpError("moe-gpu-entry-points: moe_dispatch takes no "
                            "routing weights, so it cannot scale_rows (a "
                            "layer entry can)");
    if (op.getExpertMap())
      return op.emitOpError("moe-gpu-entry-points: moe_dispatch takes the "
                            "experts' own ids; a merged layer's expert_map "
                            "runs in a layer entry");
    if (op.getGroupSize())
      return op.emitOpError("moe-gpu-entry-points: moe_dispatch takes no "
                            "group size; a dispatch with group_size runs in "
                            "a layer entry");
    if (op.getDropPolicy() == moe::DropPolicy::ByWeight && op.getCapacity())
      return op.emitOpError("moe-gpu-entry-points: moe_dispatch takes no "
                            "routing weights, so it cannot drop by_weight (a "
                            "layer entry can)");
    if (!rows.isBF16() && !rows.isF16() && !rows.isF32())
      return op.emitOpError("moe-gpu-entry-points: moe_dispatch takes bf16, "
                            "f16 or f32 rows, not ")
             << rows;
    if (!elt(op.getIndices()).isInteger(64) ||
        !elt(op.getOffsets()).isInteger(64) ||
        !elt(op.getRowMap()).isInteger(64))
      return op.emitOpError("moe-gpu-entry-points: moe_dispatch takes i64 "
                            "ids and returns i64 offsets and row map");
    return success();
  }

  FailureOr<SmallVector<Entry>>
  collectDispatches(ArrayRef<moe::DispatchOp> dispatches) {
    SmallVector<Entry> entries;
    for (moe::DispatchOp op : dispatches) {
      FailureOr<moe::DispatchKernels> kernels = moe::getDispatchKernels(op);
      if (failed(kernels))
        return failure();
      if (llvm::any_of(entries, [&](const Entry &e) {
            return e.kernel == kernels->scatter;
          }))
        continue;
      auto [type, experts, hidden, k] = dispatchKey(op);
      Entry entry{kernels->scatter, dtypeCode(type), experts, hidden, k};
      entry.dispatch = *kernels;
      entries.push_back(entry);
    }
    return entries;
  }

  /// moe_gpu_dispatch_launch(dtype, experts, hidden, k, input, ids, rows,
  /// offsets, row_map, tokens, workspace, stream): the workspace holds the
  /// per-chunk counts (ceil(tokens * k / 256) * E i32) then, 256-byte
  /// aligned, the slot of each row (tokens * k i32).
  void buildDispatchLaunch(ModuleOp module, ArrayRef<Entry> entries) {
    MLIRContext *ctx = &getContext();
    Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
    Type ptr = LLVM::LLVMPointerType::get(ctx);
    Type token = gpu::AsyncTokenType::get(ctx);
    auto type = FunctionType::get(
        ctx, {i32, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, i64, ptr, token},
        {i32});
    func::FuncOp func = createFunc(module, "moe_gpu_dispatch_launch", type);
    Block &body = func.front();
    auto b = ImplicitLocOpBuilder::atBlockEnd(module.getLoc(), &body);
    ValueRange args = body.getArguments();
    Value tokens = args[9], workspace = args[10], stream = args[11];
    Value result =
        buildChain(b, entries, args.take_front(4), [&](Entry e) -> Value {
          auto c = [&](int64_t v) {
            return LLVM::ConstantOp::create(b, i64, b.getI64IntegerAttr(v));
          };
          const moe::DispatchKernels &kernels = e.dispatch;
          Value slots = LLVM::MulOp::create(b, tokens, c(e.n));
          Value chunks = LLVM::UDivOp::create(
              b, LLVM::AddOp::create(b, slots, c(255)), c(256));
          Value counts = LLVM::MulOp::create(b, chunks, c(e.experts));
          Value bytes = LLVM::MulOp::create(b, counts, c(4));
          Value aligned = LLVM::AndOp::create(
              b, LLVM::AddOp::create(b, bytes, c(255)), c(~int64_t(255)));
          Value source = LLVM::GEPOp::create(b, ptr, b.getI8Type(), workspace,
                                             ArrayRef<LLVM::GEPArg>{aligned});
          auto wrap = [&](Value pointer, gpu::GPUFuncOp kernel, unsigned arg,
                          Value size) {
            return wrapPointer(b, pointer,
                               cast<MemRefType>(kernel.getArgumentTypes()[arg]),
                               size);
          };
          Value input = wrap(args[4], kernels.gather, 0, tokens);
          Value ids = wrap(args[5], kernels.scatter, 0, tokens);
          Value rows = wrap(args[6], kernels.gather, 3, slots);
          Value offsets = wrap(args[7], kernels.scatter, 2, tokens);
          Value rowMap = wrap(args[8], kernels.scatter, 3, tokens);
          Value countBuffer = wrap(workspace, kernels.scatter, 1, counts);
          Value sourceBuffer = wrap(source, kernels.scatter, 4, slots);
          Value count = arith::IndexCastOp::create(b, b.getIndexType(), tokens);
          moe::launchDispatch(
              b, b.getLoc(), kernels,
              {input, ids, countBuffer, offsets, rowMap, sourceBuffer, rows},
              count, stream);
          return arith::ConstantIntOp::create(b, 0, 32);
        });
    func::ReturnOp::create(b, result);
  }

  /// The routing C ABI (moe_route in include/moe-c/GPU.h): f32 weights,
  /// i64 ids, tokens and router of one type, f32 biases.
  static LogicalResult checkRouteABI(moe::FusedRouteOp op) {
    auto elt = [](Value v) {
      return v ? cast<ShapedType>(v.getType()).getElementType() : Type();
    };
    if (op.getMode() == moe::RoutingMode::ExpertChoice)
      return op.emitOpError("moe-gpu-entry-points: moe_route returns [T, k] "
                            "token-choice ids; expert-choice routing runs "
                            "in a layer entry (moe-gpu-layer-entries)");
    Type input = elt(op.getInput());
    if (elt(op.getWeight()) != input)
      return op.emitOpError("moe-gpu-entry-points: moe_route takes tokens and "
                            "router weight of one type");
    if (!elt(op.getWeights()).isF32() || !elt(op.getIndices()).isInteger(64))
      return op.emitOpError("moe-gpu-entry-points: moe_route returns f32 "
                            "weights and i64 ids");
    for (Value bias : {op.getBias(), op.getSelectionBias()})
      if (bias && !elt(bias).isF32())
        return op.emitOpError(
            "moe-gpu-entry-points: moe_route takes f32 biases");
    return success();
  }

  /// One entry per routing kernel; two kernels may not share a C key.
  FailureOr<SmallVector<Entry>>
  collectRoutes(ArrayRef<moe::FusedRouteOp> routes) {
    auto key = [](moe::FusedRouteOp op) {
      return std::make_tuple(
          cast<ShapedType>(op.getInput().getType()).getElementType(),
          op.getNumExperts(),
          cast<ShapedType>(op.getInput().getType()).getDimSize(1),
          int64_t(*op.getK()));
    };
    if (failed(checkDistinctKeys(routes, key, "routings", "moe_route")))
      return failure();
    SmallVector<Entry> entries;
    for (moe::FusedRouteOp op : routes) {
      FailureOr<gpu::GPUFuncOp> kernel = moe::getRoutingKernel(op);
      if (failed(kernel))
        return failure();
      if (llvm::any_of(entries,
                       [&](const Entry &e) { return e.kernel == *kernel; }))
        continue;
      Type elt = cast<ShapedType>(op.getInput().getType()).getElementType();
      entries.push_back(
          {*kernel,
           elt.isBF16()  ? kBF16
           : elt.isF16() ? kF16
                         : kF32,
           op.getNumExperts(),
           cast<ShapedType>(op.getInput().getType()).getDimSize(1),
           int64_t(*op.getK()), op.getBias() != nullptr,
           op.getSelectionBias() != nullptr});
    }
    return entries;
  }

  /// moe_gpu_route_dispatch(dtype, experts, hidden, k, input, router,
  /// router_bias, selection_bias, weights, ids, tokens, workspace, stream):
  /// the workspace holds the logits (tokens rows of E rounded up to 32 f32)
  /// then, 256-byte aligned, the per-tile counters.
  void buildRouteDispatch(ModuleOp module, ArrayRef<Entry> entries) {
    MLIRContext *ctx = &getContext();
    Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
    Type ptr = LLVM::LLVMPointerType::get(ctx);
    Type token = gpu::AsyncTokenType::get(ctx);
    auto type = FunctionType::get(
        ctx,
        {i32, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, i64, ptr, token},
        {i32});
    func::FuncOp func = createFunc(module, "moe_gpu_route_dispatch", type);
    Block &body = func.front();
    auto b = ImplicitLocOpBuilder::atBlockEnd(module.getLoc(), &body);
    ValueRange args = body.getArguments();
    Value tokens = args[10], workspace = args[11], stream = args[12];
    Value result =
        buildChain(b, entries, args.take_front(4), [&](Entry e) -> Value {
          auto c = [&](int64_t v) {
            return LLVM::ConstantOp::create(b, i64, b.getI64IntegerAttr(v));
          };
          int64_t slices = moe::getRoutingSlices(e.kernel);
          auto argTypes = e.kernel.getArgumentTypes();
          SmallVector<Value> pointers = {args[4], args[5]};
          if (e.routerBias)
            pointers.push_back(args[6]);
          if (e.selectionBias)
            pointers.push_back(args[7]);
          pointers.append({args[8], args[9]});
          SmallVector<Value> sizes(pointers.size(), tokens);
          if (slices > 1) {
            int64_t stride = (e.experts + 31) / 32 * 32;
            Value logits = LLVM::MulOp::create(b, tokens, c(stride));
            Value bytes = LLVM::MulOp::create(b, logits, c(4));
            Value aligned = LLVM::AndOp::create(
                b, LLVM::AddOp::create(b, bytes, c(255)), c(~int64_t(255)));
            Value counters =
                LLVM::GEPOp::create(b, ptr, b.getI8Type(), workspace,
                                    ArrayRef<LLVM::GEPArg>{aligned});
            Value tiles = LLVM::UDivOp::create(
                b, LLVM::AddOp::create(b, tokens, c(7)), c(8));
            pointers.append({workspace, counters});
            sizes.append({logits, tiles});
          }
          SmallVector<Value> buffers;
          for (auto [pointer, size, type] :
               llvm::zip(pointers, sizes, argTypes))
            buffers.push_back(
                wrapPointer(b, pointer, cast<MemRefType>(type), size));
          Value count = arith::IndexCastOp::create(b, b.getIndexType(), tokens);
          moe::launchRouting(b, b.getLoc(), e.kernel, buffers, count, stream);
          return arith::ConstantIntOp::create(b, 0, 32);
        });
    func::ReturnOp::create(b, result);
  }

  /// moe_gpu_route_lookup(dtype, experts, hidden, k): the kernel's expert
  /// slices (> 1: it needs a workspace), 0 if there is no such kernel.
  void buildRouteLookup(ModuleOp module, ArrayRef<Entry> entries) {
    MLIRContext *ctx = &getContext();
    Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
    auto type = FunctionType::get(ctx, {i32, i64, i64, i64}, {i32});
    func::FuncOp func = createFunc(module, "moe_gpu_route_lookup", type);
    Block &body = func.front();
    auto b = ImplicitLocOpBuilder::atBlockEnd(module.getLoc(), &body);
    // buildChain yields 1 when nothing matches: start from "slices + 1".
    Value code = buildChain(b, entries, body.getArguments(),
                            [&](const Entry &e) -> Value {
                              return arith::ConstantIntOp::create(
                                  b, moe::getRoutingSlices(e.kernel) + 1, 32);
                            });
    Value one = arith::ConstantIntOp::create(b, 1, 32);
    func::ReturnOp::create(b, Value(arith::SubIOp::create(b, code, one)));
  }

  /// `moe_gpu_target_chip`, a C string, for moe_gpu_chip().
  void buildChipName(ModuleOp module) {
    OpBuilder b(module.getContext());
    b.setInsertionPointToStart(module.getBody());
    std::string value = chip + std::string(1, '\0');
    auto type = LLVM::LLVMArrayType::get(b.getI8Type(), value.size());
    LLVM::GlobalOp::create(b, module.getLoc(), type, /*isConstant=*/true,
                           LLVM::Linkage::External, "moe_gpu_target_chip",
                           b.getStringAttr(value));
  }

  static func::FuncOp createFunc(ModuleOp module, StringRef name,
                                 FunctionType type) {
    OpBuilder b(module.getContext());
    b.setInsertionPointToStart(module.getBody());
    auto func = func::FuncOp::create(b, module.getLoc(), name, type);
    func.addEntryBlock();
    return func;
  }

  void buildDispatch(ModuleOp module, ArrayRef<Entry> entries) {
    MLIRContext *ctx = &getContext();
    Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
    Type ptr = LLVM::LLVMPointerType::get(ctx);
    Type token = gpu::AsyncTokenType::get(ctx);
    auto type = FunctionType::get(
        ctx, {i32, i64, i64, i64, ptr, ptr, ptr, ptr, i64, token}, {i32});
    func::FuncOp func =
        createFunc(module, "moe_gpu_grouped_matmul_dispatch", type);
    Block &body = func.front();
    auto b = ImplicitLocOpBuilder::atBlockEnd(module.getLoc(), &body);
    ValueRange args = body.getArguments();
    Value rows = args[8], stream = args[9];
    Value result =
        buildChain(b, entries, args.take_front(4), [&](Entry e) -> Value {
          moe::GroupedMatmulKernels kernels{e.kernel, e.decode};
          gpu::GPUFuncOp any = e.kernel ? e.kernel : e.decode;
          SmallVector<Value> buffers;
          for (auto [ptrArg, type] :
               llvm::zip(args.slice(4, 4), any.getArgumentTypes()))
            buffers.push_back(
                wrapPointer(b, ptrArg, cast<MemRefType>(type), rows));
          Value rowCount =
              arith::IndexCastOp::create(b, b.getIndexType(), rows);
          // Decode or tile kernel by the row count (no wait: the caller's
          // stream orders the launch).
          moe::selectGroupedMatmulKernel(b, b.getLoc(), kernels, buffers,
                                         rowCount, stream,
                                         [](OpBuilder &, Value) {});
          return arith::ConstantIntOp::create(b, 0, 32);
        });
    func::ReturnOp::create(b, result);
  }

  /// `moe_gpu_grouped_matmul_kind`: 2 for an mma.sync kernel, 3 for a wgmma
  /// one with the 128x128 tile, 5 for the warp-specialized 128x256 one (the
  /// tile kernel; rows <= 16 * E take the decode kernel unless kernel=tile),
  /// 4 for the decode kernel alone (kernel=decode), 1 (the chain's no-match)
  /// if none, for moe_grouped_matmul_kernel().
  void buildKernelKind(ModuleOp module, ArrayRef<Entry> entries) {
    MLIRContext *ctx = &getContext();
    Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
    auto type = FunctionType::get(ctx, {i32, i64, i64, i64}, {i32});
    func::FuncOp func = createFunc(module, "moe_gpu_grouped_matmul_kind", type);
    Block &body = func.front();
    auto b = ImplicitLocOpBuilder::atBlockEnd(module.getLoc(), &body);
    Value kind = buildChain(
        b, entries, body.getArguments(), [&](const Entry &e) -> Value {
          gpu::GPUFuncOp kernel = e.kernel;
          int kind = 2;
          if (!kernel)
            kind = 4;
          else if (moe::isWgmmaKernel(kernel))
            kind = moe::isWarpSpecializedKernel(kernel) ? 5 : 3;
          return arith::ConstantIntOp::create(b, kind, 32);
        });
    func::ReturnOp::create(b, kind);
  }

  void buildLookup(ModuleOp module, ArrayRef<Entry> entries,
                   StringRef name = "moe_gpu_grouped_matmul_lookup") {
    MLIRContext *ctx = &getContext();
    Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
    auto type = FunctionType::get(ctx, {i32, i64, i64, i64}, {i32});
    func::FuncOp func = createFunc(module, name, type);
    Block &body = func.front();
    auto b = ImplicitLocOpBuilder::atBlockEnd(module.getLoc(), &body);
    // The chain yields 0 on a match and 1 otherwise; lookup says the reverse.
    Value missing = buildChain(b, entries, body.getArguments(),
                               [&](const Entry &) -> Value {
                                 return arith::ConstantIntOp::create(b, 0, 32);
                               });
    Value one = arith::ConstantIntOp::create(b, 1, 32);
    func::ReturnOp::create(b, Value(arith::XOrIOp::create(b, missing, one)));
  }
};

} // namespace
