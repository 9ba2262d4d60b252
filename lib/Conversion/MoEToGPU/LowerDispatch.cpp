//===- LowerDispatch.cpp - moe.dispatch -> device dispatch kernels --------===//
//
// Token-choice moe.dispatch (dropless, or in-order capacity, over all tokens
// or per group_size) becomes the four launches of DispatchKernels.cpp on one
// stream; the host computes every grid from T, k and the group size alone,
// so nothing waits for the routing. A by_weight capacity first picks each
// expert's heaviest slots with the expert-choice selection (three launches
// more, their grids from T, k, E and the capacity).
// Expert-choice dispatch becomes the three of ExpertChoiceKernels.cpp, its
// grids from T, E and the capacity.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Dialect/MoE/IR/MoE.h"

#include "HostCode.h"
#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace moe::detail;

namespace {

FailureOr<DispatchSignature> getSignature(moe::DispatchOp op) {
  auto input = cast<RankedTensorType>(op.getInput().getType());
  auto ids = cast<RankedTensorType>(op.getIndices().getType());
  DispatchSignature sig;
  if (op.getScaleRows()) {
    sig.scaleType =
        cast<RankedTensorType>(op.getWeights().getType()).getElementType();
    // The gather multiplies in f32.
    if (input.getElementType().getIntOrFloatBitWidth() > 32)
      return op.emitOpError("the GPU dispatch scales rows of at most 32 "
                            "bits, not ")
             << input.getElementType();
  }
  sig.rowType = input.getElementType();
  sig.idsType = ids.getElementType();
  sig.offsetType =
      cast<RankedTensorType>(op.getOffsets().getType()).getElementType();
  sig.mapType =
      cast<RankedTensorType>(op.getRowMap().getType()).getElementType();
  sig.experts = op.getNumExperts();
  sig.hidden = input.getDimSize(1);
  // Expert choice: ids [E, C] with C from the token count.
  sig.expertChoice = op.getExpertChoice();
  sig.k = sig.expertChoice ? 1 : ids.getDimSize(1);
  if (ShapedType::isDynamic(sig.hidden) || ShapedType::isDynamic(sig.k))
    return op.emitOpError("the GPU dispatch needs a static hidden size and k");
  if (sig.rowType.getIntOrFloatBitWidth() % 8 != 0 ||
      sig.rowType.getIntOrFloatBitWidth() > 64)
    return op.emitOpError("the GPU dispatch copies whole bytes: rows of ")
           << sig.rowType << " are not supported";
  // The shared-memory counters: one i32 per expert and warp.
  if (sig.experts > 1024)
    return op.emitOpError("the GPU dispatch handles at most 1024 experts, "
                          "not ")
           << sig.experts;
  if (std::optional<uint64_t> capacity = op.getCapacity())
    // The kernels rank in i32: a capacity past that keeps everything.
    sig.capacity = std::min<uint64_t>(*capacity, INT32_MAX);
  sig.grouped = bool(op.getGroupSize());
  if (op.getDropPolicy() == moe::DropPolicy::ByWeight && sig.capacity >= 0) {
    sig.byWeight = true;
    sig.weightType =
        cast<RankedTensorType>(op.getWeights().getType()).getElementType();
    // The flags decide which slots stay (with NaN weights, as on the CPU,
    // more than the capacity): count and scatter take them all.
    sig.capacity = -1;
  }
  if (std::optional<ArrayRef<int64_t>> map = op.getExpertMap())
    sig.expertMap.assign(map->begin(), map->end());
  return sig;
}

struct LowerDispatchOp : OpRewritePattern<moe::DispatchOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(moe::DispatchOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    TensorHost host(b);
    FailureOr<SmallVector<Value>> buffers = moe::launchDispatchOp(host, op);
    if (failed(buffers))
      return failure();
    rewriter.replaceOp(op, host.finish(*buffers, op->getResults()));
    return success();
  }
};

} // namespace

