//===- HostLaunches.cpp - routing and dispatch on a KernelHost ------------===//
//
// The routing and dispatch kernels of LowerRouting.cpp / LowerDispatch.cpp
// queued on a KernelHost, so that a layer entry (GPULayerEntries.cpp) runs
// them on the caller's stream with their outputs and scratch in its
// workspace. The launch sequences are those files' (launchRouting,
// launchDispatch); only where the buffers come from differs.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToGPU/MoEToGPU.h"
#include "moe/Dialect/MoE/IR/MoE.h"

#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;

static Value ceilDivIndex(ImplicitLocOpBuilder &b, Value x, int64_t d) {
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  return arith::DivUIOp::create(b, arith::AddIOp::create(b, x, c(d - 1)), c(d));
}

FailureOr<SmallVector<Value>> moe::launchRoutingOp(KernelHost &host,
                                                   Operation *op) {
  FailureOr<gpu::GPUFuncOp> kernel = getRoutingKernel(op);
  if (failed(kernel))
    return failure();
  ImplicitLocOpBuilder &b = host.b;
  auto argTypes = kernel->getArgumentTypes();
  auto type = [&](unsigned i) { return cast<MemRefType>(argTypes[i]); };
  SmallVector<Value> operands;
  Value selectionBias;
  if (auto fused = dyn_cast<FusedRouteOp>(op)) {
    operands = {fused.getInput(), fused.getWeight()};
    if (fused.getBias())
      operands.push_back(fused.getBias());
    selectionBias = fused.getSelectionBias();
  } else {
    auto route = cast<RouteOp>(op);
    operands = {route.getLogits()};
    selectionBias = route.getSelectionBias();
  }
  if (selectionBias)
    operands.push_back(selectionBias);
  SmallVector<Value> args;
  for (auto [i, v] : llvm::enumerate(operands))
    args.push_back(host.operand(v, type(i)));
  Value tokens = memref::DimOp::create(b, args[0], 0);
  unsigned n = operands.size();
  Value weights = host.result(op->getResult(0), type(n), tokens);
  Value ids = host.result(op->getResult(1), type(n + 1), tokens);
  args.append({weights, ids});
  if (getRoutingSlices(*kernel) > 1) {
    // The logits workspace and the per-tile arrival counters; the counters
    // must be zero before the launch.
    int64_t experts = isa<FusedRouteOp>(op)
                          ? cast<FusedRouteOp>(op).getNumExperts()
                          : cast<RouteOp>(op).getNumExperts();
    Value logitRows = arith::MulIOp::create(
        b, tokens,
        arith::ConstantIndexOp::create(b, routingWorkspaceStride(experts)));
    Value logits = host.scratch(type(n + 2), logitRows);
    Value counters =
        host.scratch(type(n + 3), ceilDivIndex(b, tokens, kRouteTokens));
    host.fill(counters, b.getI32IntegerAttr(0));
    args.append({logits, counters});
  }
  if (host.queuesLaunches())
    host.token =
        launchRouting(b, b.getLoc(), *kernel, args, tokens, host.token);
  return SmallVector<Value>{weights, ids};
}

FailureOr<SmallVector<Value>> moe::launchDispatchOp(KernelHost &host,
                                                    DispatchOp op) {
  FailureOr<DispatchKernels> kernels = getDispatchKernels(op);
  if (failed(kernels))
    return failure();
  ImplicitLocOpBuilder &b = host.b;
  auto gatherArgs = kernels->gather.getArgumentTypes();
  auto scatterArgs = kernels->scatter.getArgumentTypes();
  auto type = [](Type t) { return cast<MemRefType>(t); };
  Value input = host.operand(op.getInput(), type(gatherArgs[0]));
  Value ids = host.operand(op.getIndices(), type(scatterArgs[0]));
  Value scales;
  if (op.getScaleRows())
    scales = host.operand(op.getWeights(), type(gatherArgs[4]));
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  Value tokens = memref::DimOp::create(b, ids, 0);
  int64_t k = type(scatterArgs[0]).getDimSize(1);
  int64_t experts = type(scatterArgs[2]).getDimSize(0) - 1;
  Value slots = arith::MulIOp::create(b, tokens, c(k));
  Value chunks = ceilDivIndex(b, slots, kDispatchChunk);
  Value rows = host.result(op.getRows(), type(gatherArgs[3]), slots);
  Value offsets = host.result(op.getOffsets(), type(scatterArgs[2]), c(1));
  Value rowMap = host.result(op.getRowMap(), type(scatterArgs[3]), tokens);
  Value counts = host.scratch(type(scatterArgs[1]),
                              arith::MulIOp::create(b, chunks, c(experts)));
  Value source = host.scratch(type(scatterArgs[4]), slots);
  if (host.queuesLaunches())
    host.token =
        launchDispatch(b, b.getLoc(), *kernels,
                       {input, ids, counts, offsets, rowMap, source, rows},
                       tokens, host.token, scales);
  return SmallVector<Value>{rows, offsets, rowMap};
}
