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

#include "HostCode.h"
#include "Kernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace moe;
using namespace moe::detail;

/// moe.route's expert-choice capacity for `tokens` (an index), as
/// RouteOp::getExpertCapacity computes it: min(T, max(1, ceil(T * factor /
/// E))), 0 without tokens.
static Value expertChoiceCapacity(ImplicitLocOpBuilder &b, Value tokens,
                                  int64_t experts, double factor) {
  Type f64 = b.getF64Type(), i64 = b.getI64Type();
  Value t = arith::IndexCastUIOp::create(b, i64, tokens);
  Value tf = arith::UIToFPOp::create(b, f64, t);
  Value q = arith::DivFOp::create(
      b,
      arith::MulFOp::create(b, tf,
                            arith::ConstantFloatOp::create(
                                b, cast<FloatType>(f64), APFloat(factor))),
      arith::ConstantFloatOp::create(b, cast<FloatType>(f64),
                                     APFloat(double(experts))));
  // Bounded by T while still in f64 (a huge factor), then ceil by hand.
  q = arith::MinimumFOp::create(b, q, tf);
  Value floor = arith::FPToUIOp::create(b, i64, q);
  Value below = arith::CmpFOp::create(
      b, arith::CmpFPredicate::OLT, arith::UIToFPOp::create(b, f64, floor), q);
  Value ceil =
      arith::AddIOp::create(b, floor, arith::ExtUIOp::create(b, i64, below));
  Value one = arith::ConstantIntOp::create(b, i64, 1);
  Value capacity = arith::MaxUIOp::create(b, ceil, one);
  Value none = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, t,
                                     arith::ConstantIntOp::create(b, i64, 0));
  capacity = arith::SelectOp::create(
      b, none, arith::ConstantIntOp::create(b, i64, 0), capacity);
  return arith::IndexCastUIOp::create(b, b.getIndexType(), capacity);
}

FailureOr<SmallVector<Value>> moe::launchRoutingOp(KernelHost &host,
                                                   Operation *op) {
  FailureOr<gpu::GPUFuncOp> kernel = getRoutingKernel(op);
  if (failed(kernel))
    return failure();
  auto mode = isa<FusedRouteOp>(op) ? cast<FusedRouteOp>(op).getMode()
                                    : cast<RouteOp>(op).getMode();
  bool expertChoice = mode == RoutingMode::ExpertChoice;
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
  Value weights, ids, scores;
  if (expertChoice) {
    // The scores; the selection kernel makes the results. The workspace
    // and counters follow one argument earlier than weights and ids would.
    scores = host.scratch(
        type(n), arith::MulIOp::create(
                     b, tokens,
                     arith::ConstantIndexOp::create(
                         b, cast<RankedTensorType>(op->getResult(0).getType())
                                .getDimSize(1))));
    args.push_back(scores);
    n -= 1;
  } else {
    weights = host.result(op->getResult(0), type(n), tokens);
    ids = host.result(op->getResult(1), type(n + 1), tokens);
    args.append({weights, ids});
  }
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
  if (!expertChoice)
    return SmallVector<Value>{weights, ids};

  auto weightsType = cast<RankedTensorType>(op->getResult(0).getType());
  auto idsType = cast<RankedTensorType>(op->getResult(1).getType());
  int64_t experts = weightsType.getDimSize(1);
  FloatAttr factor = op->getAttrOfType<FloatAttr>("capacity_factor");
  gpu::GPUFuncOp select = getOrBuildExpertChoiceKernel(
      getOrCreateKernelModule(op->getParentOfType<ModuleOp>()), experts,
      weightsType.getElementType(), idsType.getElementType());
  auto selectTypes = select.getArgumentTypes();
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  Value capacity =
      expertChoiceCapacity(b, tokens, experts, factor.getValueAsDouble());
  Value chosen = arith::MulIOp::create(b, capacity, c(experts));
  weights =
      host.result(op->getResult(0), cast<MemRefType>(selectTypes[1]), tokens);
  ids = host.result(op->getResult(1), cast<MemRefType>(selectTypes[2]), chosen);
  // The sort's keys when they do not fit in shared memory: E slices of
  // 2 C >= the sort length.
  Value keys = host.scratch(cast<MemRefType>(selectTypes[3]),
                            arith::MulIOp::create(b, chosen, c(2)));
  // The selection writes only the chosen tokens' gate entries.
  host.fill(weights, b.getFloatAttr(weightsType.getElementType(), 0.0));
  host.launch(select, {c(experts), c(1), c(1)}, {scores, weights, ids, keys});
  return SmallVector<Value>{weights, ids};
}

