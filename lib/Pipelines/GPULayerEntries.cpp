//===- GPULayerEntries.cpp - C entries running a whole layer --------------===//
//
// A function of moe ops becomes one C call that queues all of its kernels on
// the caller's stream: arguments and results are the caller's device
// buffers, every intermediate (and every kernel's scratch) a slice of a
// workspace the caller allocates once, so the call allocates nothing and
// never waits (a CUDA graph can capture it). The kernels and their launch
// sequence are convert-moe-to-gpu's (launchMoEOp), fused epilogues included;
// only where buffers come from differs (LayerHost). The workspace size comes
// from the same walk with the launches left out, so the two cannot drift.
//
// The workspace is reused: a buffer lives from the launch that writes it to
// the last launch that reads it (a kernel's own scratch, to the end of its
// op's launches), and a new one takes the lowest place, among the start and
// the ends of the live ones, that overlaps none of them. Sizes depend on the
// row count, so the places are computed at run time, by the same code in
// the forward and sizing functions. One stream orders every launch, so a
// launch never sees a later buffer in its place.
//
//===----------------------------------------------------------------------===//

#include "GPULayerEntries.h"

#include "moe/Dialect/MoE/IR/MoE.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace moe;

namespace {

/// A layer's own choice of combine=kernel|epilogue over the pass option's.
constexpr llvm::StringLiteral kCombineAttr = "moe.gpu_combine";

/// Intermediates start at multiples of this (cudaMalloc's alignment is 256).
constexpr int64_t kWorkspaceAlign = 256;

MemRefType memrefOf(Type tensorType) {
  auto type = cast<RankedTensorType>(tensorType);
  return MemRefType::get(type.getShape(), type.getElementType());
}

/// Buffers from the caller: arguments and results at their pointers,
/// intermediates and scratch carved from the workspace. With `launches`
/// false nothing is queued (the workspace-size function).
class LayerHost : public KernelHost {
public:
  LayerHost(ImplicitLocOpBuilder &b, Value stream, Value workspace,
            bool launches)
      : KernelHost(b, stream), workspace(workspace), launches(launches) {
    peak = constant(0);
  }

  Value operand(Value value, MemRefType type) override {
    Value buffer = buffers.lookup(value);
    assert(buffer && "operands are arguments or earlier results");
    if (buffer.getType() != type)
      buffer = memref::CastOp::create(b, type, buffer);
    return buffer;
  }

  Value result(Value value, MemRefType type, Value rows) override {
    auto it = resultPointers.find(value);
    if (it == resultPointers.end())
      return allocate(type, rows, lastUse.lookup(value));
    return moe::detail::wrapPointer(b, it->second, type, toI64(rows));
  }

  /// A kernel's own scratch: free once its op's launches are queued.
  Value scratch(MemRefType type, Value rows) override {
    return allocate(type, rows, position);
  }

  /// Starts the launches of the op at `index` (see lastUse).
  void beginOp(int64_t index) { position = index; }

  /// The launches of the op at `position` are queued: the buffers no later
  /// launch reads are free.
  void endOp() {
    llvm::erase_if(
        live, [&](const Block &block) { return block.lastUse <= position; });
  }

  void fill(Value buffer, TypedAttr value) override {
    if (launches)
      KernelHost::fill(buffer, value);
  }

  void launch(gpu::GPUFuncOp kernel, gpu::KernelDim3 grid,
              ValueRange args) override {
    if (launches)
      KernelHost::launch(kernel, grid, args);
  }

  bool queuesLaunches() const override { return launches; }

  Value constant(int64_t v) {
    return arith::ConstantIntOp::create(b, b.getI64Type(), v);
  }
  Type ptrType() { return LLVM::LLVMPointerType::get(b.getContext()); }
  Value toI64(Value index) {
    if (index.getType().isInteger(64))
      return index;
    return arith::IndexCastOp::create(b, b.getI64Type(), index);
  }

  /// Tensor values of the layer -> their buffers.
  DenseMap<Value, Value> buffers;
  /// Index arguments of the layer -> their values (from `dims`).
  DenseMap<Value, Value> indices;