LogicalResult moe::checkDispatchForGPU(moe::DispatchOp op) {
  return getSignature(op);
}

FailureOr<moe::DispatchKernels> moe::getDispatchKernels(moe::DispatchOp op) {
  auto module = op->getParentOfType<ModuleOp>();
  if (!module)
    return op.emitOpError("the GPU lowering needs an enclosing module");
  FailureOr<DispatchSignature> sig = getSignature(op);
  if (failed(sig))
    return failure();
  gpu::GPUModuleOp gpuModule = getOrCreateKernelModule(module);
  if (sig->expertChoice)
    return getOrBuildExpertChoiceDispatchKernels(gpuModule, *sig);
  return getOrBuildDispatchKernels(gpuModule, *sig);
}

Value moe::launchDispatch(OpBuilder &builder, Location loc,
                          const moe::DispatchKernels &kernels,
                          ValueRange buffers, Value tokens,
                          Value asyncDependency, Value scales, Value groupSize,
                          Value kept, Value keep) {
  ImplicitLocOpBuilder b(loc, builder);
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  Value input = buffers[0], ids = buffers[1], counts = buffers[2],
        offsets = buffers[3], rowMap = buffers[4], source = buffers[5],
        rows = buffers[6];
  int64_t k = cast<MemRefType>(ids.getType()).getDimSize(1);
  Value slots = arith::MulIOp::create(b, tokens, c(k));
  Value chunks = dispatchChunks(b, tokens, k, groupSize);
  Value chunkBlocks = ceilDivIndex(b, chunks, kDispatchWarps);
  Type tokenType = gpu::AsyncTokenType::get(b.getContext());
  Value stream = asyncDependency;
  auto launch = [&](gpu::GPUFuncOp kernel, Value grid, int64_t threads,
                    ValueRange args) {
    stream =
        gpu::LaunchFuncOp::create(b, kernel, gpu::KernelDim3{grid, c(1), c(1)},
                                  gpu::KernelDim3{c(threads), c(1), c(1)},
                                  /*dynamicSharedMemorySize=*/Value(), args,
                                  tokenType, ValueRange{stream})
            .getAsyncToken();
  };
  SmallVector<Value> countArgs = {ids, counts},
                     scanArgs = {ids, counts, offsets},
                     scatterArgs = {ids, counts, offsets, rowMap, source};
  if (groupSize) {
    countArgs.push_back(groupSize);
    scanArgs.append({kept, groupSize});
    scatterArgs.append({kept, groupSize});
  }
  if (keep) {
    countArgs.push_back(keep);
    scatterArgs.push_back(keep);
  }
  auto launchThree = [&] {
    launch(kernels.count, chunkBlocks, kDispatchThreads, countArgs);
    launch(kernels.scan, c(1), kDispatchThreads, scanArgs);
    launch(kernels.scatter, chunkBlocks, kDispatchThreads, scatterArgs);
  };
  if (!kernels.rank) {
    launchThree();
  } else {
    // One block's chunks: the one-kernel form. Both branches queue on the
    // stream of `stream` (one stream), so the gather after them depends on
    // the token from before the branch, as the grouped matmuls' run-time
    // choice does.
    Value before = stream;
    Value few = arith::CmpIOp::create(b, arith::CmpIPredicate::ule, chunks,
                                      c(kDispatchWarps));
    auto choice = scf::IfOp::create(b, few, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(choice.thenBlock());
      launch(kernels.rank, c(1), kDispatchThreads,
             {ids, offsets, rowMap, source});
      b.setInsertionPointToStart(choice.elseBlock());
      stream = before;
      launchThree();
    }
    stream = before;
  }
  SmallVector<Value> gatherArgs = {input, offsets, source, rows};
  if (scales)
    gatherArgs.push_back(scales);
  launch(kernels.gather, slots, kGatherThreads, gatherArgs);
  return stream;
}

void moe::populateDispatchToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerDispatchOp>(patterns.getContext());
}