/// Expert choice: rows e * C + c hold token ids[e, c] (ids flattened), so
/// the grids come from T, E and C = |ids| / E.
static SmallVector<Value> launchExpertChoiceDispatch(KernelHost &host,
                                                     DispatchOp op,
                                                     DispatchKernels kernels) {
  ImplicitLocOpBuilder &b = host.b;
  auto mapArgs = kernels.map.getArgumentTypes();
  auto type = [](Type t) { return cast<MemRefType>(t); };
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  Value input =
      host.operand(op.getInput(), type(kernels.gather.getArgumentTypes()[0]));
  Value ids = host.operand(op.getIndices(), type(mapArgs[0]));
  Value tokens = memref::DimOp::create(b, input, 0);
  Value chosen = memref::DimOp::create(b, ids, 0);
  Value rows = host.result(op.getRows(),
                           type(kernels.gather.getArgumentTypes()[3]), chosen);
  Value offsets = host.result(op.getOffsets(), type(mapArgs[1]), c(1));
  Value rowMap = host.result(op.getRowMap(), type(mapArgs[2]), tokens);
  Value source = host.scratch(type(mapArgs[3]), chosen);
  int64_t experts = type(mapArgs[1]).getDimSize(0) - 1;
  host.launch(kernels.clear,
              {ceilDivIndex(b, arith::MulIOp::create(b, tokens, c(experts)),
                            kElementwiseThreads),
               c(1), c(1)},
              {rowMap});
  host.launch(kernels.map,
              {ceilDivIndex(b, arith::AddIOp::create(b, chosen, c(1)),
                            kElementwiseThreads),
               c(1), c(1)},
              {ids, offsets, rowMap, source});
  host.launch(kernels.gather, {chosen, c(1), c(1)},
              {input, offsets, source, rows});
  return {rows, offsets, rowMap};
}

/// drop_policy by_weight: queues the scores, the selection of each expert's
/// min(capacity, S) heaviest of the S = T * k slots, and the marking;
/// returns the kept-slots flags (S i32) that count and scatter read.
static Value launchWeightSelection(KernelHost &host, DispatchOp op,
                                   DispatchKernels kernels, Value ids,
                                   Value slots) {
  ImplicitLocOpBuilder &b = host.b;
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  auto type = [](Type t) { return cast<MemRefType>(t); };
  auto scoreArgs = kernels.weightScores.getArgumentTypes();
  auto selectArgs = kernels.select.getArgumentTypes();
  auto markArgs = kernels.weightMark.getArgumentTypes();
  int64_t experts = op.getNumExperts();
  Value weights = host.operand(op.getWeights(), type(scoreArgs[1]));
  Value capacity = arith::MinUIOp::create(b, slots, c(*op.getCapacity()));
  Value chosen = arith::MulIOp::create(b, capacity, c(experts));
  Value scores = host.scratch(type(scoreArgs[2]),
                              arith::MulIOp::create(b, slots, c(experts)));
  // The selection's dense gate [S, E], written and never read here, and its
  // sort keys when they do not fit in shared memory.
  Value gate = host.scratch(type(selectArgs[1]), slots);
  Value selected = host.scratch(type(selectArgs[2]), chosen);
  Value keys =
      host.scratch(type(selectArgs[3]), arith::MulIOp::create(b, chosen, c(2)));
  Value keep = host.scratch(type(markArgs[2]), slots);
  host.fill(keep, b.getI32IntegerAttr(0));
  host.launch(kernels.weightScores,
              {ceilDivIndex(b, arith::MulIOp::create(b, slots, c(experts)),
                            kDispatchThreads),
               c(1), c(1)},
              {ids, weights, scores, keep});
  host.launch(kernels.select, {c(experts), c(1), c(1)},
              {scores, gate, selected, keys});
  host.launch(kernels.weightMark,
              {ceilDivIndex(b, chosen, kDispatchThreads), c(1), c(1)},
              {selected, ids, keep});
  return keep;
}

FailureOr<SmallVector<Value>> moe::launchDispatchOp(KernelHost &host,
                                                    DispatchOp op) {
  FailureOr<DispatchKernels> kernels = getDispatchKernels(op);
  if (failed(kernels))
    return failure();
  if (kernels->map)
    return launchExpertChoiceDispatch(host, op, *kernels);
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
  // G <= 0 or G > T: one group of all T tokens, as the CPU kernel counts
  // it (and no chunk count or G * k that grows with G); at least 1.
  Value groupSize;
  if (op.getGroupSize()) {
    Value g = host.index(op.getGroupSize());
    Value none = arith::CmpIOp::create(b, arith::CmpIPredicate::sle, g, c(0));
    g = arith::MinUIOp::create(b, arith::SelectOp::create(b, none, tokens, g),
                               tokens);
    groupSize = arith::MaxUIOp::create(b, g, c(1));
  }
  Value chunks = dispatchChunks(b, tokens, k, groupSize);
  Value rows = host.result(op.getRows(), type(gatherArgs[3]), slots);
  Value offsets = host.result(op.getOffsets(), type(scatterArgs[2]), c(1));
  Value rowMap = host.result(op.getRowMap(), type(scatterArgs[3]), tokens);
  Value counts = host.scratch(type(scatterArgs[1]),
                              arith::MulIOp::create(b, chunks, c(experts)));
  Value source = host.scratch(type(scatterArgs[4]), slots);
  Value kept;
  if (groupSize)
    kept = host.scratch(type(scatterArgs[5]),
                        arith::MulIOp::create(b, chunks, c(experts)));
  Value keep;
  if (kernels->weightScores)
    keep = launchWeightSelection(host, op, *kernels, ids, slots);
  if (host.queuesLaunches())
    host.token =
        launchDispatch(b, b.getLoc(), *kernels,
                       {input, ids, counts, offsets, rowMap, source, rows},
                       tokens, host.token, scales, groupSize, kept, keep);
  return SmallVector<Value>{rows, offsets, rowMap};
}