  Value index(Value value) override {
    Value v = indices.lookup(value);
    assert(v && "index operands are the layer's index arguments");
    return v;
  }
  /// Intermediate values -> the position (op index) of the last op whose
  /// launches read them.
  DenseMap<Value, int64_t> lastUse;
  /// Returned values -> the caller's pointer for them.
  DenseMap<Value, Value> resultPointers;
  Value workspace;
  /// Bytes of the workspace the placements so far need (i64).
  Value peak;
  bool launches;

private:
  /// A live buffer: bytes [begin, end) of the workspace (i64 values), read
  /// up to the op at position lastUse.
  struct Block {
    Value begin, end;
    int64_t lastUse;
  };

  /// A `type` buffer of `rows` rows in the workspace, live up to the op at
  /// `until`: at the lowest of 0 and the live blocks' ends where it
  /// overlaps no live block (the highest end always fits).
  Value allocate(MemRefType type, Value rows, int64_t until) {
    int64_t rowBytes = type.getElementTypeBitWidth() / 8;
    for (int64_t d : type.getShape().drop_front())
      rowBytes *= d;
    Value rows64 =
        type.isDynamicDim(0) ? toI64(rows) : constant(type.getDimSize(0));
    // Sizes rounded up to kWorkspaceAlign keep every place aligned.
    Value bytes = arith::AndIOp::create(
        b,
        arith::AddIOp::create(
            b, arith::MulIOp::create(b, rows64, constant(rowBytes)),
            constant(kWorkspaceAlign - 1)),
        constant(-kWorkspaceAlign));
    auto ule = [&](Value x, Value y) {
      return arith::CmpIOp::create(b, arith::CmpIPredicate::ule, x, y);
    };
    Value begin = constant(0);
    if (!live.empty()) {
      Value top = live.front().end;
      for (const Block &block : ArrayRef(live).drop_front())
        top = arith::MaxUIOp::create(b, top, block.end);
      // Candidates from the highest down: the last that fits is the lowest.
      SmallVector<Value> candidates = {constant(0)};
      for (const Block &block : live)
        candidates.push_back(block.end);
      begin = top;
      for (Value candidate : llvm::reverse(candidates)) {
        Value end = arith::AddIOp::create(b, candidate, bytes);
        Value fits = ule(candidate, begin);
        for (const Block &block : live)
          fits = arith::AndIOp::create(
              b, fits,
              arith::OrIOp::create(b, ule(end, block.begin),
                                   ule(block.end, candidate)));
        begin = arith::SelectOp::create(b, fits, candidate, begin);
      }
    }
    Value end = arith::AddIOp::create(b, begin, bytes);
    live.push_back({begin, end, until});
    peak = arith::MaxUIOp::create(b, peak, end);
    Value ptr = LLVM::GEPOp::create(b, ptrType(), b.getI8Type(), workspace,
                                    ValueRange{begin});
    return moe::detail::wrapPointer(b, ptr, type, rows64);
  }

  SmallVector<Block> live;
  int64_t position = 0;
};

/// The position of the op whose launches run `op`: its own index, or for a
/// grouped matmul fused into its user and a dequantization read by its
/// matmuls, the latest of theirs.
int64_t launchPosition(Operation *op,
                       const DenseMap<Operation *, int64_t> &index,
                       const MoEToGPUOptions &options) {
  auto mm = dyn_cast<GroupedMatmulOp>(op);
  if ((mm && isFusedIntoUser(mm, options)) || isa<DequantizeOp>(op)) {
    int64_t last = index.lookup(op);
    for (Operation *user : op->getUsers())
      last = std::max(last, launchPosition(user, index, options));
    return last;
  }
  return index.lookup(op);
}

/// `array[index]` of an array of `elementType` (a pointer or i64).
Value loadElement(ImplicitLocOpBuilder &b, Value array, Type elementType,
                  int64_t index) {
  Value addr = LLVM::GEPOp::create(
      b, LLVM::LLVMPointerType::get(b.getContext()), elementType, array,
      ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(index)});
  return LLVM::LoadOp::create(b, elementType, addr);
}

