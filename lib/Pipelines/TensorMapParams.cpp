//===- TensorMapParams.cpp - TMA descriptors as kernel parameters ---------===//
//
// A TMA instruction reads its CUtensorMap from global, constant or kernel
// parameter memory. In a parameter (CUDA's `__grid_constant__ const
// CUtensorMap`), the map is part of the launch: it needs no device copy
// before the kernel runs and a CUDA graph records it with the launch. The
// NVVM lowering drops `llvm.byval` from gpu.func arguments and the NVVM
// dialect accepts `nvvm.grid_constant` only on llvm.func kernels, so the
// arguments are rewritten here, once the kernels are llvm.funcs, together
// with the launches (whose LLVM-level lowering passes each operand by
// value: an !llvm.array<16 x i64> operand is the 128 bytes themselves).
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Pipelines/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace moe {
#define GEN_PASS_DEF_MOEGPUTENSORMAPPARAMS
#include "moe/Pipelines/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// A CUtensorMap: 128 bytes, 64-byte aligned.
constexpr int64_t kMapWords = 16;
constexpr int64_t kMapAlign = 64;
/// The zeros a launch passes for a map the runtime could not encode.
constexpr llvm::StringLiteral kNullMapName = "__moe_null_tensor_map";

Type mapType(MLIRContext *ctx) {
  return LLVM::LLVMArrayType::get(IntegerType::get(ctx, 64), kMapWords);
}

struct TensorMapParamsPass
    : moe::impl::MoEGPUTensorMapParamsBase<TensorMapParamsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Kernels first: a launch needs its kernel's map count.
    DenseMap<Operation *, int64_t> mapCounts;
    WalkResult walk = module.walk([&](Operation *op) {
      if (!isa<gpu::GPUFuncOp, LLVM::LLVMFuncOp>(op))
        return WalkResult::advance();
      Attribute attr = op->getAttr(moe::kTensorMapParamsAttr);
      if (!attr)
        return WalkResult::skip();
      FailureOr<int64_t> count = checkKernel(op, attr);
      if (failed(count))
        return WalkResult::interrupt();
      mapCounts[op] = *count;
      return WalkResult::skip();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    SymbolTableCollection symbols;
    SmallVector<std::pair<gpu::LaunchFuncOp, int64_t>> launches;
    walk = module.walk([&](gpu::LaunchFuncOp launch) {
      Operation *kernel =
          symbols.lookupNearestSymbolFrom(launch, launch.getKernelAttr());
      auto it = mapCounts.find(kernel);
      if (it == mapCounts.end())
        return WalkResult::advance();
      ValueRange operands = launch.getKernelOperands();
      if (static_cast<int64_t>(operands.size()) < it->second ||
          llvm::any_of(operands.take_back(it->second), [](Value v) {
            return !isa<LLVM::LLVMPointerType>(v.getType());
          })) {
        launch.emitOpError("moe-gpu-tensor-map-params: the last ")
            << it->second
            << " kernel operands must be !llvm.ptr tensor maps (run after "
               "gpu-to-llvm)";
        return WalkResult::interrupt();
      }
      launches.emplace_back(launch, it->second);
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    for (auto [kernel, count] : mapCounts)
      markKernel(cast<LLVM::LLVMFuncOp>(kernel), count);
    if (!launches.empty()) {
      LLVM::GlobalOp nullMap = getOrCreateNullMap(module);
      for (auto [launch, count] : launches)
        passMapsByValue(launch, count, nullMap);
    }
  }

  /// The map count of `kernel`, or an error at it.
  FailureOr<int64_t> checkKernel(Operation *kernel, Attribute attr) {
    auto fail = [&]() {
      return kernel->emitOpError("moe-gpu-tensor-map-params: ");
    };
    auto func = dyn_cast<LLVM::LLVMFuncOp>(kernel);
    if (!func)
      return fail() << "the kernel must be lowered to an llvm.func first "
                       "(run after convert-gpu-to-nvvm)";
    auto count = dyn_cast<IntegerAttr>(attr);
    int64_t numArgs = func.getNumArguments();
    if (!count || count.getInt() < 1 || count.getInt() > numArgs)
      return fail() << moe::kTensorMapParamsAttr
                    << " must be a positive integer no larger than the "
                    << numArgs << " arguments, not " << attr;
    for (int64_t i = numArgs - count.getInt(); i < numArgs; ++i)
      if (!isa<LLVM::LLVMPointerType>(func.getArgumentTypes()[i]))
        return fail() << "argument " << i << " must be an !llvm.ptr tensor "
                      << "map, not " << func.getArgumentTypes()[i];
    return count.getInt();
  }

  /// The last `count` arguments become `ptr byval([16 x i64]) align 64
  /// "nvvm.grid_constant"`.
  void markKernel(LLVM::LLVMFuncOp kernel, int64_t count) {
    MLIRContext *ctx = kernel.getContext();
    Builder b(ctx);
    int64_t numArgs = kernel.getNumArguments();
    for (int64_t i = numArgs - count; i < numArgs; ++i) {
      kernel.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                        TypeAttr::get(mapType(ctx)));
      kernel.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                        b.getI64IntegerAttr(kMapAlign));
      kernel.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(),
                        b.getUnitAttr());
    }
    kernel->removeAttr(moe::kTensorMapParamsAttr);
  }

  LLVM::GlobalOp getOrCreateNullMap(ModuleOp module) {
    if (auto existing = module.lookupSymbol<LLVM::GlobalOp>(kNullMapName))
      return existing;
    OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
    auto zeros = DenseElementsAttr::get(
        RankedTensorType::get({kMapWords}, b.getI64Type()), int64_t(0));
    auto global = LLVM::GlobalOp::create(
        b, module.getLoc(), mapType(module.getContext()), /*isConstant=*/true,
        LLVM::Linkage::Internal, kNullMapName, zeros);
    global.setAlignment(kMapAlign);
    return global;
  }

  /// Replaces the launch's last `count` operands (host pointers to maps) by
  /// the maps' bytes, zeros where a pointer is null.
  void passMapsByValue(gpu::LaunchFuncOp launch, int64_t count,
                       LLVM::GlobalOp nullMap) {
    ImplicitLocOpBuilder b(launch.getLoc(), launch);
    Type ptr = LLVM::LLVMPointerType::get(b.getContext());
    Value zeros = LLVM::AddressOfOp::create(b, nullMap);
    Value null = LLVM::ZeroOp::create(b, ptr);
    MutableOperandRange operands = launch.getKernelOperandsMutable();
    unsigned first = operands.size() - count;
    for (unsigned i = first; i < operands.size(); ++i) {
      Value map = operands[i].get();
      Value isNull =
          LLVM::ICmpOp::create(b, LLVM::ICmpPredicate::eq, map, null);
      Value from = LLVM::SelectOp::create(b, isNull, zeros, map);
      operands[i].set(
          LLVM::LoadOp::create(b, mapType(b.getContext()), from, kMapAlign));
    }
  }
};

} // namespace
