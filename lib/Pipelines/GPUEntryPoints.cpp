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
  gpu::GPUFuncOp kernel;
  int32_t dtype;
  int64_t experts, k, n;
};

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
    SmallVector<moe::GroupedMatmulOp> ops;
    module.walk([&](moe::GroupedMatmulOp op) { ops.push_back(op); });
    if (ops.empty()) {
      module.emitError("moe-gpu-entry-points: the module has no "
                       "moe.grouped_matmul to compile");
      return signalPassFailure();
    }
    // Check everything before building anything, so that a refusal leaves
    // the module as it was.
    moe::MoEToGPUOptions options{chip, /*elementType=*/"", combine};
    if (combine != "kernel" && combine != "epilogue") {
      module.emitError("moe-gpu-entry-points: combine must be kernel or "
                       "epilogue, not '")
          << combine << "'";
      return signalPassFailure();
    }
    bool ok = true;
    for (moe::GroupedMatmulOp op : ops)
      ok &= succeeded(checkABI(op)) &&
            succeeded(moe::checkGroupedMatmulForGPU(op, options));
    SmallVector<func::FuncOp> layers(module.getOps<func::FuncOp>());
    for (func::FuncOp layer : layers)
      ok &= succeeded(moe::detail::checkLayer(layer, options));
    if (!ok)
      return signalPassFailure();

    SmallVector<Entry> entries;
    llvm::DenseSet<Operation *> seen;
    for (moe::GroupedMatmulOp op : ops) {
      FailureOr<gpu::GPUFuncOp> kernel =
          moe::getGroupedMatmulKernel(op, options);
      if (failed(kernel))
        return signalPassFailure();
      if (!seen.insert(*kernel).second)
        continue;
      auto rhs = cast<MemRefType>(kernel->getArgumentTypes()[1]);
      entries.push_back({*kernel, rhs.getElementType().isBF16() ? kBF16 : kF16,
                         rhs.getDimSize(0), rhs.getDimSize(1),
                         rhs.getDimSize(2)});
    }
    if (failed(moe::detail::buildLayerEntries(module, layers, options)))
      return signalPassFailure();
    for (func::FuncOp layer : layers)
      layer.erase();
    buildDispatch(module, entries);
    buildLookup(module, entries);
    buildChipName(module);
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
          SmallVector<Value> buffers;
          for (auto [ptrArg, type] :
               llvm::zip(args.slice(4, 4), e.kernel.getArgumentTypes()))
            buffers.push_back(
                wrapPointer(b, ptrArg, cast<MemRefType>(type), rows));
          Value rowCount =
              arith::IndexCastOp::create(b, b.getIndexType(), rows);
          moe::launchGroupedMatmul(b, b.getLoc(), e.kernel, buffers, rowCount,
                                   stream);
          return arith::ConstantIntOp::create(b, 0, 32);
        });
    func::ReturnOp::create(b, result);
  }

  void buildLookup(ModuleOp module, ArrayRef<Entry> entries) {
    MLIRContext *ctx = &getContext();
    Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
    auto type = FunctionType::get(ctx, {i32, i64, i64, i64}, {i32});
    func::FuncOp func =
        createFunc(module, "moe_gpu_grouped_matmul_lookup", type);
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