/// Queues `layer`'s kernels on `host`; arguments and results come from the
/// `buffers` pointer array (null: every pointer null, for sizing), dynamic
/// leading sizes from `dims`.
LogicalResult emitLayer(LayerHost &host, func::FuncOp layer, Value buffers,
                        Value dims, const MoEToGPUOptions &options) {
  ImplicitLocOpBuilder &b = host.b;
  Type ptr = host.ptrType(), i64 = b.getI64Type();
  auto pointer = [&](int64_t i) -> Value {
    if (!buffers)
      return LLVM::ZeroOp::create(b, ptr);
    return loadElement(b, buffers, ptr, i);
  };
  // Buffers and dims in argument order: a tensor takes the next buffer
  // (and a dim if its leading size is dynamic), an index the next dim.
  int64_t buffer = 0, dim = 0;
  for (BlockArgument arg : layer.getArguments()) {
    if (arg.getType().isIndex()) {
      host.indices[arg] = arith::IndexCastOp::create(
          b, b.getIndexType(), loadElement(b, dims, i64, dim++));
      continue;
    }
    MemRefType type = memrefOf(arg.getType());
    Value rows = type.isDynamicDim(0) ? loadElement(b, dims, i64, dim++)
                                      : host.constant(type.getDimSize(0));
    host.buffers[arg] =
        moe::detail::wrapPointer(b, pointer(buffer++), type, rows);
  }
  Operation *ret = layer.getBody().front().getTerminator();
  for (OpOperand &value : ret->getOpOperands())
    host.resultPointers[value.get()] =
        pointer(buffer + value.getOperandNumber());
  // Where each intermediate is last read: at the launches of its latest
  // user (a result without one dies with its op's launches).
  DenseMap<Operation *, int64_t> index;
  for (Operation &op : layer.getBody().front().without_terminator())
    index[&op] = index.size();
  for (Operation &op : layer.getBody().front().without_terminator()) {
    int64_t at = launchPosition(&op, index, options);
    for (Value result : op.getResults()) {
      int64_t last = at;
      for (Operation *user : result.getUsers())
        if (user != ret)
          last = std::max(last, launchPosition(user, index, options));
      host.lastUse[result] = last;
    }
  }
  for (Operation &op : layer.getBody().front().without_terminator()) {
    host.beginOp(index[&op]);
    auto mm = dyn_cast<GroupedMatmulOp>(op);
    if (mm && isFusedIntoUser(mm, options))
      continue;
    // Quantized weights are read packed by their matmuls' kernels.
    if (isa<DequantizeOp>(op))
      continue;
    FailureOr<SmallVector<Value>> outs;
    if (isa<FusedRouteOp, RouteOp>(op)) {
      outs = launchRoutingOp(host, &op);
    } else if (auto dispatch = dyn_cast<DispatchOp>(op)) {
      outs = launchDispatchOp(host, dispatch);
    } else {
      FailureOr<Value> out = launchMoEOp(host, &op, options);
      if (succeeded(out))
        outs = SmallVector<Value>{*out};
    }
    if (failed(outs))
      return failure();
    for (auto [result, buffer] : llvm::zip(op.getResults(), *outs))
      host.buffers[result] = buffer;
    host.endOp();
  }
  return success();
}

func::FuncOp createFunc(ModuleOp module, StringRef name, FunctionType type) {
  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(b, module.getLoc(), name, type);
  func.addEntryBlock();
  return func;
}

/// if (layer == 0) onLayer(0) else if (layer == 1) ... else `otherwise`:
/// the chain's i32 or i64 result.
Value layerChain(ImplicitLocOpBuilder &b, Value layer, int64_t first,
                 int64_t count, Type type, Value otherwise,
                 function_ref<Value(int64_t)> onLayer) {
  if (first == count)
    return otherwise;
  Value eq = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, layer,
                                   arith::ConstantIntOp::create(b, first, 32));
  auto ifOp = scf::IfOp::create(b, type, eq, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  scf::YieldOp::create(b, onLayer(first));
  b.setInsertionPointToStart(ifOp.elseBlock());
  scf::YieldOp::create(
      b, layerChain(b, layer, first + 1, count, type, otherwise, onLayer));
  return ifOp.getResult(0);
}

/// The layer's `dims`: the leading size of each tensor argument whose
/// leading dimension is dynamic and the value of each index argument.
int64_t countDims(func::FuncOp layer) {
  return llvm::count_if(layer.getArgumentTypes(), [](Type t) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    return !tensor || tensor.isDynamicDim(0);
  });
}

/// The layer's `buffers`: one per tensor argument, then one per result.
int64_t countBuffers(func::FuncOp layer) {
  return llvm::count_if(layer.getArgumentTypes(),
                        [](Type t) { return isa<RankedTensorType>(t); }) +
         layer.getNumResults();
}

} // namespace

LogicalResult moe::detail::checkLayer(func::FuncOp func,
                                      const MoEToGPUOptions &options) {
  auto fail = [&](Operation *at) {
    return at->emitOpError("moe-gpu-entry-points: layer @")
           << func.getSymName() << ": ";
  };
  for (BlockArgument arg : func.getArguments()) {
    if (arg.getType().isIndex())
      continue;
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type ||
        llvm::any_of(type.getShape().drop_front(), ShapedType::isDynamic))
      return fail(func) << "argument " << arg.getArgNumber() << " ("
                        << arg.getType()
                        << ") must be an index or a tensor whose only "
                           "dynamic dimension is the leading one";
  }
  if (Attribute combine = func->getAttr(kCombineAttr)) {
    auto value = dyn_cast<StringAttr>(combine);
    if (!value || (value != "kernel" && value != "epilogue"))
      return fail(func) << kCombineAttr << " must be \"kernel\" or "
                        << "\"epilogue\", not " << combine;
  }
  if (!func.getBody().hasOneBlock())
    return fail(func) << "must be one block";
  llvm::SmallPtrSet<Value, 4> returned;
  Operation *ret = func.getBody().front().getTerminator();
  for (Value v : ret->getOperands())
    if (isa<BlockArgument>(v) || !returned.insert(v).second)
      return fail(ret) << "a result must be computed by the layer and "
                          "returned once";
  for (Operation &op : func.getBody().front().without_terminator()) {
    if (auto mm = dyn_cast<GroupedMatmulOp>(op)) {
      if (failed(checkGroupedMatmulForGPU(mm, options)))
        return failure();
    } else if (auto act = dyn_cast<ActivationOp>(op)) {
      if (failed(checkActivationForGPU(act)))
        return failure();
    } else if (auto combine = dyn_cast<CombineOp>(op)) {
      if (failed(checkCombineForGPU(combine)))
        return failure();
    } else if (auto scatter = dyn_cast<ScatterColumnsOp>(op)) {
      if (failed(checkScatterColumnsForGPU(scatter)))
        return failure();
    } else if (isa<FusedRouteOp, RouteOp>(op)) {
      if (failed(checkRoutingForGPU(&op)))
        return failure();
    } else if (auto dispatch = dyn_cast<DispatchOp>(op)) {
      if (failed(checkDispatchForGPU(dispatch)))
        return failure();
    } else if (isa<DequantizeOp>(op)) {
      // Only as the packed weights of grouped matmuls (checked with them).
      for (Operation *user : op.getUsers()) {
        auto mm = dyn_cast<GroupedMatmulOp>(user);
        if (!mm || !mm.getTransposeRhs() ||
            !llvm::is_contained(mm.getRhs(), op.getResult(0)))
          return fail(&op) << "quantized weights must be the transposed rhs "
                              "of grouped matmuls, whose kernels read them "
                              "packed";
      }
    } else {
      return fail(&op) << "'" << op.getName()
                       << "' has no GPU kernel in a layer entry";
    }
  }
  return success();
}

LogicalResult moe::detail::buildLayerEntries(ModuleOp module,
                                             ArrayRef<func::FuncOp> layers,
                                             const MoEToGPUOptions &options) {
  MLIRContext *ctx = module.getContext();
  Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  Type token = gpu::AsyncTokenType::get(ctx);
  Location loc = module.getLoc();
  int64_t count = layers.size();

  // One forward and one sizing function per layer, then the dispatchers.
  SmallVector<func::FuncOp> forwards, sizes;
  for (auto [i, layer] : llvm::enumerate(layers)) {
    MoEToGPUOptions layerOptions = options;
    if (auto combine = layer->getAttrOfType<StringAttr>(kCombineAttr))
      layerOptions.combine = combine.str();
    func::FuncOp forward =
        createFunc(module, ("__moe_layer_forward_" + Twine(i)).str(),
                   FunctionType::get(ctx, {ptr, ptr, ptr, token}, {}));
    forward.setPrivate();
    {
      auto b = ImplicitLocOpBuilder::atBlockEnd(loc, &forward.front());
      ValueRange args = forward.getArguments();
      LayerHost host(b, args[3], args[2], /*launches=*/true);
      if (failed(emitLayer(host, layer, args[0], args[1], layerOptions)))
        return failure();
      func::ReturnOp::create(b);
    }
    func::FuncOp size =
        createFunc(module, ("__moe_layer_workspace_" + Twine(i)).str(),
                   FunctionType::get(ctx, {ptr}, {i64}));
    size.setPrivate();
    {
      auto b = ImplicitLocOpBuilder::atBlockEnd(loc, &size.front());
      Value null = LLVM::ZeroOp::create(b, ptr);
      LayerHost host(b, Value(), null, /*launches=*/false);
      if (failed(emitLayer(host, layer, Value(), size.getArgument(0),
                           layerOptions)))
        return failure();
      func::ReturnOp::create(b, host.peak);
    }
    forwards.push_back(forward);
    sizes.push_back(size);
  }

  func::FuncOp forward =
      createFunc(module, "moe_gpu_layer_forward",
                 FunctionType::get(ctx, {i32, ptr, ptr, ptr, token}, {i32}));
  {
    auto b = ImplicitLocOpBuilder::atBlockEnd(loc, &forward.front());
    ValueRange args = forward.getArguments();
    Value r =
        layerChain(b, args[0], 0, count, i32,
                   arith::ConstantIntOp::create(b, 1, 32), [&](int64_t i) {
                     func::CallOp::create(b, forwards[i], args.drop_front());
                     return arith::ConstantIntOp::create(b, 0, 32);
                   });
    func::ReturnOp::create(b, r);
  }
  func::FuncOp size = createFunc(module, "moe_gpu_layer_workspace",
                                 FunctionType::get(ctx, {i32, ptr}, {i64}));
  {
    auto b = ImplicitLocOpBuilder::atBlockEnd(loc, &size.front());
    Value r = layerChain(
        b, size.getArgument(0), 0, count, i64,
        arith::ConstantIntOp::create(b, -1, 64), [&](int64_t i) {
          return func::CallOp::create(b, sizes[i], size.getArgument(1))
              .getResult(0);
        });
    func::ReturnOp::create(b, r);
  }
  func::FuncOp info = createFunc(module, "moe_gpu_layer_info",
                                 FunctionType::get(ctx, {i32, i32}, {i32}));
  {
    auto b = ImplicitLocOpBuilder::atBlockEnd(loc, &info.front());
    Value what = info.getArgument(1);
    Value isBuffers =
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, what,
                              arith::ConstantIntOp::create(b, 0, 32));
    Value r = layerChain(
        b, info.getArgument(0), 0, count, i32,
        arith::ConstantIntOp::create(b, -1, 32), [&](int64_t i) -> Value {
          func::FuncOp layer = layers[i];
          int64_t numBuffers = countBuffers(layer);
          return arith::SelectOp::create(
              b, isBuffers, arith::ConstantIntOp::create(b, numBuffers, 32),
              arith::ConstantIntOp::create(b, countDims(layer), 32));
        });
    func::ReturnOp::create(b, r);
  }
  // "name0\0name1\0...\0": the names in layer order, an empty one last.
  std::string names;
  for (func::FuncOp layer : layers)
    names += layer.getSymName().str() + '\0';
  names += '\0';
  OpBuilder b(ctx);
  b.setInsertionPointToStart(module.getBody());
  LLVM::GlobalOp::create(b, loc,
                         LLVM::LLVMArrayType::get(b.getI8Type(), names.size()),
                         /*isConstant=*/true, LLVM::Linkage::External,
                         "moe_gpu_layer_names", b.getStringAttr(names));
  return success();
}
